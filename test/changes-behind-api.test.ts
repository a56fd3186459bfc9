/**
 * Changes made behind the API stay coherent (issue 15, item 5): prices and stock are changed by
 * other systems, reviews and Q&A by moderators with SQL. Every committed change to a table that
 * cached bodies are built from notifies exactly the products it touched (the triggers of
 * sql/migrations/004_change_notifications.sql), so every server drops those bodies and keeps
 * every other one.
 *
 * A change made with SQL has no writer waiting for its notification, so "visible to the next
 * read" is reached once each server's listener has it: `settled` proves that, with a write
 * through the server, which is answered only after its own notification arrived, and
 * notifications arrive in commit order.
 */
import t, { type Test } from 'tap';
import { openSession, type Session } from '../sql/db/admin.js';
import { parseInvalidation } from '../sql/queries/invalidation.js';
import type { RunningServer } from '../server/app.js';
import { CACHED, request, serve } from './helpers/api.js';
import { collectNotifications, freshDatabase } from './helpers/database.js';
import { until } from '../lib/wait.js';

const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price)
SELECT id, 'Camo Onesie ' || id, 'Blend in', 'A onesie', 'Jackets', 140 FROM generate_series(1, 3) AS id;
INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style)
SELECT id, id, 'Forest Green', NULL, 140, true FROM generate_series(1, 3) AS id;
INSERT INTO skus (id, style_id, size, quantity) SELECT id, id, 'M', 10 FROM generate_series(1, 3) AS id;
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reviewer_name, reviewer_email, helpfulness)
SELECT id, id, 4, '2021-03-17T13:28:37.620Z', 'Warm', 'Very warm.', true, 'ann', 'a@example.com', 0
FROM generate_series(1, 3) AS id;
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, reported, helpful)
SELECT id, id, 'Does it fade?', '2021-03-17T13:28:37.620Z', 'bob', 'b@example.com', false, 0 FROM generate_series(1, 3) AS id;
SELECT refresh_review_stats();
SELECT setval(pg_get_serial_sequence('questions', 'id'), 3);
`;

/** Per product: every cached body a change behind the API can alter. */
const bodiesOf = (id: number): string[] => [
  `/products/${id}`,
  `/products/${id}/styles`,
  `/reviews?product_id=${id}&sort=newest`,
  `/reviews/meta?product_id=${id}`,
  `/qa/questions?product_id=${id}`,
];
const LIST = '/products?count=5';

async function session(t: Test, url: string): Promise<Session> {
  const db = await openSession(url, 'test-changes-behind-api');
  t.teardown(() => db.end());
  return db;
}

async function read(server: RunningServer, path: string): Promise<string> {
  const answer = await request(server.port, 'GET', path);
  if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${answer.body}`);
  return answer.body;
}

/** Returns once `server` has received every notification committed before the call (see above). */
async function settled(t: Test, server: RunningServer): Promise<void> {
  const answer = await request(server.port, 'PUT', '/qa/questions/3/helpful');
  t.equal(answer.status, 204, 'the write that proves the notifications before it arrived');
}

/** The bodies of `paths` on `server`, and how many of them it answered from its cache. */
async function snapshot(server: RunningServer, paths: readonly string[]): Promise<{ bodies: string[]; hits: number }> {
  const before = server.cacheStats().hits;
  const bodies = [];
  for (const path of paths) bodies.push(await read(server, path));
  return { bodies, hits: server.cacheStats().hits - before };
}

t.test(
  'a stock, price, name, review or Q&A change made with SQL is read at once by every server; other products stay cached',
  async (t) => {
    const url = await freshDatabase(t);
    const db = await session(t, url);
    await db.query(FIXTURE);
    const servers = [await serve(t, url, CACHED), await serve(t, url, CACHED)];
    const untouched = [...bodiesOf(2), LIST];

    const changes = [
      { name: 'stock', sql: 'UPDATE skus SET quantity = quantity - 1 WHERE id = 1', changes: ['/products/1/styles'] },
      { name: 'price', sql: 'UPDATE styles SET sale_price = 99 WHERE id = 1', changes: ['/products/1/styles'] },
      { name: 'name', sql: "UPDATE products SET name = 'Renamed' WHERE id = 1", changes: ['/products/1', LIST] },
      {
        name: 'review text',
        sql: "UPDATE reviews SET summary = 'Edited' WHERE id = 1",
        changes: ['/reviews?product_id=1&sort=newest'],
      },
      {
        name: 'question text',
        sql: "UPDATE questions SET body = 'Edited?' WHERE id = 1",
        changes: ['/qa/questions?product_id=1'],
      },
      {
        name: 'review deleted',
        sql: 'DELETE FROM reviews WHERE id = 1',
        changes: ['/reviews?product_id=1&sort=newest'],
      },
    ];
    for (const change of changes) {
      await t.test(change.name, async (t) => {
        const paths = [...bodiesOf(1), LIST];
        const before = [];
        for (const server of servers) {
          await snapshot(server, [...paths, ...untouched]);
          const warm = await snapshot(server, [...paths, ...untouched]);
          t.equal(warm.hits, paths.length + untouched.length, 'warm: every body from the cache');
          before.push(warm.bodies);
        }
        await db.query(change.sql);
        for (const [index, server] of servers.entries()) {
          await settled(t, server);
          const kept = untouched.filter((path) => !change.changes.includes(path));
          const others = await snapshot(server, kept);
          t.equal(others.hits, kept.length, `server ${index + 1}: product 2's bodies (and the list pages) stay cached`);
          const after = await snapshot(server, paths);
          for (const path of change.changes) {
            t.not(
              after.bodies[paths.indexOf(path)],
              before[index]![paths.indexOf(path)],
              `server ${index + 1}: ${path} changed`,
            );
          }
        }
      });
    }
  },
);

t.test('a helpful vote made with SQL drops the review lists and keeps the ratings cached', async (t) => {
  const url = await freshDatabase(t);
  const db = await session(t, url);
  await db.query(FIXTURE);
  const server = await serve(t, url, CACHED);
  const meta = '/reviews/meta?product_id=1';
  const list = '/reviews?product_id=1&sort=newest';
  await snapshot(server, [meta, list]);
  await db.query('UPDATE reviews SET helpfulness = helpfulness + 1 WHERE id = 1');
  await settled(t, server);
  const hitsBefore = server.cacheStats().hits;
  t.match(await read(server, list), /"helpfulness":1/, 'the list shows the vote');
  await read(server, meta);
  t.equal(server.cacheStats().hits - hitsBefore, 1, 'meta was answered from the cache, the list was not');
});

t.test('a 100,000-row bulk update notifies every product it touched, and no other, in few notifications', async (t) => {
  const url = await freshDatabase(t);
  const db = await session(t, url);
  // 25,000 products of one style (style id = product id) with five skus each.
  await db.query(`
    INSERT INTO products (id, name, slogan, description, category, default_price)
    SELECT id, 'P' || id, '', '', 'Jackets', 10 FROM generate_series(1, 25000) AS id;
    INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style)
    SELECT id, id, 'S', NULL, 10, true FROM generate_series(1, 25000) AS id;
    INSERT INTO skus (id, style_id, size, quantity) SELECT id, (id - 1) / 5 + 1, 'M', 10 FROM generate_series(1, 125000) AS id`);
  const payloads = await collectNotifications(t, url);

  const started = performance.now();
  await db.query('UPDATE skus SET quantity = quantity - 1 WHERE style_id <= 20000');
  t.comment(`UPDATE of 100,000 skus with its notifications: ${(performance.now() - started).toFixed(0)} ms`);
  const expectedPayloads = Math.ceil(20000 / 700);
  await until(() => payloads.length >= expectedPayloads, 'the update notified', { timeoutMs: 10_000 });

  const touched = new Set<number>();
  for (const payload of payloads) {
    const invalidation = parseInvalidation(payload);
    if (invalidation === undefined || invalidation === 'all')
      throw new Error(`unexpected payload ${payload.slice(0, 80)}`);
    t.same(invalidation.kinds, ['styles'], 'a sku change touches styles bodies only');
    t.ok(Buffer.byteLength(payload) < 8000, 'each payload fits PostgreSQL’s limit');
    for (const id of invalidation.productIds) touched.add(id);
  }
  t.equal(touched.size, 20000, 'as many products as the statement touched');
  t.ok(
    [...touched].every((id) => id >= 1 && id <= 20000),
    'no product none of whose skus changed is notified',
  );
  t.equal(payloads.length, expectedPayloads, 'one notification per 700 products');
});

t.test('a statement that changes no row notifies nothing; a rolled-back change notifies nothing', async (t) => {
  const url = await freshDatabase(t);
  const db = await session(t, url);
  await db.query(FIXTURE);
  const payloads = await collectNotifications(t, url);
  await db.query('UPDATE skus SET quantity = 0 WHERE id = 999');
  await db.query('BEGIN');
  await db.query('UPDATE skus SET quantity = 0 WHERE id = 1');
  await db.query('ROLLBACK');
  await db.query('UPDATE skus SET quantity = 1 WHERE id = 2');
  await until(() => payloads.length > 0, 'the committed change notified', { timeoutMs: 5000 });
  t.equal(payloads.length, 1, 'only the committed change that changed a row');
  t.match(payloads[0], / styles 2$/);
});
