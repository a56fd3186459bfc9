import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { generate, MANIFEST_FILE, type Manifest } from '../generate/generate.js';
import { ingest } from '../ingest/ingest.js';
import { TABLES } from '../ingest/tables.js';
import { openSession } from '../sql/db/admin.js';
import { freshDatabase } from './helpers/database.js';

/** The generator's dirt kinds that the ingest must reject (atelier-data.md, dirt 2). */
const REJECTED_DIRT = ['related_zero', 'related_unknown', 'related_self', 'related_duplicate'];
/** The generator's dirt kind that the ingest must repair (dirt 1). */
const REPAIRED_DIRT = 'unterminated_quote';

t.test('generated files load completely: every row loaded except the dirt the manifest counts', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-roundtrip-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await generate({ scale: 0.001, out: dir, seed: 42 });
  const manifest = JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as Manifest;

  const url = await freshDatabase(t);
  const report = await ingest({ databaseUrl: url, dir, rejectsPath: path.join(dir, 'rejects.csv'), progress: false });
  const db = await openSession(url, 'test-roundtrip');
  t.teardown(() => db.end());

  t.equal(report.files.length, TABLES.length, 'all 14 files loaded');
  for (const file of report.files) {
    const stats = manifest.files[file.file]!;
    const rejected = REJECTED_DIRT.reduce((sum, kind) => sum + (stats.dirt[kind] ?? 0), 0);
    t.same(
      { read: file.read, loaded: file.loaded, repaired: file.repaired, rejected: file.rejected },
      { read: stats.rows, loaded: stats.rows - rejected, repaired: stats.dirt[REPAIRED_DIRT] ?? 0, rejected },
      file.file,
    );
    const table = TABLES.find((spec) => spec.file === file.file)!.table;
    const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    t.equal(row?.n, file.loaded, `${table} holds the loaded rows`);
  }
  t.ok(
    report.files.some((file) => file.repaired > 0),
    'the sample has unclosed photo lines to repair',
  );
  t.ok(
    report.files.some((file) => file.rejected > 0),
    'the sample has related rows to reject',
  );
});
