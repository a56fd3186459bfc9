import path from 'node:path';
import type { Config } from '../lib/config.js';
import { ensureDatabase, withDatabase } from './db/admin.js';
import { startEmbedded } from './embedded.js';

/** The database the embedded server holds the catalogue in. */
export const EMBEDDED_DATABASE = 'atelier';

export interface ResolvedDatabase {
  readonly url: string;
  /** Stops the embedded server if this call started one; a no-op for DATABASE_URL. */
  stop(): Promise<void>;
}

/**
 * The database `npm start` and `npm run ingest` both use: DATABASE_URL when set, otherwise the
 * embedded PostgreSQL under DATA_DIR/pg (started here, its `atelier` database created on first
 * use). Sharing this one function is what makes the two commands see the same data.
 * `settings` are more `-c` settings for an embedded server (the bench's statement statistics).
 */
export async function resolveDatabase(config: Config, settings: readonly string[] = []): Promise<ResolvedDatabase> {
  if (config.databaseUrl !== undefined) {
    return { url: config.databaseUrl, stop: async () => undefined };
  }
  const server = await startEmbedded({ dir: path.join(config.dataDir, 'pg'), port: config.embeddedPgPort, settings });
  try {
    await ensureDatabase(server.adminUrl, EMBEDDED_DATABASE);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { url: withDatabase(server.adminUrl, EMBEDDED_DATABASE), stop: () => server.stop() };
}
