/**
 * HTTP/1.1 over a bare socket, for what an HTTP client library would hide: the exact bytes of a
 * HEAD or 304 (none after the headers), several requests on one connection, a connection the
 * server closes without a reply. Every wait is bounded and says what it was waiting for.
 */
import net from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Header names in lower case; a repeated header keeps its last value (none is repeated here). */
  readonly headers: Readonly<Record<string, string>>;
  /** How many times each header name appeared (to catch a duplicated Content-Length). */
  readonly headerCounts: Readonly<Record<string, number>>;
  readonly body: Buffer;
}

const DEFAULT_TIMEOUT_MS = 5000;

export class RawConnection {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    const end = (): void => {
      this.ended = true;
      this.wake?.();
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  static open(port: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to 127.0.0.1:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawConnection(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Sends `method path` with a Host header and `headers`; `body` (if any) with its Content-Length. */
  send(method: string, path: string, headers: Record<string, string> = {}, body?: string): void {
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: test'];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`);
  }

  /** Sends `bytes` exactly as given, in one write: for requests `send` cannot spell. */
  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /**
   * The next response. `bodyless` for the answer to a HEAD (and for 204/304, always): then no
   * bytes may follow the headers, whatever Content-Length says.
   */
  async response(bodyless: boolean, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    while (!this.buffered.includes('\r\n\r\n')) await this.more(deadline, `the headers of ${what}`);
    const headerEnd = this.buffered.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = this.buffered.subarray(0, headerEnd).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine ?? '')?.[1]);
    if (!Number.isInteger(status))
      throw new Error(`${what}: not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    const headerCounts: Record<string, number> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      headers[name] = line.slice(colon + 1).trim();
      headerCounts[name] = (headerCounts[name] ?? 0) + 1;
    }
    const length = bodyless || status === 204 || status === 304 ? 0 : Number(headers['content-length'] ?? 0);
    const start = headerEnd + 4;
    while (this.buffered.length < start + length) await this.more(deadline, `the body of ${what}`);
    const body = this.buffered.subarray(start, start + length);
    this.buffered = this.buffered.subarray(start + length);
    return { status, headers, headerCounts, body };
  }

  /** Bytes received and not yet read as part of a response. */
  get pending(): number {
    return this.buffered.length;
  }

  /** Resolves once the server has closed the connection; rejects after `timeoutMs`. */
  async closedByServer(what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) await this.more(deadline, `the server to close the connection after ${what}`);
  }

  /** Every byte received and not yet read as a response (what a server sent before closing). */
  unread(): Buffer {
    return this.buffered;
  }

  close(): void {
    this.socket.destroy();
  }

  private more(deadline: number, what: string): Promise<void> {
    if (this.ended) return Promise.reject(new Error(`the connection closed while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.wake = undefined;
          reject(new Error(`timed out waiting for ${what}`));
        },
        Math.max(0, deadline - Date.now()),
      );
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

/** A connection for the length of one test, closed at its teardown. */
export async function rawConnection(t: { teardown(fn: () => void): void }, port: number): Promise<RawConnection> {
  const connection = await RawConnection.open(port);
  t.teardown(() => connection.close());
  return connection;
}
