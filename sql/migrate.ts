import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSession } from './db/admin.js';

/**
 * sql/migrations in the source tree. The compiled module (dist/ or build/ at the repo root) sits
 * one folder deeper than its source and the build copies no .sql, so walk up from there.
 */
const HERE = fileURLToPath(import.meta.url);
export const MIGRATIONS_DIR = path.resolve(
  path.dirname(HERE),
  HERE.endsWith('.js') ? '../../sql/migrations' : 'migrations',
);

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

export class MigrationError extends Error {}

async function readMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d+)_([\w-]+)\.sql$/.exec(file);
    if (!match) throw new MigrationError(`migration file name must look like 001_name.sql: ${file}`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    migrations.push({
      version: Number(match[1]),
      name: match[2]!,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  return migrations;
}

// Any fixed 64-bit number; it only has to be the same for every process that migrates.
const MIGRATION_LOCK = 7_305_112_001;

/**
 * Applies every migration not yet recorded in schema_migrations, each in its own transaction,
 * under an advisory lock so that workers, the ingest and tests starting at once apply each
 * migration exactly once. A recorded migration whose file has changed is an error: migrations
 * are append-only. Returns the names of the migrations applied by this call. `connectTimeoutMs`
 * bounds the connection attempt, for a caller that retries (the primary, while the database is down).
 */
export async function migrate(
  connectionString: string,
  dir: string = MIGRATIONS_DIR,
  connectTimeoutMs?: number,
): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const session = await openSession(connectionString, 'atelier-migrate', connectTimeoutMs);
  try {
    await session.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await session.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = new Map(
      (
        await session.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations')
      ).map((row) => [row.version, row.checksum]),
    );
    const done: string[] = [];
    for (const migration of migrations) {
      const checksum = applied.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new MigrationError(
            `migration ${migration.version}_${migration.name} was changed after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      await session.query('BEGIN');
      try {
        await session.query(migration.sql);
        await session.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          migration.checksum,
        ]);
        await session.query('COMMIT');
      } catch (err) {
        await session.query('ROLLBACK');
        throw new MigrationError(`migration ${migration.version}_${migration.name} failed: ${(err as Error).message}`);
      }
      done.push(`${migration.version}_${migration.name}`);
    }
    return done;
  } finally {
    await session.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await session.end();
  }
}
