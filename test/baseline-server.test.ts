import t from 'tap';
import { freePort } from '../lib/net.js';
import { startBaseline } from '../perf/bench-processes.js';
import { serve } from './helpers/api.js';
import { CATALOGUE } from './fixtures/catalogue.js';
import { freshDatabase } from './helpers/database.js';
import { runSql } from './helpers/own-database.js';

/** The catalogue, plus what tells the bodies apart: a quote and a non-ASCII letter, a reported review, a second answer. */
const FIXTURE = `${CATALOGUE}
UPDATE products SET description = 'Say "hi" to naïve\nlenses', default_price = 69.99 WHERE id = 2;
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reported, reviewer_name, reviewer_email, response, helpfulness) VALUES
  (3, 2, 1, '2022-01-01T09:00:00.000Z', 'Spam', 'Buy my sunglasses.', false, true, 'spammer', 'x@example.com', NULL, 0);
SELECT refresh_review_stats();
INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email, reported, helpful) VALUES
  (2, 1, 'True to size.', '2021-01-03T10:00:00.000Z', 'other', 'o@example.com', false, 7);
`;

/** Every read route, with and without paging, sorts, and products with nothing to list. */
const REQUESTS = [
  '/products',
  '/products?page=2&count=2',
  '/products/1',
  '/products/2',
  '/products/1/styles',
  '/products/3/styles',
  '/products/1/related',
  '/products/3/related',
  '/reviews?product_id=2',
  '/reviews?product_id=2&count=200&sort=relevant',
  '/reviews?product_id=2&sort=newest&page=2&count=1',
  '/reviews?product_id=2&sort=helpful',
  '/reviews?product_id=1',
  '/reviews/meta?product_id=2',
  '/reviews/meta?product_id=3',
  '/qa/questions?product_id=1',
  '/qa/questions?product_id=1&count=100',
  '/qa/questions?product_id=3',
  '/qa/questions/1/answers',
  '/qa/questions/1/answers?page=2&count=1',
  '/qa/questions/2/answers',
];

t.test('the Express baseline answers every read route with the bytes our server answers uncached', async (t) => {
  const url = await freshDatabase(t);
  await runSql(url, FIXTURE);
  const ours = await serve(t, url, { CACHE_MAX_BYTES: '0' });
  const port = await freePort();
  const baseline = await startBaseline(port, 1, url);
  t.teardown(() => baseline.stop());

  for (const path of REQUESTS) {
    const [expected, answered] = await Promise.all([
      fetch(`http://127.0.0.1:${ours.port}${path}`),
      fetch(`http://127.0.0.1:${port}${path}`),
    ]);
    t.equal(expected.status, 200, `ours: ${path}`);
    t.equal(answered.status, 200, `baseline: ${path}`);
    t.equal(answered.headers.get('content-type'), 'application/json; charset=utf-8', `baseline: ${path}`);
    t.equal(await answered.text(), await expected.text(), `same body: ${path}`);
  }
});
