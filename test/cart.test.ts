/**
 * The cart (atelier-api.md § Cart): the v2 form keyed by Authorization or user_session, the v1
 * form keyed by user_session, over one store that the ingest fills from cart.csv. Every test
 * runs two servers on one database, so "the owner's next read on another worker" is checked by
 * writing through one and reading through the other.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ingest } from '../ingest/ingest.js';
import { loadConfig } from '../lib/config.js';
import { startServer } from '../server/app.js';
import { openSession, type Session } from '../sql/db/admin.js';
import { expectBody, expectError } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';

// Sku 1 and 2 are styles of product 1, sku 3 a style of product 2; product 3 has no sku.
const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'A onesie', 'Jackets', 140),
  (2, 'Bright Future Sunglasses', 'Wear shades', 'Dark lenses', 'Accessories', 69),
  (3, 'Morning Joggers', 'Run', 'Soft', 'Pants', 40);
INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style) VALUES
  (1, 1, 'Forest Green', NULL, 140, true), (2, 2, 'Black Lenses', NULL, 69, true);
INSERT INTO skus (id, style_id, size, quantity) VALUES (1, 1, 'S', 8), (2, 1, 'M', 16), (3, 2, 'One Size', 4);
`;

interface Send {
  readonly authorization?: string;
  /** Sent as JSON; a string is sent as it is. */
  readonly body?: unknown;
}

type Call = (method: string, path: string, send?: Send) => Promise<Response>;

interface Carts {
  readonly url: string;
  readonly db: Session;
  /** Two servers ("workers") over the same database. */
  readonly first: Call;
  readonly second: Call;
}

async function serveCarts(t: Test): Promise<Carts> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-cart');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  const call = async (): Promise<Call> => {
    // No client is left to reconnect when a test ends, so closing needs no linger.
    const server = await startServer(loadConfig({ DATABASE_URL: url, DRAIN_LINGER_MS: '0' }), { port: 0 });
    t.teardown(() => server.close());
    return (method, path, send = {}) => {
      const headers: Record<string, string> = {};
      if (send.authorization !== undefined) headers.authorization = send.authorization;
      if (send.body !== undefined) headers['content-type'] = 'application/json';
      return fetch(`http://127.0.0.1:${server.port}${path}`, {
        method,
        headers,
        ...(send.body === undefined
          ? {}
          : { body: typeof send.body === 'string' ? send.body : JSON.stringify(send.body) }),
      });
    };
  };
  return { url, db, first: await call(), second: await call() };
}

async function expectStored(t: Test, response: Response, message: string): Promise<void> {
  t.equal(response.status, 201, message);
  t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8', message);
  t.equal(await response.text(), '{}', message);
}

async function cartRows(db: Session): Promise<number> {
  const [row] = await db.query<{ rows: number }>('SELECT count(*)::int AS rows FROM cart');
  return row!.rows;
}

const ALICE = 'Bearer alice-token';
const BOB = 'Bearer bob-token';
const ID_RULE = 'a positive integer no larger than 2147483647, as a JSON number or a decimal string';
const NO_OWNER = 'user_session must be a positive integer no larger than 2147483647 when no Authorization is sent.';

t.test('v2: each Authorization value has its own cart, counted per sku in order of first addition', async (t) => {
  const { db, first, second } = await serveCarts(t);
  await expectBody(t, await second('GET', '/cart', { authorization: ALICE }), '[]', 'a new cart is empty');
  for (const sku of [2, 1, 2, 2]) {
    await expectStored(t, await first('POST', '/cart', { authorization: ALICE, body: { sku_id: sku } }), `add ${sku}`);
  }
  await expectBody(
    t,
    await second('GET', '/cart', { authorization: ALICE }),
    '[{"sku_id":2,"count":3},{"sku_id":1,"count":1}]',
  );

  await expectBody(t, await first('GET', '/cart', { authorization: BOB }), '[]', "another token sees none of Alice's");
  await expectBody(t, await first('GET', '/cart', { authorization: ALICE.toUpperCase() }), '[]', 'compared exactly');
  await expectStored(t, await second('POST', '/cart', { authorization: BOB, body: { sku_id: 3 } }), 'Bob adds');
  await expectBody(t, await first('GET', '/cart', { authorization: BOB }), '[{"sku_id":3,"count":1}]');
  await expectBody(
    t,
    await first('GET', '/cart', { authorization: ALICE }),
    '[{"sku_id":2,"count":3},{"sku_id":1,"count":1}]',
    "Bob's add is not in Alice's cart",
  );

  const stored = await db.query<{ owner_hash: Buffer; user_session: number | null; product_id: number }>(
    'SELECT owner_hash, user_session, product_id FROM cart WHERE sku_id = 3',
  );
  t.same(
    stored.map((row) => [row.owner_hash.toString('hex'), row.user_session, row.product_id]),
    [[createHash('sha256').update(BOB).digest('hex'), null, 2]],
    "only the token's sha256 is stored, with the sku's product",
  );

  await db.query('UPDATE cart SET active = false WHERE sku_id = 1');
  await expectBody(
    t,
    await second('GET', '/cart', { authorization: ALICE }),
    '[{"sku_id":2,"count":3}]',
    'active only',
  );
});

t.test('v2 without Authorization: the user_session query parameter names the cart; neither is a 422', async (t) => {
  const { db, first, second } = await serveCarts(t);
  await expectStored(t, await first('POST', '/cart?user_session=77', { body: { sku_id: 3 } }), 'add by session');
  await expectStored(t, await first('POST', '/cart?user_session=77', { body: { sku_id: 3 } }), 'add it again');
  await expectBody(t, await second('GET', '/cart?user_session=77'), '[{"sku_id":3,"count":2}]');
  await expectBody(t, await second('GET', '/cart?user_session=78'), '[]', 'another session');
  await expectBody(
    t,
    await second('GET', '/cart?user_session=77', { authorization: ALICE }),
    '[]',
    'Authorization, when sent, names the cart',
  );

  for (const query of [
    '',
    '?user_session=',
    '?user_session=0',
    '?user_session=05',
    '?user_session=x',
    '?user_session=2147483648',
  ]) {
    await expectError(t, await first('GET', `/cart${query}`), 422, NO_OWNER, `GET /cart${query}`);
    await expectError(
      t,
      await first('POST', `/cart${query}`, { body: { sku_id: 1 } }),
      422,
      NO_OWNER,
      `POST /cart${query}`,
    );
  }
  t.equal(await cartRows(db), 2, 'refused adds stored nothing');
});

t.test('v1: POST {user_session, product_id} and GET /cart/:user_session share the store with v2', async (t) => {
  const { first, second } = await serveCarts(t);
  await expectBody(t, await first('GET', '/cart/77'), '[]', 'an unknown session is empty');
  await expectStored(t, await first('POST', '/cart', { body: { user_session: 77, product_id: 3 } }), 'v1 add');
  await expectStored(t, await first('POST', '/cart?user_session=77', { body: { sku_id: 1 } }), 'v2 add by session');
  await expectStored(
    t,
    await first('POST', '/cart', { authorization: ALICE, body: { user_session: 77, product_id: 2 } }),
    'a v1 body names its cart itself, whatever the Authorization',
  );
  await expectBody(
    t,
    await second('GET', '/cart/77', { authorization: ALICE }),
    '[{"id":1,"user_session":77,"product_id":3,"active":true},{"id":2,"user_session":77,"product_id":1,"active":true},' +
      '{"id":3,"user_session":77,"product_id":2,"active":true}]',
    "in id order; the v2 add shows as its sku's product",
  );
  await expectBody(t, await second('GET', '/cart?user_session=77'), '[{"sku_id":1,"count":1}]', 'v2 lists only skus');
  await expectBody(t, await second('GET', '/cart', { authorization: ALICE }), '[]', "the v1 add is not Alice's");
  await expectError(t, await second('GET', '/cart/0'), 404, 'Nothing exists with this id.');
  await expectError(t, await second('GET', '/cart/abc'), 404, 'Nothing exists with this id.');
  await expectError(t, await second('PUT', '/cart/77'), 405, 'This path only accepts GET, HEAD, OPTIONS.');
});

t.test('unknown skus and products, both forms in one body, or no item: 422 and nothing stored', async (t) => {
  const { db, first } = await serveCarts(t);
  const refused: [Send, string][] = [
    [{ authorization: ALICE, body: { sku_id: 99 } }, 'sku_id must be the id of an existing sku.'],
    [{ body: { user_session: 5, product_id: 99 } }, 'product_id must be the id of an existing product.'],
    [{ authorization: ALICE, body: { sku_id: 1, product_id: 1 } }, 'A cart body names sku_id or product_id, not both.'],
    [{ body: { sku_id: 1, user_session: 5, product_id: 1 } }, 'A cart body names sku_id or product_id, not both.'],
    [{ authorization: ALICE, body: {} }, 'A cart body must name sku_id, or user_session and product_id.'],
    [{ body: { user_session: 5 } }, 'A cart body must name sku_id, or user_session and product_id.'],
    [{ body: { product_id: 1 } }, `user_session must be ${ID_RULE}.`],
    [{ authorization: ALICE, body: [] }, 'The request body must be a JSON object.'],
  ];
  for (const [send, error] of refused) {
    await expectError(t, await first('POST', '/cart', send), 422, error, JSON.stringify(send.body));
  }
  t.equal(await cartRows(db), 0);
});

t.test('integer fields take a JSON integer or its canonical decimal string, nothing else', async (t) => {
  const { db, first } = await serveCarts(t);
  await expectStored(t, await first('POST', '/cart', { authorization: ALICE, body: { sku_id: '1' } }), '"1"');
  await expectStored(t, await first('POST', '/cart', { authorization: ALICE, body: '{"sku_id":2.0}' }), '2.0 is 2');
  await expectStored(t, await first('POST', '/cart', { body: { user_session: '77', product_id: '3' } }), 'v1 strings');
  await expectBody(
    t,
    await first('GET', '/cart', { authorization: ALICE }),
    '[{"sku_id":1,"count":1},{"sku_id":2,"count":1}]',
  );
  await expectBody(t, await first('GET', '/cart/77'), '[{"id":3,"user_session":77,"product_id":3,"active":true}]');

  const notIds: unknown[] = [
    '1.0',
    '01',
    ' 1',
    '1 ',
    '+1',
    '0',
    '-1',
    '',
    '1e0',
    '0x1',
    '2147483648',
    0,
    -1,
    1.5,
    2147483648,
  ];
  const notIdsAtAll: unknown[] = [true, null, [1], { id: 1 }];
  for (const value of [...notIds, ...notIdsAtAll]) {
    const label = JSON.stringify(value);
    await expectError(
      t,
      await first('POST', '/cart', { authorization: ALICE, body: { sku_id: value } }),
      422,
      `sku_id must be ${ID_RULE}.`,
      `sku_id ${label}`,
    );
    await expectError(
      t,
      await first('POST', '/cart', { body: { user_session: value, product_id: 1 } }),
      422,
      `user_session must be ${ID_RULE}.`,
      `user_session ${label}`,
    );
    await expectError(
      t,
      await first('POST', '/cart', { body: { user_session: 1, product_id: value } }),
      422,
      `product_id must be ${ID_RULE}.`,
      `product_id ${label}`,
    );
  }
  t.equal(await cartRows(db), 3, 'only the accepted adds were stored');
});

t.test('rows loaded from cart.csv are served by GET /cart/:user_session, and adds follow them', async (t) => {
  const { url, first, second } = await serveCarts(t);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-cart-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    path.join(dir, 'cart.csv'),
    `${['id,user_session,product_id,active', '10,1234,1,1', '11,1234,2,0', '12,55,1,1', '14,1234,3,1'].join('\n')}\n`,
  );
  const report = await ingest({ databaseUrl: url, dir, rejectsPath: path.join(dir, 'rejects.csv'), progress: false });
  t.same(
    report.files.map((file) => [file.file, file.loaded, file.rejected]),
    [['cart.csv', 4, 0]],
  );

  await expectBody(
    t,
    await first('GET', '/cart/1234'),
    '[{"id":10,"user_session":1234,"product_id":1,"active":true},{"id":11,"user_session":1234,"product_id":2,"active":false},' +
      '{"id":14,"user_session":1234,"product_id":3,"active":true}]',
  );
  await expectBody(t, await first('GET', '/cart/55'), '[{"id":12,"user_session":55,"product_id":1,"active":true}]');
  await expectBody(t, await first('GET', '/cart/56'), '[]');
  await expectBody(t, await first('GET', '/cart?user_session=1234'), '[]', 'loaded rows name no sku');

  await expectStored(t, await first('POST', '/cart', { body: { user_session: 55, product_id: 2 } }), 'add after load');
  await expectBody(
    t,
    await second('GET', '/cart/55'),
    '[{"id":12,"user_session":55,"product_id":1,"active":true},{"id":15,"user_session":55,"product_id":2,"active":true}]',
    'the new id follows the loaded ones',
  );
});

t.test("each add is in the owner's very next read on the other worker", async (t) => {
  const { first, second } = await serveCarts(t);
  const workers = [first, second];
  for (let added = 1; added <= 20; added += 1) {
    const [writer, reader] = added % 2 === 0 ? workers : [second, first];
    await expectStored(
      t,
      await writer!('POST', '/cart', { authorization: ALICE, body: { sku_id: 1 } }),
      `add ${added}`,
    );
    await expectBody(t, await reader!('GET', '/cart', { authorization: ALICE }), `[{"sku_id":1,"count":${added}}]`);
    await expectStored(t, await writer!('POST', '/cart', { body: { user_session: 9, product_id: 1 } }), `v1 ${added}`);
    const rows = (await (await reader!('GET', '/cart/9')).json()) as unknown[];
    t.equal(rows.length, added, `v1 read ${added}`);
  }
});
