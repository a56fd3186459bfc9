/** The dedicated connection a worker LISTENs on for invalidations (server/invalidation.ts). */
import { quoteIdent } from './admin.js';
import { Client } from './driver.js';

export interface ListenOptions {
  readonly connectionString: string;
  /** Every channel to LISTEN on; onNotification says which one a payload came on. */
  readonly channels: readonly string[];
  readonly applicationName: string;
  readonly connectionTimeoutMillis: number;
  /**
   * A round trip this often, failing after as long, proves the connection alive: a socket that
   * died silently (a dropped NAT entry, a frozen server) would otherwise lose notifications
   * unnoticed until TCP keepalive gives up, hours later.
   */
  readonly heartbeatMillis: number;
  readonly onNotification: (channel: string, payload: string) => void;
  /** Called once, when the established connection fails or the server closes it (never after close()). */
  readonly onLost: (err: Error) => void;
}

/** A dedicated connection that LISTENs on its channels. */
export interface Listener {
  /** Sends `payload` on `channel` from this connection; resolves once committed. A failure loses the connection. */
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connects and runs LISTEN; resolves once LISTEN is in effect, so every notification committed
 * from then on reaches onNotification. Reconnecting after onLost is the caller's policy.
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const client = new Client({
    connectionString: options.connectionString,
    application_name: options.applicationName,
    connectionTimeoutMillis: options.connectionTimeoutMillis,
    query_timeout: options.heartbeatMillis,
    keepAlive: true,
  });
  let established = false;
  let closed = false;
  let heartbeat: NodeJS.Timeout | undefined;
  const lose = (err: Error): void => {
    if (!established || closed) return;
    closed = true;
    clearInterval(heartbeat);
    // end() destroys the socket when a heartbeat is stuck on it, so nothing is left behind.
    client.end().catch(() => undefined);
    options.onLost(err);
  };
  client.on('notification', (message) => {
    if (options.channels.includes(message.channel) && message.payload !== undefined) {
      options.onNotification(message.channel, message.payload);
    }
  });
  client.on('error', lose);
  client.on('end', () => lose(new Error('the LISTEN connection was closed')));
  try {
    await client.connect();
    for (const channel of options.channels) await client.query(`LISTEN ${quoteIdent(channel)}`);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  established = true;
  heartbeat = setInterval(() => {
    client.query('SELECT 1').catch(lose);
  }, options.heartbeatMillis);
  heartbeat.unref();
  return {
    async notify(channel, payload): Promise<void> {
      try {
        await client.query('SELECT pg_notify($1, $2)', [channel, payload]);
      } catch (err) {
        lose(err as Error);
        throw err;
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      // end() says goodbye and waits for the server to close its side, which a frozen server
      // never does: past the connect timeout the socket is destroyed instead.
      const giveUp = setTimeout(() => client.connection.stream.destroy(), options.connectionTimeoutMillis);
      try {
        await client.end();
      } finally {
        clearTimeout(giveUp);
      }
    },
  };
}
