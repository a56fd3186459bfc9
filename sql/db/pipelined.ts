/**
 * A few long-lived connections in pg's pipeline mode (`pipeline: true`): each query is written to
 * a connection at once, behind the ones already sent, without waiting for a connection to come
 * free, and PostgreSQL answers them in order. A pool.query() checks out a connection per query,
 * so pipelining pays only on connections that are shared by concurrent queries, as these are.
 *
 * Only plain queries: a query that keeps a portal open (pg-cursor, pg-copy-streams, `rows`)
 * cannot share a pipelined connection, and pg refuses it. A query waits for every query sent
 * before it on its connection, so a stuck statement stalls its connection's followers: each
 * domain gets connections of its own (server/admission.ts).
 */
import { Client } from './driver.js';
import type { Pool } from './pool.js';

export interface PipelineOptions {
  readonly connectionString: string;
  readonly connections: number;
  readonly connectionTimeoutMillis: number;
  readonly statementTimeoutMillis: number;
  readonly lockTimeoutMillis?: number;
  readonly queryTimeoutMillis?: number;
  readonly applicationName: string;
  /** A connection broke: its queries fail, the next query opens a new one. */
  readonly onError: (err: Error) => void;
}

type Query = Pool['query'];
type Send = (...args: unknown[]) => Promise<unknown>;

/** One pipelined connection, opened on first use and again after it broke. */
class Connection {
  private client: Client | undefined;
  private opening: Promise<Client> | undefined;

  constructor(private readonly options: PipelineOptions) {}

  query(args: unknown[]): Promise<unknown> {
    const client = this.client;
    if (client !== undefined) return (client.query as Send).apply(client, args);
    return this.open().then((opened) => (opened.query as Send).apply(opened, args));
  }

  async end(): Promise<void> {
    const client = this.client ?? (await this.opening?.catch(() => undefined));
    this.client = undefined;
    await client?.end();
  }

  private open(): Promise<Client> {
    this.opening ??= (async () => {
      const { options } = this;
      const client = new Client({
        connectionString: options.connectionString,
        connectionTimeoutMillis: options.connectionTimeoutMillis,
        statement_timeout: options.statementTimeoutMillis,
        ...(options.lockTimeoutMillis === undefined ? {} : { lock_timeout: options.lockTimeoutMillis }),
        query_timeout: options.queryTimeoutMillis ?? options.statementTimeoutMillis + 1000,
        application_name: options.applicationName,
        keepAlive: true,
        pipeline: true,
      });
      const broken = (err: Error) => {
        if (this.client === client) this.client = undefined;
        options.onError(err);
      };
      client.on('error', broken);
      client.on('end', () => {
        if (this.client === client) this.client = undefined;
      });
      try {
        await client.connect();
      } catch (err) {
        client.removeListener('error', broken);
        throw err;
      }
      this.client = client;
      return client;
    })().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }
}

export class PipelinedConnections {
  private readonly connections: Connection[];
  private next = 0;

  constructor(options: PipelineOptions) {
    this.connections = Array.from({ length: options.connections }, () => new Connection(options));
  }

  /** Round robin: a batch of misses is one query, so the queries are few and alike. */
  readonly query: Query = ((...args: unknown[]) => {
    const connection = this.connections[this.next]!;
    this.next = (this.next + 1) % this.connections.length;
    return connection.query(args);
  }) as Query;

  async end(): Promise<void> {
    await Promise.all(this.connections.map((connection) => connection.end()));
  }
}
