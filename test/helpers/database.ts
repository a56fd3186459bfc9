import type { Test } from 'tap';
import { listen } from '../../sql/db/listen.js';
import { INVALIDATION_CHANNEL } from '../../sql/queries/invalidation.js';
import { createPool, type ConnectionPool } from '../../sql/db/pool.js';
import { dropDatabase, ensureDatabase, openSession, withDatabase, type Session } from '../../sql/db/admin.js';

let counter = 0;

function runSettings(): { adminUrl: string; template: string; prefix: string } {
  const adminUrl = process.env.ATELIER_TEST_ADMIN_URL;
  const template = process.env.ATELIER_TEST_TEMPLATE;
  const prefix = process.env.ATELIER_TEST_PREFIX;
  if (!adminUrl || !template || !prefix) {
    throw new Error('run the suite with `npm test` (test/run.ts provides the database)');
  }
  return { adminUrl, template, prefix };
}

/**
 * A new database for this test, dropped when the test ends. `migrated` (the default) clones
 * the run's template, which has every migration applied; otherwise it is empty.
 */
export async function freshDatabase(t: Test, options: { migrated?: boolean } = {}): Promise<string> {
  const { adminUrl, template, prefix } = runSettings();
  const name = `${prefix}${process.pid}_${++counter}`;
  await ensureDatabase(adminUrl, name, options.migrated === false ? 'template0' : template);
  t.teardown(() => dropDatabase(adminUrl, name));
  return withDatabase(adminUrl, name);
}

/** URL of the run's server (admin database), for tests that create databases themselves. */
export function adminUrl(): string {
  return runSettings().adminUrl;
}

/**
 * A session whose changes notify nobody: `session_replication_role = replica` skips the tables'
 * change-notification triggers (sql/migrations/004). Coherence tests change rows through it to
 * prove that a cache was really warm: the old body must still be served until a notified change.
 */
export async function silentSession(t: Test, url: string, name: string): Promise<Session> {
  const db = await openSession(url, name);
  t.teardown(() => db.end());
  await db.query('SET session_replication_role = replica');
  return db;
}

/** Every cache invalidation payload committed on the database at `url` from now on, as it arrives. */
export async function collectNotifications(t: Test, url: string): Promise<string[]> {
  const payloads: string[] = [];
  const listener = await listen({
    connectionString: url,
    channels: [INVALIDATION_CHANNEL],
    applicationName: 'test-notifications',
    connectionTimeoutMillis: 5000,
    heartbeatMillis: 60_000,
    onNotification: (_channel, payload) => payloads.push(payload),
    onLost: () => undefined,
  });
  t.teardown(() => listener.close());
  return payloads;
}

/** A small pool on `url` for calling the sql/queries functions directly, ended at the test's teardown. */
export function directPool(t: Test, url: string, max = 1): ConnectionPool {
  const pool = createPool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 3000,
    statementTimeoutMillis: 5000,
    idleTimeoutMillis: 1000,
    applicationName: 'test-direct',
    onIdleError: () => undefined,
  });
  t.teardown(() => pool.end());
  return pool;
}
