/**
 * Read-your-write for Questions & answers: after a Q&A write returns, every worker of every
 * instance sharing the database answers the next read of an affected body from the new data.
 *
 * The truth is read from a reference server whose cache is off. To prove the caches were warm
 * (and not coherent by accident), each scenario first changes rows silently, with SQL that fires
 * no trigger (silentSession): the cached servers must still show the old bodies then, and the new data only
 * after the write.
 */
import http from 'node:http';
import t, { type Test } from 'tap';
import type { Session } from '../sql/db/admin.js';
import { CACHED, request, serve } from './helpers/api.js';
import { freshDatabase, silentSession } from './helpers/database.js';
import { freePort } from '../lib/net.js';
import { connectionOwner, isEvent, startCluster } from './helpers/process.js';
import { within } from '../lib/wait.js';

const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'A onesie', 'Jackets', 140);
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, helpful) VALUES
  (1, 1, 'Does it run small?', '2020-12-21T07:31:47.083Z', 'jbilas', 'j@example.com', 3),
  (2, 1, 'Can I wash it?', '2020-12-25T00:14:44.662Z', 'cleopatra', 'c@example.com', 2);
INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email, helpful) VALUES
  (1, 1, 'A little.', '2021-01-05T10:00:00.000Z', 'sillyguy', 's@example.com', 2),
  (2, 1, 'Not at all.', '2021-01-06T10:00:00.000Z', 'bigfan', 'b@example.com', 1);
INSERT INTO answers_photos (id, answer_id, url) VALUES (1, 1, 'https://img.example/a1');
SELECT setval(pg_get_serial_sequence('questions', 'id'), 2);
SELECT setval(pg_get_serial_sequence('answers', 'id'), 2);
SELECT setval(pg_get_serial_sequence('answers_photos', 'id'), 1);
`;

/** Every cached Q&A body of product 1 a write can change. */
const READS = [
  '/qa/questions?product_id=1',
  '/qa/questions?product_id=1&page=2&count=1',
  '/qa/questions/1/answers',
  '/qa/questions/1/answers?count=1',
];

const SILENT_CHANGE = `
UPDATE questions SET body = body || ' (edited)' WHERE product_id = 1;
UPDATE answers SET body = body || ' (edited)';`;

interface Write {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
  readonly status: number;
}

const WRITES: readonly Write[] = [
  {
    method: 'POST',
    path: '/qa/questions',
    status: 201,
    body: JSON.stringify({ body: 'Is it warm?', name: 'asker', email: 'a@example.com', product_id: 1 }),
  },
  {
    method: 'POST',
    path: '/qa/questions/1/answers',
    status: 201,
    body: JSON.stringify({
      body: 'Very.',
      name: 'answerer',
      email: 'b@example.com',
      photos: ['https://img.example/new'],
    }),
  },
  { method: 'PUT', path: '/qa/questions/2/helpful', status: 204 },
  { method: 'PUT', path: '/qa/answers/2/helpful', status: 204 },
  { method: 'PUT', path: '/qa/answers/1/report', status: 204 },
  { method: 'PUT', path: '/qa/questions/2/report', status: 204 },
];

const describe = (write: Write): string => `${write.method} ${write.path}`;

async function session(t: Test, url: string): Promise<Session> {
  const db = await silentSession(t, url, 'test-qa-coherence');
  await db.query(FIXTURE);
  return db;
}

async function bodies(port: number): Promise<string[]> {
  const answers = [];
  for (const path of READS) answers.push((await request(port, 'GET', path)).body);
  return answers;
}

t.test('a Q&A write through one instance is read at once through another instance and through itself', async (t) => {
  const url = await freshDatabase(t);
  const db = await session(t, url);
  const instances = [await serve(t, url, CACHED), await serve(t, url, CACHED)];
  const reference = await serve(t, url, { CACHE_MAX_BYTES: '0' });

  for (const [index, write] of WRITES.entries()) {
    const [writer, other] = index % 2 === 0 ? instances : [...instances].reverse();
    await t.test(`${describe(write)} through instance ${instances.indexOf(writer!) + 1}`, async (t) => {
      for (const server of instances) {
        // An answers list is cached from its second read on (routes/qa.ts), hence two rounds.
        await bodies(server.port);
        await bodies(server.port);
        const hitsBefore = server.cacheStats().hits;
        t.same(await bodies(server.port), await bodies(reference.port), 'warm and current');
        t.equal(server.cacheStats().hits - hitsBefore, READS.length, 'every read is answered from the cache');
      }
      await db.query(SILENT_CHANGE);
      const changed = await bodies(reference.port);
      for (const server of instances) {
        const cached = await bodies(server.port);
        for (const [i, path] of READS.entries())
          t.not(cached[i], changed[i], `before the write, the cached ${path} is still the old body`);
      }

      const answer = await request(writer!.port, write.method, write.path, write.body);
      t.equal(answer.status, write.status, answer.body);
      const expected = await bodies(reference.port);
      t.same(await bodies(other!.port), expected, 'the other instance reads the write at once');
      t.same(await bodies(writer!.port), expected, 'the writing instance too');
    });
  }
});

/**
 * Reads `path` over new connections until every worker of `pids` has answered it `times` times,
 * and returns the bodies each worker answered. Which worker accepted a connection is read from
 * /proc while the connection is still open.
 */
async function fromEveryWorker(
  port: number,
  pids: readonly number[],
  path: string,
  times: number,
): Promise<Map<number, string[]>> {
  const seen = new Map<number, string[]>(pids.map((pid) => [pid, []]));
  for (let attempt = 0; attempt < 50 * times * pids.length; attempt += 1) {
    if ([...seen.values()].every((answers) => answers.length >= times)) break;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answer = await request(port, 'GET', path, undefined, agent);
      const pid = await connectionOwner(port, answer.clientPort, pids);
      if (pid !== undefined) seen.get(pid)!.push(answer.body);
    } finally {
      agent.destroy();
    }
  }
  return seen;
}

t.test('a Q&A write through one worker of a real cluster is read at once through every worker', async (t) => {
  const url = await freshDatabase(t);
  const db = await session(t, url);
  const reference = await serve(t, url, { CACHE_MAX_BYTES: '0' });
  const port = await freePort();
  const cluster = startCluster(t, { DATABASE_URL: url, WORKERS: '2', PORT: String(port), ...CACHED });
  const ready = await cluster.waitFor(isEvent('cluster_ready'), 'the cluster became ready');
  const pids = String(ready.workers).split(',').map(Number);
  t.equal(pids.length, 2);

  for (const write of [WRITES[1]!, WRITES[3]!, WRITES[5]!]) {
    await t.test(describe(write), async (t) => {
      for (const path of READS) await fromEveryWorker(port, pids, path, 2);
      await db.query(SILENT_CHANGE);
      const changed = await bodies(reference.port);
      for (const [i, path] of READS.entries()) {
        for (const [pid, answers] of await fromEveryWorker(port, pids, path, 1)) {
          t.ok(
            answers.length > 0 && !answers.includes(changed[i]!),
            `before the write, worker ${pid} still serves its cached ${path}`,
          );
        }
      }

      const answer = await request(port, write.method, write.path, write.body);
      t.equal(answer.status, write.status, answer.body);
      const expected = await bodies(reference.port);
      for (const [i, path] of READS.entries()) {
        for (const [pid, answers] of await fromEveryWorker(port, pids, path, 1)) {
          t.ok(answers.length > 0, `worker ${pid} answered ${path}`);
          t.same(new Set(answers), new Set([expected[i]]), `worker ${pid} reads the write at once: ${path}`);
        }
      }
    });
  }
  cluster.primary.kill('SIGTERM');
  t.same(await within(cluster.exited, 'the primary exited after its drain', { timeoutMs: 30_000 }), {
    code: 0,
    signal: null,
  });
});
