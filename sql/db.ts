/**
 * The only module that imports `pg` and `pg-copy-streams`. Everything else talks to PostgreSQL
 * through the pool, session and admin helpers below, so connection policy (timeouts, error
 * handling, application names) is decided in one place.
 */
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { Writable } from 'node:stream';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type QueryConfig = pg.QueryConfig;

/** SQLSTATE codes and connection errors that mean "the database is not there right now". */
const UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up / shutting down)
  '53300', // too_many_connections
  '3D000', // invalid_catalog_name: the database is gone (dropped, or not yet created)
  '08000',
  '08001',
  '08003',
  '08004',
  '08006', // connection exceptions
]);
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH']);

export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_ERRNOS.has(code))) return true;
  // pg reports its own timeouts and dropped connections as plain Errors without a code.
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error|Query read timeout/i.test(
    err.message,
  );
}

/**
 * A query refused before it queued for a connection, because `maxWaiting` queries already wait:
 * under overload the newcomer gets an immediate 503 instead of joining a queue it would leave,
 * seconds later, by timing out.
 */
export class PoolSaturatedError extends Error {
  constructor(waiting: number) {
    super(`all pooled connections are busy and ${waiting} queries already wait for one`);
    this.name = 'PoolSaturatedError';
  }
}

export function isPoolSaturated(err: unknown): boolean {
  return err instanceof PoolSaturatedError;
}

/** 57014 is query_canceled, which is how statement_timeout surfaces. */
export function isStatementTimeout(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === '57014';
}

export interface PoolOptions {
  readonly connectionString: string;
  readonly max: number;
  readonly connectionTimeoutMillis: number;
  readonly statementTimeoutMillis: number;
  readonly idleTimeoutMillis: number;
  /**
   * Queries allowed to wait for a busy pool's connection; the next one fails with
   * PoolSaturatedError. Unbounded when absent (scripts, which would rather wait).
   */
  readonly maxWaiting?: number;
  readonly applicationName: string;
  /** Called for errors on idle clients (a restarted server, a dropped socket). */
  readonly onIdleError: (err: Error) => void;
}

/**
 * pg.Pool's wait queue is unbounded. Every pool.query() checks out through connect(), so bounding
 * it here sheds both queries and explicit checkouts.
 */
class SheddingPool extends pg.Pool {
  constructor(
    config: pg.PoolConfig,
    private readonly maxWaiting: number,
  ) {
    super(config);
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(
    callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): void;
  override connect(
    callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | void {
    const busy = this.idleCount === 0 && this.totalCount >= (this.options.max ?? 10);
    if (busy && this.waitingCount >= this.maxWaiting) {
      const err = new PoolSaturatedError(this.waitingCount);
      if (callback === undefined) return Promise.reject(err);
      callback(err, undefined, () => undefined);
      return;
    }
    return callback === undefined ? super.connect() : super.connect(callback);
  }
}

export function createPool(options: PoolOptions): Pool {
  const pool = new SheddingPool(
    {
      connectionString: options.connectionString,
      max: options.max,
      connectionTimeoutMillis: options.connectionTimeoutMillis,
      idleTimeoutMillis: options.idleTimeoutMillis,
      statement_timeout: options.statementTimeoutMillis,
      query_timeout: options.statementTimeoutMillis + 1000,
      application_name: options.applicationName,
      keepAlive: true,
    },
    options.maxWaiting ?? Number.POSITIVE_INFINITY,
  );
  // Without this listener an error on an idle client is an uncaught exception that kills the
  // process; with it, the broken client is discarded and the next checkout reconnects.
  pool.on('error', options.onIdleError);
  return pool;
}

/** A single dedicated connection for scripts (ingest, migrations, admin): queries and COPY. */
export interface Session {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Opens `COPY … FROM STDIN`; the returned stream finishes when the server has accepted it. */
  copyFrom(copySql: string): Writable;
  end(): Promise<void>;
}

export async function openSession(connectionString: string, applicationName: string): Promise<Session> {
  const client = new pg.Client({ connectionString, application_name: applicationName });
  let lastError: Error | undefined;
  client.on('error', (err) => {
    lastError = err;
  });
  await client.connect();
  return {
    async query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]> {
      if (lastError) throw lastError;
      const result = await client.query(text, params as unknown[] | undefined);
      return result.rows as Row[];
    },
    copyFrom(copySql: string): Writable {
      return client.query(copyStreams.from(copySql));
    },
    async end(): Promise<void> {
      await client.end();
    },
  };
}

export interface ListenOptions {
  readonly connectionString: string;
  readonly channel: string;
  readonly applicationName: string;
  readonly connectionTimeoutMillis: number;
  /**
   * A round trip this often, failing after as long, proves the connection alive: a socket that
   * died silently (a dropped NAT entry, a frozen server) would otherwise lose notifications
   * unnoticed until TCP keepalive gives up, hours later.
   */
  readonly heartbeatMillis: number;
  readonly onNotification: (payload: string) => void;
  /** Called once, when the established connection fails or the server closes it (never after close()). */
  readonly onLost: (err: Error) => void;
}

/** A dedicated connection that LISTENs on one channel. */
export interface Listener {
  close(): Promise<void>;
}

/**
 * Connects and runs LISTEN; resolves once LISTEN is in effect, so every notification committed
 * from then on reaches onNotification. Reconnecting after onLost is the caller's policy.
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const client = new pg.Client({
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
    if (message.channel === options.channel && message.payload !== undefined) options.onNotification(message.payload);
  });
  client.on('error', lose);
  client.on('end', () => lose(new Error('the LISTEN connection was closed')));
  try {
    await client.connect();
    await client.query(`LISTEN ${quoteIdent(options.channel)}`);
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
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      await client.end();
    },
  };
}

/** Quote an SQL identifier (database names in CREATE/DROP DATABASE cannot be parameters). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The same server URL with another database name. */
export function withDatabase(connectionString: string, database: string): string {
  const url = new URL(connectionString);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

export function databaseName(connectionString: string): string {
  return decodeURIComponent(new URL(connectionString).pathname.replace(/^\//, '')) || 'postgres';
}

/** Creates `database` on the server of `adminUrl` unless it exists. Returns true if created. */
export async function ensureDatabase(adminUrl: string, database: string, template?: string): Promise<boolean> {
  const admin = await openSession(adminUrl, 'atelier-admin');
  try {
    const existing = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (existing.length > 0) return false;
    const templateClause = template ? ` TEMPLATE ${quoteIdent(template)}` : '';
    await admin.query(`CREATE DATABASE ${quoteIdent(database)}${templateClause}`);
    return true;
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(adminUrl: string, database: string): Promise<void> {
  const admin = await openSession(adminUrl, 'atelier-admin');
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
