import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { generate, MANIFEST_FILE, type Manifest } from '../generate/generate.js';
import { ingest } from '../ingest/ingest.js';
import type { Config } from '../lib/config.js';
import { createPool } from '../sql/db/pool.js';
import { hasProducts } from '../sql/queries/catalogue.js';
import type { Log } from '../lib/log.js';

async function catalogueLoaded(config: Config, databaseUrl: string): Promise<boolean> {
  const pool = createPool({
    connectionString: databaseUrl,
    max: 1,
    connectionTimeoutMillis: config.pgConnectTimeoutMs,
    statementTimeoutMillis: config.pgStatementTimeoutMs,
    idleTimeoutMillis: config.pgIdleTimeoutMs,
    applicationName: 'atelier-seed-check',
    onIdleError: () => undefined,
  });
  try {
    return await hasProducts(pool);
  } finally {
    await pool.end();
  }
}

/** True when `dir` holds a complete generation at `scale` (the manifest is written last). */
async function generated(dir: string, scale: number): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
    return manifest.scale === scale;
  } catch {
    return false;
  }
}

/**
 * First start of an empty database: generate a catalogue at SEED_SCALE into
 * DATA_DIR/seed-<scale> (reused if an earlier start got that far) and ingest it. Later starts
 * find products and keep the data. SEED_SCALE=0 serves an empty catalogue.
 */
export async function seedIfEmpty(config: Config, databaseUrl: string, log: Log): Promise<void> {
  if (config.seedScale === 0) return log.info('seed_skipped', { reason: 'SEED_SCALE=0' });
  if (await catalogueLoaded(config, databaseUrl))
    return log.info('seed_skipped', { reason: 'the database holds products' });
  const dir = path.join(config.dataDir, `seed-${config.seedScale}`);
  if (await generated(dir, config.seedScale)) {
    log.info('seed_generate_skipped', { dir, reason: 'a complete generation is already there' });
  } else {
    log.info('seed_generate', { scale: config.seedScale, dir });
    await generate({ scale: config.seedScale, out: dir, progress: true });
  }
  log.info('seed_ingest', { dir });
  await ingest({ databaseUrl, dir, rejectsPath: path.join(dir, 'rejects.csv'), progress: true });
  log.info('seed_done', { scale: config.seedScale });
}
