/**
 * A PostgreSQL server of the test's own, which it can stop, start, freeze and thaw under a running
 * cluster: the run's shared server (test/helpers/database.ts) must not be disturbed.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { freePort } from '../../lib/net.js';
import { ensureDatabase, openSession, withDatabase } from '../../sql/db/admin.js';
import { startEmbedded, type EmbeddedServer } from '../../sql/embedded.js';
import { migrate } from '../../sql/migrate.js';

export interface OwnDatabase {
  /** The `postgres` database: migrated, holding products 1–3 (see below). */
  readonly url: string;
  /** Stops the server (a fast shutdown); its data directory outlives the stop. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /**
   * SIGSTOPs the postmaster and every backend: connections are still accepted by the kernel, and
   * nobody answers, as with a frozen host. thaw() SIGCONTs them all.
   */
  freeze(): Promise<void>;
  thaw(): void;
  /** Another database on the server, created empty (no migration): for a first start. */
  emptyDatabase(name: string): Promise<string>;
}

/** Runs `sql` (one or more statements) on the database at `url`: a fixture's rows. */
export async function runSql(url: string, sql: string): Promise<void> {
  const db = await openSession(url, 'test-fixture');
  try {
    await db.query(sql);
  } finally {
    await db.end();
  }
}

/** Products 1–`count` with nothing else: the fill of every server these helpers start. */
export function productRows(count: number): string {
  return `INSERT INTO products (id, name, slogan, description, category, default_price)
  SELECT id, 'Camo Onesie ' || id, 'Blend in', 'A onesie', 'Jackets', 140 FROM generate_series(1, ${count}) AS id`;
}

/** Fills a migrated database with products 1–3. */
export const seedProducts = (url: string): Promise<void> => runSql(url, productRows(3));

/** The server's processes: the postmaster (first line of postmaster.pid) and its children, read from /proc. */
async function serverPids(dir: string): Promise<number[]> {
  const postmaster = Number((await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === postmaster) children.push(Number(entry));
  }
  return [postmaster, ...children];
}

/** Starts the server (initdb on first use), migrates and fills it; stopped and deleted at teardown. */
export async function ownDatabase(t: Test, name: string): Promise<OwnDatabase> {
  const dir = path.join(os.tmpdir(), `atelier-${name}-${process.pid}-${Date.now().toString(36)}`);
  const port = await freePort();
  let server: EmbeddedServer | undefined;
  let frozen: number[] = [];
  const start = async (): Promise<void> => {
    server ??= await startEmbedded({ dir, port });
  };
  const thaw = (): void => {
    for (const pid of frozen) process.kill(pid, 'SIGCONT');
    frozen = [];
  };
  const stop = async (): Promise<void> => {
    thaw();
    await server?.stop();
    server = undefined;
  };
  t.teardown(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });
  await start();
  const url = server!.adminUrl;
  await migrate(url);
  await seedProducts(url);
  return {
    url,
    stop,
    start,
    thaw,
    async freeze() {
      frozen = await serverPids(dir);
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    },
    async emptyDatabase(database) {
      await ensureDatabase(url, database);
      return withDatabase(url, database);
    },
  };
}
