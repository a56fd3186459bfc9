import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The rooms `npm run build` ships (systemd/install.sh copies its output): the service and its CLIs. */
const SHIPPED_ROOMS = ['cluster', 'generate', 'ingest', 'lib', 'server', 'sql'];

t.test('npm run build compiles the service and its CLIs, never a test or perf file', async (t) => {
  const outDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-build-'));
  t.teardown(() => rm(outDir, { recursive: true, force: true }));
  // `npm run build` is `tsc -p tsconfig.json`; only the output folder differs, so dist/ is left alone.
  // tsc's own .js entry, not node_modules/.bin/tsc: tap's process-info hook (which tap passes to every
  // child) cannot load that extensionless ES module.
  const tsc = path.join(root, 'node_modules/typescript/lib/tsc.js');
  await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.json', '--outDir', outDir], {
    cwd: root,
    timeout: 120_000,
  });
  const emitted = await readdir(outDir, { recursive: true });
  const topLevel = [...new Set(emitted.map((file) => file.split(path.sep)[0]!))].sort();
  t.same(
    topLevel.filter((folder) => !SHIPPED_ROOMS.includes(folder)),
    [],
    `every top-level folder is a shipped room (${topLevel.join(', ')})`,
  );
  t.ok(topLevel.includes('cluster') && topLevel.includes('server'), 'the service itself is there');
  t.same(
    emitted.filter((file) => /(^|[/\\])(test|perf)([/\\]|$)|\.test\.js$/.test(file)),
    [],
    'nothing under test/ or perf/, and no test file',
  );
});
