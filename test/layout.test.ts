import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * A tiny tree with one breach of each kind, beside imports the rule allows. `npm run lint` checks
 * the real tree; this proves the rule file would catch each breach there.
 */
const TREE: Record<string, string> = {
  'lib/upward.ts': "import { served } from '../server/serves.js';\nexport const upward = served;\n",
  'server/serves.ts': "import { supervised } from '../cluster/supervises.js';\nexport const served = supervised;\n",
  'cluster/supervises.ts': 'export const supervised = 1;\n',
  'sql/ping.ts': "import { pong } from './pong.js';\nexport const ping = (): unknown => pong;\n",
  'sql/pong.ts': "import { ping } from './ping.js';\nexport const pong = (): unknown => ping;\n",
  'ingest/loads.ts': "import pg from 'pg';\nexport const loads = pg;\n",
  'sql/db/driver.ts': "import pg from 'pg';\nexport const driver = pg;\n",
  'server/reads.ts': "import { driver } from '../sql/db/driver.js';\nexport const reads = driver;\n",
  'ingest/writes.ts': "import { driver } from '../sql/db/driver.js';\nexport const writes = driver;\n",
  'node_modules/pg/package.json': '{ "name": "pg", "version": "8.0.0", "main": "index.js" }\n',
  'node_modules/pg/index.js': 'module.exports = {};\n',
};

interface Violation {
  readonly rule: { readonly name: string };
  readonly from: string;
  readonly to: string;
}

t.test('the dependency rule rejects upward imports, cycles and pg outside the driver', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-layout-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [file, text] of Object.entries(TREE)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  const { stdout } = await promisify(execFile)(
    path.join(root, 'node_modules/.bin/depcruise'),
    [
      '--config',
      path.join(root, '.dependency-cruiser.cjs'),
      '--output-type',
      'json',
      'lib',
      'sql',
      'ingest',
      'server',
      'cluster',
    ],
    { cwd: dir, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  const { summary } = JSON.parse(stdout) as { summary: { violations: Violation[]; error: number } };
  const found = summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
  t.same(
    found,
    [
      'lib-imports-only-nothing: lib/upward.ts → server/serves.ts',
      'no-circular: sql/ping.ts → sql/pong.ts',
      'only-the-driver-imports-pg: ingest/loads.ts → node_modules/pg/index.js',
      'server-imports-only-sql-lib: server/serves.ts → cluster/supervises.ts',
    ],
    'each breach is reported, and nothing the rule allows',
  );
  t.equal(summary.error, found.length, 'every breach is an error, which fails `npm run lint`');
});
