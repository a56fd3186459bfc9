/**
 * What scripts (migrations, the ingest, tests, the bench) need beside the pool: one dedicated
 * session for queries and COPY, and creating and dropping whole databases.
 */
import type { Writable } from 'node:stream';
import { Client, copyFrom, escapeIdentifier } from './driver.js';

/** Quote an SQL identifier (database names in CREATE/DROP DATABASE cannot be parameters). */
export const quoteIdent: (name: string) => string = escapeIdentifier;

/** A single dedicated connection for scripts (ingest, migrations, admin): queries and COPY. */
export interface Session {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Opens `COPY … FROM STDIN`; the returned stream finishes when the server has accepted it. */
  copyFrom(copySql: string): Writable;
  end(): Promise<void>;
}

/** `connectTimeoutMs` bounds the connection's handshake; unbounded when absent (a frozen server would hold it for ever). */
export async function openSession(
  connectionString: string,
  applicationName: string,
  connectTimeoutMs?: number,
): Promise<Session> {
  const client = new Client({
    connectionString,
    application_name: applicationName,
    ...(connectTimeoutMs === undefined ? {} : { connectionTimeoutMillis: connectTimeoutMs }),
  });
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
      return client.query(copyFrom(copySql));
    },
    async end(): Promise<void> {
      await client.end();
    },
  };
}

/** The same server URL with another database name. */
export function withDatabase(connectionString: string, database: string): string {
  const url = new URL(connectionString);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
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
