import t, { type Test } from 'tap';
import { openSession } from '../sql/db/admin.js';
import { serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';

/**
 * Rows inserted out of id order on purpose: every list in a body must come out in id order.
 * Product 1 has a style with photos and skus (sku ids 9 and 10, so numeric and text order
 * differ), one without photos and one without skus; product 2 has a null feature value, a
 * decimal price and a style with neither photos nor skus; product 3 has no styles, features or
 * related products. Related rows repeat product 3 for product 1.
 */
const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in to your crowd', 'The So Fatigues will wake you up and fit you in.', 'Jackets', 140),
  (3, 'Morning Joggers', 'Make yourself a morning person', 'Everyone looks good in joggers.', 'Pants', 40),
  (2, 'Bright Future Sunglasses', 'You''ve got to wear shades', 'Say "hi" to naïve\nlenses', 'Accessories', 99.99),
  (8, 'Slacker''s Slacks', 'Comfortable for everything, or nothing', 'Nap first.', 'Pants', 65);
INSERT INTO features (id, product_id, feature, value) VALUES
  (5, 1, 'Buttons', 'Brass'), (2, 1, 'Fabric', 'Canvas'), (3, 2, 'UV Protection', NULL), (4, 2, 'Lenses', 'Ultrasheen');
INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style) VALUES
  (3, 1, 'Ocean Blue & Grey', NULL, 140, false),
  (1, 1, 'Forest Green & Black', NULL, 140, true),
  (2, 1, 'Desert Brown & Tan', 99.99, 140, false),
  (4, 2, 'Black Lenses & Black Frame', 50, 69, true);
INSERT INTO photos (id, style_id, url, thumbnail_url) VALUES
  (2, 1, 'https://img.example/2?w=668', 'https://img.example/2?w=300'),
  (1, 1, 'https://img.example/1?w=668', 'https://img.example/1?w=300'),
  (3, 3, 'https://img.example/3?w=668', NULL);
INSERT INTO skus (id, style_id, size, quantity) VALUES
  (10, 1, 'S', 16), (9, 1, 'XS', 8), (11, 2, 'One Size', 0);
INSERT INTO related (id, current_product_id, related_product_id) VALUES
  (4, 1, 8), (1, 1, 3), (2, 1, 2), (3, 1, 3), (5, 2, 1);
`;

const PRODUCT_1 =
  '{"id":1,"name":"Camo Onesie","slogan":"Blend in to your crowd",' +
  '"description":"The So Fatigues will wake you up and fit you in.","category":"Jackets","default_price":"140"';
const PRODUCT_2 =
  '{"id":2,"name":"Bright Future Sunglasses","slogan":"You\'ve got to wear shades",' +
  '"description":"Say \\"hi\\" to naïve\\nlenses","category":"Accessories","default_price":"99.99"';
const PRODUCT_3 =
  '{"id":3,"name":"Morning Joggers","slogan":"Make yourself a morning person",' +
  '"description":"Everyone looks good in joggers.","category":"Pants","default_price":"40"';
const PRODUCT_8 =
  '{"id":8,"name":"Slacker\'s Slacks","slogan":"Comfortable for everything, or nothing",' +
  '"description":"Nap first.","category":"Pants","default_price":"65"';

async function serveFixture(t: Test, fixture: string): Promise<(path: string) => Promise<Response>> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-fixture');
  try {
    await db.query(fixture);
  } finally {
    await db.end();
  }
  const server = await serve(t, url);
  return (path) => fetch(`http://127.0.0.1:${server.port}${path}`);
}

async function expectBody(t: Test, response: Response, body: string, message = response.url): Promise<void> {
  t.equal(response.status, 200, message);
  t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
  t.equal(await response.text(), body, message);
}

t.test('Products routes answer the contract bodies byte for byte', async (t) => {
  const get = await serveFixture(t, FIXTURE);

  await t.test('GET /products lists products by id without features', async (t) => {
    await expectBody(t, await get('/products'), `[${PRODUCT_1}},${PRODUCT_2}},${PRODUCT_3}},${PRODUCT_8}}]`);
  });

  await t.test('GET /products/:id adds features in id order, null values kept', async (t) => {
    await expectBody(
      t,
      await get('/products/1'),
      `${PRODUCT_1},"features":[{"feature":"Fabric","value":"Canvas"},{"feature":"Buttons","value":"Brass"}]}`,
    );
    await expectBody(
      t,
      await get('/products/2'),
      `${PRODUCT_2},"features":[{"feature":"UV Protection","value":null},{"feature":"Lenses","value":"Ultrasheen"}]}`,
    );
    await expectBody(t, await get('/products/3'), `${PRODUCT_3},"features":[]}`);
  });

  await t.test(
    'GET /products/:id/styles: styles, photos and skus in id order, with the legacy placeholders',
    async (t) => {
      await expectBody(
        t,
        await get('/products/1/styles'),
        '{"product_id":"1","results":[' +
          '{"style_id":1,"name":"Forest Green & Black","original_price":"140","sale_price":null,"default?":true,' +
          '"photos":[{"thumbnail_url":"https://img.example/1?w=300","url":"https://img.example/1?w=668"},' +
          '{"thumbnail_url":"https://img.example/2?w=300","url":"https://img.example/2?w=668"}],' +
          '"skus":{"9":{"quantity":8,"size":"XS"},"10":{"quantity":16,"size":"S"}}},' +
          '{"style_id":2,"name":"Desert Brown & Tan","original_price":"140","sale_price":"99.99","default?":false,' +
          '"photos":[{"thumbnail_url":null,"url":null}],' +
          '"skus":{"11":{"quantity":0,"size":"One Size"}}},' +
          '{"style_id":3,"name":"Ocean Blue & Grey","original_price":"140","sale_price":null,"default?":false,' +
          '"photos":[{"thumbnail_url":null,"url":"https://img.example/3?w=668"}],' +
          '"skus":{"null":{"quantity":null,"size":null}}}]}',
      );
      await expectBody(
        t,
        await get('/products/2/styles'),
        '{"product_id":"2","results":[' +
          '{"style_id":4,"name":"Black Lenses & Black Frame","original_price":"69","sale_price":"50","default?":true,' +
          '"photos":[{"thumbnail_url":null,"url":null}],"skus":{"null":{"quantity":null,"size":null}}}]}',
      );
      await expectBody(
        t,
        await get('/products/3/styles'),
        '{"product_id":"3","results":[]}',
        'a product without styles',
      );
    },
  );

  await t.test('GET /products/:id/related: ids in related id order, first occurrence kept', async (t) => {
    await expectBody(t, await get('/products/1/related'), '[3,2,8]');
    await expectBody(t, await get('/products/2/related'), '[1]');
    await expectBody(t, await get('/products/3/related'), '[]');
  });

  await t.test('an unknown product is a 404 on every per-product route', async (t) => {
    for (const path of ['/products/4', '/products/4/styles', '/products/4/related']) {
      const response = await get(path);
      t.equal(response.status, 404, path);
      t.equal(await response.text(), '{"error":"Nothing exists with this id."}');
    }
  });
});

t.test('GET /products pages by id, clamps count to 1000 and answers [] past the end', async (t) => {
  const get = await serveFixture(
    t,
    `
    INSERT INTO products (id, name, slogan, description, category, default_price)
    SELECT g, 'Product ' || g, 'Slogan', 'Description', 'Category', g FROM generate_series(1, 1005) g`,
  );
  const ids = async (path: string): Promise<number[]> => {
    const response = await get(path);
    t.equal(response.status, 200, path);
    return ((await response.json()) as { id: number }[]).map((product) => product.id);
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  t.same(await ids('/products'), range(1, 5), 'page 1, count 5 by default');
  t.same(await ids('/products?page=2&count=2'), [3, 4]);
  t.same(await ids('/products?count=5000'), range(1, 1000), 'count above 1000 is 1000');
  t.same(await ids('/products?page=2&count=5000'), range(1001, 1005), 'the offset uses the clamped count too');
  t.same(await ids('/products?page=2&count=99999999999999999999'), range(1001, 1005));
  const pastTheEnd = await get('/products?page=3&count=1000');
  t.equal(pastTheEnd.status, 200);
  t.equal(await pastTheEnd.text(), '[]');
});
