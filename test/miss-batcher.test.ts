import t, { type Test } from 'tap';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Pool } from '../sql/db/pool.js';
import type { WalPosition } from '../sql/db/wal.js';
import {
  productDetail,
  productDetails,
  productRelated,
  productRelatedMany,
  productStyles,
  productStylesMany,
} from '../sql/queries/products.js';
import { answerList, answerLists, questionList, questionLists } from '../sql/queries/qa.js';
import {
  relevanceClock,
  reviewList,
  reviewListings,
  reviewMeta,
  reviewMetaMany,
  type ReviewSort,
} from '../sql/queries/reviews.js';
import type { PatchableBody } from '../server/cache.js';
import { MissBatcher, PagedMissBatcher, positionForAll, type BatchRead } from '../server/miss-batcher.js';
import { ReviewListBody } from '../server/review-lists.js';
import { serveFixture } from './helpers/api.js';
import { directPool, freshDatabase } from './helpers/database.js';
import { runSql } from './helpers/own-database.js';
import { CATALOGUE } from './fixtures/catalogue.js';

/**
 * Product 4 has no features, styles, related rows or questions; 99 does not exist. Question 1 has
 * four answers, question 3 is reported, product 2 has a style without photos or skus.
 */
const FIXTURE = `${CATALOGUE}
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (4, 'Slacker''s "Slacks"', 'Nap\nfirst', 'naïve', 'Pants', 65.5);
INSERT INTO related (id, current_product_id, related_product_id) VALUES (3, 2, 1), (4, 2, 1);
INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style) VALUES
  (3, 2, 'Tortoise "Shell"', 50.25, 69, true);
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, reported, helpful) VALUES
  (3, 2, 'Hidden?', '2021-02-01T00:00:00.000Z', 'troll', 't@example.com', true, 0),
  (4, 2, 'Polarised?', '2021-02-02T00:00:00.000Z', 'sunny', 's@example.com', false, 3);
INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email, reported, helpful) VALUES
  (2, 1, 'True to size.', '2021-01-03T10:00:00.000Z', 'b', 'b@example.com', false, 5),
  (3, 1, 'Hidden.', '2021-01-04T10:00:00.000Z', 'c', 'c@example.com', true, 9),
  (4, 1, 'Big.', '2021-01-05T10:00:00.000Z', 'd', 'd@example.com', false, 0),
  (5, 3, 'Yes.', '2021-02-03T10:00:00.000Z', 'e', 'e@example.com', false, 1);`;

async function fixturePool(t: Test): Promise<Pool> {
  const url = await freshDatabase(t);
  await runSql(url, FIXTURE);
  return directPool(t, url, 4);
}

/** A batcher over `pool` that records each batch's keys and the position its pool was chosen for. */
function recording(pool: Pool, read: BatchRead, maxConcurrentBatches = 1) {
  const batches: (readonly number[])[] = [];
  const positions: (WalPosition | undefined)[] = [];
  const batcher = new MissBatcher(
    (chosen, keys) => {
      batches.push(keys);
      return read(chosen, keys);
    },
    (position) => {
      positions.push(position);
      return pool;
    },
    { maxKeys: 3, maxConcurrentBatches },
  );
  return { batcher, batches, positions };
}

const text = (body: Buffer | PatchableBody | undefined) =>
  body === undefined ? undefined : (Buffer.isBuffer(body) ? body : body.body).toString();

t.test('a batch answers each key exactly what its single-key statement answers', async (t) => {
  const pool = await fixturePool(t);
  const ids = [1, 2, 1, 3, 4, 99];
  for (const [name, single, many] of [
    ['detail', productDetail, productDetails],
    ['related', productRelated, productRelatedMany],
    ['styles', productStyles, productStylesMany],
  ] as const) {
    const { batcher, batches } = recording(pool, many);
    const alone = await Promise.all(ids.map((id) => single(pool, id)));
    const batched = await Promise.all(ids.map((id) => batcher.load(id, undefined)));
    t.same(batched.map(text), alone, `${name}: same bytes, 99 missing and the others found`);
    t.equal(alone[5], undefined, `${name}: an unknown id has no body`);
    t.same(
      batches,
      [
        [1, 2],
        [3, 4, 99],
      ],
      `${name}: bounded batches, a repeated key read once`,
    );
    const one = recording(pool, many);
    t.equal(text(await one.batcher.load(3, undefined)), alone[3], `${name}: a batch of one`);
    t.same(one.batches, [[3]]);
  }
});

t.test('a meta batch answers every id, known or not, what the single-key statement answers', async (t) => {
  const pool = await fixturePool(t);
  const ids = [2, 1, 99, 2, 4];
  const { batcher, batches } = recording(pool, reviewMetaMany);
  const alone = await Promise.all(ids.map((id) => reviewMeta(pool, id)));
  const batched = await Promise.all(ids.map((id) => batcher.load(id, undefined)));
  t.same(batched.map(text), alone, 'same bytes, counts and averages for product 2, empty ones for the others');
  t.match(alone[0], /"ratings":\{"3":"1","5":"1"\}/, 'product 2 has ratings');
  t.same(batches, [
    [2, 1, 99],
    [2, 4],
  ]);
});

const SORTS: readonly ReviewSort[] = ['newest', 'helpful', 'relevant'];

/** The review lists of one shape as the route batches them: patchable, with the batch's snapshot. */
function reviewListsRead(sort: ReviewSort, page: number, count: number): BatchRead {
  const clockMs = relevanceClock(new Date()).getTime();
  return async (chosen, keys) => {
    const { bodies, snapshot } = await reviewListings(chosen, keys, sort, page, count, new Date(clockMs));
    return ReviewListBody.read(bodies, snapshot, { sort, clockMs, page, count });
  };
}

const reviewListAlone = (sort: ReviewSort, page: number, count: number) => (chosen: Pool, id: number) =>
  reviewList(chosen, id, sort, page, count, relevanceClock(new Date()));

t.test('a review list batch answers every product, known or not, what the single-key statement answers', async (t) => {
  const pool = await fixturePool(t);
  const ids = [2, 1, 99, 2, 4];
  for (const sort of SORTS) {
    for (const [page, count] of [
      [1, 5],
      [1, 200],
      [2, 1],
      [3, 1],
    ] as const) {
      const { batcher, batches } = recording(pool, reviewListsRead(sort, page, count));
      const alone = await Promise.all(ids.map((id) => reviewListAlone(sort, page, count)(pool, id)));
      const batched = await Promise.all(ids.map((id) => batcher.load(id, undefined)));
      t.same(batched.map(text), alone, `${sort} page ${page} count ${count}: same bytes`);
      t.ok(
        batched.every((body) => body instanceof ReviewListBody),
        `${sort} page ${page} count ${count}: patchable lists`,
      );
      t.same(batches, [
        [2, 1, 99],
        [2, 4],
      ]);
    }
  }
  const alone = await Promise.all(ids.map((id) => reviewListAlone('newest', 1, 5)(pool, id)));
  t.match(
    alone[0],
    /^\{"product":"2","page":0,"count":5,"results":\[\{"review_id":1,.*"review_id":2,/,
    'product 2 lists its reviews',
  );
  t.equal(alone[1], '{"product":"1","page":0,"count":5,"results":[]}', 'a product without reviews lists none');
  t.equal(alone[2], '{"product":"99","page":0,"count":5,"results":[]}', 'and so does an unknown product');
  const one = recording(pool, reviewListsRead('relevant', 1, 5));
  t.equal(
    text(await one.batcher.load(2, undefined)),
    await reviewListAlone('relevant', 1, 5)(pool, 2),
    'a batch of one',
  );
  t.same(one.batches, [[2]]);
});

/** The answers page the route batches. */
async function firstAnswers(pool: Pool, questionId: number): Promise<string | undefined> {
  return (await answerList(pool, questionId, 1, 5))?.body;
}

t.test('an answers batch answers each question what the single-key statement answers', async (t) => {
  const pool = await fixturePool(t);
  const ids = [1, 99, 2];
  const alone = await Promise.all(ids.map((id) => answerList(pool, id, 1, 5)));
  const batched = await answerLists(pool, ids, 1, 5);
  t.same(
    ids.map((id) => batched.get(id)),
    alone,
    'same bytes and product, none for an unknown question',
  );
  t.equal(alone[1], undefined);
  t.match(alone[0]?.body, /"answer_id":1,/);
});

/** The (page, count) variants the paged batch tests read: the default, the bench's, deeper pages. */
const PAGES = [
  [1, 5],
  [1, 100],
  [2, 1],
  [3, 1],
] as const;

t.test('a questions batch answers every product, known or not, what the single-key statement answers', async (t) => {
  const pool = await fixturePool(t);
  const ids = [1, 2, 99, 1, 4];
  for (const [page, count] of PAGES) {
    const { batcher, batches } = recording(pool, (chosen, keys) => questionLists(chosen, keys, page, count));
    const alone = await Promise.all(ids.map((id) => questionList(pool, id, page, count)));
    const batched = await Promise.all(ids.map((id) => batcher.load(id, undefined)));
    t.same(batched.map(text), alone, `page ${page} count ${count}: same bytes`);
    t.same(batches, [
      [1, 2, 99],
      [1, 4],
    ]);
  }
  const alone = await Promise.all(ids.map((id) => questionList(pool, id, 1, 5)));
  t.match(alone[0], /"question_id":1,.*"question_id":2,/, 'product 1 lists its questions');
  t.notMatch(alone[1], /Hidden/, 'a reported question is not listed');
  t.equal(alone[2], '{"product_id":"99","results":[]}', 'an unknown product has no questions');
  const one = recording(pool, (chosen, keys) => questionLists(chosen, keys, 1, 5));
  t.equal(text(await one.batcher.load(2, undefined)), alone[1], 'a batch of one');
});

t.test('an answers batch of any page answers what the single-key statement answers', async (t) => {
  const pool = await fixturePool(t);
  const ids = [1, 99, 3, 4, 2];
  for (const [page, count] of PAGES) {
    const alone = await Promise.all(ids.map(async (id) => (await answerList(pool, id, page, count))?.body));
    const batched = await answerLists(pool, ids, page, count);
    t.same(
      ids.map((id) => batched.get(id)?.body),
      alone,
      `page ${page} count ${count}: same bytes, none for unknown or reported questions`,
    );
    t.equal(alone[1], undefined);
    t.equal(alone[2], undefined);
  }
  const second = await answerList(pool, 1, 2, 1);
  t.match(second?.body, /"page":1,"count":1,"results":\[\{"answer_id":1,/, 'page 2 of question 1');
});

t.test('misses of a paged route share a batch only with misses of the same page and count', async (t) => {
  const pool = await fixturePool(t);
  const batches: [number, number, readonly number[]][] = [];
  const paged = new PagedMissBatcher(
    (chosen, keys, { page, count }) => {
      batches.push([page, count, keys]);
      return questionLists(chosen, keys, page, count);
    },
    () => pool,
    { maxKeys: 3, maxConcurrentBatches: 1 },
  );
  const variant = (page: number, count: number) => paged.page(`${page}:${count}`, { page, count });
  t.equal(variant(1, 5), variant(1, 5), 'one batcher per variant');
  const misses = [
    [1, 1, 5],
    [2, 1, 100],
    [4, 1, 5],
    [1, 2, 1],
    [2, 2, 1],
  ] as const;
  const answers = await Promise.all(misses.map(([id, page, count]) => variant(page, count).load(id, undefined)));
  const alone = await Promise.all(misses.map(([id, page, count]) => questionList(pool, id, page, count)));
  t.same(answers.map(text), alone, 'each miss answered its own page');
  t.same(
    batches,
    [
      [1, 5, [1, 4]],
      [1, 100, [2]],
      [2, 1, [1, 2]],
    ],
    'one statement per variant',
  );
});

t.test('misses that arrive while a batch runs leave together as the next one', async (t) => {
  const pool = await fixturePool(t);
  const { batcher, batches } = recording(pool, productDetails);
  const first = batcher.load(1, undefined);
  await nextTurn();
  const later = [batcher.load(2, undefined), batcher.load(3, undefined)];
  await Promise.all([first, ...later]);
  t.same(batches, [[1], [2, 3]], 'the first miss went out alone, at once');
});

t.test('a failing batch fails its own keys only', async (t) => {
  const pool = await fixturePool(t);
  for (const [name, single, many] of [
    ['detail', productDetail, productDetails],
    ['styles', productStyles, productStylesMany],
    [
      'questions',
      (chosen: Pool, id: number) => questionList(chosen, id, 1, 5),
      (chosen: Pool, ids: readonly number[]) => questionLists(chosen, ids, 1, 5),
    ],
    ['review lists', reviewListAlone('relevant', 1, 5), reviewListsRead('relevant', 1, 5)],
  ] as const) {
    const { batcher, batches } = recording(pool, many);
    const first = batcher.load(1, undefined);
    await nextTurn();
    // 2^40 is no integer PostgreSQL takes: the whole statement fails.
    const failing = Promise.all(
      [batcher.load(2, undefined), batcher.load(2 ** 40, undefined)].map((miss) =>
        t.rejects(miss, /out of range/, `${name}: the failing batch`),
      ),
    );
    t.equal(text(await first), await single(pool, 1), `${name}: the batch before it is answered`);
    await failing;
    t.equal(text(await batcher.load(3, undefined)), await single(pool, 3), `${name}: the next batch is answered`);
    t.same(batches, [[1], [2, 2 ** 40], [3]]);
  }
});

t.test("a batch runs on a pool that has every key's position", async (t) => {
  t.equal(positionForAll([{ position: 5 }, { position: 9 }, { position: 7 }]), 9, 'the furthest');
  t.equal(positionForAll([{ position: 5 }, { position: undefined }, { position: 7 }]), undefined, 'or the newest');
  t.equal(positionForAll([{ position: 5 }]), 5);
  const pool = await fixturePool(t);
  const { batcher, positions } = recording(pool, productDetails);
  const first = batcher.load(1, 10);
  await nextTurn();
  const later = [batcher.load(2, 30), batcher.load(3, 20)];
  await Promise.all([first, ...later]);
  const newest = [batcher.load(1, 30), batcher.load(2, undefined)];
  await Promise.all(newest);
  t.same(positions, [10, 30, undefined]);
});

t.test('concurrent misses through the API answer what the single-key statements answer', async (t) => {
  const api = await serveFixture(t, FIXTURE);
  const pool = directPool(t, api.url);
  const ids = [1, 2, 3, 4, 99];
  const routes = [
    { path: (id: number) => `/products/${id}`, single: productDetail },
    { path: (id: number) => `/products/${id}/related`, single: productRelated },
    { path: (id: number) => `/products/${id}/styles`, single: productStyles },
    { path: (id: number) => `/reviews/meta?product_id=${id}`, single: reviewMeta },
    ...SORTS.flatMap((sort) => [
      { path: (id: number) => `/reviews?product_id=${id}&sort=${sort}`, single: reviewListAlone(sort, 1, 5) },
      {
        path: (id: number) => `/reviews?product_id=${id}&sort=${sort}&page=2&count=1`,
        single: reviewListAlone(sort, 2, 1),
      },
    ]),
    {
      path: (id: number) => `/qa/questions?product_id=${id}`,
      single: (pool: Pool, id: number) => questionList(pool, id, 1, 5),
    },
    {
      path: (id: number) => `/qa/questions?product_id=${id}&count=100`,
      single: (pool: Pool, id: number) => questionList(pool, id, 1, 100),
    },
    {
      path: (id: number) => `/qa/questions?product_id=${id}&page=2&count=1`,
      single: (pool: Pool, id: number) => questionList(pool, id, 2, 1),
    },
    { path: (id: number) => `/qa/questions/${id}/answers`, single: firstAnswers },
    {
      path: (id: number) => `/qa/questions/${id}/answers?page=2&count=1`,
      single: async (pool: Pool, id: number) => (await answerList(pool, id, 2, 1))?.body,
    },
  ];
  const answers = await Promise.all(
    routes.flatMap(({ path }) =>
      ids.map(async (id) => {
        const response = await api.get(path(id));
        return { status: response.status, body: await response.text() };
      }),
    ),
  );
  const expected = await Promise.all(routes.flatMap(({ single }) => ids.map((id) => single(pool, id))));
  for (const [index, answer] of answers.entries()) {
    const url = routes[Math.floor(index / ids.length)]!.path(ids[index % ids.length]!);
    const body = expected[index];
    if (body === undefined) t.equal(answer.status, 404, `${url}: unknown`);
    else t.same(answer, { status: 200, body }, url);
  }
});
