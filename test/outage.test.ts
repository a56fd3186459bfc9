/**
 * Database outages never stop the instance (issue 14): with PostgreSQL stopped, workers that are
 * killed or replaced, even every 300 ms, still start and listen, answer 503s with Retry-After, and
 * recover by themselves once PostgreSQL is back, with no restart of the cluster; a primary started
 * while it is down forks its workers anyway and migrates and seeds once it answers.
 *
 * The cluster runs against a PostgreSQL of its own, which the test stops and starts again.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { openSession } from '../sql/db/admin.js';
import { DEFAULT_POLICY } from '../cluster/primary.js';
import { MIGRATIONS_DIR } from '../sql/migrate.js';
import { request } from './helpers/api.js';
import { ownDatabase } from './helpers/own-database.js';
import { freePortRange, isEvent, startCluster, type LogLine, type RunningCluster } from './helpers/process.js';
import { until } from '../lib/wait.js';

const database = await ownDatabase(t, 'outage');

/** Reads over every domain; the first is catalogue (cacheable while the listener is down), the others are not. */
const READS = [
  '/products/1',
  '/products/1/styles',
  '/reviews?product_id=1',
  '/reviews/meta?product_id=1',
  '/qa/questions?product_id=1',
  '/cart/1',
];
const WRITES: readonly [method: string, path: string, body?: string][] = [
  ['PUT', '/reviews/1/helpful'],
  ['POST', '/interactions', '{"element":"#buy","widget":"overview","time":"2021-03-17T13:28:37.620Z"}'],
];

/** What `port` answered that it should not while the database is down (empty: all as expected). */
async function outageProblems(port: number, cachedBeforehand: readonly string[] = []): Promise<string[]> {
  const problems: string[] = [];
  const health = await request(port, 'GET', '/health');
  if (health.status !== 200) problems.push(`:${port} GET /health: ${health.status}`);
  const ready = await request(port, 'GET', '/ready');
  if (ready.status !== 503) problems.push(`:${port} GET /ready: ${ready.status}`);
  for (const [method, route, body] of [...READS.map((read) => ['GET', read] as const), ...WRITES]) {
    const reply = await request(port, method, route, body);
    const expected = method === 'GET' && cachedBeforehand.includes(route) ? 200 : 503;
    if (reply.status !== expected) problems.push(`:${port} ${method} ${route}: ${reply.status} ${reply.body}`);
    if (reply.status === 503 && reply.headers['retry-after'] === undefined)
      problems.push(`:${port} ${method} ${route}: 503 without Retry-After`);
  }
  return problems;
}

/** Whether `port` is ready and answers every read 200 (false while nothing listens there). */
async function servesFully(port: number): Promise<boolean> {
  const replies = await Promise.all(
    ['/ready', ...READS].map((route) => request(port, 'GET', route).catch(() => undefined)),
  );
  return replies.every((reply) => reply?.status === 200);
}

interface Worker {
  readonly pid: number;
  readonly slot: number;
}

const readyWorker = (line: LogLine): Worker => ({ pid: Number(line.worker), slot: Number(line.slot) });
const isPrimaryReady = (line: LogLine): boolean => line.role === 'primary' && line.event === 'worker_ready';

/**
 * One death more than the crash-loop rule allows within its window with no worker becoming ready,
 * were each replacement not ready, without the database, before the next kill.
 */
const KILLS = DEFAULT_POLICY.maxDeathsInWindow + 1;

/** A cluster of two workers, each on its own port (PORT + slot), so that each is asked directly. */
async function startServing(t: Test): Promise<{ cluster: RunningCluster; ports: number[]; workers: Worker[] }> {
  const port = await freePortRange(2);
  const cluster = startCluster(t, {
    DATABASE_URL: database.url,
    WORKERS: '2',
    WORKER_PORTS: 'per-worker',
    PORT: String(port),
    SEED_SCALE: '0',
    DRAIN_TIMEOUT_MS: '2000',
    DRAIN_LINGER_MS: '0',
  });
  await cluster.waitFor(isEvent('cluster_ready'), 'the cluster became ready');
  const workers = cluster.lines.filter(isPrimaryReady).map(readyWorker);
  return { cluster, ports: [port, port + 1], workers };
}

/** Stops the database until the case starts it again (or, should it fail first, its teardown does). */
function stopDatabase(t: Test): Promise<void> {
  t.teardown(() => database.start());
  return database.stop();
}

t.test('a worker SIGKILLed over and over while PostgreSQL is down is respawned; all recover', async (t) => {
  const { cluster, ports, workers } = await startServing(t);
  const victimPort = ports[0]!;
  const survivorPort = ports[1]!;
  // A catalogue body cached before the outage is still served during it (docs/operations.md).
  t.equal((await request(survivorPort, 'GET', '/products/1')).status, 200, 'the survivor caches a catalogue body');
  await stopDatabase(t);

  const seen = new Set(workers.map((w) => w.pid));
  let victim = workers.find((w) => w.slot === 0)!;
  const problems: string[] = [];
  for (let kill = 1; kill <= KILLS; kill++) {
    const dead = victim.pid;
    process.kill(dead, 'SIGKILL');
    await cluster.waitFor((l) => l.event === 'worker_died' && l.worker === dead, `the primary saw kill ${kill}`, {
      timeoutMs: 5_000,
    });
    // The respawn backoff doubles with each death (100 ms up to 10 s, ±20 %).
    const respawned = await cluster.waitFor(
      (l) => isPrimaryReady(l) && Number(l.slot) === 0 && !seen.has(Number(l.worker)),
      `the replacement after kill ${kill} reported ready`,
      { timeoutMs: 20_000 },
    );
    victim = readyWorker(respawned);
    seen.add(victim.pid);
    problems.push(...(await outageProblems(victimPort)), ...(await outageProblems(survivorPort, ['/products/1'])));
  }
  t.same(problems, [], 'every worker answered /health 200, /ready 503, data routes 503 with Retry-After');
  t.notOk(cluster.lines.some(isEvent('crash_loop')), 'the primary did not give up');
  t.equal(cluster.primary.exitCode, null, 'the primary is still running');
  t.equal(
    cluster.lines.filter(isEvent('worker_died')).length,
    KILLS,
    'the only deaths were the kills: no worker died for want of the database',
  );

  await database.start();
  await until(
    async () => (await servesFully(victimPort)) && (await servesFully(survivorPort)),
    'both workers serve again',
    {
      timeoutMs: 10_000,
    },
  );
  t.pass('within 10 s of PostgreSQL starting, both workers are ready and answer every read 200');
  t.equal(cluster.primary.exitCode, null, 'with the same primary');
  t.same(
    cluster.lines
      .filter(isPrimaryReady)
      .map(readyWorker)
      .filter((w) => !seen.has(w.pid)),
    [],
    'and the same workers',
  );
});

t.test('workers started while PostgreSQL is down become ready by themselves', async (t) => {
  const { cluster, ports, workers } = await startServing(t);
  await stopDatabase(t);
  // A reload forks a replacement for each worker, each while the database is down.
  cluster.primary.kill('SIGHUP');
  const done = await cluster.waitFor(isEvent('reload_done'), 'the reload finished', { timeoutMs: 20_000 });
  const pids = String(done.workers).split(',').map(Number);
  t.same(
    pids.filter((pid) => workers.some((w) => w.pid === pid)),
    [],
    'both workers were replaced',
  );
  t.same([...(await outageProblems(ports[0]!)), ...(await outageProblems(ports[1]!))], [], 'they serve 503s');

  await database.start();
  await until(async () => (await servesFully(ports[0]!)) && (await servesFully(ports[1]!)), 'both workers serve', {
    timeoutMs: 10_000,
  });
  t.pass('within 10 s of PostgreSQL starting, both are ready and answer every read 200');
  t.ok(
    cluster.lines.some((l) => l.event === 'invalidation_listener_connect_failed' && pids.includes(l.pid)),
    'they had started without their LISTEN session',
  );
  // The LISTEN session reconnects with its own backoff (at most 5 s ± 20 %), after the pool.
  await until(
    () => pids.every((pid) => cluster.lines.some((l) => l.event === 'invalidation_listener_restored' && l.pid === pid)),
    'each has its LISTEN session again',
    { timeoutMs: 10_000 },
  );
});

/**
 * Kills on a fixed beat, whether the worker is ready or still starting: more deaths than the
 * crash-loop rule allows (5 within 30 s) with none of them ready between, which gave up on the
 * whole instance while the other worker served. Slot 0 only: more kills would only wait out the
 * respawn backoff, which doubles with every death (6 kills take ~4 s).
 */
const RAPID_KILLS = 6;
const KILL_EVERY_MS = 300;

t.test('a worker SIGKILLed every 300 ms while PostgreSQL is down: the instance serves on and recovers', async (t) => {
  const { cluster, ports } = await startServing(t);
  await stopDatabase(t);
  const forked = (): LogLine | undefined =>
    cluster.lines.findLast((l) => l.event === 'worker_forked' && Number(l.slot) === 0);
  const killed = new Set<number>();
  const survivorAnswers: number[] = [];
  const survivorWatch = (async () => {
    while (killed.size < RAPID_KILLS) {
      survivorAnswers.push((await request(ports[1]!, 'GET', '/health')).status);
      await sleep(50);
    }
  })();
  await until(
    async () => {
      const pid = Number(forked()?.worker);
      if (!killed.has(pid)) {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      }
      await sleep(KILL_EVERY_MS);
      return killed.size >= RAPID_KILLS;
    },
    `${RAPID_KILLS} workers of slot 0 were killed`,
    { timeoutMs: 60_000 },
  );
  await survivorWatch;
  t.ok(
    survivorAnswers.length > 0 && survivorAnswers.every((status) => status === 200),
    `the other worker answered GET /health 200 all along (${survivorAnswers.length} times)`,
  );
  const deaths = cluster.lines.filter(isEvent('worker_died')).length;
  t.notOk(cluster.lines.some(isEvent('crash_loop')), `the primary did not give up after ${deaths} deaths`);
  t.equal(cluster.primary.exitCode, null, 'the primary is still running');

  await database.start();
  const startedAt = performance.now();
  // Slot 0's next respawn waits out the backoff its deaths grew: 6.4 s (±20 %) after the sixth.
  await until(async () => (await servesFully(ports[0]!)) && (await servesFully(ports[1]!)), 'both slots serve again', {
    timeoutMs: 15_000,
  });
  t.pass(
    `both slots are ready and answer every read 200, ${Math.round(performance.now() - startedAt)} ms after PostgreSQL started`,
  );
  t.equal(cluster.primary.exitCode, null, 'with the same primary');
});

/** Files in sql/migrations: what the primary must have applied before any worker says ready. */
const MIGRATIONS = (await readdir(MIGRATIONS_DIR)).filter((file) => file.endsWith('.sql')).length;

t.test(
  'the primary started while PostgreSQL is down forks its workers, then migrates and seeds when it returns',
  async (t) => {
    const url = await database.emptyDatabase('first_start');
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'atelier-outage-seed-'));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    await stopDatabase(t);
    const port = await freePortRange(2);
    const cluster = startCluster(t, {
      DATABASE_URL: url,
      DATA_DIR: dataDir,
      WORKERS: '2',
      WORKER_PORTS: 'per-worker',
      PORT: String(port),
      // The smallest catalogue: a first start seeds it, and no worker may say ready before it is in.
      SEED_SCALE: '0.0001',
      PG_CONNECT_TIMEOUT_MS: '500',
      DRAIN_TIMEOUT_MS: '2000',
      DRAIN_LINGER_MS: '0',
    });
    const ready = await cluster.waitFor(isEvent('cluster_ready'), 'the cluster became ready without its database');
    t.equal(ready.database, 'unavailable', 'it says it started without the database');
    const ports = [port, port + 1];
    t.same(
      [...(await outageProblems(ports[0]!)), ...(await outageProblems(ports[1]!))],
      [],
      'each worker: /health 200, /ready 503, data routes 503 with Retry-After',
    );
    const workers = cluster.lines.filter(isPrimaryReady).map(readyWorker);

    await database.start();
    const startedAt = performance.now();
    // The primary's next attempt is up to 2 s away, and the seed takes longer than these two requests.
    const early = await Promise.all(['/ready', '/products/1'].map((route) => request(ports[0]!, 'GET', route)));
    t.same(
      early.map((reply) => reply.status),
      [503, 503],
      'just after PostgreSQL started, before the primary prepared it: /ready and data 503 though the database answers',
    );
    await until(async () => (await request(ports[0]!, 'GET', '/ready')).status === 200, 'a worker says ready', {
      timeoutMs: 10_000,
    });
    const readyIn = Math.round(performance.now() - startedAt);
    const db = await openSession(url, 'outage-first-start');
    t.teardown(() => db.end());
    const [applied] = await db.query<{ migrations: number; products: number }>(
      'SELECT (SELECT count(*) FROM schema_migrations)::int AS migrations, (SELECT count(*) FROM products)::int AS products',
    );
    t.equal(applied!.migrations, MIGRATIONS, 'no worker said ready before every migration was applied');
    t.ok(applied!.products > 0, `nor before the seed was in (${applied!.products} products)`);
    await until(
      async () =>
        (await Promise.all(ports.map((each) => request(each, 'GET', '/ready')))).every((r) => r.status === 200),
      'both workers say ready',
      { timeoutMs: 5000 },
    );
    for (const each of ports) {
      t.equal((await request(each, 'GET', '/products/1')).status, 200, `:${each} GET /products/1 200`);
      t.equal((await request(each, 'POST', '/interactions', WRITES[1]![2])).status, 201, `:${each} a click is stored`);
    }
    t.pass(`ready ${readyIn} ms after PostgreSQL started`);
    t.ok(
      ['migrations_applied', 'seed_done', 'database_prepared'].every((event) => cluster.lines.some(isEvent(event))),
      'the primary says it migrated, seeded and prepared the database',
    );
    t.equal(cluster.primary.exitCode, null, 'the primary runs on');
    t.notOk(cluster.lines.some(isEvent('worker_died')), 'no worker died');
    t.same(
      cluster.lines
        .filter(isPrimaryReady)
        .map(readyWorker)
        .filter((w) => !workers.some((known) => known.pid === w.pid)),
      [],
      'and no worker was replaced',
    );
  },
);
