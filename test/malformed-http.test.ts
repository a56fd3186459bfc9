/**
 * Malformed requests and pipelining over raw sockets (issue 14 finding 7, docs/uws-behaviour.md
 * §6 and §9): what uWS rejects before any handler runs never gets an answer, and is closed at
 * once or by uWS's idle timeout; a request pipelined behind one waiting for the database is
 * answered after it, in order, instead of closing the connection.
 */
import { rm } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { freePort } from '../lib/net.js';
import { findNginx, nginxScratchDir, startNginx } from '../perf/nginx-template.js';
import type { RunningServer } from '../server/app.js';
import { openSession } from '../sql/db/admin.js';
import { serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { RawConnection, rawConnection } from './helpers/raw-http.js';

/** uWS's HTTP idle timeout is 10 s, swept every 4 s: a held connection closes 10–14 s later. */
const IDLE_CLOSE_MS = 16_000;
const PRODUCT =
  "INSERT INTO products (id, name, slogan, description, category, default_price) VALUES (1, 'A', 'b', 'c', 'd', 1);";

async function server(t: Test): Promise<{ running: RunningServer; url: string }> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-malformed');
  t.teardown(() => db.end());
  await db.query(PRODUCT);
  return { running: await serve(t, url), url };
}

const headers = (n: number): string => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('');

t.test('malformed requests get no reply from any handler, and the connection is closed', async (t) => {
  const { running } = await server(t);
  const cases: readonly (readonly [name: string, bytes: string, closesAtOnce: boolean])[] = [
    ['no Host, other headers', 'GET /health HTTP/1.1\r\nX-A: 1\r\n\r\n', true],
    ['no Host, no headers at all', 'GET /health HTTP/1.1\r\n\r\n', false],
    ['49 header lines', `GET /health HTTP/1.1\r\nHost: t\r\n${headers(48)}\r\n`, false],
    ['bare LF line endings', 'GET /health HTTP/1.1\nHost: t\n\n', false],
    ['NUL in a header value', 'GET /health HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n', false],
    ['bare CR in a header value', 'GET /health HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n', false],
    ['HTTP/2.0 as the version', 'GET /health HTTP/2.0\r\nHost: t\r\n\r\n', false],
  ];
  const connections = await Promise.all(cases.map(() => RawConnection.open(running.port)));
  t.teardown(() => {
    for (const connection of connections) connection.close();
  });
  const startedAt = performance.now();
  for (const [i, [, bytes]] of cases.entries()) connections[i]?.write(bytes);
  await Promise.all(
    cases.map(async ([name, , closesAtOnce], i) => {
      const connection = connections[i] as RawConnection;
      await connection.closedByServer(name, closesAtOnce ? 2000 : IDLE_CLOSE_MS);
      const ms = Math.round(performance.now() - startedAt);
      t.equal(connection.unread().length, 0, `${name}: no reply (closed after ${ms} ms)`);
    }),
  );
  const valid = await rawConnection(t, running.port);
  valid.send('GET', '/health');
  t.equal((await valid.response(false, 'a valid request after them')).status, 200, 'the server still serves');
});

t.test('48 headers are still served', async (t) => {
  const { running } = await server(t);
  const connection = await rawConnection(t, running.port);
  connection.write(`GET /health HTTP/1.1\r\nHost: t\r\n${headers(47)}\r\n`);
  t.equal((await connection.response(false, 'a request with 48 header lines')).status, 200);
});

/** GET /reviews for product 1, distinct by count so no answer comes from the cache. */
const reviews = (count: number): string => `GET /reviews?product_id=1&count=${count} HTTP/1.1\r\nHost: t\r\n\r\n`;
const HEALTH = 'GET /health HTTP/1.1\r\nHost: t\r\n\r\n';

t.test('a request pipelined behind one waiting for the database is answered after it, in order', async (t) => {
  const { running, url } = await server(t);
  const locker = await openSession(url, 'test-locker');
  t.teardown(() => locker.end());
  for (const [name, second] of [
    ['a cached route', HEALTH],
    ['another uncached read', reviews(2)],
  ] as const) {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE reviews IN ACCESS EXCLUSIVE MODE');
    const connection = await rawConnection(t, running.port);
    connection.write(reviews(name === 'a cached route' ? 11 : 12));
    // The first request now waits for the lock; the second arrives while its reply is pending.
    await new Promise((resolve) => setTimeout(resolve, 100));
    connection.write(second);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await locker.query('COMMIT');
    const first = await connection.response(false, `the first reply (${name})`);
    t.equal(first.status, 200, `${name}: the first request is answered`);
    t.match(first.body.toString(), /"count":1[12]/, `${name}: the first answer is the first request's`);
    const next = await connection.response(false, `the pipelined reply (${name})`);
    t.equal(next.status, 200, `${name}: the pipelined request is answered after it`);
    t.match(next.body.toString(), second === HEALTH ? /"status":"up"/ : /"count":2/, `${name}: its own answer`);
  }
});

t.test('requests pipelined in the same read as one waiting: closed, no reply lands on another request', async (t) => {
  const { running } = await server(t);
  for (const [name, bytes] of [
    ['uncached, then cached', reviews(21) + HEALTH],
    ['cached, uncached, cached', HEALTH + reviews(22) + HEALTH],
  ] as const) {
    const connection = await rawConnection(t, running.port);
    connection.write(bytes);
    await connection.closedByServer(name, 2000);
    // uWS closes the connection and drops what was corked for it (docs/uws-behaviour.md §9).
    t.equal(connection.unread().toString('latin1'), '', `${name}: closed with nothing sent`);
  }
  const after = await rawConnection(t, running.port);
  after.write(reviews(21));
  t.match((await after.response(false, 'the dropped request, sent again')).body.toString(), /"count":21/);
});

const nginx = findNginx();
t.test(
  'through nginx (the deployment path): refused by nginx, or forwarded in a form uWS takes',
  { skip: !nginx && 'nginx is not installed' },
  async (t) => {
    const { running } = await server(t);
    const dir = await nginxScratchDir();
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    const proxy = await startNginx(nginx as string, { dir, port, upstreams: [running.port] });
    t.teardown(() => proxy.stop());
    for (const [name, bytes, status] of [
      ['no Host, other headers', 'GET /health HTTP/1.1\r\nX-A: 1\r\n\r\n', 400],
      ['no Host, no headers at all', 'GET /health HTTP/1.1\r\n\r\n', 400],
      ['bare LF line endings', 'GET /health HTTP/1.1\nHost: t\n\n', 200],
      ['NUL in a header value', 'GET /health HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n', 400],
      ['bare CR in a header value', 'GET /health HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n', 400],
      ['HTTP/2.0 as the version', 'GET /health HTTP/2.0\r\nHost: t\r\n\r\n', 505],
      [
        'a GET with an empty Content-Length, then another',
        'GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: \r\nContent-Length: 37\r\n\r\n',
        400,
      ],
      ['45 header lines (nginx adds 4)', `GET /health HTTP/1.1\r\nHost: t\r\n${headers(44)}\r\n`, 200],
    ] as const) {
      const connection = await rawConnection(t, port);
      connection.write(bytes);
      t.equal((await connection.response(false, `${name} through nginx`)).status, status, `${name}: ${status}`);
    }
  },
);
