/**
 * Read-your-write across caches: after a review write returns, every worker of every instance
 * sharing the database answers the next read of an affected key from the new data.
 *
 * The truth each cached server is compared with comes from a reference server whose cache is
 * off. To prove the caches were really warm (and not coherent by accident), each scenario first
 * changes rows silently, with SQL that fires no trigger (silentSession): the cached servers must still show
 * the old bodies then, and the new data (the write's and the silent change) only after the write.
 */
import http from 'node:http';
import t, { type Test } from 'tap';
import type { Session } from '../sql/db/admin.js';
import type { RunningServer } from '../server/app.js';
import { CACHED, request, serve } from './helpers/api.js';
import { freshDatabase, silentSession } from './helpers/database.js';
import { freePort } from '../lib/net.js';
import { connectionOwner, isEvent, startCluster } from './helpers/process.js';
import { within } from '../lib/wait.js';

const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'A onesie', 'Jackets', 140),
  (2, 'Bright Future Sunglasses', 'Wear shades', 'Dark lenses', 'Accessories', 69);
INSERT INTO characteristics (id, product_id, name) VALUES (1, 2, 'Quality'), (2, 2, 'Fit');
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reviewer_name, reviewer_email, helpfulness) VALUES
  (1, 2, 5, '2021-03-17T13:28:37.620Z', 'Sharp', 'Very sharp lenses.', true, 'first', 'a@example.com', 3),
  (2, 2, 3, '2021-01-02T10:00:00.000Z', 'Okay', 'They are okay.', false, 'second', 'b@example.com', 1),
  (3, 1, 4, '2020-07-30T03:41:21.467Z', 'Warm', 'Very warm.', true, 'third', 'c@example.com', 0);
INSERT INTO characteristic_reviews (id, characteristic_id, review_id, value) VALUES (1, 1, 1, 5), (2, 2, 1, 4), (3, 1, 2, 2);
SELECT refresh_review_stats();
SELECT setval(pg_get_serial_sequence('reviews', 'id'), 3);
SELECT setval(pg_get_serial_sequence('characteristic_reviews', 'id'), 3);
`;

/** Every cached body of product 2 a write can change. */
const READS = [
  '/reviews?product_id=2',
  '/reviews?product_id=2&sort=newest&count=10',
  '/reviews?product_id=2&sort=helpful&page=1&count=2',
  '/reviews/meta?product_id=2',
];
/**
 * The reads whose bodies must stay cached between warming and the write. The relevant order's
 * key holds the hour (server/routes/reviews.ts), so it may legitimately reload mid-test.
 */
const STABLE_READS = READS.filter((path) => !path.endsWith('product_id=2'));

/** Changes made with SQL that notifies nobody: one to the review lists, one to the meta. */
const SILENT_LIST_CHANGE = "UPDATE reviews SET summary = summary || ' (edited)' WHERE product_id = 2;";
/**
 * A vote or a new review patches the cached lists instead of dropping them
 * (server/review-lists.ts), so a silent change to them stays unseen through it: once it has shown
 * the lists were cached, it is undone, silently too, and the write must still show at once.
 */
const SILENT_LIST_UNDO = "UPDATE reviews SET summary = left(summary, -length(' (edited)')) WHERE product_id = 2;";
const SILENT_META_CHANGE = 'UPDATE review_stats SET rating_1 = rating_1 + 100 WHERE product_id = 2;';

const NEW_REVIEW = JSON.stringify({
  product_id: 2,
  rating: 1,
  summary: 'Scratched',
  body: 'Scratched in a week.',
  recommend: false,
  name: 'fourth',
  email: 'd@example.com',
  photos: ['https://img.example/scratch'],
  characteristics: { 1: 1, 2: 3 },
});

/** A kept-alive connection to one worker of a cluster: every request over it reaches that worker. */
interface WorkerConnection {
  readonly pid: number;
  get(path: string): Promise<string>;
}

/**
 * One connection to each of `pids`: new connections until the kernel has spread them over every
 * worker, each one's owner read from /proc.
 */
async function connectToEachWorker(t: Test, port: number, pids: readonly number[]): Promise<WorkerConnection[]> {
  const connections = new Map<number, WorkerConnection>();
  for (let attempt = 0; attempt < 100 && connections.size < pids.length; attempt += 1) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const { clientPort } = await request(port, 'GET', '/health', undefined, agent);
    const pid = await connectionOwner(port, clientPort, pids);
    if (pid === undefined || connections.has(pid)) {
      agent.destroy();
      continue;
    }
    t.teardown(() => agent.destroy());
    connections.set(pid, {
      pid,
      async get(path) {
        const answer = await request(port, 'GET', path, undefined, agent);
        if (answer.clientPort !== clientPort) throw new Error(`the connection to worker ${pid} was replaced`);
        return answer.body;
      },
    });
  }
  t.equal(connections.size, pids.length, 'a connection to every worker');
  return [...connections.values()];
}

const session = (t: Test, url: string): Promise<Session> => silentSession(t, url, 'test-coherence');

/** The bodies of READS now, from a server whose cache is off. */
async function truth(reference: RunningServer): Promise<string[]> {
  return Promise.all(READS.map(async (path) => (await request(reference.port, 'GET', path)).body));
}

async function bodies(server: RunningServer): Promise<string[]> {
  const answers = [];
  for (const path of READS) answers.push((await request(server.port, 'GET', path)).body);
  return answers;
}

interface Write {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  readonly status: number;
  /** The READS whose bodies the write changes; the others stay cached through it. */
  readonly changes: readonly string[];
  /** Silent changes to exactly those bodies, made before the write, which must expose them. */
  readonly silently: string;
  /** What undoes the silent change to the bodies the write patches rather than drops. */
  readonly undoPatched?: string;
}

const REVIEW_LISTS = READS.filter((path) => !path.startsWith('/reviews/meta'));
const EVERY_CHANGE = SILENT_LIST_CHANGE + SILENT_META_CHANGE;

const WRITES: readonly Write[] = [
  {
    name: 'POST /reviews',
    method: 'POST',
    path: '/reviews',
    body: NEW_REVIEW,
    status: 201,
    changes: READS,
    silently: EVERY_CHANGE,
    undoPatched: SILENT_LIST_UNDO,
  },
  // A vote reorders the lists; the ratings in meta cannot change.
  {
    name: 'PUT helpful',
    method: 'PUT',
    path: '/reviews/2/helpful',
    status: 204,
    changes: REVIEW_LISTS,
    silently: SILENT_LIST_CHANGE,
    undoPatched: SILENT_LIST_UNDO,
  },
  { name: 'PUT report', method: 'PUT', path: '/reviews/1/report', status: 204, changes: READS, silently: EVERY_CHANGE },
];

/** The reads that must still show their cached body after the silent change, before the write. */
function stillCached(write: Write): string[] {
  return STABLE_READS.filter((path) => write.changes.includes(path));
}

t.test('a write through one instance is read at once through another instance and through itself', async (t) => {
  const url = await freshDatabase(t);
  const db = await session(t, url);
  await db.query(FIXTURE);
  const instances = [await serve(t, url, CACHED), await serve(t, url, CACHED)];
  const reference = await serve(t, url, { CACHE_MAX_BYTES: '0' });

  for (const [index, write] of WRITES.entries()) {
    const [writer, other] = index % 2 === 0 ? instances : [...instances].reverse();
    await t.test(`${write.name} through instance ${instances.indexOf(writer!) + 1}`, async (t) => {
      for (const server of instances) {
        await bodies(server);
        const hitsBefore = server.cacheStats().hits;
        t.same(await bodies(server), await truth(reference), 'warm and current');
        t.ok(server.cacheStats().hits - hitsBefore >= STABLE_READS.length, 'the reads are answered from the cache');
      }
      await db.query(write.silently);
      const changed = await truth(reference);
      for (const server of instances) {
        const cached = await bodies(server);
        for (const path of stillCached(write)) {
          const i = READS.indexOf(path);
          t.not(cached[i], changed[i], `before the write, the cached ${path} is still the old body`);
        }
      }
      if (write.undoPatched !== undefined) await db.query(write.undoPatched);

      const answer = await request(writer!.port, write.method, write.path, write.body);
      t.equal(answer.status, write.status, answer.body);
      const expected = await truth(reference);
      const kept = STABLE_READS.filter((path) => !write.changes.includes(path)).length;
      for (const [server, who] of [
        [other!, 'the other instance'],
        [writer!, 'the writing instance'],
      ] as const) {
        const hitsBefore = server.cacheStats().hits;
        t.same(await bodies(server), expected, `${who} reads the write at once`);
        t.ok(
          server.cacheStats().hits - hitsBefore >= kept,
          `${who} still answers the ${kept} reads the write cannot change from its cache`,
        );
      }
    });
  }
});

t.test('a listener that lost its connection drops every cached body when it is back', async (t) => {
  const url = await freshDatabase(t);
  const db = await session(t, url);
  await db.query(FIXTURE);
  const server = await serve(t, url, CACHED);
  const reference = await serve(t, url, { CACHE_MAX_BYTES: '0' });
  const listenerQuery = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`;
  const listenerName = `atelier-api-listen-${process.pid}`;
  const listeners = async () => (await db.query<{ pid: number }>(listenerQuery, [listenerName])).map((row) => row.pid);
  t.equal((await listeners()).length, 2, 'one LISTEN connection per server');

  await bodies(server);
  // A change whose notification this server misses: made silently, then its listener is cut.
  await db.query(EVERY_CHANGE);
  const changed = await truth(reference);
  t.not(
    (await bodies(server))[READS.indexOf(STABLE_READS[0]!)],
    changed[READS.indexOf(STABLE_READS[0]!)],
    'still cached',
  );
  const before = await listeners();
  await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [listenerName]);

  // Reconnecting takes a backoff delay; until then reads bypass the cache, so they are already current.
  const deadline = Date.now() + 20_000;
  while ((await listeners()).filter((pid) => !before.includes(pid)).length < 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.equal(
    (await listeners()).filter((pid) => !before.includes(pid)).length,
    2,
    'both servers listen again, on new connections',
  );
  t.same(await bodies(server), changed, 'every body cached before the loss is gone');
  const hitsBefore = server.cacheStats().hits;
  t.same(await bodies(server), changed);
  t.ok(server.cacheStats().hits - hitsBefore >= STABLE_READS.length, 'and the cache serves again');

  const answer = await request(server.port, 'PUT', '/reviews/1/helpful');
  t.equal(answer.status, 204);
  t.same(await bodies(server), await truth(reference), 'writes invalidate through the new connection');
});

t.test('a write through one worker of a real cluster is read at once through every worker', async (t) => {
  const url = await freshDatabase(t);
  const db = await session(t, url);
  await db.query(FIXTURE);
  const reference = await serve(t, url, { CACHE_MAX_BYTES: '0' });
  const port = await freePort();
  const cluster = startCluster(t, { DATABASE_URL: url, WORKERS: '2', PORT: String(port), ...CACHED });
  const ready = await cluster.waitFor(isEvent('cluster_ready'), 'the cluster became ready');
  const pids = String(ready.workers).split(',').map(Number);
  t.equal(pids.length, 2);

  const workers = await connectToEachWorker(t, port, pids);
  const throughEachWorker = async (): Promise<Map<number, string[]>> => {
    const seen = new Map<number, string[]>();
    for (const worker of workers) {
      const answers = [];
      for (const path of READS) answers.push(await worker.get(path));
      seen.set(worker.pid, answers);
    }
    return seen;
  };

  for (const write of WRITES) {
    await t.test(write.name, async (t) => {
      await throughEachWorker();
      const current = await truth(reference);
      for (const [pid, answers] of await throughEachWorker())
        t.same(answers, current, `worker ${pid} warm and current`);
      await db.query(write.silently);
      const changed = await truth(reference);
      for (const [pid, answers] of await throughEachWorker()) {
        for (const path of stillCached(write)) {
          const i = READS.indexOf(path);
          t.not(answers[i], changed[i], `before the write, worker ${pid} still serves its cached ${path}`);
        }
      }
      if (write.undoPatched !== undefined) await db.query(write.undoPatched);

      const answer = await request(port, write.method, write.path, write.body);
      t.equal(answer.status, write.status, answer.body);
      const expected = await truth(reference);
      for (const [pid, answers] of await throughEachWorker())
        t.same(answers, expected, `worker ${pid} reads the write at once`);
    });
  }
  cluster.primary.kill('SIGTERM');
  t.same(await within(cluster.exited, 'the primary exited after its drain', { timeoutMs: 30_000 }), {
    code: 0,
    signal: null,
  });
});
