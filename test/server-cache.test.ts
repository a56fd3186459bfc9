import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { loadConfig, thisMachine } from '../lib/config.js';
import type { Session } from '../sql/db/admin.js';
import { ResponseCache } from '../server/cache.js';
import { serve } from './helpers/api.js';
import { freshDatabase, silentSession } from './helpers/database.js';
import { until } from '../lib/wait.js';

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(err: Error): void } {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

t.test('concurrent loads of one key run the loader once and share its body', async (t) => {
  const cache = new ResponseCache({ maxBytes: 1024, ttlMs: 60_000 });
  const pending = deferred<Buffer | undefined>();
  let calls = 0;
  const loader = () => {
    calls += 1;
    return pending.promise;
  };
  const waiting = Array.from({ length: 5 }, () => cache.load('1.0:styles', loader));
  pending.resolve(Buffer.from('{"a":1}'));
  const bodies = await Promise.all(waiting);
  t.equal(calls, 1);
  t.ok(
    bodies.every((body) => body === bodies[0]),
    'every waiter gets the same bytes',
  );
  t.equal(cache.get('1.0:styles'), bodies[0], 'and the body is stored');
  t.match(cache.stats(), { loads: 1, coalesced: 4, hits: 1, entries: 1, bytes: 7 });
});

t.test('failed and empty loads reach every waiter and are not stored', async (t) => {
  const cache = new ResponseCache({ maxBytes: 1024, ttlMs: 60_000 });
  const failing = deferred<Buffer | undefined>();
  const waiting = [cache.load('k', () => failing.promise), cache.load('k', () => failing.promise)];
  failing.reject(new Error('database down'));
  for (const result of waiting) await t.rejects(result, /database down/);
  t.equal(await cache.load('k', async () => undefined), undefined);
  t.equal(cache.get('k'), undefined);
  t.equal((await cache.load('k', async () => Buffer.from('ok')))?.body.toString(), 'ok', 'the next load runs again');
  t.equal(cache.stats().loads, 3);
});

t.test('the cache is bounded by body bytes, and 0 bytes stores nothing', async (t) => {
  const cache = new ResponseCache({ maxBytes: 10, ttlMs: 0 });
  for (const key of ['a', 'b', 'c']) await cache.load(key, async () => Buffer.from('1234'));
  t.match(cache.stats(), { entries: 2, bytes: 8, evictions: 1 });
  t.equal(cache.get('a'), undefined, 'the least recently used body left');

  const disabled = new ResponseCache({ maxBytes: 0, ttlMs: 60_000 });
  await disabled.load('a', async () => Buffer.from('1234'));
  t.equal(disabled.get('a'), undefined);
});

t.test(
  'invalidating a kind of body of a product makes all its variants miss, including a load that spanned it',
  async (t) => {
    const cache = new ResponseCache({ maxBytes: 1024, ttlMs: 60_000 });
    const key = (productId: number, variant: string) => cache.versionedKey('review-lists', productId, variant);
    await cache.load(key(7, 'newest:1:5'), async () => Buffer.from('old newest'));
    await cache.load(key(7, 'helpful:1:5'), async () => Buffer.from('old helpful'));
    await cache.load(key(8, 'newest:1:5'), async () => Buffer.from('other product'));
    const slow = deferred<Buffer | undefined>();
    const spanning = cache.load(key(7, 'newest:2:5'), () => slow.promise);

    cache.invalidate('review-lists', 7);
    slow.resolve(Buffer.from('read before the write'));
    await spanning;
    t.equal(cache.get(key(7, 'newest:1:5')), undefined);
    t.equal(cache.get(key(7, 'helpful:1:5')), undefined);
    t.equal(cache.get(key(7, 'newest:2:5')), undefined, 'a body read before the invalidation is not stored');
    t.equal(cache.get(key(8, 'newest:1:5'))?.body.toString(), 'other product', 'other products keep theirs');
  },
);

t.test("invalidating one kind of a product's bodies keeps its other kinds and unversioned bodies", async (t) => {
  const cache = new ResponseCache({ maxBytes: 1024, ttlMs: 60_000 });
  await cache.load(cache.versionedKey('review-meta', 7, ''), async () => Buffer.from('meta'));
  await cache.load(cache.versionedKey('qa', 7, 'questions:1:5'), async () => Buffer.from('questions'));
  await cache.load('styles:7', async () => Buffer.from('styles'));
  const slow = deferred<Buffer | undefined>();
  const spanning = cache.load(cache.versionedKey('qa', 7, 'questions:2:5'), () => slow.promise);
  cache.invalidate('review-lists', 7);
  slow.resolve(Buffer.from('questions page 2'));
  await spanning;
  t.equal(cache.get(cache.versionedKey('review-meta', 7, ''))?.body.toString(), 'meta');
  t.equal(cache.get(cache.versionedKey('qa', 7, 'questions:1:5'))?.body.toString(), 'questions');
  t.equal(
    cache.get(cache.versionedKey('qa', 7, 'questions:2:5'))?.body.toString(),
    'questions page 2',
    'a load spanning it is stored',
  );
  t.equal(cache.get('styles:7')?.body.toString(), 'styles');
});

t.test('clear drops every body and keeps a load running across it from storing', async (t) => {
  const cache = new ResponseCache({ maxBytes: 1024, ttlMs: 60_000 });
  await cache.load('products:1:5', async () => Buffer.from('list'));
  const slow = deferred<Buffer | undefined>();
  const spanning = cache.load(cache.versionedKey('qa', 7, 'questions:1:5'), () => slow.promise);
  cache.clear();
  slow.resolve(Buffer.from('read before the clear'));
  await spanning;
  t.equal(cache.get('products:1:5'), undefined);
  t.equal(cache.get(cache.versionedKey('qa', 7, 'questions:1:5')), undefined);
  t.equal(cache.stats().entries, 0);
});

async function fixture(t: Test): Promise<{ url: string; db: Session }> {
  const url = await freshDatabase(t);
  // Its changes notify nobody, so what a server answers from its cache stays visible as such.
  const db = await silentSession(t, url, 'test-fixture');
  await db.query(`
    INSERT INTO products VALUES (1, 'Camo Onesie', 'Blend in', 'Fatigues', 'Jackets', 140), (2, 'Joggers', 'Run', 'Soft', 'Pants', 40);
    INSERT INTO styles VALUES (1, 1, 'Forest Green & Black', NULL, 140, true);
    INSERT INTO skus VALUES (1, 1, 'XS', 8);`);
  return { url, db };
}

const bytes = async (response: Response): Promise<Buffer> => Buffer.from(await response.arrayBuffer());

/**
 * A clock the test moves by hand. lru-cache reads it at most once per millisecond of real time
 * (its ttlResolution), so each move also lets a real millisecond pass.
 */
function fakeClock(): { now(): number; advance(ms: number): Promise<void> } {
  // lru-cache takes a start time of 0 for "no TTL", so the clock starts later than that.
  let time = 1000;
  return {
    now: () => time,
    advance: async (ms) => {
      time += ms;
      await delay(2);
    },
  };
}

t.test('a body is served until it is older than the TTL, then loaded again', async (t) => {
  const clock = fakeClock();
  const cache = new ResponseCache({ maxBytes: 1024, ttlMs: 1000, clock });
  await cache.load('styles:1', async () => Buffer.from('stored at 0'));
  await clock.advance(1000);
  t.equal(cache.get('styles:1')?.body.toString(), 'stored at 0', 'served at exactly the TTL');
  await clock.advance(1);
  t.equal(cache.get('styles:1'), undefined, 'not served 1 ms past it');
  t.match(cache.stats(), { hits: 1, misses: 1, entries: 0, evictions: 0 });
  await cache.load('styles:1', async () => Buffer.from('stored at 1001'));
  await clock.advance(1000);
  t.equal(cache.get('styles:1')?.body.toString(), 'stored at 1001', 'the reload is served for a TTL of its own');
});

t.test('without a TTL a body is served at any age', async (t) => {
  const clock = fakeClock();
  const cache = new ResponseCache({ maxBytes: 1024, ttlMs: 0, clock });
  await cache.load('styles:1', async () => Buffer.from('forever'));
  await clock.advance(365 * 24 * 3600_000);
  t.equal(cache.get('styles:1')?.body.toString(), 'forever');
});

t.test(
  "an invalidation is forgotten past twice the TTL, and the scope's old bodies have expired by then",
  async (t) => {
    const clock = fakeClock();
    const cache = new ResponseCache({ maxBytes: 1024, ttlMs: 1000, clock });
    const key = () => cache.versionedKey('review-lists', 7, 'newest:1:5');
    const unwritten = key();
    const firstOf8 = cache.versionedKey('review-lists', 8, 'newest:1:5');
    await cache.load(unwritten, async () => Buffer.from('before the write'));
    cache.invalidate('review-lists', 7);
    const written = key();
    t.not(written, unwritten, 'the write moves the product to a new key');
    await cache.load(written, async () => Buffer.from('after the write'));

    // Forgetting is done when some scope is invalidated: product 8's write is that moment here.
    await clock.advance(2000);
    cache.invalidate('review-lists', 8);
    t.equal(key(), written, 'at twice the TTL the invalidation is still remembered');
    t.equal(cache.get(unwritten), undefined, 'and the body from before it has expired');

    await clock.advance(1);
    cache.invalidate('review-lists', 8);
    t.equal(key(), unwritten, 'past twice the TTL it is forgotten: the product is back on its first key');
    t.equal(cache.get(key()), undefined, 'which serves nothing: the body stored under it before the write expired');
    t.equal(cache.get(written), undefined, 'nor is the body stored after the write served any more');
    await cache.load(key(), async () => Buffer.from('read now'));
    t.equal(cache.get(key())?.body.toString(), 'read now', 'a new read is stored and served under it');
    t.not(cache.versionedKey('review-lists', 8, 'newest:1:5'), firstOf8, "product 8's recent invalidation is kept");
  },
);

t.test('without a TTL an invalidation is never forgotten', async (t) => {
  const clock = fakeClock();
  const cache = new ResponseCache({ maxBytes: 1024, ttlMs: 0, clock });
  const unwritten = cache.versionedKey('qa', 7, 'questions:1:5');
  cache.invalidate('qa', 7);
  await clock.advance(365 * 24 * 3600_000);
  cache.invalidate('qa', 8);
  t.not(cache.versionedKey('qa', 7, 'questions:1:5'), unwritten);
});

t.test('CACHE_MAX_BYTES unset: the workers share a quarter of the memory, in whole MiB', async (t) => {
  const MIB = 1024 * 1024;
  const vm = { cores: 2, memoryBytes: 4096 * MIB };
  t.equal(loadConfig({}, vm).cacheMaxBytes, 512 * MIB, 'one worker per core, 4 GiB: 512 MiB each');
  t.equal(loadConfig({ WORKERS: '3' }, vm).cacheMaxBytes, 341 * MIB, 'three workers: rounded down to whole MiB');
  t.equal(loadConfig({ WORKERS: '1' }, { cores: 1, memoryBytes: 1024 * MIB }).cacheMaxBytes, 256 * MIB, 'a 1 GiB VM');
  t.equal(loadConfig({ CACHE_MAX_BYTES: String(MIB) }, vm).cacheMaxBytes, MIB, 'a value set wins');
  t.equal(loadConfig({ CACHE_MAX_BYTES: '0' }, vm).cacheMaxBytes, 0, '0 still turns the cache off');
  t.equal(loadConfig({}, { cores: 1, memoryBytes: 2 ** 64 }).cacheMaxBytes, 64 * 1024 * MIB, 'at most 64 GiB');
  const here = thisMachine();
  t.ok(here.memoryBytes > 0 && here.memoryBytes <= os.totalmem(), 'this machine: at most its memory');
  t.equal(here.cores, os.availableParallelism(), 'WORKERS defaults to the cores');
});

t.test('a cache hit answers the same bytes without asking the database', async (t) => {
  const { url, db } = await fixture(t);
  const server = await serve(t, url);
  const get = (path: string) => fetch(`http://127.0.0.1:${server.port}${path}`);
  const first = await get('/products/2');
  const firstBody = await bytes(first);
  const firstList = await bytes(await get('/products?count=10'));
  await db.query('DELETE FROM products WHERE id = 2');

  const second = await get('/products/2');
  t.equal(second.status, 200);
  t.same(await bytes(second), firstBody, 'identical bytes after the row is gone');
  const withoutDate = (response: Response) => [...response.headers].filter(([name]) => name !== 'date');
  t.same(withoutDate(second), withoutDate(first), 'identical headers');
  t.same(await bytes(await get('/products?count=10')), firstList);
  t.match(server.cacheStats(), { hits: 2, loads: 2 });
  t.equal((await get('/products?count=11')).status, 200, 'another page is another key');
  t.match(server.cacheStats(), { loads: 3 });
});

t.test('CACHE_MAX_BYTES=0 serves every request from the database', async (t) => {
  const { url, db } = await fixture(t);
  const server = await serve(t, url, { CACHE_MAX_BYTES: '0' });
  const get = (path: string) => fetch(`http://127.0.0.1:${server.port}${path}`);
  t.equal((await get('/products/2')).status, 200);
  await db.query('DELETE FROM products WHERE id = 2');
  t.equal((await get('/products/2')).status, 404);
});

t.test('404s are not cached', async (t) => {
  const { url, db } = await fixture(t);
  const server = await serve(t, url);
  const get = (path: string) => fetch(`http://127.0.0.1:${server.port}${path}`);
  t.equal((await get('/products/3')).status, 404);
  await db.query("INSERT INTO products VALUES (3, 'New', 'New', 'New', 'New', 1)");
  t.equal((await get('/products/3')).status, 200);
});

t.test('concurrent misses on one product are answered by a single query', async (t) => {
  const { url, db } = await fixture(t);
  // The query waits for the lock as long as the test holds it: no lock timeout.
  const server = await serve(t, url, { PG_LOCK_TIMEOUT_MS: '0' });
  const requests = 5;
  // Holding the table makes the first query wait, so all requests arrive while it runs.
  await db.query('BEGIN');
  await db.query('LOCK TABLE styles IN ACCESS EXCLUSIVE MODE');
  const responses = Array.from({ length: requests }, () => fetch(`http://127.0.0.1:${server.port}/products/1/styles`));
  await until(() => server.cacheStats().misses >= requests, `${requests} misses are counted`, { timeoutMs: 10_000 });
  await db.query('ROLLBACK');

  const bodies = await Promise.all(responses.map(async (response) => (await response).text()));
  t.ok(bodies.every((body) => body === bodies[0]));
  t.match(bodies[0], /^\{"product_id":"1","results":\[\{"style_id":1,/);
  t.match(server.cacheStats(), { misses: requests, loads: 1, coalesced: requests - 1 });
});

t.test(
  "a helpful vote changes only the product's review lists, patched in the cache: its styles and meta stay as they were",
  async (t) => {
    const { url, db } = await fixture(t);
    await db.query(`INSERT INTO reviews (id, product_id, rating, summary, body, recommend, reviewer_name, reviewer_email)
    VALUES (5, 1, 4, 'Warm', 'Very warm', true, 'ann', 'ann@example.com')`);
    const server = await serve(t, url);
    const get = async (path: string) => (await fetch(`http://127.0.0.1:${server.port}${path}`)).text();
    const paths = ['/products/1/styles', '/reviews/meta?product_id=1', '/reviews?product_id=1&sort=newest'];
    for (const path of paths) await get(path);
    t.equal((await fetch(`http://127.0.0.1:${server.port}/reviews/5/helpful`, { method: 'PUT' })).status, 204);
    const before = server.cacheStats();
    const [, , reviews] = [await get(paths[0]!), await get(paths[1]!), await get(paths[2]!)];
    t.match(reviews, /"helpfulness":1/, 'the review list shows the vote');
    t.match(server.cacheStats(), { hits: before.hits + 3, misses: before.misses }, 'without being read again');
  },
);
