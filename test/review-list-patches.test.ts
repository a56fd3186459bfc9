/**
 * Cached review lists are patched by votes and new reviews instead of being read again
 * (server/review-lists.ts): after every kind of write, every cached list is byte for byte what a
 * fresh read prints, and the lists a patch can tell about were not read again.
 */
import { brotliDecompressSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { ReviewListBody } from '../server/review-lists.js';
import type { Change, PatchableBody } from '../server/cache.js';
import type { Written } from '../sql/queries/invalidation.js';
import { createReviews, relevanceClock, reviewList, reviewListings, type ReviewSort } from '../sql/queries/reviews.js';
import { voteForReviews } from '../sql/queries/votes.js';
import { CACHED, compareWithFresh, serve } from './helpers/api.js';
import { rawConnection } from './helpers/raw-http.js';
import { until } from '../lib/wait.js';
import { directPool, freshDatabase } from './helpers/database.js';
import { openSession } from '../sql/db/admin.js';

/**
 * Twelve reviews of product 1 with ties in every sort key (dates, helpfulness), photos, text that
 * JSON must escape, and a reported one; product 2's review shows votes elsewhere change nothing.
 */
const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'A onesie', 'Jackets', 140),
  (2, 'Joggers', 'Run', 'Soft', 'Pants', 40);
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reviewer_name, reviewer_email, helpfulness, reported, response) VALUES
  (1, 1, 5, '2021-03-17T13:28:37.620Z', 'Sharp', 'Very "sharp", \\ lenses.', true, 'first', 'a@example.com', 3, false, ''),
  (2, 1, 3, '2021-01-02T10:00:00.000Z', 'Okay', E'They are\\nokay.', false, 'second', 'b@example.com', 1, false, 'Thanks'),
  (3, 1, 4, '2021-01-02T10:00:00.000Z', 'Warm', 'Très chaud ✓', true, 'third', 'c@example.com', 1, false, ''),
  (4, 1, 2, '2020-07-30T03:41:21.467Z', 'Meh', 'Meh.', false, 'fourth', 'd@example.com', 0, false, ''),
  (5, 1, 1, '2020-06-01T00:00:00.000Z', 'Bad', 'Bad.', false, 'fifth', 'e@example.com', 7, false, ''),
  (6, 1, 5, '2019-12-31T23:59:59.999Z', 'Great', 'Great.', true, 'sixth', 'f@example.com', 2, false, ''),
  (7, 1, 4, '2019-05-05T05:05:05.005Z', 'Fine', 'Fine.', true, 'seventh', 'g@example.com', 2, false, ''),
  (8, 1, 3, '2018-01-01T00:00:00.000Z', 'Old', 'Old.', true, 'eighth', 'h@example.com', 9, false, ''),
  (9, 1, 2, '2030-01-01T00:00:00.000Z', 'Future', 'Dated ahead.', true, 'ninth', 'i@example.com', 1, false, ''),
  (10, 1, 1, '2021-02-02T02:02:02.002Z', 'Hidden', 'Reported.', false, 'tenth', 'j@example.com', 50, true, ''),
  (11, 1, 5, '2021-02-02T02:02:02.002Z', 'Twin', 'Same date as 10.', true, 'eleventh', 'k@example.com', 0, false, ''),
  (12, 1, 4, '2017-03-03T03:03:03.003Z', 'Ancient', 'Ancient.', true, 'twelfth', 'l@example.com', 4, false, ''),
  (13, 2, 4, '2021-03-03T03:03:03.003Z', 'Soft', 'Soft.', true, 'other', 'm@example.com', 0, false, '');
INSERT INTO reviews_photos (id, review_id, url) VALUES
  (1, 1, 'https://img.example/1a'), (2, 1, 'https://img.example/1b'), (3, 5, 'https://img.example/5');
SELECT setval(pg_get_serial_sequence('reviews', 'id'), 13);
SELECT setval(pg_get_serial_sequence('reviews_photos', 'id'), 3);
`;

interface Variant {
  readonly sort: ReviewSort;
  readonly page: number;
  readonly count: number;
}

const SORTS: readonly ReviewSort[] = ['newest', 'helpful', 'relevant'];
/** The whole list (count 100), a first page, a later page. */
const VARIANTS: readonly Variant[] = SORTS.flatMap((sort) => [
  { sort, page: 1, count: 100 },
  { sort, page: 1, count: 4 },
  { sort, page: 2, count: 4 },
]);
const path = ({ sort, page, count }: Variant, productId = 1) =>
  `/reviews?product_id=${productId}&sort=${sort}&page=${page}&count=${count}`;

async function fixture(t: Test) {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-fixture');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  const server = await serve(t, url, CACHED);
  const pool = directPool(t, url);
  const base = `http://127.0.0.1:${server.port}`;
  const fresh = (variant: Variant) =>
    reviewList(pool, 1, variant.sort, variant.page, variant.count, relevanceClock(new Date()));
  const get = async (variant: Variant) => (await fetch(`${base}${path(variant)}`)).text();
  const send = (method: string, route: string, body?: unknown) =>
    fetch(`${base}${route}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
  return { server, db, base, fresh, get, send };
}

const NEW_REVIEW = {
  product_id: 1,
  rating: 4,
  summary: 'Quotes " and \\ and ✓',
  body: 'Line one\nline two, tab\there, "quoted", and a unicode snowman ☃.',
  recommend: true,
  name: 'newcomer',
  email: 'n@example.com',
  photos: ['https://img.example/new1', 'https://img.example/new2'],
};

t.test('after every kind of write each cached list is byte-identical to a fresh read', async (t) => {
  const { server, db, fresh, get, send } = await fixture(t);
  const reread = (variants: readonly Variant[]) => variants.map((variant) => path(variant));
  t.same(
    reread(await compareWithFresh(t, server, VARIANTS, path, fresh, 'first read')),
    reread(VARIANTS),
    'the first reads load every list',
  );
  t.same(reread(await compareWithFresh(t, server, VARIANTS, path, fresh, 'warm')), [], 'then every list is cached');

  // Review 4 is on no ranked page of 4: it may be on the first one now.
  t.equal((await send('PUT', '/reviews/4/helpful')).status, 204);
  t.same(
    reread(await compareWithFresh(t, server, VARIANTS, path, fresh, 'a vote')),
    reread(VARIANTS.filter(({ sort, count }) => sort !== 'newest' && count === 4)),
    'a vote patches every list but the ranked pages it may have moved onto or off',
  );

  const votes = await Promise.all([1, 1, 6, 11, 13].map((id) => send('PUT', `/reviews/${id}/helpful`)));
  t.same(
    votes.map((response) => response.status),
    [204, 204, 204, 204, 204],
  );
  const afterVotes = reread(await compareWithFresh(t, server, VARIANTS, path, fresh, 'concurrent votes'));
  t.ok(afterVotes.includes(path({ sort: 'helpful', page: 1, count: 100 })) === false, 'the whole lists are patched');

  t.equal((await send('POST', '/reviews', NEW_REVIEW)).status, 201);
  t.same(
    reread(await compareWithFresh(t, server, VARIANTS, path, fresh, 'a new review')),
    reread(VARIANTS.filter(({ page }) => page === 2)),
    'a new review patches every first page',
  );

  const created = await Promise.all(
    [1, 2, 3].map((n) => send('POST', '/reviews', { ...NEW_REVIEW, summary: `Burst ${n}`, photos: [] })),
  );
  t.same(
    created.map((response) => response.status),
    [201, 201, 201],
  );
  await compareWithFresh(t, server, VARIANTS, path, fresh, 'concurrent new reviews');

  t.equal((await send('PUT', '/reviews/6/report')).status, 204);
  t.same(
    reread(await compareWithFresh(t, server, VARIANTS, path, fresh, 'a report')),
    reread(VARIANTS),
    'a report drops every list',
  );

  // Another writer's change is not waited for: its notification drops the lists when it comes.
  const sqlChanged = { sort: 'newest', page: 1, count: 100 } as const;
  await db.query('UPDATE reviews SET helpfulness = helpfulness + 5 WHERE id = 12');
  await until(async () => (await get(sqlChanged)) === (await fresh(sqlChanged)), 'the SQL change is shown', {
    timeoutMs: 5000,
  });
  t.same(
    reread(await compareWithFresh(t, server, VARIANTS, path, fresh, 'a change made in SQL')),
    reread(VARIANTS.filter((variant) => variant !== VARIANTS[0])),
    'a change made in SQL drops every list',
  );
  t.equal((await send('PUT', '/reviews/12/helpful')).status, 204);
  await compareWithFresh(t, server, VARIANTS, path, fresh, 'a vote after it');
});

t.test('a patched body is compressed once, for the first client that asks after it is patched', async (t) => {
  const { server, fresh, send } = await fixture(t);
  const connection = await rawConnection(t, server.port);
  const whole: Variant = { sort: 'relevant', page: 1, count: 100 };
  const browser = { 'Accept-Encoding': 'br, gzip' };
  const get = async () => {
    connection.send('GET', path(whole), browser);
    return connection.response(false, path(whole));
  };
  t.equal((await get()).headers['content-encoding'], 'br', 'a list read from the database is compressed at once');
  t.equal((await send('PUT', '/reviews/4/helpful')).status, 204);
  const first = await get();
  t.equal(first.headers['content-encoding'], 'br', 'the first read after the patch is compressed before it is sent');
  t.equal(brotliDecompressSync(first.body).toString(), await fresh(whole), 'to the patched body');
  const second = await get();
  t.same(second.body, first.body, 'the read after it gets the stored bytes');
  t.equal(second.headers.etag, first.headers.etag);
});

t.test('a list skips a change its read already saw, and applies one twice as once', async (t) => {
  const body =
    '{"product":"1","page":0,"count":5,"results":[{"review_id":2,"rating":5,"summary":"a","recommend":true,"response":null,"body":"b","date":"2021-01-01T00:00:00.000Z","reviewer_name":"n","helpfulness":1,"photos":[]}]}';
  const shape = { sort: 'helpful' as const, clockMs: relevanceClock(new Date()).getTime(), page: 1, count: 5 };
  const read = (snapshot: string) => ReviewListBody.read(new Map([[1, body]]), snapshot, shape).get(1)!;
  const list = read('100:105:102');
  t.equal(list.patched({ token: '99', patch: 'helpful 2:4' }), list, 'committed before the read: seen');
  t.equal(list.patched({ token: '101', patch: 'helpful 2:4' }), list, 'committed before the read, under xmax: seen');
  const patched = list.patched({ token: '102', patch: 'helpful 2:4' });
  t.match(patched?.body.toString(), /"helpfulness":4,/, 'in progress at the read: applied');
  t.equal(patched?.patched({ token: '102', patch: 'helpful 2:4' }), patched, 'the same change again changes nothing');
  t.equal(patched?.patched({ token: '106', patch: 'helpful 2:3' }), patched, 'helpfulness never goes down');
  t.equal(list.patched({ token: '102', patch: 'mystery' }), undefined, 'a patch it cannot read drops it');
  t.equal(read('garbage').patched({ token: '1', patch: 'helpful 2:4' }), undefined);
});

/** The fixture in a fresh database, a pool on it for the statements themselves, and the relevance clock. */
async function directFixture(t: Test) {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-fixture');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  return { pool: directPool(t, url), clock: relevanceClock(new Date()) };
}

t.test('lists read by one batched statement are patched to what a fresh read prints', async (t) => {
  const { pool, clock } = await directFixture(t);
  const fresh = ({ sort, page, count }: Variant, productId: number) =>
    reviewList(pool, productId, sort, page, count, clock);
  const products = [1, 2, 99];
  // Committed before the batch reads: every list of it has seen this vote already.
  const [seen] = await voteForReviews(pool, [4]);
  const lists = await Promise.all(
    VARIANTS.map(async (variant) => {
      const { sort, page, count } = variant;
      const { bodies, snapshot } = await reviewListings(pool, products, sort, page, count, clock);
      return { variant, lists: ReviewListBody.read(bodies, snapshot, { ...variant, clockMs: clock.getTime() }) };
    }),
  );
  for (const { variant, lists: read } of lists) {
    t.same([...read.keys()], products, `${path(variant)}: a list for every product`);
    for (const productId of products) {
      t.equal(read.get(productId)?.body.toString(), await fresh(variant, productId), `${path(variant, productId)}`);
    }
    const list = read.get(1)!;
    t.equal(list.patched(change(seen)), list, `${path(variant)}: a change the batch saw is skipped`);
  }

  // A change reaches the lists of its own product (server/cache.ts): product 1's, here. A list
  // dropped is read again, which the test above covers.
  const current = new Map<Variant, PatchableBody>(lists.map(({ variant, lists: read }) => [variant, read.get(1)!]));
  const apply = async (written: Written | undefined, after: string) => {
    for (const [variant, list] of current) {
      const next = list.patched(change(written));
      if (next === undefined) current.delete(variant);
      else {
        current.set(variant, next);
        t.equal(
          next.body.toString(),
          await fresh(variant, 1),
          `${after}: ${path(variant)} is what a fresh read prints`,
        );
      }
    }
    return [...current.keys()];
  };
  const [vote] = await voteForReviews(pool, [5]);
  t.same(
    await apply(vote, 'a vote'),
    VARIANTS.filter(({ sort, page }) => sort === 'newest' || page === 1),
    'a vote for a review on every first page patches every list but the later ranked pages',
  );
  const [created] = await createReviews(pool, [{ ...NEW_REVIEW, productId: 1, characteristics: [] }]);
  if (!created?.created) throw new Error('the review was not created');
  t.same(
    await apply(created.written, 'a new review'),
    VARIANTS.filter(({ page }) => page === 1),
    'a new review patches every first page',
  );
});

t.test('a list patched again and again by votes and new reviews stays what a fresh read prints', async (t) => {
  const { pool, clock } = await directFixture(t);
  // The whole list of each sort: every vote and every new review is patched in, never dropped.
  const whole = SORTS.map((sort) => ({ sort, page: 1, count: 100 }));
  let lists: PatchableBody[] = await Promise.all(
    whole.map(async (variant) => {
      const { bodies, snapshot } = await reviewListings(pool, [1], variant.sort, 1, 100, clock);
      return ReviewListBody.read(bodies, snapshot, { ...variant, clockMs: clock.getTime() }).get(1)!;
    }),
  );
  // Votes move reviews from the end to the front and between the pieces earlier patches spliced in.
  const steps: (() => Promise<Written | undefined>)[] = [];
  for (let round = 0; round < 6; round += 1) {
    steps.push(async () => (await voteForReviews(pool, [12, 12, 12]))[0]);
    steps.push(async () => {
      const [created] = await createReviews(pool, [
        { ...NEW_REVIEW, summary: `Round ${round} ✓`, productId: 1, characteristics: [] },
      ]);
      return created?.created ? created.written : undefined;
    });
    steps.push(async () => (await voteForReviews(pool, [4 + round]))[0]);
  }
  for (const [index, step] of steps.entries()) {
    const written = await step();
    lists = lists.map((list, at) => {
      const next = list.patched(change(written));
      if (next === undefined) throw new Error(`step ${index} dropped the ${whole[at]!.sort} list`);
      return next;
    });
    for (const [at, variant] of whole.entries()) {
      t.equal(
        lists[at]!.body.toString(),
        await reviewList(pool, 1, variant.sort, 1, 100, clock),
        `after step ${index}: ${path(variant)} is what a fresh read prints`,
      );
    }
  }
});

function change(written: Written | undefined): Change {
  if (written?.token == null || written.patch === undefined) throw new Error('the write notified no patch');
  return { token: written.token, patch: written.patch };
}
