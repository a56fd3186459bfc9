/**
 * Preparing the database for the workers: the migrations, then the seed on a first start. The
 * primary tries once before it forks; if the database is unavailable then, it forks the workers
 * anyway (they serve 503s until told the database is prepared: cluster/messages.ts) and keeps
 * trying here, with backoff, until the database answers.
 */
import { Backoff } from '../lib/backoff.js';
import type { Config } from '../lib/config.js';
import { errorMessage, type Log } from '../lib/log.js';
import { isDatabaseUnavailable } from '../sql/db/errors.js';
import { migrate, MIGRATIONS_DIR } from '../sql/migrate.js';
import { seedIfEmpty } from './seed.js';

/**
 * Between attempts while the database is away. One connection attempt every 2 s at most costs the
 * database nothing, and bounds how long the workers stay unready after it returns.
 */
export const PREPARE_BACKOFF = { initialMs: 100, maxMs: 2000, jitter: 0.2 } as const;

/** Migrates, then seeds an empty database; rejects with the database's error. */
export async function prepareDatabase(config: Config, databaseUrl: string, log: Log): Promise<void> {
  const applied = await migrate(databaseUrl, MIGRATIONS_DIR, config.pgConnectTimeoutMs);
  if (applied.length > 0) log.info('migrations_applied', { migrations: applied.join(',') });
  await seedIfEmpty(config, databaseUrl, log);
}

/**
 * Whether the database could be prepared now: false if it is unavailable (refused, timed out,
 * shutting down), which the caller answers by retrying later; any other failure (a changed
 * migration, a failed seed) rejects, as no retry would mend it.
 */
export async function tryPrepareDatabase(config: Config, databaseUrl: string, log: Log): Promise<boolean> {
  try {
    await prepareDatabase(config, databaseUrl, log);
    return true;
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    log.error('database_unavailable_at_start', { error: errorMessage(err) });
    return false;
  }
}

/**
 * Retries tryPrepareDatabase with backoff until it succeeds (resolves) or fails for another reason
 * than an unavailable database (rejects). `stopped` ends the retries early (resolves false).
 */
export async function prepareWhenAvailable(
  config: Config,
  databaseUrl: string,
  log: Log,
  stopped: () => boolean,
): Promise<boolean> {
  const backoff = new Backoff(PREPARE_BACKOFF);
  while (!stopped()) {
    await new Promise((resolve) => setTimeout(resolve, backoff.next()));
    if (stopped()) break;
    if (await tryPrepareDatabase(config, databaseUrl, log)) return true;
  }
  return false;
}
