/**
 * Hostile HTTP over raw sockets (issue 14): smuggling by ambiguous body framing is refused and
 * never yields a second request, an upload whose client goes away releases its request so a
 * drain is not held, a lone surrogate in a JSON string is a 422, and a header block split across
 * reads is served up to uWS's 4 KiB buffer and closed past it (docs/uws-behaviour.md §4, §5, §7).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import type { RunningServer } from '../server/app.js';
import { serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { RawConnection, rawConnection } from './helpers/raw-http.js';
import { within } from '../lib/wait.js';

const CLICK = '{"element":"button","widget":"overview","time":"2021-01-01"}';
/** The request hidden in a body: answered 200 if uWS ever took it as a request of its own. */
const SMUGGLED = 'GET /health HTTP/1.1\r\nHost: test\r\n\r\n';
const CLOSE_MS = 3000;

async function server(t: Test, env: Record<string, string> = {}): Promise<RunningServer> {
  return serve(t, await freshDatabase(t), env);
}

/** A request head: the request line, Host, then `headers`, as raw lines. */
function head(requestLine: string, ...headers: string[]): string {
  return `${requestLine}\r\nHost: test\r\n${headers.map((line) => `${line}\r\n`).join('')}\r\n`;
}

/** What the server sent on a connection until it closed it. */
async function sentBeforeClose(connection: RawConnection, what: string): Promise<string> {
  await connection.closedByServer(what, CLOSE_MS);
  return connection.unread().toString('latin1');
}

const POST = 'POST /interactions HTTP/1.1';
const JSON_TYPE = 'Content-Type: application/json';

t.test('ambiguous body framing: 400 or a close, and the request in the body is never answered', async (t) => {
  const { port } = await server(t);
  const smuggle = (...framing: string[]): string => head(POST, JSON_TYPE, ...framing) + SMUGGLED;
  const chunkedSmuggle = `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`;
  for (const [name, bytes] of [
    [
      'CL.CL, first 0 (uWS would take the body as a request)',
      smuggle('Content-Length: 0', `Content-Length: ${SMUGGLED.length}`),
    ],
    ['CL.CL, second 0', smuggle(`Content-Length: ${SMUGGLED.length}`, 'Content-Length: 0')],
    ['CL.CL, equal', smuggle(`Content-Length: ${SMUGGLED.length}`, `Content-Length: ${SMUGGLED.length}`)],
    ['CL list', smuggle(`Content-Length: 0, ${SMUGGLED.length}`)],
    ['CL with a sign', smuggle('Content-Length: +0')],
    ['CL in hex', smuggle('Content-Length: 0x0')],
    ['CL.TE', head(POST, JSON_TYPE, 'Content-Length: 0', 'Transfer-Encoding: chunked') + chunkedSmuggle],
    [
      'TE.CL',
      head(POST, JSON_TYPE, 'Transfer-Encoding: chunked', `Content-Length: ${SMUGGLED.length}`) + chunkedSmuggle,
    ],
    [
      'TE.TE, two headers',
      head(POST, JSON_TYPE, 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked') + chunkedSmuggle,
    ],
    ['TE.TE, chunked, identity', head(POST, JSON_TYPE, 'Transfer-Encoding: chunked, identity') + chunkedSmuggle],
    [
      'TE obfuscated, with CL',
      head(POST, JSON_TYPE, 'Transfer-Encoding: xchunked', 'Content-Length: 0') + chunkedSmuggle,
    ],
    [
      'TE in capitals, with CL',
      head(POST, JSON_TYPE, 'Transfer-Encoding: Chunked', 'Content-Length: 0') + chunkedSmuggle,
    ],
    [
      'GET with CL.CL',
      head('GET /products/1 HTTP/1.1', 'Content-Length: 0', `Content-Length: ${SMUGGLED.length}`) + SMUGGLED,
    ],
  ] as const) {
    const connection = await rawConnection(t, port);
    connection.write(bytes);
    const sent = await sentBeforeClose(connection, name);
    // Extra bytes in the same read make uWS close the socket before the 400 can go out.
    t.ok(
      sent === '' || sent.startsWith('HTTP/1.1 400 Bad Request\r\n'),
      `${name}: a 400 or nothing (${JSON.stringify(sent.slice(0, 40))})`,
    );
    t.equal(sent.match(/HTTP\/1\.1 /g)?.length ?? 0, sent === '' ? 0 : 1, `${name}: one reply at most`);
    t.notMatch(sent, /HTTP\/1\.1 200/, `${name}: the request in the body is not answered`);
  }
});

t.test('framing refused before any body arrives: the 400 names the rule, then the connection closes', async (t) => {
  const { port } = await server(t);
  for (const [name, framing] of [
    ['CL.CL', ['Content-Length: 0', `Content-Length: ${SMUGGLED.length}`]],
    ['TE.TE', ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked']],
    ['TE list', ['Transfer-Encoding: chunked, identity']],
  ] as const) {
    const connection = await rawConnection(t, port);
    connection.write(head(POST, JSON_TYPE, ...framing));
    const answer = await connection.response(false, name);
    t.equal(answer.status, 400, `${name}: 400`);
    t.equal(answer.headers.connection, 'close', `${name}: Connection: close`);
    t.match(JSON.parse(answer.body.toString()), { error: /framed ambiguously/ }, `${name}: says why`);
    connection.write(SMUGGLED);
    t.equal(await sentBeforeClose(connection, `${name}, a request sent after the 400`), '', `${name}: nothing more`);
  }
});

t.test('sound framing still serves: one Content-Length, or chunked, or none', async (t) => {
  const { port } = await server(t);
  const connection = await rawConnection(t, port);
  // A request pipelined behind one still waiting for its reply closes the connection (uWS), so
  // each POST is answered before the next request is sent.
  connection.write(head(POST, JSON_TYPE, `Content-Length: ${CLICK.length}`) + CLICK);
  t.equal((await connection.response(false, 'the POST with one Content-Length')).status, 201);
  const chunked = `${CLICK.length.toString(16)}\r\n${CLICK}\r\n0\r\n\r\n`;
  connection.write(head(POST, JSON_TYPE, 'Transfer-Encoding: chunked') + chunked);
  t.equal((await connection.response(false, 'the chunked POST')).status, 201);
  connection.write(head('GET /health HTTP/1.1', 'Content-Length: 0') + SMUGGLED);
  t.equal((await connection.response(false, 'a GET with Content-Length: 0')).status, 200);
  t.equal((await connection.response(false, 'the GET pipelined after it')).status, 200);
});

t.test('uploads whose clients go away mid-body do not hold the drain', async (t) => {
  const running = await server(t, { DRAIN_TIMEOUT_MS: '10000' });
  const uploads = await Promise.all(Array.from({ length: 5 }, () => RawConnection.open(running.port)));
  for (const upload of uploads) upload.write(`${head(POST, JSON_TYPE, 'Content-Length: 1000')}{"element":`);
  // The server is in this process: a moment lets it take the requests and their first bytes.
  await sleep(200);
  for (const upload of uploads) upload.close();
  const startedAt = performance.now();
  await within(running.close(), 'the server has drained after the aborted uploads', { timeoutMs: 5000 });
  const elapsed = performance.now() - startedAt;
  t.ok(elapsed < 2000, `closed in ${Math.round(elapsed)} ms, well under DRAIN_TIMEOUT_MS (10 s)`);
});

t.test('a lone surrogate in a JSON string is a 422 naming the field; a whole pair is text', async (t) => {
  const { port } = await server(t);
  const connection = await rawConnection(t, port);
  const post = (body: string): void =>
    connection.send('POST', '/interactions', { 'Content-Type': 'application/json' }, body);
  for (const [field, escaped] of [
    ['element', '"a\\ud800b"'],
    ['widget', '"\\udc00"'],
    ['time', '"2021\\ud83d"'],
  ] as const) {
    const click = { element: '"button"', widget: '"overview"', time: '"2021-01-01"', [field]: escaped };
    post(`{"element":${click.element},"widget":${click.widget},"time":${click.time}}`);
    const answer = await connection.response(false, `a lone surrogate in ${field}`);
    t.equal(answer.status, 422, `${field}: 422`);
    t.same(JSON.parse(answer.body.toString()), { error: `${field} must be text without unpaired UTF-16 surrogates.` });
  }
  post('{"element":"\\ud83d\\ude00","widget":"overview","time":"2021-01-01"}');
  t.equal((await connection.response(false, 'a surrogate pair')).status, 201, 'a surrogate pair (an emoji) is stored');
});

/** GET /health whose header block is exactly `size` bytes, padded by one header. */
function headerBlock(size: number): string {
  const bare = head('GET /health HTTP/1.1', 'X-Pad: ');
  return head('GET /health HTTP/1.1', `X-Pad: ${'p'.repeat(size - bare.length)}`);
}

t.test('header blocks split across reads: served up to 4 KiB, closed without a reply past it', async (t) => {
  const { port } = await server(t);
  const split = async (size: number, at: number): Promise<RawConnection> => {
    const block = headerBlock(size);
    t.equal(block.length, size);
    const connection = await rawConnection(t, port);
    connection.write(block.slice(0, at));
    // Two reads on the server, not one: the first part is taken before the rest is sent.
    await sleep(50);
    connection.write(block.slice(at));
    return connection;
  };
  for (const [size, at] of [
    [4096, 100],
    [4096, 4095],
  ] as const) {
    const answer = await (await split(size, at)).response(false, `a ${size} B block split at ${at}`);
    t.equal(answer.status, 200, `${size} B split at ${at}: served`);
  }
  for (const [size, at] of [
    [4097, 100],
    [8192, 4000],
    [16384, 1024],
  ] as const) {
    const connection = await split(size, at);
    t.equal(
      await sentBeforeClose(connection, `a ${size} B block split at ${at}`),
      '',
      `${size} B split: closed, no reply`,
    );
  }
  const whole = await rawConnection(t, port);
  whole.write(headerBlock(16384));
  t.equal((await whole.response(false, 'a 16 KiB block in one write')).status, 200, '16 KiB in one read: served');
});
