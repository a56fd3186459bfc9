/**
 * The HTTP conventions every route follows (docs/api.md § Conventions), checked on the wire over
 * raw sockets: HEAD wherever GET is served, one trailing slash accepted, 405/404 for methods and
 * paths nothing serves, and conditional GETs (ETag, If-None-Match → 304).
 */
import t, { type Test } from 'tap';
import type { RunningServer } from '../server/app.js';
import { openSession } from '../sql/db/admin.js';
import { serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { rawConnection, type RawConnection, type RawResponse } from './helpers/raw-http.js';

const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'Fatigues', 'Jackets', 140), (2, 'Shades', 'Wear shades', 'Dark', 'Accessories', 69);
INSERT INTO features (id, product_id, feature, value) VALUES (1, 1, 'Fabric', 'Canvas');
INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style) VALUES (1, 1, 'Forest', NULL, 140, true);
INSERT INTO skus (id, style_id, size, quantity) VALUES (1, 1, 'S', 16);
INSERT INTO related (id, current_product_id, related_product_id) VALUES (1, 1, 2);
INSERT INTO characteristics (id, product_id, name) VALUES (1, 1, 'Fit');
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reported, reviewer_name, reviewer_email, response, helpfulness) VALUES
  (1, 1, 5, '2021-01-01T00:00:00.000Z', 'Great', 'Fits well.', true, false, 'ann', 'ann@example.com', NULL, 0);
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, reported, helpful) VALUES
  (1, 1, 'Can I wash it?', '2020-12-25T00:14:44.662Z', 'bob', 'bob@example.com', false, 0);
INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email, reported, helpful) VALUES
  (1, 1, 'Yes', '2021-01-05T10:00:00.000Z', 'cat', 'cat@example.com', false, 0);
SELECT setval(pg_get_serial_sequence('reviews', 'id'), 1);
SELECT setval(pg_get_serial_sequence('questions', 'id'), 1);
SELECT setval(pg_get_serial_sequence('answers', 'id'), 1);
`;

/** Every GET route, once each. */
const GET_ROUTES = [
  '/health',
  '/ready',
  '/metrics',
  '/products',
  '/products/1',
  '/products/1/styles',
  '/products/1/related',
  '/reviews?product_id=1',
  '/reviews/meta?product_id=1',
  '/qa/questions?product_id=1',
  '/qa/questions/1/answers',
  '/cart?user_session=1',
  '/cart/1',
];

/** Every write route, with a body it accepts. */
const WRITE_ROUTES: readonly (readonly [method: string, path: string, body?: object])[] = [
  [
    'POST',
    '/reviews',
    { product_id: 1, rating: 4, body: 'Sharp.', recommend: true, name: 'dee', email: 'dee@example.com' },
  ],
  ['PUT', '/reviews/1/helpful'],
  ['PUT', '/reviews/1/report'],
  ['POST', '/qa/questions', { product_id: 1, body: 'Warm?', name: 'eve', email: 'eve@example.com' }],
  ['POST', '/qa/questions/1/answers', { body: 'Very.', name: 'fay', email: 'fay@example.com' }],
  ['PUT', '/qa/questions/1/helpful'],
  ['PUT', '/qa/questions/1/report'],
  ['PUT', '/qa/answers/1/helpful'],
  ['PUT', '/qa/answers/1/report'],
  ['POST', '/interactions', { element: 'button', widget: 'overview', time: '2021-01-01' }],
  ['POST', '/cart', { user_session: 7, product_id: 1 }],
];

/** `/a/b?q` → `/a/b/?q`. */
function withSlash(path: string): string {
  const question = path.indexOf('?');
  return question === -1 ? `${path}/` : `${path.slice(0, question)}/${path.slice(question)}`;
}

/** A fresh database holding FIXTURE and one in-process server over it, both gone at teardown. */
async function serveConventions(t: Test, env: Record<string, string> = {}): Promise<RunningServer> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-fixture');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  return serve(t, url, env);
}

/** Headers that legitimately differ between two answers of the same request. */
function comparable(response: RawResponse, ...ignored: string[]): Record<string, string> {
  const headers = { ...response.headers };
  for (const name of ['date', ...ignored]) delete headers[name];
  return headers;
}

/** The connection still frames requests: a GET /health on it is answered, and nothing else was sent. */
async function stillUsable(t: Test, connection: RawConnection, after: string): Promise<void> {
  connection.send('GET', '/health');
  const health = await connection.response(false, `GET /health after ${after}`);
  t.equal(health.status, 200, `the connection is still usable after ${after}`);
  t.equal(health.body.toString(), '{"status":"up"}', `${after}: the next answer is framed right`);
  t.equal(connection.pending, 0, `${after}: no stray bytes`);
}

t.test('HEAD on every GET route: the GET status and headers, Content-Length of the GET body, no body', async (t) => {
  const { port } = await serveConventions(t);
  const connection = await rawConnection(t, port);
  for (const path of GET_ROUTES) {
    connection.send('GET', path);
    const get = await connection.response(false, `GET ${path}`);
    connection.send('HEAD', path);
    const head = await connection.response(true, `HEAD ${path}`);
    t.equal(head.status, get.status, `HEAD ${path}: status`);
    t.equal(head.status, 200, `HEAD ${path}: 200`);
    // The metrics text grows with every request, so its length moves between the two.
    const varying = path === '/metrics' ? ['content-length'] : [];
    t.same(comparable(head, ...varying), comparable(get, ...varying), `HEAD ${path}: the GET's headers`);
    if (path !== '/metrics') t.equal(head.headers['content-length'], String(get.body.length), `HEAD ${path}: length`);
    t.equal(head.headerCounts['content-length'], 1, `HEAD ${path}: one Content-Length`);
    t.equal(head.body.length, 0, `HEAD ${path}: no body`);
    await stillUsable(t, connection, `HEAD ${path}`);
  }
});

t.test('HEAD of an error is the error without its body', async (t) => {
  const { port } = await serveConventions(t);
  const connection = await rawConnection(t, port);
  for (const [path, status] of [
    ['/products/99', 404],
    ['/reviews', 422],
    ['/nope', 404],
    ['/interactions', 405],
  ] as const) {
    connection.send('GET', path);
    const get = await connection.response(false, `GET ${path}`);
    connection.send('HEAD', path);
    const head = await connection.response(true, `HEAD ${path}`);
    t.equal(head.status, status, `HEAD ${path}`);
    t.same(comparable(head), comparable(get), `HEAD ${path}: the GET's headers`);
    t.equal(head.headers['content-length'], String(get.body.length));
    await stillUsable(t, connection, `HEAD ${path}`);
  }
});

t.test('one trailing slash: every route answers as without it, and both forms share a cache entry', async (t) => {
  const server = await serveConventions(t);
  const { port } = server;
  const connection = await rawConnection(t, port);
  for (const path of GET_ROUTES.filter((path) => path !== '/metrics')) {
    connection.send('GET', path);
    const plain = await connection.response(false, `GET ${path}`);
    connection.send('GET', withSlash(path));
    const slashed = await connection.response(false, `GET ${withSlash(path)}`);
    t.equal(slashed.status, plain.status, `GET ${withSlash(path)}: status`);
    t.equal(slashed.body.toString(), plain.body.toString(), `GET ${withSlash(path)}: body`);
    t.same(comparable(slashed), comparable(plain), `GET ${withSlash(path)}: headers`);
  }
  connection.send('GET', '/metrics/');
  t.equal((await connection.response(false, 'GET /metrics/')).status, 200, 'GET /metrics/');

  for (const [method, path, body] of WRITE_ROUTES) {
    for (const form of [path, withSlash(path)]) {
      const json = body === undefined ? undefined : JSON.stringify(body);
      connection.send(method, form, json === undefined ? {} : { 'Content-Type': 'application/json' }, json);
      const answer = await connection.response(false, `${method} ${form}`);
      t.equal(answer.status, method === 'POST' ? 201 : 204, `${method} ${form}`);
    }
  }
  for (const path of ['/products/1//', '//products/1', '/products/1/styles//']) {
    connection.send('GET', path);
    t.equal((await connection.response(false, `GET ${path}`)).status, 404, `${path}: one slash only`);
  }

  const before = server.cacheStats();
  connection.send('GET', '/products/2/related');
  await connection.response(false, 'GET /products/2/related');
  connection.send('GET', '/products/2/related/');
  await connection.response(false, 'GET /products/2/related/');
  const after = server.cacheStats();
  t.equal(after.entries - before.entries, 1, 'one cache entry for both forms');
  t.equal(after.hits - before.hits, 1, 'the slashed form is a hit on the plain one');
});

t.test('methods nothing serves: 405 with Allow on a known path, 404 elsewhere, always a reply', async (t) => {
  const { port } = await serveConventions(t);
  const connection = await rawConnection(t, port);
  for (const [method, path, status, allow] of [
    ['DELETE', '/products/1', 405, 'GET, HEAD, OPTIONS'],
    ['PATCH', '/reviews', 405, 'GET, HEAD, POST, OPTIONS'],
    ['TRACE', '/reviews/1/helpful', 405, 'PUT, OPTIONS'],
    ['HEAD', '/reviews/1/helpful', 405, 'PUT, OPTIONS'],
    ['GET', '/interactions/', 405, 'POST, OPTIONS'],
    ['DELETE', '/nope', 404, undefined],
    ['OPTIONS', '/nope', 404, undefined],
    ['HEAD', '/nope', 404, undefined],
    ['PUT', '/products/1/nope', 404, undefined],
  ] as const) {
    connection.send(method, path);
    const answer = await connection.response(method === 'HEAD', `${method} ${path}`);
    t.equal(answer.status, status, `${method} ${path}`);
    t.equal(answer.headers.allow, allow, `${method} ${path}: Allow`);
    if (method !== 'HEAD')
      t.match(JSON.parse(answer.body.toString()), { error: String }, `${method} ${path}: error body`);
  }
  await stillUsable(t, connection, 'the refused methods');

  // uWS closes these itself, before any handler runs (docs/api.md § Methods).
  for (const method of ['PROPFIND', 'get']) {
    const refused = await rawConnection(t, port);
    refused.send(method, '/products/1');
    await refused.closedByServer(`${method} /products/1`);
    t.equal(refused.pending, 0, `${method}: closed by uWS without a reply`);
  }
});

t.test('conditional GET: a strong ETag on every cacheable 200, If-None-Match answers 304', async (t) => {
  const { port } = await serveConventions(t);
  const connection = await rawConnection(t, port);
  const exchange = async (method: string, path: string, headers: Record<string, string> = {}) => {
    connection.send(method, path, headers);
    return connection.response(method === 'HEAD', `${method} ${path} ${JSON.stringify(headers)}`);
  };
  for (const path of GET_ROUTES.slice(3, 11)) {
    const first = await exchange('GET', path);
    const etag = first.headers.etag ?? '';
    t.match(etag, /^"[A-Za-z0-9_-]{22}"$/, `${path}: a strong ETag`);
    t.equal(first.headers['cache-control'], 'no-cache', `${path}: revalidated before every reuse`);
    t.equal((await exchange('GET', path)).headers.etag, etag, `${path}: the same bytes, the same ETag`);
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, `"a",W/${etag} , "b"`, '*']) {
      const revalidated = await exchange('GET', path, { 'If-None-Match': ifNoneMatch });
      t.equal(revalidated.status, 304, `${path} If-None-Match: ${ifNoneMatch}`);
      t.equal(revalidated.headers.etag, etag);
      t.equal(revalidated.headers['content-length'], undefined, '304: no Content-Length');
      t.equal(revalidated.body.length, 0);
    }
    const head = await exchange('HEAD', path, { 'If-None-Match': etag });
    t.equal(head.status, 304, `HEAD ${path} revalidates too`);
    const changed = await exchange('GET', path, { 'If-None-Match': '"other", W/"another"' });
    t.equal(changed.status, 200, `${path}: another ETag gets the body`);
    t.equal(changed.body.toString(), first.body.toString());
  }
  for (const path of ['/health', '/cart/1', '/products/99']) {
    const answer = await exchange('GET', path, { 'If-None-Match': '*' });
    t.not(answer.status, 304, `${path}: nothing to revalidate`);
    t.equal(answer.headers.etag, undefined, `${path}: no ETag`);
  }
  await stillUsable(t, connection, 'the 304s');
});

t.test('a write changes the ETag of what it changed: a revalidating browser gets the new body', async (t) => {
  const { port } = await serveConventions(t);
  const connection = await rawConnection(t, port);
  connection.send('GET', '/qa/questions?product_id=1');
  const before = await connection.response(false, 'the questions');
  const body = JSON.stringify({ product_id: 1, body: 'Warm?', name: 'eve', email: 'eve@example.com' });
  connection.send('POST', '/qa/questions', { 'Content-Type': 'application/json' }, body);
  t.equal((await connection.response(false, 'POST /qa/questions')).status, 201);
  connection.send('GET', '/qa/questions?product_id=1', { 'If-None-Match': before.headers.etag ?? '' });
  const after = await connection.response(false, 'the questions after the write');
  t.equal(after.status, 200, 'the old ETag no longer matches');
  t.not(after.headers.etag, before.headers.etag);
  t.match(after.body.toString(), /Warm\?/);
});

t.test('uncached bodies carry the same ETag as cached ones', async (t) => {
  const cached = await serveConventions(t);
  const uncached = await serveConventions(t, { CACHE_MAX_BYTES: '0' });
  for (const path of ['/products/1', '/reviews?product_id=1']) {
    const etags: (string | undefined)[] = [];
    for (const { port } of [cached, uncached]) {
      const connection = await rawConnection(t, port);
      connection.send('GET', path);
      etags.push((await connection.response(false, path)).headers.etag);
    }
    t.ok(etags[0], `${path}: tagged`);
    t.equal(etags[1], etags[0], `${path}: the same ETag with the cache off`);
  }
});
