import type { Config } from './config.js';
import { uws, type HttpResponse, type us_listen_socket } from './uws.js';

export interface RunningServer {
  /** The port actually bound (useful when the config asked for port 0). */
  readonly port: number;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to the drain deadline),
   * releases the database pool. Resolves when nothing is left running.
   */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Overrides config.port (tests). */
  readonly port?: number;
}

/**
 * Starts one uWebSockets.js app. Resolves once it listens and the database answers, which is
 * what a worker reports to the primary as "ready".
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const app = uws.App();
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;

  const finished = (): void => {
    inFlight -= 1;
    if (inFlight === 0 && idle) idle();
  };

  app.get('/health', (res: HttpResponse) => {
    inFlight += 1;
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json; charset=utf-8');
      res.end('{"status":"ok"}', draining);
    });
    finished();
  });

  const port = options.port ?? config.port;
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen('0.0.0.0', port, (socket) => (socket ? resolve(socket) : reject(new Error(`cannot listen on port ${port}`))));
  });

  return {
    port: uws.us_socket_local_port(listenSocket as never),
    async close() {
      draining = true;
      uws.us_listen_socket_close(listenSocket);
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, config.drainTimeoutMs);
          idle = () => { clearTimeout(timer); resolve(); };
        });
      }
    },
  };
}
