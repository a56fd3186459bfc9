import t, { type Test } from 'tap';

import { createReviews } from '../sql/queries/reviews.js';
import { expectBody, expectError, serveFixture as serveApi, type Api } from './helpers/api.js';
import { directPool } from './helpers/database.js';

const DAY_MS = 86_400_000;
const startedAt = Date.now();
/** An instant `days` before the test started, as the API prints it. */
const daysAgo = (days: number): string => new Date(startedAt - Math.round(days * DAY_MS)).toISOString();

const DATE = {
  r3: daysAgo(200),
  r4: daysAgo(1),
  r5: daysAgo(10),
  r7: daysAgo(400),
  r8: daysAgo(3),
  r9: daysAgo(0.5),
};

/**
 * Product 2's reviews, inserted out of id order, chosen so that the three orders differ:
 * relevant (helpfulness / (1 + age_days / 90)) is r5 4.5, r3 3.1, r9 2.0, r7 0.9, then r6 and
 * r4 at 0 (same date, so id desc); newest is r9, r6, r4, r5, r3, r7; helpful is r3, r5, r7 (5,
 * older), r9, r6, r4. r8 is reported and carries the most votes; it must never show. r3's
 * response is '' (printed as null), its text needs JSON escaping. Product 1 has a characteristic
 * but no reviews; product 99 does not exist. Sequences continue after the loaded ids, as the
 * ingest leaves them.
 */
const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in to your crowd', 'The So Fatigues', 'Jackets', 140),
  (2, 'Bright Future Sunglasses', 'You''ve got to wear shades', 'Where you''re going', 'Accessories', 69);
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reported, reviewer_name, reviewer_email, response, helpfulness) VALUES
  (5, 2, 3, '${DATE.r5}', 'I''m enjoying wearing these shades', 'Comfortable and practical.', true, false, 'shortandsweeet', 'first.last@gmail.com', NULL, 5),
  (3, 2, 5, '${DATE.r3}', 'Say "wow"', E'Line one\\nline two, naïve café', true, false, 'bigbrotherbenjamin', 'b@example.com', '', 10),
  (7, 2, 4, '${DATE.r7}', 'Still good', 'Two years on.', false, false, 'oldtimer', 'o@example.com', 'Glad you''re enjoying the product!', 5),
  (4, 2, 4, '${DATE.r4}', 'Fine', 'Fine glasses.', true, false, 'fourth', 'f@example.com', NULL, 0),
  (6, 2, 1, '${DATE.r4}', 'Broke', 'Broke on day one.', false, false, 'sixth', 's@example.com', NULL, 0),
  (8, 2, 2, '${DATE.r8}', 'Spam', 'Buy followers at …', false, true, 'spammer', 'x@example.com', NULL, 100),
  (9, 2, 5, '${DATE.r9}', 'New favourite', 'Love them.', true, false, 'ninth', 'n@example.com', NULL, 2);
INSERT INTO reviews_photos (id, review_id, url) VALUES
  (2, 5, 'https://img.example/r5b'), (1, 5, 'https://img.example/r5a'), (3, 9, 'https://img.example/r9');
INSERT INTO characteristics (id, product_id, name) VALUES
  (1, 1, 'Fit'), (6, 2, 'Fit'), (5, 2, 'Quality'), (7, 2, 'Size');
INSERT INTO characteristic_reviews (id, characteristic_id, review_id, value) VALUES
  (1, 5, 5, 4), (2, 6, 5, 3), (3, 5, 3, 3), (4, 6, 3, 5), (5, 5, 7, 3), (6, 5, 8, 1), (7, 6, 8, 1);
SELECT refresh_review_stats();
SELECT setval(pg_get_serial_sequence('reviews', 'id'), 9);
SELECT setval(pg_get_serial_sequence('reviews_photos', 'id'), 3);
SELECT setval(pg_get_serial_sequence('characteristic_reviews', 'id'), 7);
`;

const REVIEW: Record<number, string> = {
  3:
    `{"review_id":3,"rating":5,"summary":"Say \\"wow\\"","recommend":true,"response":null,` +
    `"body":"Line one\\nline two, naïve café","date":"${DATE.r3}","reviewer_name":"bigbrotherbenjamin","helpfulness":10,"photos":[]}`,
  4:
    `{"review_id":4,"rating":4,"summary":"Fine","recommend":true,"response":null,` +
    `"body":"Fine glasses.","date":"${DATE.r4}","reviewer_name":"fourth","helpfulness":0,"photos":[]}`,
  5:
    `{"review_id":5,"rating":3,"summary":"I'm enjoying wearing these shades","recommend":true,"response":null,` +
    `"body":"Comfortable and practical.","date":"${DATE.r5}","reviewer_name":"shortandsweeet","helpfulness":5,` +
    `"photos":[{"id":1,"url":"https://img.example/r5a"},{"id":2,"url":"https://img.example/r5b"}]}`,
  6:
    `{"review_id":6,"rating":1,"summary":"Broke","recommend":false,"response":null,` +
    `"body":"Broke on day one.","date":"${DATE.r4}","reviewer_name":"sixth","helpfulness":0,"photos":[]}`,
  7:
    `{"review_id":7,"rating":4,"summary":"Still good","recommend":false,"response":"Glad you're enjoying the product!",` +
    `"body":"Two years on.","date":"${DATE.r7}","reviewer_name":"oldtimer","helpfulness":5,"photos":[]}`,
  9:
    `{"review_id":9,"rating":5,"summary":"New favourite","recommend":true,"response":null,` +
    `"body":"Love them.","date":"${DATE.r9}","reviewer_name":"ninth","helpfulness":2,"photos":[{"id":3,"url":"https://img.example/r9"}]}`,
};

const ORDER = { relevant: [5, 3, 9, 7, 6, 4], newest: [9, 6, 4, 5, 3, 7], helpful: [3, 5, 7, 9, 6, 4] };

const listBody = (product: string, page: number, count: number, ids: readonly number[]): string =>
  `{"product":"${product}","page":${page},"count":${count},"results":[${ids.map((id) => REVIEW[id]).join(',')}]}`;

const META_2 =
  '{"product_id":"2","ratings":{"1":"1","3":"1","4":"2","5":"2"},"recommended":{"false":"2","true":"4"},' +
  '"characteristics":{"Quality":{"id":5,"value":"3.3333333333333333"},"Fit":{"id":6,"value":"4.0000000000000000"},' +
  '"Size":{"id":7,"value":null}}}';

function serveFixture(t: Test): Promise<Api> {
  return serveApi(t, FIXTURE);
}

async function ids(api: Api, path: string): Promise<number[]> {
  const response = await api.get(path);
  const body = (await response.json()) as { results: { review_id: number }[] };
  return body.results.map((review) => review.review_id);
}

const NEW_REVIEW = {
  product_id: 2,
  rating: 4,
  summary: 'Great',
  body: 'Sharp and light.',
  recommend: true,
  name: 'jackson11',
  email: 'first.last@gmail.com',
  photos: ['https://img.example/new1', 'http://img.example/new2'],
  characteristics: { 5: 5, 6: 2 },
};

t.test('GET /reviews answers the contract body byte for byte in each order', async (t) => {
  const api = await serveFixture(t);
  await expectBody(
    t,
    await api.get('/reviews?product_id=2'),
    listBody('2', 0, 5, ORDER.relevant.slice(0, 5)),
    'relevant, page 1, count 5 by default',
  );
  for (const sort of ['relevant', 'newest', 'helpful'] as const) {
    await expectBody(
      t,
      await api.get(`/reviews?product_id=2&sort=${sort}&count=10`),
      listBody('2', 0, 10, ORDER[sort]),
      sort,
    );
  }
  await expectBody(
    t,
    await api.get('/reviews?product_id=2&sort=newest&page=2&count=4'),
    listBody('2', 1, 4, [3, 7]),
    'page echo is 0-based, count is the page size',
  );
  await expectBody(
    t,
    await api.get('/reviews?product_id=2&count=5000'),
    listBody('2', 0, 1000, ORDER.relevant),
    'count above 1000 is 1000',
  );
  await expectBody(t, await api.get('/reviews?product_id=1'), listBody('1', 0, 5, []), 'a product without reviews');
  await expectBody(
    t,
    await api.get('/reviews?product_id=99&page=3'),
    listBody('99', 2, 5, []),
    'a product that does not exist',
  );
});

t.test('paging walks every visible review exactly once in each order, then answers empty pages', async (t) => {
  const api = await serveFixture(t);
  for (const sort of ['relevant', 'newest', 'helpful'] as const) {
    const walked: number[] = [];
    for (let page = 1; page <= 3; page += 1)
      walked.push(...(await ids(api, `/reviews?product_id=2&sort=${sort}&page=${page}&count=2`)));
    t.same(walked, ORDER[sort], sort);
    await expectBody(t, await api.get(`/reviews?product_id=2&sort=${sort}&page=4&count=2`), listBody('2', 3, 2, []));
  }
});

t.test('GET /reviews/meta counts and averages non-reported reviews from the stats', async (t) => {
  const api = await serveFixture(t);
  await expectBody(t, await api.get('/reviews/meta?product_id=2'), META_2);
  await expectBody(
    t,
    await api.get('/reviews/meta?product_id=1'),
    '{"product_id":"1","ratings":{},"recommended":{},"characteristics":{"Fit":{"id":1,"value":null}}}',
    'no reviews',
  );
  await expectBody(
    t,
    await api.get('/reviews/meta?product_id=99'),
    '{"product_id":"99","ratings":{},"recommended":{},"characteristics":{}}',
    'no product',
  );
});

t.test('invalid query parameters are a 422 naming the parameter', async (t) => {
  const api = await serveFixture(t);
  const productId = 'product_id must be a positive integer no larger than 2147483647.';
  for (const path of ['/reviews', '/reviews/meta']) {
    for (const query of [
      '',
      '?product_id=',
      '?product_id=abc',
      '?product_id=0',
      '?product_id=-1',
      '?product_id=02',
      '?product_id=1.5',
      '?product_id=2147483648',
      '?productId=2',
    ]) {
      await expectError(t, await api.get(`${path}${query}`), 422, productId);
    }
  }
  await expectError(
    t,
    await api.get('/reviews?product_id=2&sort=rating'),
    422,
    'sort must be one of newest, helpful, relevant.',
  );
  await expectError(
    t,
    await api.get('/reviews?product_id=2&sort='),
    422,
    'sort must be one of newest, helpful, relevant.',
  );
  await expectError(
    t,
    await api.get('/reviews?product_id=2&page=0'),
    422,
    'page must be a positive integer no larger than 2147483647.',
  );
  await expectError(t, await api.get('/reviews?product_id=2&count=x'), 422, 'count must be a positive integer.');
});

t.test('wrong methods on review paths are a 405 naming the allowed ones', async (t) => {
  const api = await serveFixture(t);
  for (const [method, path, allowed] of [
    ['PUT', '/reviews', 'GET, HEAD, POST, OPTIONS'],
    ['POST', '/reviews/meta', 'GET, HEAD, OPTIONS'],
    ['GET', '/reviews/5/helpful', 'PUT, OPTIONS'],
    ['DELETE', '/reviews/5/report', 'PUT, OPTIONS'],
  ] as const) {
    const response = await api.send(method, path);
    t.equal(response.status, 405, `${method} ${path}`);
    t.equal(response.headers.get('allow'), allowed);
    await response.arrayBuffer();
  }
});

t.test('POST /reviews stores the review, its photos and ratings, and every read shows it at once', async (t) => {
  const api = await serveFixture(t);
  // Warm the cached bodies the write must invalidate.
  await expectBody(t, await api.get('/reviews/meta?product_id=2'), META_2);
  t.same(await ids(api, '/reviews?product_id=2&sort=newest&count=10'), ORDER.newest);

  const response = await api.send('POST', '/reviews', { ...NEW_REVIEW, ignored: 'unknown fields are ignored' });
  t.equal(response.status, 201);
  t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
  t.equal(await response.text(), '{"review_id":10}', 'the id continues after the largest loaded one');

  const [{ date }] = await api.db.query<{ date: string }>(
    `SELECT to_char(date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS date FROM reviews WHERE id = 10`,
  );
  await expectBody(
    t,
    await api.get('/reviews?product_id=2&sort=newest&count=1'),
    listBody('2', 0, 1, []).replace(
      '[]',
      `[{"review_id":10,"rating":4,"summary":"Great","recommend":true,"response":null,"body":"Sharp and light.",` +
        `"date":"${date}","reviewer_name":"jackson11","helpfulness":0,` +
        `"photos":[{"id":4,"url":"https://img.example/new1"},{"id":5,"url":"http://img.example/new2"}]}]`,
    ),
  );
  t.ok(Math.abs(Date.parse(date!) - Date.now()) < 60_000, 'dated now');
  await expectBody(
    t,
    await api.get('/reviews/meta?product_id=2'),
    '{"product_id":"2","ratings":{"1":"1","3":"1","4":"3","5":"2"},"recommended":{"false":"2","true":"5"},' +
      '"characteristics":{"Quality":{"id":5,"value":"3.7500000000000000"},"Fit":{"id":6,"value":"3.3333333333333333"},' +
      '"Size":{"id":7,"value":null}}}',
  );
  t.same(
    await api.db.query(
      "SELECT reported, reviewer_email, response, date = date_trunc('milliseconds', date) AS printed_as_stored FROM reviews WHERE id = 10",
    ),
    [{ reported: false, reviewer_email: 'first.last@gmail.com', response: null, printed_as_stored: true }],
  );

  const minimal = await api.send('POST', '/reviews', {
    product_id: 1,
    rating: 1,
    body: 'b',
    recommend: false,
    name: 'n',
    email: 'a@b.co',
    characteristics: {},
  });
  t.equal(await minimal.text(), '{"review_id":11}', 'summary, photos and characteristics may be absent or empty');
  t.same(await api.db.query('SELECT summary FROM reviews WHERE id = 11'), [{ summary: '' }]);
});

t.test('POST /reviews answers 422 naming the first invalid field, and stores nothing', async (t) => {
  const api = await serveFixture(t);
  const cases: [Record<string, unknown>, string, string][] = [
    [{ product_id: undefined }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: '02' }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: 0 }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: 2.5 }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: 2 ** 31 }, 'product_id', 'a positive integer no larger than 2147483647'],
    [{ product_id: 99 }, 'product_id', 'the id of an existing product'],
    [{ rating: 0 }, 'rating', 'an integer from 1 to 5'],
    [{ rating: 6 }, 'rating', 'an integer from 1 to 5'],
    [{ rating: 4.5 }, 'rating', 'an integer from 1 to 5'],
    [{ rating: '5.0' }, 'rating', 'an integer from 1 to 5'],
    [{ summary: 'x'.repeat(61) }, 'summary', 'a string of at most 60 characters'],
    [{ summary: null }, 'summary', 'a string of at most 60 characters'],
    [{ body: '' }, 'body', 'a string of 1 to 1000 characters'],
    [{ body: 'x'.repeat(1001) }, 'body', 'a string of 1 to 1000 characters'],
    [{ body: undefined }, 'body', 'a string of 1 to 1000 characters'],
    [{ body: 'a\u0000b' }, 'body', 'text without NUL characters'],
    [{ recommend: 'yes' }, 'recommend', 'true or false'],
    [{ recommend: undefined }, 'recommend', 'true or false'],
    [{ name: '' }, 'name', 'a string of 1 to 60 characters'],
    [{ name: 'n'.repeat(61) }, 'name', 'a string of 1 to 60 characters'],
    [{ email: '' }, 'email', 'a string of 1 to 60 characters'],
    [{ email: `${'e'.repeat(50)}@example.com` }, 'email', 'a string of 1 to 60 characters'],
    [{ email: 'first.last' }, 'email', 'an email address'],
    [{ email: 'first last@gmail.com' }, 'email', 'an email address'],
    [{ email: 'first@gmail' }, 'email', 'an email address'],
    [
      { photos: 'https://img.example/1' },
      'photos',
      'an array of at most 5 http(s) URLs of at most 2048 characters each',
    ],
    [
      { photos: Array(6).fill('https://img.example/1') },
      'photos',
      'an array of at most 5 http(s) URLs of at most 2048 characters each',
    ],
    [
      { photos: ['ftp://img.example/1'] },
      'photos',
      'an array of at most 5 http(s) URLs of at most 2048 characters each',
    ],
    [{ photos: ['not a url'] }, 'photos', 'an array of at most 5 http(s) URLs of at most 2048 characters each'],
    [
      { photos: [`https://img.example/${'p'.repeat(2030)}`] },
      'photos',
      'an array of at most 5 http(s) URLs of at most 2048 characters each',
    ],
    [{ photos: [null] }, 'photos', 'an array of at most 5 http(s) URLs of at most 2048 characters each'],
    [
      { characteristics: [5] },
      'characteristics',
      "an object mapping this product's characteristic ids to integers from 1 to 5",
    ],
    [
      { characteristics: { 5: 6 } },
      'characteristics',
      "an object mapping this product's characteristic ids to integers from 1 to 5",
    ],
    [
      { characteristics: { 5: '04' } },
      'characteristics',
      "an object mapping this product's characteristic ids to integers from 1 to 5",
    ],
    [
      { characteristics: { abc: 4 } },
      'characteristics',
      "an object mapping this product's characteristic ids to integers from 1 to 5",
    ],
    [
      { characteristics: { '05': 4 } },
      'characteristics',
      "an object mapping this product's characteristic ids to integers from 1 to 5",
    ],
    [
      { characteristics: { 1: 4 } },
      'characteristics',
      "an object mapping this product's characteristic ids to integers from 1 to 5",
    ],
    [
      { characteristics: { 5: 4, 404: 4 } },
      'characteristics',
      "an object mapping this product's characteristic ids to integers from 1 to 5",
    ],
  ];
  for (const [change, field, requirement] of cases) {
    await expectError(
      t,
      await api.send('POST', '/reviews', { ...NEW_REVIEW, ...change }),
      422,
      `${field} must be ${requirement}.`,
      JSON.stringify(change).slice(0, 80),
    );
  }
  const astral = await api.send('POST', '/reviews', { ...NEW_REVIEW, summary: `${'x'.repeat(59)}😀` });
  t.equal(astral.status, 201, '…is 60 characters (code points), not 61 UTF-16 units');
  await astral.arrayBuffer();

  await expectError(
    t,
    await api.send('POST', '/reviews', [NEW_REVIEW]),
    422,
    'The request body must be a JSON object.',
  );
  await expectError(t, await api.send('POST', '/reviews', 'null'), 422, 'The request body must be a JSON object.');
  await expectError(
    t,
    await api.send('POST', '/reviews', '{"product_id":2,'),
    400,
    'The request body is not valid JSON.',
  );
  await expectError(
    t,
    await api.send('POST', '/reviews', JSON.stringify(NEW_REVIEW), 'text/plain'),
    415,
    'The request body must be sent with Content-Type: application/json.',
  );
  await expectError(
    t,
    await api.send('POST', '/reviews', JSON.stringify({ ...NEW_REVIEW, body: 'x'.repeat(70_000) })),
    413,
    'The request body is larger than 64 KiB.',
  );
  t.same(
    await api.db.query('SELECT count(*)::int AS n FROM reviews'),
    [{ n: 8 }],
    'only the one valid review was stored',
  );
});

t.test('a review whose characteristic rating fails its insert leaves nothing behind', async (t) => {
  const api = await serveFixture(t);
  const tables =
    'SELECT (SELECT count(*) FROM reviews)::int AS reviews, (SELECT count(*) FROM reviews_photos)::int AS photos, ' +
    '(SELECT count(*) FROM characteristic_reviews)::int AS ratings, ' +
    '(SELECT sum(rating_4) FROM review_stats)::int AS rated_4, (SELECT sum(rating_count) FROM characteristic_stats)::int AS stat_ratings';
  const before = await api.db.query(tables);
  // The route validates values 1–5, so the statement is called directly with one the CHECK
  // rejects, after the review row, its photos and the valid rating have been inserted.
  const pool = directPool(t, api.url);
  await t.rejects(
    createReviews(pool, [
      {
        productId: 2,
        rating: 4,
        summary: '',
        body: 'b',
        recommend: true,
        name: 'n',
        email: 'a@b.co',
        photos: ['https://img.example/x'],
        characteristics: [
          [5, 4],
          [6, 9],
        ],
      },
    ]),
    { code: '23514' },
    'the CHECK on characteristic_reviews.value fails the statement',
  );
  t.same(await api.db.query(tables), before, 'no review, photo, rating or stats change was kept');
  await expectBody(t, await api.get('/reviews/meta?product_id=2'), META_2);
});

t.test('PUT /reviews/:id/helpful: parallel votes are all counted; unknown ids are 404', async (t) => {
  const api = await serveFixture(t);
  t.same(await ids(api, '/reviews?product_id=2&sort=helpful&count=10'), ORDER.helpful, 'cache warmed');
  // One burst, so the worker batches votes for two reviews and an unknown one together.
  const burst = [...Array.from({ length: 20 }, () => 4), ...Array.from({ length: 5 }, () => 6), 999, 999];
  const votes = await Promise.all(burst.map((id) => api.send('PUT', `/reviews/${id}/helpful`)));
  for (const [i, vote] of votes.entries()) {
    if (burst[i] === 999) {
      await expectError(t, vote, 404, 'Nothing exists with this id.', 'an unknown review in the burst');
      continue;
    }
    t.equal(vote.status, 204);
    t.equal(vote.headers.get('content-type'), null, 'a 204 has no Content-Type');
    t.equal(vote.headers.get('content-length'), null, 'nor Content-Length');
    t.equal(await vote.text(), '');
  }
  t.same(await api.db.query('SELECT id, helpfulness FROM reviews WHERE id IN (4, 6) ORDER BY id'), [
    { id: 4, helpfulness: 20 },
    { id: 6, helpfulness: 5 },
  ]);
  t.same(
    await ids(api, '/reviews?product_id=2&sort=helpful&count=10'),
    [4, 3, 6, 5, 7, 9],
    'the cached order moved at once',
  );
  const body = (await (await api.get('/reviews?product_id=2&sort=helpful&count=1')).json()) as {
    results: { helpfulness: number }[];
  };
  t.equal(body.results[0]?.helpfulness, 20);

  for (const path of [
    '/reviews/999/helpful',
    '/reviews/999/report',
    '/reviews/abc/helpful',
    '/reviews/0/report',
    '/reviews/2147483648/helpful',
    '/reviews/05/helpful',
  ]) {
    await expectError(t, await api.send('PUT', path), 404, 'Nothing exists with this id.', path);
  }
});

t.test(
  'PUT /reviews/:id/report hides the review from lists and meta at once; reporting twice is still 204',
  async (t) => {
    const api = await serveFixture(t);
    t.same(await ids(api, '/reviews?product_id=2&count=10'), ORDER.relevant, 'cache warmed');
    await expectBody(t, await api.get('/reviews/meta?product_id=2'), META_2);

    const reports = await Promise.all([api.send('PUT', '/reviews/5/report'), api.send('PUT', '/reviews/5/report')]);
    for (const report of reports) {
      t.equal(report.status, 204);
      t.equal(await report.text(), '');
    }
    const again = await api.send('PUT', '/reviews/5/report');
    t.equal(again.status, 204, 'reporting a reported review is still 204');

    t.same(await ids(api, '/reviews?product_id=2&count=10'), [3, 9, 7, 6, 4]);
    t.same(await ids(api, '/reviews?product_id=2&sort=newest&count=10'), [9, 6, 4, 3, 7]);
    await expectBody(
      t,
      await api.get('/reviews/meta?product_id=2'),
      '{"product_id":"2","ratings":{"1":"1","4":"2","5":"2"},"recommended":{"false":"2","true":"3"},' +
        '"characteristics":{"Quality":{"id":5,"value":"3.0000000000000000"},"Fit":{"id":6,"value":"5.0000000000000000"},' +
        '"Size":{"id":7,"value":null}}}',
      'r5 (rating 3, Quality 4, Fit 3) no longer counts, and only once',
    );

    const stats =
      'SELECT json_agg(s ORDER BY product_id) AS reviews, ' +
      '(SELECT json_agg(c ORDER BY characteristic_id) FROM characteristic_stats c) AS characteristics FROM review_stats s';
    const incremental = await api.db.query(stats);
    await api.db.query('SELECT refresh_review_stats()');
    t.same(await api.db.query(stats), incremental, 'the incremental stats equal a rebuild from scratch');
  },
);
