/**
 * Bulkheads (issue 14 item 2): a locked table stalls only its own domain. While a session holds
 * `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` and a flood of requests piles onto the locked domain,
 * the other domains' uncached routes keep answering 200; the locked domain answers 503 with
 * Retry-After (its statements wait at most the queue deadline or the lock timeout, never the
 * statement timeout), and answers 200 again as soon as the lock is released.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { openSession } from '../sql/db/admin.js';
import { request, serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { until } from '../lib/wait.js';

const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'A onesie', 'Jackets', 140);
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reported, reviewer_name, reviewer_email, response, helpfulness) VALUES
  (1, 1, 5, '2020-12-21T07:31:47.083Z', 'Great', 'Warm and soft.', true, false, 'jbilas', 'j@example.com', NULL, 3);
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, helpful) VALUES
  (1, 1, 'Does it run small?', '2020-12-21T07:31:47.083Z', 'jbilas', 'j@example.com', 3);
`;

const PRODUCTS = ['/products/1', '/products/1/styles', '/products/1/related'];
const REVIEWS = ['/reviews?product_id=1', '/reviews/meta?product_id=1'];
const QA = ['/qa/questions?product_id=1', '/qa/questions/1/answers'];

/**
 * The flood's paths: a new product id for every request, as concurrent misses of one key share
 * one statement (server/reads.ts) and a flood of one key would put only one into the pool.
 */
const FLOODS = {
  reviews: (n: number) => (n % 2 === 0 ? `/reviews?product_id=${n}` : `/reviews/meta?product_id=${n}`),
  questions: (n: number) => (n % 2 === 0 ? `/qa/questions?product_id=${n}` : `/qa/questions/${n}/answers`),
};

/** More requests at once than the pool has connections and waiting slots (8 + 64 by default). */
const FLOOD = 96;
const LOCK_HELD_MS = 2500;

const url = await freshDatabase(t);
{
  const db = await openSession(url, 'bulkhead-fixture');
  await db.query(FIXTURE);
  await db.end();
}
// Uncached, so every request needs a statement.
const server = await serve(t, url, { CACHE_MAX_BYTES: '0' });

/** Keeps FLOOD requests to `path(n)` in flight until `stop` resolves; resolves with the statuses seen and whether every 503 had Retry-After. */
async function flood(
  path: (n: number) => string,
  stop: Promise<void>,
): Promise<{ statuses: number[]; retryAfter: boolean }> {
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  const statuses: number[] = [];
  let retryAfter = true;
  let sent = 0;
  await Promise.all(
    Array.from({ length: FLOOD }, async () => {
      while (!stopped) {
        sent += 1;
        const answer = await request(server.port, 'GET', path(sent));
        statuses.push(answer.status);
        if (answer.status === 503 && answer.headers['retry-after'] === undefined) retryAfter = false;
      }
    }),
  );
  return { statuses, retryAfter };
}

/** The statuses of `paths` requested one after another until `ms` have passed. */
async function sample(paths: readonly string[], ms: number): Promise<number[]> {
  const statuses: number[] = [];
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    statuses.push((await request(server.port, 'GET', paths[i % paths.length]!)).status);
  }
  return statuses;
}

async function whileLocked(
  t: Test,
  table: keyof typeof FLOODS,
  locked: readonly string[],
  others: readonly string[],
): Promise<void> {
  const holder = await openSession(url, 'bulkhead-lock');
  t.teardown(() => holder.end());
  await holder.query('BEGIN');
  await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const flooded = flood(FLOODS[table], released);
  // Let the flood take every slot the locked domain can get before sampling the others.
  await sleep(300);
  const seen = await sample(others, LOCK_HELD_MS - 300);
  release();
  const { statuses, retryAfter } = await flooded;
  await holder.query('ROLLBACK');

  t.ok(seen.length > 0, 'the other domains were asked while the lock was held');
  t.same(
    seen.filter((status) => status !== 200),
    [],
    `${others.join(', ')} answered only 200 while ${table} was locked (${seen.length} requests)`,
  );
  t.ok(statuses.includes(503), `the locked domain answered 503 (${statuses.length} requests)`);
  t.ok(retryAfter, 'every 503 of the locked domain carried Retry-After');
  for (const path of locked) {
    await until(
      async () => (await request(server.port, 'GET', path)).status === 200,
      `${path} answers 200 again after the lock is released`,
      { timeoutMs: 3000 },
    );
  }
}

t.test('a locked reviews table leaves products and Q&A answering 200, and reviews recover', (t) =>
  whileLocked(t, 'reviews', REVIEWS, [...PRODUCTS, ...QA]),
);

t.test('a locked questions table leaves products and reviews answering 200, and Q&A recovers', (t) =>
  whileLocked(t, 'questions', QA, [...PRODUCTS, ...REVIEWS]),
);
