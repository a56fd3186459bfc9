import t from 'tap';
import { freePort } from '../lib/net.js';
import { startBaseline } from '../perf/bench-processes.js';
import { openSession } from '../sql/db/admin.js';
import { serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';

/** Two products with styles, related products, reviews (one reported), questions and answers. */
const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in to your crowd', 'The So Fatigues will wake you up and fit you in.', 'Jackets', 140),
  (2, 'Bright Future Sunglasses', 'You''ve got to wear shades', 'Say "hi" to naïve\nlenses', 'Accessories', 69.99),
  (3, 'Morning Joggers', 'Make yourself a morning person', 'Whether you''re a morning person or not.', 'Pants', 40);
INSERT INTO features (id, product_id, feature, value) VALUES
  (1, 1, 'Fabric', 'Canvas'), (2, 1, 'Buttons', 'Brass'), (3, 2, 'UV Protection', NULL);
INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style) VALUES
  (1, 1, 'Forest Green & Black', NULL, 140, true), (2, 1, 'Desert Brown & Tan', 100, 140, false);
INSERT INTO photos (id, style_id, url, thumbnail_url) VALUES
  (1, 1, 'https://images.example/1?w=668', 'https://images.example/1?w=300');
INSERT INTO skus (id, style_id, size, quantity) VALUES (1, 1, 'XS', 8), (2, 1, 'S', 16);
INSERT INTO related (id, current_product_id, related_product_id) VALUES (1, 1, 2), (2, 1, 3);
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reported, reviewer_name, reviewer_email, response, helpfulness) VALUES
  (1, 2, 5, '2021-03-17T13:28:37.620Z', 'I''m enjoying wearing these shades', 'Comfortable and practical.', true, false, 'shortandsweeet', 's@example.com', NULL, 5),
  (2, 2, 3, '2020-11-01T09:00:00.000Z', 'Fine', 'They do the job.', false, false, 'fourth', 'f@example.com', 'Thank you!', 1),
  (3, 2, 1, '2022-01-01T09:00:00.000Z', 'Spam', 'Buy my sunglasses.', false, true, 'spammer', 'x@example.com', NULL, 0);
INSERT INTO reviews_photos (id, review_id, url) VALUES (1, 1, 'https://images.example/r1');
INSERT INTO characteristics (id, product_id, name) VALUES (1, 2, 'Quality'), (2, 2, 'Fit');
INSERT INTO characteristic_reviews (id, characteristic_id, review_id, value) VALUES (1, 1, 1, 4), (2, 1, 2, 3);
SELECT refresh_review_stats();
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, reported, helpful) VALUES
  (1, 1, 'Does this product run big or small?', '2020-12-21T07:31:47.083Z', 'jbilas', 'j@example.com', false, 8),
  (2, 1, 'Can I wash it?', '2020-12-25T00:14:44.662Z', 'cleopatra', 'c@example.com', false, 2);
INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email, reported, helpful) VALUES
  (1, 1, 'Runs small.', '2021-01-02T10:00:00.000Z', 'sillyguy', 's@example.com', false, 2),
  (2, 1, 'True to size.', '2021-01-03T10:00:00.000Z', 'other', 'o@example.com', false, 7);
INSERT INTO answers_photos (id, answer_id, url) VALUES (1, 1, 'https://images.example/a1');
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
  const db = await openSession(url, 'test-fixture');
  try {
    await db.query(FIXTURE);
  } finally {
    await db.end();
  }
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
