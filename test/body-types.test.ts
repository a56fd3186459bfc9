/**
 * Legacy input types: an integer body field also takes its canonical decimal string and a boolean
 * field "true"/"false" (form values arrive as strings); every other spelling is still the field's
 * 422. The cart's fields are covered in test/cart.test.ts.
 */
import t, { type Test } from 'tap';
import { expectError, serveFixture, type Api } from './helpers/api.js';

const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'Fatigues', 'Jackets', 140),
  (2, 'Sunglasses', 'Shades', 'Lenses', 'Accessories', 69);
INSERT INTO characteristics (id, product_id, name) VALUES (5, 2, 'Quality');
`;

const REVIEW = {
  product_id: 2,
  rating: 4,
  body: 'Sharp and light.',
  recommend: true,
  name: 'jackson11',
  email: 'first.last@gmail.com',
  characteristics: { 5: 3 },
};
const QUESTION = { body: 'Is it warm?', name: 'jackson11', email: 'first.last@gmail.com', product_id: 1 };

const ID_RULE = 'a positive integer no larger than 2147483647';
// Spellings a form or a careless client might send that are not canonical decimals.
const NOT_CANONICAL = ['5.0', '05', ' 5', '5 ', '+5', '', '5e0', '0x5', 'five', '-5', '0'];

async function created(t: Test, api: Api, path: string, body: unknown): Promise<number> {
  const response = await api.send('POST', path, body);
  t.equal(response.status, 201, JSON.stringify(body));
  const created = (await response.json()) as Record<string, number>;
  return Object.values(created)[0]!;
}

t.test('POST /reviews takes product_id, rating and characteristic ratings as canonical strings', async (t) => {
  const api = await serveFixture(t, FIXTURE);
  const reviewId = await created(t, api, '/reviews', {
    ...REVIEW,
    product_id: '2',
    rating: '5',
    characteristics: { 5: '1' },
  });
  t.same(await api.db.query('SELECT product_id, rating, recommend FROM reviews WHERE id = $1', [reviewId]), [
    { product_id: 2, rating: 5, recommend: true },
  ]);
  t.same(
    await api.db.query('SELECT characteristic_id, value FROM characteristic_reviews WHERE review_id = $1', [reviewId]),
    [{ characteristic_id: 5, value: 1 }],
  );

  for (const value of [...NOT_CANONICAL, '2147483648', '99999999999999999999', true, null, ['2'], { id: 2 }]) {
    await expectError(
      t,
      await api.send('POST', '/reviews', { ...REVIEW, product_id: value }),
      422,
      `product_id must be ${ID_RULE}.`,
      `product_id ${JSON.stringify(value)}`,
    );
  }
  for (const value of [...NOT_CANONICAL, '6', '10', true, null, ['5']]) {
    await expectError(
      t,
      await api.send('POST', '/reviews', { ...REVIEW, rating: value }),
      422,
      'rating must be an integer from 1 to 5.',
      `rating ${JSON.stringify(value)}`,
    );
  }
  for (const value of [...NOT_CANONICAL, '6', true, null]) {
    await expectError(
      t,
      await api.send('POST', '/reviews', { ...REVIEW, characteristics: { 5: value } }),
      422,
      "characteristics must be an object mapping this product's characteristic ids to integers from 1 to 5.",
      `characteristic rating ${JSON.stringify(value)}`,
    );
  }
  t.same(await api.db.query('SELECT count(*)::int AS n FROM reviews'), [{ n: 1 }], 'no refused review was stored');
});

t.test('POST /reviews takes recommend as "true" or "false", no other spelling', async (t) => {
  const api = await serveFixture(t, FIXTURE);
  for (const [value, stored] of [
    ['true', true],
    ['false', false],
    [true, true],
    [false, false],
  ] as const) {
    const reviewId = await created(t, api, '/reviews', { ...REVIEW, recommend: value });
    t.same(await api.db.query('SELECT recommend FROM reviews WHERE id = $1', [reviewId]), [{ recommend: stored }]);
  }
  for (const value of ['True', 'TRUE', 'FALSE', ' true', 'true ', 't', 'yes', '1', '0', '', 1, 0, null, ['true']]) {
    await expectError(
      t,
      await api.send('POST', '/reviews', { ...REVIEW, recommend: value }),
      422,
      'recommend must be true or false.',
      `recommend ${JSON.stringify(value)}`,
    );
  }
});

t.test('POST /qa/questions takes product_id as a canonical string', async (t) => {
  const api = await serveFixture(t, FIXTURE);
  const questionId = await created(t, api, '/qa/questions', { ...QUESTION, product_id: '1' });
  t.same(await api.db.query('SELECT product_id FROM questions WHERE id = $1', [questionId]), [{ product_id: 1 }]);
  for (const value of [...NOT_CANONICAL, '2147483648', true, null, ['1']]) {
    await expectError(
      t,
      await api.send('POST', '/qa/questions', { ...QUESTION, product_id: value }),
      422,
      `product_id must be ${ID_RULE}.`,
      `product_id ${JSON.stringify(value)}`,
    );
  }
  await expectError(
    t,
    await api.send('POST', '/qa/questions', { ...QUESTION, product_id: '99' }),
    422,
    'product_id must be the id of an existing product.',
    'a well-formed string still names an existing product',
  );
  t.same(await api.db.query('SELECT count(*)::int AS n FROM questions'), [{ n: 1 }]);
});
