/**
 * The fault suite (issue 14 item 5), against real processes: a cluster (`npm start`) over a
 * PostgreSQL of the test's own, driven by a steady stream of requests over every domain from a
 * few concurrent clients while the database is restarted or frozen; and the drain after uploads
 * their clients abandoned. Each case states its bound; the numbers it measured are in its
 * assertion messages (and docs/operations.md § Failure modes).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { request } from './helpers/api.js';
import { type Outcome, type Planned, slowest, slowestRequest, steadyLoad, unexpected } from './helpers/load.js';
import { ownDatabase } from './helpers/own-database.js';
import { freePortRange, isEvent, startCluster, type LogLine, type RunningCluster } from './helpers/process.js';
import { RawConnection } from './helpers/raw-http.js';
import { until, within } from '../lib/wait.js';

const database = await ownDatabase(t, 'faults');

/** Low, so that a frozen database is given up on quickly: the bounds below follow from them. */
const CONNECT_TIMEOUT_MS = 500;
const STATEMENT_TIMEOUT_MS = 500;
/**
 * The longest a request may wait for its answer while the database does not answer. A pooled
 * query is given up after PG_STATEMENT_TIMEOUT_MS + 1 s (sql/db/pool.ts: query_timeout), a
 * checkout or a new connection after PG_CONNECT_TIMEOUT_MS; a batched write can wait for the
 * batch before its own (server/write-batcher.ts): twice that, plus 1 s for a loaded machine.
 */
const REPLY_BOUND_MS = 2 * (CONNECT_TIMEOUT_MS + STATEMENT_TIMEOUT_MS + 1000) + 1000;
const RECOVERY_BOUND_MS = 5000;

const CLICK = '{"element":"#buy","widget":"overview","time":"2021-03-17T13:28:37.620Z"}';
/** Catalogue bodies: cached before the outage, they may still be served (200) during it. */
const CATALOGUE = new Set(['/products/1', '/products/1/styles']);
/** Every domain, reads and writes. */
const PLAN: readonly Planned[] = [
  { method: 'GET', path: '/products/1' },
  { method: 'GET', path: '/products/1/styles' },
  { method: 'GET', path: '/reviews?product_id=1' },
  { method: 'GET', path: '/reviews/meta?product_id=1' },
  { method: 'GET', path: '/qa/questions?product_id=1' },
  { method: 'GET', path: '/cart/1' },
  { method: 'POST', path: '/interactions', body: CLICK },
  { method: 'PUT', path: '/reviews/1/helpful' },
  { method: 'GET', path: '/health' },
];
const CLIENTS = 4;

async function startServing(
  t: Test,
  env: Record<string, string> = {},
): Promise<{ cluster: RunningCluster; port: number }> {
  const port = await freePortRange(env.WORKER_PORTS === 'per-worker' ? 2 : 1);
  const cluster = startCluster(t, {
    DATABASE_URL: database.url,
    WORKERS: '2',
    PORT: String(port),
    SEED_SCALE: '0',
    PG_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    PG_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
    DRAIN_TIMEOUT_MS: '2000',
    DRAIN_LINGER_MS: '0',
    ...env,
  });
  await cluster.waitFor(isEvent('cluster_ready'), 'the cluster became ready');
  return { cluster, port };
}

/** Polls until an uncached read answers 200 and a write 201; resolves with how long that took. */
async function recovery(port: number, what: string): Promise<number> {
  const startedAt = performance.now();
  await until(
    async () =>
      (await request(port, 'GET', '/reviews?product_id=1')).status === 200 &&
      (await request(port, 'POST', '/interactions', CLICK)).status === 201,
    what,
    { timeoutMs: RECOVERY_BOUND_MS },
  );
  return Math.round(performance.now() - startedAt);
}

/** Anything but a 2xx, a 4xx, or a 503 with Retry-After; or no reply within the bound. */
const wrongAnswers = (outcomes: readonly Outcome[]): string[] =>
  unexpected(outcomes, (o) => o.status !== undefined && o.status < 500);

/** Within [from, to]: answers of routes that need the database (uncached) that were not 503. */
function servedDuring(outcomes: readonly Outcome[], from: number, to: number): string[] {
  return outcomes
    .filter((o) => o.sentAt >= from && o.endedAt <= to && o.path !== '/health' && !CATALOGUE.has(o.path))
    .filter((o) => o.status !== 503)
    .map((o) => `${o.method} ${o.path}: ${o.status ?? o.error}`);
}

const healthFailures = (outcomes: readonly Outcome[]): string[] =>
  outcomes.filter((o) => o.path === '/health' && o.status !== 200).map((o) => `GET /health: ${o.status ?? o.error}`);

t.test('PostgreSQL restarted under load: only 503s with Retry-After (or cached 200s), then full service', async (t) => {
  const { cluster, port } = await startServing(t);
  const load = steadyLoad(port, PLAN, { clients: CLIENTS, timeoutMs: REPLY_BOUND_MS });
  t.teardown(() => load.stop());
  await sleep(500);
  t.teardown(() => database.start());
  await database.stop();
  const stoppedAt = performance.now();
  await sleep(1500);
  const restartingAt = performance.now();
  await database.start();
  const recoveredIn = await recovery(port, 'an uncached read and a write succeed after the restart');
  await sleep(300);
  const outcomes = await load.stop();

  t.same(wrongAnswers(outcomes), [], `${outcomes.length} requests: every one answered, none but 503 among 5xx`);
  t.same(servedDuring(outcomes, stoppedAt, restartingAt), [], 'while it was down, uncached routes answered 503');
  t.ok(
    outcomes.some((o) => o.sentAt >= stoppedAt && o.endedAt <= restartingAt && o.status === 503),
    'requests were answered during the outage',
  );
  t.same(healthFailures(outcomes), [], '/health answered 200 throughout');
  t.ok(
    slowest(outcomes) <= REPLY_BOUND_MS,
    `slowest reply ${slowest(outcomes)} ms, ${slowestRequest(outcomes)} (bound ${REPLY_BOUND_MS} ms)`,
  );
  t.ok(recoveredIn < RECOVERY_BOUND_MS, `full service ${recoveredIn} ms after PostgreSQL was up again`);
  t.equal(cluster.primary.exitCode, null, 'the primary runs on');
  t.notOk(cluster.lines.some(isEvent('worker_died')), 'no worker died');
});

t.test('postmaster and backends frozen (SIGSTOP) under load: every request answered in bounded time', async (t) => {
  const { cluster, port } = await startServing(t);
  const load = steadyLoad(port, PLAN, { clients: CLIENTS, timeoutMs: REPLY_BOUND_MS + 5000 });
  t.teardown(() => load.stop());
  await sleep(500);
  t.teardown(() => database.thaw());
  await database.freeze();
  const frozenAt = performance.now();
  // Longer than every timeout above, so that pooled connections, checkouts and new connections all give up.
  await sleep(REPLY_BOUND_MS);
  const healthMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const startedAt = performance.now();
    t.equal((await request(port, 'GET', '/health')).status, 200, 'GET /health answers while it is frozen');
    healthMs.push(Math.round(performance.now() - startedAt));
  }
  t.equal((await request(port, 'GET', '/ready')).status, 503, 'GET /ready answers 503 while it is frozen');
  const thawingAt = performance.now();
  database.thaw();
  const recoveredIn = await recovery(port, 'an uncached read and a write succeed after SIGCONT');
  await sleep(300);
  const outcomes = await load.stop();

  t.same(wrongAnswers(outcomes), [], `${outcomes.length} requests: every one answered, none but 503 among 5xx`);
  t.ok(
    slowest(outcomes) <= REPLY_BOUND_MS,
    `slowest reply ${slowest(outcomes)} ms, ${slowestRequest(outcomes)} (bound ${REPLY_BOUND_MS} ms); ` +
      `/health ${healthMs.join(', ')} ms`,
  );
  t.ok(
    outcomes.some((o) => o.sentAt >= frozenAt && o.endedAt <= thawingAt && o.status === 503),
    'requests were answered 503 while it was frozen',
  );
  t.same(healthFailures(outcomes), [], '/health answered 200 throughout');
  t.ok(recoveredIn < RECOVERY_BOUND_MS, `full service ${recoveredIn} ms after SIGCONT`);
  t.equal(cluster.primary.exitCode, null, 'the primary runs on');
  t.notOk(cluster.lines.some(isEvent('worker_died')), 'no worker died');
});

const DRAIN_LINGER_MS = 300;
/** Far longer than the drains should take: a drain held by an abandoned upload would last this long. */
const LONG_DRAIN_TIMEOUT_MS = 20_000;
/** A drain is the linger, then closing the pool and exiting: well under a second more on a loaded machine. */
const DRAIN_BOUND_MS = DRAIN_LINGER_MS + 2000;

const isPrimaryReady = (line: LogLine): boolean => line.role === 'primary' && line.event === 'worker_ready';

/** Sends half a POST body over several connections to `port` and closes each. */
async function abandonUploads(port: number): Promise<void> {
  const uploads = await Promise.all(Array.from({ length: 3 }, () => RawConnection.open(port)));
  for (const upload of uploads) {
    upload.write(
      'POST /interactions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"element":',
    );
  }
  // The workers are other processes: a moment lets them take the requests and their first bytes.
  await sleep(200);
  for (const upload of uploads) upload.close();
  await sleep(100);
}

/** How long each worker took from worker_draining to worker_drained, by pid. */
function drainDurations(lines: readonly LogLine[], pids: readonly number[]): number[] {
  const at = (pid: number, event: string): number =>
    Date.parse(String(lines.find((l) => l.pid === pid && l.event === event)?.time));
  return pids.map((pid) => at(pid, 'worker_drained') - at(pid, 'worker_draining'));
}

t.test('uploads abandoned mid-body do not hold a reload or a stop for DRAIN_TIMEOUT_MS', async (t) => {
  const { cluster, port } = await startServing(t, {
    WORKER_PORTS: 'per-worker',
    DRAIN_TIMEOUT_MS: String(LONG_DRAIN_TIMEOUT_MS),
    DRAIN_LINGER_MS: String(DRAIN_LINGER_MS),
  });
  const ports = [port, port + 1];
  const firstPids = cluster.lines.filter(isPrimaryReady).map((l) => Number(l.worker));
  for (const each of ports) await abandonUploads(each);
  cluster.primary.kill('SIGHUP');
  const reloaded = await cluster.waitFor(isEvent('reload_done'), 'the reload finished', { timeoutMs: 30_000 });
  await until(() => drainDurations(cluster.lines, firstPids).every(Number.isFinite), 'both old workers drained', {
    timeoutMs: 5000,
  });
  const reloadDrains = drainDurations(cluster.lines, firstPids);
  t.ok(
    reloadDrains.every((ms) => ms < DRAIN_BOUND_MS),
    `SIGHUP: each old worker drained in ${reloadDrains.join(', ')} ms (bound ${DRAIN_BOUND_MS} ms, DRAIN_TIMEOUT_MS ${LONG_DRAIN_TIMEOUT_MS})`,
  );

  const secondPids = String(reloaded.workers).split(',').map(Number);
  for (const each of ports) await abandonUploads(each);
  const stoppingAt = performance.now();
  cluster.primary.kill('SIGTERM');
  const exit = await within(cluster.exited, 'the primary stopped', { timeoutMs: LONG_DRAIN_TIMEOUT_MS });
  const stoppedIn = Math.round(performance.now() - stoppingAt);
  t.same(exit, { code: 0, signal: null }, 'exit 0');
  const stopDrains = drainDurations(cluster.lines, secondPids);
  t.ok(
    stopDrains.every((ms) => ms < DRAIN_BOUND_MS),
    `SIGTERM: each worker drained in ${stopDrains.join(', ')} ms (bound ${DRAIN_BOUND_MS} ms)`,
  );
  t.ok(
    stoppedIn < DRAIN_BOUND_MS + 1000,
    `SIGTERM to exit in ${stoppedIn} ms (DRAIN_TIMEOUT_MS ${LONG_DRAIN_TIMEOUT_MS})`,
  );
});

t.test(
  'SIGTERM while PostgreSQL is frozen: each worker drains in about DRAIN_LINGER_MS, not DRAIN_TIMEOUT_MS',
  async (t) => {
    const { cluster } = await startServing(t, {
      DRAIN_TIMEOUT_MS: String(LONG_DRAIN_TIMEOUT_MS),
      DRAIN_LINGER_MS: String(DRAIN_LINGER_MS),
    });
    const pids = cluster.lines.filter(isPrimaryReady).map((l) => Number(l.worker));
    t.teardown(() => database.thaw());
    await database.freeze();
    const stoppingAt = performance.now();
    cluster.primary.kill('SIGTERM');
    const exit = await within(cluster.exited, 'the primary stopped', { timeoutMs: LONG_DRAIN_TIMEOUT_MS });
    const stoppedIn = Math.round(performance.now() - stoppingAt);
    t.same(exit, { code: 0, signal: null }, 'exit 0');
    t.notOk(cluster.lines.some(isEvent('worker_killed')), 'no worker had to be killed');
    // The linger, then the LISTEN session and the pool each given up on after PG_CONNECT_TIMEOUT_MS.
    const bound = DRAIN_LINGER_MS + 2 * CONNECT_TIMEOUT_MS + 1000;
    const drains = drainDurations(cluster.lines, pids);
    t.ok(
      drains.every((ms) => ms < bound),
      `each worker drained in ${drains.join(', ')} ms (bound ${bound} ms, DRAIN_TIMEOUT_MS ${LONG_DRAIN_TIMEOUT_MS})`,
    );
    t.ok(stoppedIn < bound + 1000, `SIGTERM to exit in ${stoppedIn} ms`);
  },
);
