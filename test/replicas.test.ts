/**
 * Reads from streaming replicas (issue 15, items 1, 4 and 5), on a real primary and two real
 * replicas (test/helpers/replication.ts), one applying each commit 300 ms late, one on a network
 * namespace of its own that the test can cut off:
 * - a price and a stock change made with psql is in the next read of every worker of two
 *   instances, whichever replica serves it, and stays there;
 * - a replica SIGKILLed, and one partitioned (packets dropped, no reset), leave rotation and come
 *   back, and no read fails meanwhile;
 * - with the primary stopped, reads keep answering 200, writes 503 with Retry-After and /ready says
 *   degraded; once it is back, writes succeed without restarting the service.
 *
 * The instances do not cache (CACHE_MAX_BYTES=0): every read is routed, to a replica or the primary.
 */
import t, { type Test } from 'tap';
import { run } from '../lib/processes.js';
import { openSession } from '../sql/db/admin.js';
import { request } from './helpers/api.js';
import { perWorkerInstance, replicaMetric, type Instance, type Worker } from './helpers/instances.js';
import { type Outcome, slowest, steadyLoad, type Planned } from './helpers/load.js';
import { type ReplicaName, startReplicationSet } from './helpers/replication.js';
import { until } from '../lib/wait.js';

const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price)
SELECT id, 'Camo Onesie ' || id, 'Blend in', 'A onesie', 'Jackets', 140 FROM generate_series(1, 6) AS id;
INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style)
SELECT id, id, 'Forest Green', NULL, 140, true FROM generate_series(1, 6) AS id;
INSERT INTO skus (id, style_id, size, quantity) SELECT id, id, 'M', 10 FROM generate_series(1, 6) AS id;
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, reported, helpful)
SELECT id, id, 'Does it fade?', '2021-03-17T13:28:37.620Z', 'bob', 'b@example.com', false, 0 FROM generate_series(1, 6) AS id;
SELECT refresh_review_stats();
SELECT setval(pg_get_serial_sequence('questions', 'id'), 6);
`;

const set = await startReplicationSet(t, {
  seed: async (url) => {
    const db = await openSession(url, 'replicas-seed');
    try {
      await db.query(FIXTURE);
    } finally {
      await db.end();
    }
  },
});

/** Short enough that the faults below are found within a test's patience. */
const REPLICA_ENV = {
  DATABASE_REPLICA_URLS: set.replicaUrls.join(','),
  REPLICA_TIMEOUT_MS: '500',
  REPLICA_PROBE_INTERVAL_MS: '50',
  CACHE_MAX_BYTES: '0',
  PG_CONNECT_TIMEOUT_MS: '1000',
};

function instance(t: Test): Promise<Instance> {
  return perWorkerInstance(t, { DATABASE_URL: set.primary.url, ...REPLICA_ENV });
}

/** Every read that did not answer 200, as a line for the failure message. */
function failed(outcomes: readonly Outcome[]): string[] {
  return outcomes
    .filter((outcome) => outcome.status !== 200)
    .map((o) => `${o.method} ${o.path}: ${o.error ?? o.status} after ${Math.round(o.endedAt - o.sentAt)} ms`);
}

const nodeOf = (name: ReplicaName): string => `${set.replicas[name].host}:${set.replicas[name].port}`;

/** How many of the instance's workers have `replica` in rotation. */
async function workersRotating(worker: Worker, replica: ReplicaName): Promise<number> {
  return (await replicaMetric(worker.port, 'atelier_replica_in_rotation')).get(nodeOf(replica)) ?? 0;
}

/** What each replica did for the instance: reads it answered and reads retried on the primary. */
async function replicaWork(worker: Worker): Promise<string> {
  const reads = await replicaMetric(worker.port, 'atelier_replica_reads_total');
  const retried = await replicaMetric(worker.port, 'atelier_replica_reads_retried_total');
  return (['delayed', 'partitionable'] as const)
    .map((name) => `${name} ${reads.get(nodeOf(name)) ?? 0} reads, ${retried.get(nodeOf(name)) ?? 0} retried`)
    .join('; ');
}

async function psql(sql: string): Promise<void> {
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', set.primary.url, '-c', sql]);
}

/** Reads of products nobody writes: every one may go to either replica. */
const READS: Planned[] = [1, 2, 3].flatMap((id) => [
  { method: 'GET', path: `/products/${id}/styles` },
  { method: 'GET', path: `/reviews/meta?product_id=${id}` },
  { method: 'GET', path: `/qa/questions?product_id=${id}` },
]);

t.test('a price and a stock change made with psql is in the next read of every worker, from any replica', async (t) => {
  const instances = [await instance(t), await instance(t)];
  const workers = instances.flatMap((each) => each.workers);
  const styles = '/products/4/styles';
  for (const [round, price] of ['150.00', '99.00', '120.00'].entries()) {
    await psql(`UPDATE skus SET quantity = quantity - 1 WHERE id = 4`);
    await psql(`UPDATE styles SET sale_price = ${price} WHERE id = 4`);
    // Answered once every live listener has acknowledged it, so every notification committed
    // before it (the two updates) has reached every worker.
    const proof = await request(workers[0]!.port, 'PUT', '/qa/questions/6/helpful');
    t.equal(proof.status, 204, 'the write after the updates');
    const quantity = 10 - (round + 1);
    const stale: string[] = [];
    // Repeated for longer than the delayed replica's delay: no read flips back to the old body.
    const endAt = performance.now() + 600;
    while (performance.now() < endAt) {
      for (const worker of workers) {
        const body = (await request(worker.port, 'GET', styles)).body;
        if (!body.includes(`"sale_price":"${price}"`) || !body.includes(`"quantity":${quantity}`)) {
          stale.push(`worker ${worker.port}: ${body.slice(0, 200)}`);
        }
      }
    }
    t.same(stale, [], `sale price ${price} and quantity ${quantity} on every worker of both instances`);
  }
  t.comment(`replicas: ${await replicaWork(workers[0]!)}`);
});

t.test('a replica SIGKILLed, or cut off, leaves rotation and rejoins, and no read fails', async (t) => {
  const { workers } = await instance(t);
  const loads = workers.map((worker) => steadyLoad(worker.port, READS, { clients: 2, timeoutMs: 5000, pauseMs: 2 }));
  t.teardown(() => Promise.all(loads.map((load) => load.stop())));
  const rotating = (replica: ReplicaName, count: number, what: string) =>
    until(async () => (await workersRotating(workers[0]!, replica)) === count, what, { timeoutMs: 20_000 });
  for (const replica of ['delayed', 'partitionable'] as const) {
    await rotating(replica, 2, `both workers have the ${replica} replica in rotation`);
  }

  await set.killReplica('delayed');
  await rotating('delayed', 0, 'the killed replica left rotation on both workers');
  await set.startReplica('delayed');
  await rotating('delayed', 2, 'the restarted replica is back in rotation');

  await set.partition('partitionable');
  await rotating('partitionable', 0, 'the partitioned replica left rotation on both workers');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await set.heal('partitionable');
  await rotating('partitionable', 2, 'the healed replica is back in rotation');

  const outcomes = (await Promise.all(loads.map((load) => load.stop()))).flat();
  t.same(failed(outcomes), [], 'every read answered 200');
  const served = await replicaMetric(workers[0]!.port, 'atelier_replica_reads_total');
  for (const replica of ['delayed', 'partitionable'] as const) {
    t.ok((served.get(nodeOf(replica)) ?? 0) > 0, `the ${replica} replica served reads`);
  }
  t.comment(`replicas: ${await replicaWork(workers[0]!)}`);
  t.ok(outcomes.length > 100, `${outcomes.length} reads, the slowest ${slowest(outcomes)} ms`);
});

t.test(
  'the primary stopped: reads answer, writes 503 + Retry-After, /ready degraded; then writes resume',
  async (t) => {
    const { workers } = await instance(t);
    const worker = workers[0]!;
    const reads = steadyLoad(worker.port, READS, { clients: 2, timeoutMs: 5000, pauseMs: 2 });
    t.teardown(() => reads.stop());
    const helpful = () => request(worker.port, 'PUT', '/qa/questions/5/helpful');
    t.equal((await helpful()).status, 204, 'writes succeed while the primary is up');

    await set.stopPrimary();
    await until(async () => (await helpful()).status === 503, 'writes answer 503', { timeoutMs: 10_000 });
    const refused = await helpful();
    t.equal(refused.status, 503, 'a write while the primary is down');
    t.ok(refused.headers['retry-after'], 'with Retry-After');
    const ready = await request(worker.port, 'GET', '/ready');
    t.equal(ready.status, 200, '/ready keeps the worker in the balancer');
    t.match(ready.body, /"status":"degraded"/, 'and says it is degraded');
    await new Promise((resolve) => setTimeout(resolve, 1500));

    await set.startPrimary();
    await until(async () => (await helpful()).status === 204, 'writes succeed again', { timeoutMs: 20_000 });
    await until(
      async () => (await request(worker.port, 'GET', '/ready')).body.includes('"ready"'),
      '/ready says ready',
      {
        timeoutMs: 10_000,
      },
    );
    const outcomes = await reads.stop();
    t.same(failed(outcomes), [], 'every read answered 200 while the primary was down');
    t.ok(outcomes.length > 100, `${outcomes.length} reads, the slowest ${slowest(outcomes)} ms`);
  },
);
