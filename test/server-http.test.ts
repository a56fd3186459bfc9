import net from 'node:net';
import t, { type Test } from 'tap';
import { openSession, type Session } from '../sql/db/admin.js';
import { startServer } from '../server/app.js';
import { loadConfig } from '../lib/config.js';
import { Exchanges, MAX_BODY_BYTES, mount, readJsonBody } from '../server/http.js';
import { ok } from '../server/reply.js';
import { uws, type us_listen_socket } from '../server/uws.js';
import { serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { until } from '../lib/wait.js';

const JSON_TYPE = 'application/json; charset=utf-8';

async function session(t: Test, url: string): Promise<Session> {
  const db = await openSession(url, 'test-fixture');
  t.teardown(() => db.end());
  return db;
}

async function oneProduct(t: Test): Promise<{ url: string; db: Session }> {
  const url = await freshDatabase(t);
  const db = await session(t, url);
  await db.query("INSERT INTO products VALUES (1, 'Camo Onesie', 'Blend in', 'Fatigues', 'Jackets', 140)");
  return { url, db };
}

/** Resolves once a query of this process's pool is blocked on a lock in the database. */
function blockedOnLock(db: Session): Promise<void> {
  return until(
    async () =>
      (
        await db.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [
          `atelier-api-${process.pid}`,
        ])
      ).length > 0,
    'a query of the pool is blocked on a lock',
    { timeoutMs: 10_000 },
  );
}

function expectError(t: Test, response: Response, text: string, status: number): void {
  t.equal(response.status, status);
  t.equal(response.headers.get('content-type'), JSON_TYPE);
  t.match(JSON.parse(text), { error: String }, 'body is {"error": "…"}');
}

t.test('unknown routes, malformed ids and unknown ids answer 404 with a JSON error', async (t) => {
  const { url } = await oneProduct(t);
  const server = await serve(t, url);
  const base = `http://127.0.0.1:${server.port}`;
  for (const path of [
    '/nope',
    '/products/1/nope',
    '/Products/1',
    '/products/abc',
    '/products/0',
    '/products/-1',
    '/products/01',
    '/products/1.5',
    '/products/2147483648',
    '/products/2147483647',
    '/products/99/styles',
    '/products/99/related',
    '/products/abc/styles',
  ]) {
    const response = await fetch(`${base}${path}`);
    expectError(t, response, await response.text(), 404);
  }
});

t.test('a known path with the wrong method answers 405 naming the allowed methods', async (t) => {
  const { url } = await oneProduct(t);
  const server = await serve(t, url);
  for (const [method, path] of [
    ['POST', '/products/1'],
    ['DELETE', '/products'],
    ['PUT', '/products/1/styles'],
    ['PATCH', '/health'],
  ]) {
    const response = await fetch(`http://127.0.0.1:${server.port}${path}`, { method });
    const text = await response.text();
    expectError(t, response, text, 405);
    t.equal(response.headers.get('allow'), 'GET, HEAD, OPTIONS', `${method} ${path}`);
  }
});

t.test('page and count that are not positive integers answer 422 naming the parameter', async (t) => {
  const { url } = await oneProduct(t);
  const server = await serve(t, url);
  for (const [query, parameter] of [
    ['page=0', 'page'],
    ['page=-1', 'page'],
    ['page=abc', 'page'],
    ['page=', 'page'],
    ['page=1.5', 'page'],
    ['page=2147483648', 'page'],
    ['count=0', 'count'],
    ['count=1e3', 'count'],
    ['count=', 'count'],
    ['page=1&count=x', 'count'],
  ]) {
    const response = await fetch(`http://127.0.0.1:${server.port}/products?${query}`);
    const text = await response.text();
    expectError(t, response, text, 422);
    t.match(JSON.parse(text).error, new RegExp(`^${parameter} `), `${query} names ${parameter}`);
  }
});

t.test('/health answers while up and /ready once the database answers', async (t) => {
  const { url } = await oneProduct(t);
  const server = await serve(t, url);
  const health = await fetch(`http://127.0.0.1:${server.port}/health`);
  t.equal(health.status, 200);
  t.equal(health.headers.get('content-type'), JSON_TYPE);
  t.equal(await health.text(), '{"status":"up"}');
  const ready = await fetch(`http://127.0.0.1:${server.port}/ready`);
  t.equal(ready.status, 200);
  t.equal(await ready.text(), '{"status":"ready"}');
});

/** A TCP relay to PostgreSQL that the test can cut (every connection dropped) and restore. */
async function cuttableRelay(
  t: Test,
  target: URL,
): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) => new Promise<void>((resolve) => relay.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const port = (relay.address() as net.AddressInfo).port;
  const cut = async () => {
    const closed = new Promise<void>((resolve) => relay.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  t.teardown(() => (relay.listening ? cut() : undefined));
  const url = new URL(target);
  url.port = String(port);
  return { url: url.toString(), cut, restore: () => listen(port) };
}

t.test('an unreachable database answers 503 with Retry-After, and /ready recovers with it', async (t) => {
  const { url } = await oneProduct(t);
  const relay = await cuttableRelay(t, new URL(url));
  const server = await serve(t, relay.url, { RETRY_AFTER_SECONDS: '7', PG_CONNECT_TIMEOUT_MS: '1000' });
  const base = `http://127.0.0.1:${server.port}`;
  t.equal((await fetch(`${base}/ready`)).status, 200);

  await relay.cut();
  for (const path of ['/products/1', '/products/1/styles', '/products?page=3', '/ready']) {
    const response = await fetch(`${base}${path}`);
    const text = await response.text();
    expectError(t, response, text, 503);
    t.equal(response.headers.get('retry-after'), '7', `${path} says when to retry`);
  }
  t.equal((await fetch(`${base}/health`)).status, 200, 'the process is still up');

  await relay.restore();
  t.equal((await fetch(`${base}/ready`)).status, 200, 'ready again once the database is back');
  t.equal((await fetch(`${base}/products/1`)).status, 200);
});

t.test('a statement timeout answers 503 with Retry-After', async (t) => {
  const { url, db } = await oneProduct(t);
  const server = await serve(t, url, { PG_STATEMENT_TIMEOUT_MS: '100' });
  await db.query('BEGIN');
  await db.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
  const response = await fetch(`http://127.0.0.1:${server.port}/products/1`);
  const text = await response.text();
  await db.query('ROLLBACK');
  expectError(t, response, text, 503);
  t.equal(response.headers.get('retry-after'), '1');
  t.notMatch(text, /cancel|statement|products|SELECT/i, 'no database text leaks');
});

t.test('a request that cannot get a pooled connection in time answers 503', async (t) => {
  const { url, db } = await oneProduct(t);
  // The timeout also bounds the server's first connection, so it leaves room for a loaded machine.
  const server = await serve(t, url, { PG_POOL_SIZE: '1', PG_CONNECT_TIMEOUT_MS: '2000', PG_LOCK_TIMEOUT_MS: '0' });
  const base = `http://127.0.0.1:${server.port}`;
  await db.query('BEGIN');
  await db.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
  const holder = fetch(`${base}/products/1`);
  await blockedOnLock(db);
  const starved = await fetch(`${base}/products/1/related`);
  const text = await starved.text();
  await db.query('ROLLBACK');
  expectError(t, starved, text, 503);
  t.equal(starved.headers.get('retry-after'), '1');
  t.equal((await holder).status, 200, 'the request holding the connection finishes normally');
});

t.test('past PG_MAX_WAITING queued queries, a request is answered 503 without waiting for a connection', async (t) => {
  const { url, db } = await oneProduct(t);
  // A connect timeout far longer than the test: only shedding can answer the third request.
  const server = await serve(t, url, {
    PG_POOL_SIZE: '1',
    PG_MAX_WAITING: '1',
    PG_CONNECT_TIMEOUT_MS: '600000',
    PG_LOCK_TIMEOUT_MS: '0',
    // The catalogue gate queues in front of the pool (server/admission.ts): bounded the same way.
    ADMISSION_MAX_QUEUED: '1',
    ADMISSION_QUEUE_DEADLINE_MS: '600000',
  });
  const base = `http://127.0.0.1:${server.port}`;
  await db.query('BEGIN');
  await db.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
  const holder = fetch(`${base}/products/1`);
  await blockedOnLock(db);
  const waiter = fetch(`${base}/products/1/related`);
  // A miss is counted in the same callback that queues its query.
  await until(() => server.cacheStats().misses >= 2, 'both misses are counted', { timeoutMs: 10_000 });
  const shed = await fetch(`${base}/products/1/styles`);
  const text = await shed.text();
  await db.query('ROLLBACK');
  expectError(t, shed, text, 503);
  t.equal(shed.headers.get('retry-after'), '1');
  t.equal((await holder).status, 200, 'the request holding the connection finishes normally');
  t.equal((await waiter).status, 200, 'the request that queued within the bound is served');
});

t.test('an unexpected database error answers 500 without SQL or a stack', async (t) => {
  const { url, db } = await oneProduct(t);
  const server = await serve(t, url);
  await db.query('DROP TABLE features');
  const response = await fetch(`http://127.0.0.1:${server.port}/products/1`);
  const text = await response.text();
  expectError(t, response, text, 500);
  t.equal(text, '{"error":"The server failed to answer this request."}');
});

t.test('close() finishes in-flight requests with Connection: close, then stops accepting', async (t) => {
  const { url, db } = await oneProduct(t);
  const server = await startServer(loadConfig({ DATABASE_URL: url }), { port: 0 });
  const base = `http://127.0.0.1:${server.port}`;
  await db.query('BEGIN');
  await db.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
  const inFlight = fetch(`${base}/products/1`);
  await blockedOnLock(db);
  let closed = false;
  const closing = server.close().then(() => {
    closed = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(closed, 'close() waits for the in-flight request');
  await db.query('ROLLBACK');
  const response = await inFlight;
  t.equal(response.status, 200);
  t.equal(response.headers.get('connection'), 'close');
  t.match(await response.text(), /"name":"Camo Onesie"/);
  await closing;
  await t.rejects(fetch(`${base}/health`), 'no longer accepting connections');
});

/** A bare app using the real body reader, as the POST routes of later issues will. */
async function echoApp(t: Test): Promise<string> {
  const exchanges = new Exchanges(1);
  const app = uws.App();
  mount(app, exchanges, '/echo', {
    post: (req, res) => readJsonBody(req, res).then((value) => ok(JSON.stringify(value))),
  });
  mount(app, exchanges, '/fails', {
    get: () => {
      throw new Error('SELECT secret FROM nowhere');
    },
    post: () => Promise.reject(new Error('SELECT secret FROM nowhere')),
  });
  const socket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (listening) => (listening ? resolve(listening) : reject(new Error('no listen'))));
  });
  t.teardown(() => uws.us_listen_socket_close(socket));
  return `http://127.0.0.1:${uws.us_socket_local_port(socket as never)}`;
}

t.test('the JSON body reader accepts JSON and answers 400, 413 and 415 otherwise', async (t) => {
  const base = await echoApp(t);
  const post = (body: BodyInit, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(`${base}/echo`, {
      method: 'POST',
      body,
      headers,
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    });

  const echoed = await post('{"product_id":2,"name":"jackson11","photos":[]}');
  t.equal(echoed.status, 200);
  t.equal(await echoed.text(), '{"product_id":2,"name":"jackson11","photos":[]}');
  const withCharset = await post('[1]', { 'content-type': 'Application/JSON; charset=utf-8' });
  t.equal(withCharset.status, 200, 'media type is case-insensitive and may carry parameters');
  const justUnderLimit = await post(JSON.stringify('x'.repeat(MAX_BODY_BYTES - 2)));
  t.equal(justUnderLimit.status, 200, 'exactly 64 KiB is accepted');
  await justUnderLimit.arrayBuffer();

  for (const bad of ['{"a":', '', 'null x', "{'a':1}"]) {
    const response = await post(bad);
    expectError(t, response, await response.text(), 400);
  }
  const invalidUtf8 = await post(new Uint8Array([0x22, 0xff, 0x22]));
  expectError(t, invalidUtf8, await invalidUtf8.text(), 400);

  for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp']) {
    const response = await post('{}', { 'content-type': contentType });
    expectError(t, response, await response.text(), 415);
  }
  const untyped = await fetch(`${base}/echo`, { method: 'POST', body: new Uint8Array([0x7b, 0x7d]) });
  expectError(t, untyped, await untyped.text(), 415);

  const declaredTooLarge = await post('x'.repeat(MAX_BODY_BYTES + 1));
  expectError(t, declaredTooLarge, await declaredTooLarge.text(), 413);
  t.equal(declaredTooLarge.headers.get('connection'), 'close', 'the unread body ends the connection');

  const chunk = new Uint8Array(16 * 1024).fill(0x20);
  let sent = 0;
  const streamedTooLarge = await post(
    new ReadableStream({
      pull(controller) {
        sent += chunk.length;
        if (sent > 2 * MAX_BODY_BYTES) controller.close();
        else controller.enqueue(chunk);
      },
    }),
  );
  expectError(t, streamedTooLarge, await streamedTooLarge.text(), 413);
});

t.test('a route that throws or rejects unexpectedly answers 500 without details', async (t) => {
  const base = await echoApp(t);
  for (const method of ['GET', 'POST']) {
    const response = await fetch(`${base}/fails`, { method });
    const text = await response.text();
    expectError(t, response, text, 500);
    t.notMatch(text, /SELECT|secret|at /);
  }
});
