/**
 * `npm test`: gives the suite its own PostgreSQL for the run, then runs tap.
 * With DATABASE_URL set, that server is used (the role needs CREATEDB); otherwise an embedded
 * server is started in a temporary directory. A template database is migrated once; each test
 * file clones it (test/helpers/database.ts). Every database of the run is dropped at the end.
 *
 * Usage (`npm test` compiles first; tap runs the compiled files under build/test/):
 *   npm test                                every test file
 *   npm test -- test/products.test.ts       one file, by its TypeScript name (or build/test/products.test.js)
 *   npm test -- coherence                   every test file whose name contains `coherence`
 *   npm test -- --bail coherence qa         several patterns, with tap flags, which pass through
 * A bare word right after a flag is that flag's value unless it names a test file: write a value
 * that could, `--grep=products`. Paths are read from the directory npm was run in.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropDatabase, ensureDatabase, openSession, withDatabase } from '../sql/db/admin.js';
import { startEmbedded, type EmbeddedServer } from '../sql/embedded.js';
import { migrate } from '../sql/migrate.js';
import { freePort } from '../lib/net.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function dropRunDatabases(adminUrl: string, prefix: string): Promise<void> {
  const admin = await openSession(adminUrl, 'atelier-test-cleanup');
  let names: string[];
  try {
    names = (
      await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1 || '%'", [prefix])
    ).map((row) => row.datname);
  } finally {
    await admin.end();
  }
  for (const name of names) await dropDatabase(adminUrl, name);
}

const tapBin = path.join(root, 'node_modules/tap/dist/esm/run.mjs');
const BUILT_TESTS = 'build/test';
/** An argument that names no test file: reported without a stack trace. */
class UsageError extends Error {}
/** Where `npm test` was typed: npm runs the script from the repository root. */
const invokedFrom = process.env.INIT_CWD ?? process.cwd();

/** The compiled file under build/ for a source path such as test/products.test.ts. */
function compiled(arg: string): string {
  const source = path.relative(root, path.resolve(invokedFrom, arg));
  const built = source.split(path.sep)[0] === 'build' ? source : path.join('build', source.replace(/\.ts$/, '.js'));
  if (!existsSync(path.join(root, built))) throw new UsageError(`${arg}: nothing compiled at ${built}`);
  return built;
}

/** tap's arguments for ours (see the usage above): flags kept, file names and patterns turned into compiled files. */
function tapArguments(args: readonly string[]): string[] {
  const suffix = '.test.js';
  const names = readdirSync(path.join(root, BUILT_TESTS), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith(suffix))
    .map((file) => file.slice(0, -suffix.length))
    .sort();
  const files = new Set<string>();
  const flags: string[] = [];
  args.forEach((arg, i) => {
    const previous = args[i - 1];
    const matching = names.filter((name) => name.includes(arg));
    if (arg.startsWith('-')) flags.push(arg);
    else if (/\.[jt]s$/.test(arg)) files.add(compiled(arg));
    else if (matching.length > 0) for (const name of matching) files.add(path.join(BUILT_TESTS, name + suffix));
    else if (previous?.startsWith('-') && !previous.includes('=')) flags.push(arg);
    else throw new UsageError(`no test file matches "${arg}" (the test files: ${names.join(', ')})`);
  });
  return [...jobs(flags), ...flags, ...files];
}

/**
 * tap's default is one file per core, but the suite's files spend most of their time waiting on
 * the processes they start (clusters, replicas, nginx, a browser): one more than the cores keeps
 * both cores busy (README § Tests has the measurement).
 */
function jobs(flags: readonly string[]): string[] {
  if (flags.some((flag) => flag === '-j' || flag.startsWith('--jobs') || /^-j\d/.test(flag))) return [];
  return [`--jobs=${os.availableParallelism() + 1}`];
}

/**
 * package.json removes tap's TypeScript plugin (the suite runs compiled JS, and the plugin's
 * ts-node cannot read TypeScript 7's config). tap only notices a plugin change by rebuilding
 * mid-run, which fails that run, so rebuild up front on a fresh install.
 */
function ensureTapPlugins(): void {
  const built = readFileSync(path.join(root, 'node_modules/@tapjs/test/test-built/dist/esm/index.js'), 'utf8');
  if (!built.includes('@tapjs/typescript')) return;
  const result = spawnSync(process.execPath, [tapBin, 'build'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('`tap build` failed');
}

async function main(): Promise<number> {
  const tapArgs = tapArguments(process.argv.slice(2));
  ensureTapPlugins();
  const runId = `${process.pid}_${Date.now().toString(36)}`;
  const prefix = `atelier_test_${runId}_`;
  let embedded: EmbeddedServer | undefined;
  let adminUrl = process.env.DATABASE_URL?.trim();
  if (!adminUrl) {
    embedded = await startEmbedded({
      dir: path.join(os.tmpdir(), `atelier-test-${runId}`),
      port: await freePort(),
      ephemeral: true,
    });
    adminUrl = embedded.adminUrl;
  }
  try {
    const template = `${prefix}template`;
    await ensureDatabase(adminUrl, template);
    await migrate(withDatabase(adminUrl, template));
    const child = spawn(process.execPath, [tapBin, ...tapArgs], {
      cwd: root,
      stdio: ['inherit', 'pipe', 'inherit'],
      env: {
        ...process.env,
        ATELIER_TEST_ADMIN_URL: adminUrl,
        ATELIER_TEST_TEMPLATE: template,
        ATELIER_TEST_PREFIX: prefix,
      },
    });
    // Echo tap's report and remember its closing counts line, `# { total: 19, pass: 18, fail: 1 }`.
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-4096);
    });
    const code = await new Promise<number>((resolve) =>
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
    );
    const summary = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?/.exec(tail);
    if (summary) {
      // The plain closing line CI tools read, whatever the reporter printed above it.
      console.log(`${summary[2] ?? 0} passed, ${summary[3] ?? 0} failed, ${summary[4] ?? 0} skipped`);
    }
    return code;
  } finally {
    await dropRunDatabases(adminUrl, prefix).catch((err) => console.error('cleanup failed:', err));
    await embedded?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof UsageError ? `npm test: ${err.message}` : err);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
