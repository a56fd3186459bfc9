import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { openSession } from '../sql/db/admin.js';
import { freshDatabase } from './helpers/database.js';
import { freePort } from '../lib/net.js';
import { connectionOwner, isEvent, startCluster, type RunningCluster } from './helpers/process.js';
import { until, within } from '../lib/wait.js';

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly connection: string | undefined;
  /** The client end of the connection it came over, to find the worker that served it. */
  readonly clientPort: number;
}

/** One GET over `agent` (false: a new connection that closes after the reply). */
function get(port: number, path: string, agent: http.Agent | false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent }, (response) => {
      const clientPort = response.socket.localPort ?? 0;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body,
          connection: response.headers.connection,
          clientPort,
        }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** Which worker serves a request on a new keep-alive connection (the connection stays open while we look). */
async function servedBy(port: number, pids: readonly number[]): Promise<{ status: number; pid: number | undefined }> {
  const agent = new http.Agent({ keepAlive: true });
  try {
    const reply = await get(port, '/health', agent);
    return { status: reply.status, pid: await connectionOwner(port, reply.clientPort, pids) };
  } finally {
    agent.destroy();
  }
}

const PRODUCTS = 6;

/** A migrated database holding a few products, so the primary finds a catalogue and does not seed. */
async function catalogueDatabase(t: Test): Promise<string> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'cluster-test');
  try {
    await db.query(
      `INSERT INTO products (id, name, slogan, description, category, default_price)
       SELECT id, 'Camo Onesie ' || id, 'Blend in', 'A onesie', 'Jackets', 140 FROM generate_series(1, $1::int) AS id`,
      [PRODUCTS],
    );
  } finally {
    await db.end();
  }
  return url;
}

interface Serving {
  readonly cluster: RunningCluster;
  readonly port: number;
  readonly databaseUrl: string;
  readonly pids: number[];
}

async function startServing(t: Test, env: Readonly<Record<string, string>> = {}): Promise<Serving> {
  const databaseUrl = await catalogueDatabase(t);
  const port = await freePort();
  const cluster = startCluster(t, {
    DATABASE_URL: databaseUrl,
    WORKERS: '2',
    PORT: String(port),
    DRAIN_TIMEOUT_MS: '5000',
    ...env,
  });
  const ready = await cluster.waitFor(isEvent('cluster_ready'), 'the cluster became ready');
  return { cluster, port, databaseUrl, pids: String(ready.workers).split(',').map(Number) };
}

t.test('requests over new connections are served by every worker', async (t) => {
  const { port, pids } = await startServing(t);
  t.equal(pids.length, 2, 'two workers ready');
  const replies = [];
  for (let i = 0; i < 24; i++) replies.push(await servedBy(port, pids));
  t.same(
    replies.filter((r) => r.status !== 200),
    [],
    'every request answered 200',
  );
  t.same([...new Set(replies.map((r) => r.pid))].sort(), [...pids].sort(), 'both workers accepted connections');
});

t.test('a SIGKILLed worker is respawned and the cluster serves on', async (t) => {
  const { cluster, port, pids } = await startServing(t);
  const [victim, survivor] = pids as [number, number];
  process.kill(victim, 'SIGKILL');
  await cluster.waitFor((l) => l.event === 'worker_died' && l.worker === victim, 'the primary saw the worker die');
  const respawned = await cluster.waitFor(
    (l) => l.event === 'worker_ready' && l.role === 'primary' && !pids.includes(Number(l.worker)),
    'a replacement became ready',
  );
  const workers = [survivor, Number(respawned.worker)];
  const replies = [];
  for (let i = 0; i < 24; i++) replies.push(await servedBy(port, workers));
  t.same(
    replies.filter((r) => r.status !== 200),
    [],
    'every request answered 200',
  );
  t.same(
    [...new Set(replies.map((r) => r.pid))].sort(),
    [...workers].sort(),
    'the survivor and the replacement both serve',
  );
});

t.test('SIGTERM lets in-flight requests finish, then exits 0', async (t) => {
  // Every request must wait inside the database however the kernel spreads them over the two
  // workers, and for as long as the lock is held: no admission queue, no lock timeout.
  const { cluster, port, databaseUrl } = await startServing(t, { ADMISSION_LIMIT: '8', PG_LOCK_TIMEOUT_MS: '0' });
  // Product reads queue behind this lock: real requests in flight, with no test-only hook.
  const locker = await openSession(databaseUrl, 'cluster-test-lock');
  t.teardown(() => locker.end());
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
  // Distinct list pages, so that the response cache cannot fold the requests into one query, of a
  // route whose misses are not batched (server/miss-batcher.ts), so each is a statement.
  const inFlight = Array.from({ length: PRODUCTS }, (_, i) => get(port, `/products?page=${i + 1}&count=1`, false));
  const admin = await openSession(databaseUrl, 'cluster-test-watch');
  t.teardown(() => admin.end());
  // Wait until every request is blocked inside the database (so a worker holds it) before asking to stop.
  await until(
    async () => {
      const [row] = await admin.query<{ waiting: number }>(
        "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      return row!.waiting === PRODUCTS;
    },
    'every product request is blocked on the lock',
    { timeoutMs: 10_000 },
  );
  cluster.primary.kill('SIGTERM');
  await cluster.waitFor(isEvent('worker_draining'), 'a worker started draining');
  await locker.query('COMMIT');
  const replies = await within(Promise.all(inFlight), 'the in-flight requests were answered', { timeoutMs: 10_000 });
  t.same(
    replies.map((r) => r.status),
    replies.map(() => 200),
    'every in-flight request got its 200',
  );
  t.same(
    replies.map((r) => JSON.parse(r.body)[0].id),
    inFlight.map((_, i) => i + 1),
    'each with its product',
  );
  const exit = await within(cluster.exited, 'the primary exited after draining', { timeoutMs: 20_000 });
  t.same(exit, { code: 0, signal: null }, 'the primary exited 0');
});

t.test('SIGHUP replaces every worker without failing a request', async (t) => {
  const { cluster, port, pids } = await startServing(t);
  let stop = false;
  const failures: string[] = [];
  let served = 0;
  const loop = async (agent: http.Agent | false, name: string): Promise<void> => {
    while (!stop) {
      try {
        const reply = await get(port, '/health', agent);
        if (reply.status === 200) served += 1;
        else failures.push(`${name}: status ${reply.status}`);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
      }
    }
  };
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => keepAlive.destroy());
  const loops = [loop(false, 'new connections'), loop(keepAlive, 'keep-alive')];
  await until(() => served >= 200, '200 requests were served before the reload', { timeoutMs: 30_000 });
  cluster.primary.kill('SIGHUP');
  const done = await cluster.waitFor(isEvent('reload_done'), 'the reload finished');
  const servedAtReload = served;
  await until(() => served >= servedAtReload + 200, '200 more requests were served after the reload', {
    timeoutMs: 30_000,
  });
  stop = true;
  await within(Promise.all(loops), 'the request loops stopped', { timeoutMs: 10_000 });
  t.same(failures, [], 'no request failed');
  const newPids = String(done.workers).split(',').map(Number);
  t.equal(newPids.length, 2, 'two workers after the reload');
  t.same(
    newPids.filter((pid) => pids.includes(pid)),
    [],
    'every worker pid changed',
  );
  const { status, pid } = await servedBy(port, newPids);
  t.equal(status, 200);
  t.ok(pid !== undefined && newPids.includes(pid), 'the new workers serve');
});

t.test('a port no worker could bind makes the primary exit non-zero before forking', async (t) => {
  const databaseUrl = await catalogueDatabase(t);
  // A socket bound without SO_REUSEPORT would keep every uWS worker from binding the port; the
  // primary's port claim (cluster/port-claim.ts) sees it first, so no worker is forked at all.
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '0.0.0.0', resolve));
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const { port } = squatter.address() as { port: number };
  const cluster = startCluster(t, { DATABASE_URL: databaseUrl, WORKERS: '2', PORT: String(port) });
  const exit = await within(cluster.exited, 'the primary gave up on its workers', { timeoutMs: 30_000 });
  t.equal(exit.code, 1, 'exit code 1');
  t.ok(
    cluster.lines.some((l) => l.event === 'port_in_use'),
    'the primary says the port is in use',
  );
  t.notOk(cluster.lines.some(isEvent('worker_forked')), 'no worker was forked');
  t.notOk(cluster.lines.some(isEvent('cluster_ready')), 'it never claimed to be ready');
});

t.test('the first start seeds an empty database and later starts keep its data', async (t) => {
  const databaseUrl = await freshDatabase(t);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-cluster-test-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = { DATABASE_URL: databaseUrl, DATA_DIR: dataDir, SEED_SCALE: '0.0001', WORKERS: '1' };

  const first = startCluster(t, { ...env, PORT: String(await freePort()) });
  await first.waitFor(isEvent('cluster_ready'), 'the seeded cluster became ready');
  t.ok(first.lines.some(isEvent('seed_done')), 'the first start seeded');
  t.ok(existsSync(path.join(dataDir, 'seed-0.0001', 'product.csv')), 'from files generated under DATA_DIR');
  first.primary.kill('SIGTERM');
  const firstExit = await within(first.exited, 'the first start exited on SIGTERM', { timeoutMs: 20_000 });
  t.same(firstExit, { code: 0, signal: null });

  const port = await freePort();
  const second = startCluster(t, { ...env, PORT: String(port) });
  await second.waitFor(isEvent('cluster_ready'), 'the second start became ready');
  t.notOk(second.lines.some(isEvent('seed_ingest')), 'the second start did not load again');
  t.ok(second.lines.some(isEvent('seed_skipped')), 'it found the products');
  const reply = await get(port, '/products/1', false);
  t.equal(reply.status, 200, 'and serves the seeded catalogue');
  second.primary.kill('SIGTERM');
  const secondExit = await within(second.exited, 'the second start exited on SIGTERM', { timeoutMs: 20_000 });
  t.same(secondExit, { code: 0, signal: null });
});

t.test('an invalid setting exits 1 naming the variable', async (t) => {
  const cluster = startCluster(t, { PORT: 'abc' });
  const exit = await within(cluster.exited, 'the primary refused PORT=abc', { timeoutMs: 10_000 });
  t.same(exit, { code: 1, signal: null });
  const complaint = cluster.lines.find(isEvent('config_invalid'));
  t.match(complaint?.error, /PORT/, 'the message names PORT');
});

t.test('workers that can never start make the primary exit non-zero (crash loop)', async (t) => {
  const databaseUrl = await catalogueDatabase(t);
  const port = await freePort();
  const cluster = startCluster(t, { DATABASE_URL: databaseUrl, WORKERS: '2', PORT: String(port) });
  // The port is free when the primary claims it; taken the moment the first worker is forked
  // (a worker needs hundreds of milliseconds to reach its listen), by a socket bound without
  // SO_REUSEPORT, it keeps every worker and every replacement from binding.
  await cluster.waitFor(isEvent('worker_forked'), 'the first worker is forked');
  const squatter = createServer();
  await new Promise<void>((resolve, reject) => {
    squatter.once('error', reject);
    squatter.listen(port, '0.0.0.0', resolve);
  });
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const exit = await within(cluster.exited, 'the primary gave up on its workers', { timeoutMs: 60_000 });
  t.equal(exit.code, 1, 'exit code 1');
  t.ok(cluster.lines.some(isEvent('crash_loop')), 'the primary says it gave up on a crash loop');
  t.notOk(cluster.lines.some(isEvent('cluster_ready')), 'it never claimed to be ready');
});
