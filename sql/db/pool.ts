/**
 * The pool every server worker queries through: its timeouts, its application name, what an
 * error on an idle connection does, and how many queries may wait for a busy pool.
 */
import { Pool as DriverPool, type PoolClient, type PoolConfig } from './driver.js';

/** The pool itself: its connections, counters and end(). */
export type ConnectionPool = DriverPool;

/**
 * What a statement needs of a pool, and all the sql/queries functions take: a server route gets
 * its domain's gated view of the pool (server/admission.ts), scripts the pool itself.
 */
export type Pool = Pick<DriverPool, 'query'>;

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

export interface PoolOptions {
  readonly connectionString: string;
  readonly max: number;
  readonly connectionTimeoutMillis: number;
  readonly statementTimeoutMillis: number;
  /**
   * How long a statement waits for a lock before failing with 55P03, so one blocked by a locked
   * table gives its connection back; PostgreSQL's default (no limit) when absent.
   */
  readonly lockTimeoutMillis?: number;
  readonly idleTimeoutMillis: number;
  /**
   * How long the client waits for a query's reply before failing it and dropping the connection;
   * a second past the statement timeout when absent (the server's own timeout should answer first).
   */
  readonly queryTimeoutMillis?: number;
  /**
   * Queries allowed to wait for a busy pool's connection; the next one fails with
   * PoolSaturatedError. Unbounded when absent (scripts, which would rather wait).
   */
  readonly maxWaiting?: number;
  readonly applicationName: string;
  /** Called for errors on idle clients (a restarted server, a dropped socket). */
  readonly onIdleError: (err: Error) => void;
}

type ConnectCallback = (
  err: Error | undefined,
  client: PoolClient | undefined,
  done: (release?: unknown) => void,
) => void;

/**
 * pg.Pool's wait queue is unbounded. Every pool.query() checks out through connect(), so bounding
 * it here sheds both queries and explicit checkouts.
 */
class SheddingPool extends DriverPool {
  constructor(
    config: PoolConfig,
    private readonly maxWaiting: number,
  ) {
    super(config);
  }

  override connect(): Promise<PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<PoolClient> | undefined {
    const busy = this.idleCount === 0 && this.totalCount >= (this.options.max ?? 10);
    if (busy && this.waitingCount >= this.maxWaiting) {
      const err = new PoolSaturatedError(this.waitingCount);
      if (callback === undefined) return Promise.reject(err);
      callback(err, undefined, () => undefined);
      return undefined;
    }
    if (callback === undefined) return super.connect();
    super.connect(callback);
    return undefined;
  }
}

export function createPool(options: PoolOptions): ConnectionPool {
  const pool = new SheddingPool(
    {
      connectionString: options.connectionString,
      max: options.max,
      connectionTimeoutMillis: options.connectionTimeoutMillis,
      idleTimeoutMillis: options.idleTimeoutMillis,
      statement_timeout: options.statementTimeoutMillis,
      ...(options.lockTimeoutMillis === undefined ? {} : { lock_timeout: options.lockTimeoutMillis }),
      query_timeout: options.queryTimeoutMillis ?? options.statementTimeoutMillis + 1000,
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
