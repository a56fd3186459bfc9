/** The dedicated connection a worker LISTENs on for invalidations (server/invalidation.ts). */
import { quoteIdent } from './admin.js';
import { Client } from './driver.js';
import { parseWalPosition, type WalPosition } from './wal.js';

/**
 * The insert position, not the flushed one: a writer with synchronous_commit off has its commit
 * notified before the commit record is flushed, and the insert position is past it regardless.
 */
const NOTIFY = {
  name: 'notify-at-position',
  text: 'SELECT pg_notify($1, $2), pg_current_wal_insert_lsn()::text AS position',
};

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
  /**
   * Sends `payload` on `channel` from this connection; resolves once committed, with the server's
   * WAL insert position read by the same statement: it is past the commit of every notification
   * received before the call (a reader of a replica that has replayed it sees all of them). A
   * failure loses the connection.
   */
  notify(channel: string, payload: string): Promise<WalPosition>;
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
    async notify(channel, payload): Promise<WalPosition> {
      try {
        const result = await client.query<{ position: string }>(NOTIFY, [channel, payload]);
        return parseWalPosition(result.rows[0]!.position);
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
