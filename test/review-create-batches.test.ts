/**
 * New reviews are written a batch per statement (sql/queries/reviews.ts createReviews, batched by
 * server/writes.ts): each review of a batch must come out exactly as if it had been written alone
 * (its row, photos, ratings, stats and outcome), each must patch its product's cached lists even
 * when a batch holds several of one product, a batch must fail whole or not at all, and a burst
 * of posts through the API must all be stored and read back at once from every instance.
 */
import t, { type Test } from 'tap';
import type { RunningServer } from '../server/app.js';
import { REVIEW_CREATE_BATCHING, WriteBatcher } from '../server/write-batcher.js';
import type { Session } from '../sql/db/admin.js';
import { openSession } from '../sql/db/admin.js';
import {
  createReviews,
  relevanceClock,
  reviewList,
  reviewMeta,
  type CreateReviewResult,
  type NewReview,
  type ReviewSort,
} from '../sql/queries/reviews.js';
import { CACHED, compareWithFresh, serve } from './helpers/api.js';
import { collectNotifications, directPool, freshDatabase } from './helpers/database.js';
import { until } from '../lib/wait.js';

/**
 * Characteristics 1 and 2 are product 1's, 3 is product 2's; product 3 has no review yet; sequences
 * continue after the loaded ids.
 */
const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'A onesie', 'Jackets', 140),
  (2, 'Bright Future Sunglasses', 'Shades', 'Glasses', 'Accessories', 69),
  (3, 'Morning Joggers', 'Mornings', 'Joggers', 'Pants', 40);
INSERT INTO characteristics (id, product_id, name) VALUES (1, 1, 'Fit'), (2, 1, 'Length'), (3, 2, 'Quality');
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reviewer_name, reviewer_email, helpfulness, response) VALUES
  (1, 1, 5, '2021-03-17T13:28:37.620Z', 'Sharp', 'Very "sharp".', true, 'first', 'a@example.com', 3, ''),
  (2, 1, 3, '2021-01-02T10:00:00.000Z', 'Okay', 'Okay.', false, 'second', 'b@example.com', 0, 'Thanks'),
  (3, 1, 4, '2020-07-30T03:41:21.467Z', 'Warm', 'Très chaud ✓', true, 'third', 'c@example.com', 1, ''),
  (4, 2, 2, '2021-02-02T02:02:02.002Z', 'Meh', 'Meh.', false, 'fourth', 'd@example.com', 0, '');
INSERT INTO reviews_photos (id, review_id, url) VALUES (1, 1, 'https://img.example/r1');
INSERT INTO characteristic_reviews (id, characteristic_id, review_id, value) VALUES
  (1, 1, 1, 4), (2, 2, 1, 3), (3, 3, 4, 2);
SELECT setval(pg_get_serial_sequence('reviews', 'id'), 4);
SELECT setval(pg_get_serial_sequence('reviews_photos', 'id'), 1);
SELECT setval(pg_get_serial_sequence('characteristic_reviews', 'id'), 3);
SELECT refresh_review_stats();
`;

const review = (productId: number, overrides: Partial<NewReview> = {}): NewReview => ({
  productId,
  rating: 4,
  summary: 'Fine',
  body: 'Does the job.',
  recommend: true,
  name: 'jackson11',
  email: 'first.last@gmail.com',
  photos: [],
  characteristics: [],
  ...overrides,
});

/**
 * Product 99 does not exist, characteristic 1 is not product 2's; product 1 gets three reviews.
 * Photos and ratings are given out of order, and must keep the order they were posted in.
 */
const REVIEWS: readonly NewReview[] = [
  review(1, {
    summary: 'Quotes " and \\ and ✓',
    body: 'Line one\nline two, "quoted", ☃.',
    photos: ['https://img.example/b', 'https://img.example/a'],
    characteristics: [
      [2, 3],
      [1, 5],
    ],
  }),
  review(99, { characteristics: [] }),
  review(2, { characteristics: [[1, 4]] }),
  review(2, { rating: 1, recommend: false, characteristics: [[3, 5]], photos: ['https://img.example/c'] }),
  review(1, { rating: 2, recommend: false, characteristics: [[1, 1]] }),
  review(3),
  review(1, { rating: 5, characteristics: [[3, 2]] }),
  review(1, { rating: 5, characteristics: [[1, 3]], photos: ['https://img.example/d'] }),
];
const OUTCOMES = [5, 'unknown_product', 'foreign_characteristic', 6, 7, 8, 'foreign_characteristic', 9];

/** Every column but the date, which must be the transaction's, cut to the millisecond. */
const ROWS = {
  reviews: `SELECT id, product_id, rating, summary, body, recommend, reported, reviewer_name, reviewer_email,
                   response, helpfulness, date = date_trunc('milliseconds', date) AS milliseconds
            FROM reviews ORDER BY id`,
  photos: 'SELECT id, review_id, url FROM reviews_photos ORDER BY id',
  ratings: 'SELECT id, characteristic_id, review_id, value FROM characteristic_reviews ORDER BY id',
  reviewStats: 'SELECT * FROM review_stats ORDER BY product_id',
  characteristicStats: 'SELECT * FROM characteristic_stats ORDER BY characteristic_id',
};

async function fixture(t: Test): Promise<{ url: string; db: Session }> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-review-batches');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  return { url, db };
}

async function rows(db: Session): Promise<Record<keyof typeof ROWS, unknown[]>> {
  const read = async (key: keyof typeof ROWS): Promise<[string, unknown[]]> => [key, await db.query(ROWS[key])];
  return Object.fromEntries(
    await Promise.all(Object.keys(ROWS).map((key) => read(key as keyof typeof ROWS))),
  ) as Record<keyof typeof ROWS, unknown[]>;
}

const outcome = (result: CreateReviewResult): number | string => (result.created ? result.reviewId : result.reason);

/** The one write token of a batch's created reviews. */
function tokenOf(t: Test, results: readonly CreateReviewResult[]): string | null {
  const tokens = new Set(results.flatMap((result) => (result.created ? [result.written.token] : [])));
  t.equal(tokens.size, 1, 'one transaction, one write token');
  return [...tokens][0] ?? null;
}

t.test('a batch returns and stores, review by review, what one create per review does', async (t) => {
  const batched = await fixture(t);
  const alone = await fixture(t);
  const batchPool = directPool(t, batched.url);
  const alonePool = directPool(t, alone.url);

  const results = await createReviews(batchPool, REVIEWS);
  const resultsAlone = [];
  for (const item of REVIEWS) resultsAlone.push(...(await createReviews(alonePool, [item])));

  t.same(results.map(outcome), OUTCOMES, 'one outcome per review, in order; why for those not stored');
  t.same(resultsAlone.map(outcome), OUTCOMES, 'the same outcomes as one create per review');
  t.same(
    results.map((result) => result.created && result.written.productId),
    [1, false, false, 2, 1, 3, false, 1],
    'each created review names its own product',
  );
  t.ok(tokenOf(t, results), 'the batch has a token');

  const stored = await rows(batched.db);
  t.same(stored, await rows(alone.db), 'the same rows, photos, ratings and stats as one create per review');
  t.same(
    stored.photos,
    [
      { id: 1, review_id: 1, url: 'https://img.example/r1' },
      { id: 2, review_id: 5, url: 'https://img.example/b' },
      { id: 3, review_id: 5, url: 'https://img.example/a' },
      { id: 4, review_id: 6, url: 'https://img.example/c' },
      { id: 5, review_id: 9, url: 'https://img.example/d' },
    ],
    'photos in the order they were posted',
  );
  t.same(
    stored.ratings.slice(3),
    [
      { id: 4, characteristic_id: 2, review_id: 5, value: 3 },
      { id: 5, characteristic_id: 1, review_id: 5, value: 5 },
      { id: 6, characteristic_id: 3, review_id: 6, value: 5 },
      { id: 7, characteristic_id: 1, review_id: 7, value: 1 },
      { id: 8, characteristic_id: 1, review_id: 9, value: 3 },
    ],
    'ratings in the order they were posted',
  );
  t.same(
    (stored.reviews as { milliseconds: boolean }[]).map((row) => row.milliseconds),
    [true, true, true, true, true, true, true, true, true],
    'dates to the millisecond',
  );
  t.same(
    await batched.db.query('SELECT count(DISTINCT date)::int AS dates FROM reviews WHERE id >= 5'),
    [{ dates: 1 }],
    "a batch's reviews share its transaction's date",
  );
  for (const productId of [1, 2, 3]) {
    t.equal(
      await reviewMeta(batchPool, productId),
      await reviewMeta(alonePool, productId),
      `product ${productId}'s ratings as after one create per review`,
    );
  }
  // Each patch is the review exactly as a fresh list prints it, several of product 1 included.
  for (const result of results) {
    if (!result.created) continue;
    const { productId, patch } = result.written;
    const list = await reviewList(batchPool, productId, 'newest', 1, 100, relevanceClock(new Date()));
    t.ok(patch?.startsWith('review {"review_id":'), `review ${result.reviewId} carries a patch`);
    t.ok(list.includes(patch!.slice('review '.length)), `review ${result.reviewId}'s patch is what its list prints`);
  }
});

t.test('a batch notifies each review with its patch, under one token', async (t) => {
  const { url, db } = await fixture(t);
  const pool = directPool(t, url);
  const payloads = await collectNotifications(t, url);
  const results = await createReviews(pool, REVIEWS);
  const token = tokenOf(t, results);
  const expected = results.flatMap((result) =>
    result.created ? [`${token} review-lists,review-meta ${result.written.productId} ${result.written.patch}`] : [],
  );
  t.equal(expected.length, 5);
  await until(() => payloads.length >= expected.length, 'the batch has notified', { timeoutMs: 5000 });
  t.same([...payloads].sort(), [...expected].sort(), 'one notification per created review, each with its patch');

  const nothing = await createReviews(pool, [review(99), review(2, { characteristics: [[2, 5]] })]);
  t.same(nothing.map(outcome), ['unknown_product', 'foreign_characteristic'], 'a batch that creates nothing says why');
  t.same(await db.query('SELECT count(*)::int AS n FROM reviews'), [{ n: 9 }], 'and stores nothing');
});

t.test('a failing batch refuses every review in it, and only those', async (t) => {
  const { url, db } = await fixture(t);
  const pool = directPool(t, url);
  const batcher = new WriteBatcher((items: readonly NewReview[]) => createReviews(pool, items), REVIEW_CREATE_BATCHING);
  t.teardown(() => batcher.close());
  const valid = review(1, { photos: ['https://img.example/ok'], characteristics: [[1, 4]] });
  // The route never lets a rating of 9 through; it stands for any error the statement can meet.
  const broken = review(1, { characteristics: [[1, 9]] });
  // Added in one turn, the first two share a batch; the third arrives while it runs, so it waits
  // for the next one.
  const sharing = [batcher.add(valid), batcher.add(broken)];
  await new Promise((resolve) => setImmediate(resolve));
  const later = batcher.add(valid);
  for (const [i, result] of (await Promise.allSettled(sharing)).entries()) {
    t.equal(result.status, 'rejected', `review ${i} of the failing batch is refused`);
  }
  const stored = await later;
  // Sequences do not roll back: the failed batch used up ids 5 and 6.
  t.same(outcome(stored), 7, 'the next batch is stored');
  t.same(
    await db.query(
      `SELECT r.id, p.url, cr.value, s.rating_4, cs.rating_count
       FROM reviews r JOIN reviews_photos p ON p.review_id = r.id JOIN characteristic_reviews cr ON cr.review_id = r.id
       JOIN review_stats s ON s.product_id = r.product_id JOIN characteristic_stats cs ON cs.characteristic_id = 1
       WHERE r.id > 4`,
    ),
    [{ id: 7, url: 'https://img.example/ok', value: 4, rating_4: 2, rating_count: 2 }],
    'nothing of the failed batch was stored, nor counted',
  );
});

interface Variant {
  readonly productId: number;
  readonly sort: ReviewSort;
  readonly page: number;
  readonly count: number;
}

/** Per product and sort: the whole list, a first page, a later page. */
const VARIANTS: readonly Variant[] = [1, 2, 3].flatMap((productId) =>
  (['newest', 'helpful', 'relevant'] as const).flatMap((sort) => [
    { productId, sort, page: 1, count: 100 },
    { productId, sort, page: 1, count: 2 },
    { productId, sort, page: 2, count: 2 },
  ]),
);
const listPath = ({ productId, sort, page, count }: Variant) =>
  `/reviews?product_id=${productId}&sort=${sort}&page=${page}&count=${count}`;

/** Every variant, as `server` answers it, against a fresh read; the paths it read again are returned. */
async function compareAll(
  t: Test,
  server: RunningServer,
  fresh: (variant: Variant) => Promise<string>,
  after: string,
): Promise<string[]> {
  return (await compareWithFresh(t, server, VARIANTS, listPath, fresh, after)).map(listPath);
}

t.test("a batch with several reviews of one product patches every one into the product's lists", async (t) => {
  const { url } = await fixture(t);
  const server = await serve(t, url, CACHED);
  const pool = directPool(t, url);
  const fresh = (variant: Variant) =>
    reviewList(pool, variant.productId, variant.sort, variant.page, variant.count, relevanceClock(new Date()));
  await compareAll(t, server, fresh, 'first read');
  t.same(await compareAll(t, server, fresh, 'warm'), [], 'every list is cached');

  // Written behind the server, as another worker's batch: only the notifications tell it.
  const results = await createReviews(pool, REVIEWS);
  const ids = results.flatMap((result) => (result.created ? [result.reviewId] : []));
  await until(
    async () => {
      const response = await fetch(`http://127.0.0.1:${server.port}${listPath(VARIANTS[0]!)}`);
      const listed = ((await response.json()) as { results: { review_id: number }[] }).results.map((r) => r.review_id);
      return [5, 7, 9].every((id) => listed.includes(id));
    },
    "product 1's whole list shows its three new reviews",
    { timeoutMs: 5000 },
  );
  t.same(ids, [5, 6, 7, 8, 9]);
  t.same(
    await compareAll(t, server, fresh, 'after the batch'),
    VARIANTS.filter(({ page }) => page === 2).map(listPath),
    'every first page was patched, not read again; only the later pages were',
  );
});

t.test(
  'through two instances, a burst of reviews is created, distinct, counted, and read back at once everywhere',
  async (t) => {
    const { url, db } = await fixture(t);
    const instances = [await serve(t, url, CACHED), await serve(t, url, CACHED)];
    const pool = directPool(t, url);
    const fresh = (variant: Variant) =>
      reviewList(pool, variant.productId, variant.sort, variant.page, variant.count, relevanceClock(new Date()));
    for (const server of instances) {
      await compareAll(t, server, fresh, 'first read');
      t.same(await compareAll(t, server, fresh, 'warm'), [], 'every list is cached');
    }

    const body = (productId: number, i: number, characteristics: Record<string, number>) => ({
      product_id: productId,
      rating: 1 + (i % 5),
      summary: `Review ${i}`,
      body: `Body of review ${i}, "quoted".`,
      recommend: i % 2 === 0,
      name: 'jackson11',
      email: 'first.last@gmail.com',
      photos: [`https://img.example/${i}`],
      characteristics,
    });
    // Every product in both instances' batches, so they update the same stats rows at once; bad
    // reviews among them.
    const posts = [
      ...Array.from({ length: 30 }, (_, i) => ({ body: body(1, i, { 1: 1 + (i % 5), 2: 5 }), status: 201 })),
      ...Array.from({ length: 10 }, (_, i) => ({ body: body(2, 30 + i, { 3: 1 + (i % 5) }), status: 201 })),
      ...Array.from({ length: 10 }, (_, i) => ({ body: body(3, 40 + i, {}), status: 201 })),
      ...Array.from({ length: 3 }, (_, i) => ({ body: body(99, 50 + i, {}), status: 422 })),
      ...Array.from({ length: 3 }, (_, i) => ({ body: body(2, 53 + i, { 1: 3 }), status: 422 })),
    ];
    const responses = await Promise.all(
      posts.map((post, i) =>
        fetch(`http://127.0.0.1:${instances[i % 2]!.port}/reviews`, {
          method: 'POST',
          body: JSON.stringify(post.body),
          headers: { 'content-type': 'application/json' },
        }),
      ),
    );
    const ids: number[] = [];
    for (const [i, response] of responses.entries()) {
      t.equal(response.status, posts[i]!.status, `post ${i}`);
      const answer = (await response.json()) as { review_id?: number };
      if (response.status === 201) ids.push(answer.review_id!);
    }
    t.equal(new Set(ids).size, 50, '50 distinct ids');
    t.same(
      await db.query(`SELECT count(*)::int AS reviews,
                           (SELECT count(*)::int FROM reviews_photos WHERE review_id > 4) AS photos,
                           (SELECT count(*)::int FROM characteristic_reviews WHERE review_id > 4) AS ratings
                    FROM reviews WHERE id > 4`),
      [{ reviews: 50, photos: 50, ratings: 70 }],
      'each review with its photo and its ratings',
    );
    t.same(
      await db.query(`SELECT s.product_id, s.rating_1 + s.rating_2 + s.rating_3 + s.rating_4 + s.rating_5 AS rated,
                           s.recommended_true + s.recommended_false AS recommended,
                           (SELECT count(*)::int FROM reviews r WHERE r.product_id = s.product_id) AS reviews
                    FROM review_stats s ORDER BY s.product_id`),
      [
        { product_id: 1, rated: 33, recommended: 33, reviews: 33 },
        { product_id: 2, rated: 11, recommended: 11, reviews: 11 },
        { product_id: 3, rated: 10, recommended: 10, reviews: 10 },
      ],
      "every review counted in its product's stats",
    );
    t.same(
      await db.query(`SELECT s.characteristic_id, s.rating_sum::int, s.rating_count,
                           (SELECT sum(value)::int FROM characteristic_reviews cr WHERE cr.characteristic_id = s.characteristic_id) AS sum
                    FROM characteristic_stats s ORDER BY s.characteristic_id`),
      [
        { characteristic_id: 1, rating_sum: 94, rating_count: 31, sum: 94 },
        { characteristic_id: 2, rating_sum: 153, rating_count: 31, sum: 153 },
        { characteristic_id: 3, rating_sum: 32, rating_count: 11, sum: 32 },
      ],
      "every rating counted in its characteristic's stats",
    );
    const [{ transactions }] = (await db.query(
      'SELECT count(DISTINCT xmin::text)::int AS transactions FROM reviews WHERE id > 4',
    )) as [{ transactions: number }];
    t.ok(transactions < 50, `the 50 reviews shared transactions (${transactions})`);

    // Answered means visible: no wait before reading, from either instance. A new review patches
    // the first pages; the later pages are read again.
    const later = VARIANTS.filter(({ page }) => page === 2).map(listPath);
    for (const [i, server] of instances.entries()) {
      t.same(await compareAll(t, server, fresh, `instance ${i}, after the burst`), later, 'first pages patched');
    }
  },
);
