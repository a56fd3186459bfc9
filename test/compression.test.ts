/**
 * Compressed cached bodies (server/compression.ts, server/accept-encoding.ts, docs/api.md §
 * Compression): Accept-Encoding negotiation per RFC 9110, the representations decompressing to
 * the identity body, one ETag per coding and 304s for each, Vary, HEAD, CORS, the uncached path,
 * and the cache's byte bound counting every representation.
 */
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { acceptedCodings, negotiate } from '../server/accept-encoding.js';
import { ResponseCache } from '../server/cache.js';
import { compressed } from '../server/compression.js';
import { COMPRESSIBLE_BYTES, tagged, type TaggedReply } from '../server/reply.js';
import { openSession } from '../sql/db/admin.js';
import { CACHED, serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { rawConnection, type RawResponse } from './helpers/raw-http.js';

/** Repetitive JSON, like the API's pages, past the compression threshold. */
const LONG_BODY = Buffer.from(
  JSON.stringify({ results: Array.from({ length: 40 }, (_, i) => ({ id: i, body: 'Fits well, warm.' })) }),
);
const SHORT_BODY = Buffer.from('{"id":1}');

function decode(coding: string | undefined, body: Buffer): Buffer {
  if (coding === 'gzip') return gunzipSync(body);
  if (coding === 'br') return brotliDecompressSync(body);
  return body;
}

/** The header block of a tagged reply as name → value (the reply's own, without CORS). */
function entityHeaders(reply: TaggedReply): Record<string, string> {
  const [name, value] = reply.entityHeaders.after([]);
  return Object.fromEntries(
    `${name}: ${value}`
      .split('\r\n')
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
  );
}

t.test('Accept-Encoding: q-values, refusals, identity, *, aliases, case and whitespace', async (t) => {
  const full = await compressed(tagged(LONG_BODY));
  const gzipOnly: TaggedReply = { ...full, encoded: { gzip: full.encoded!.gzip! } };
  const chosen = (field: string, reply: TaggedReply = full): string =>
    entityHeaders(negotiate(reply, acceptedCodings(field)))['Content-Encoding'] ?? 'identity';
  const cases: [field: string, expected: string, reply?: TaggedReply][] = [
    ['', 'identity'],
    ['gzip, deflate, br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['deflate', 'identity'],
    ['GZIP', 'gzip'],
    ['  Br  ', 'br'],
    ['x-gzip', 'gzip'],
    ['gzip;q=1.0, br;q=0.5', 'gzip'],
    ['gzip ; Q=0.4 , br ; q=0.8', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=0', 'identity'],
    ['br;q=0, gzip;q=0', 'identity'],
    ['identity', 'identity'],
    ['identity, gzip;q=0.5', 'identity'],
    ['gzip, identity', 'gzip'],
    ['gzip;q=0.001', 'gzip'],
    ['*', 'br'],
    ['*;q=0.5, gzip', 'gzip'],
    ['*, br;q=0', 'gzip'],
    ['*;q=0', 'identity'],
    ['*;q=0, identity', 'identity'],
    // A refused identity with nothing acceptable is disregarded rather than answered 406.
    ['identity;q=0', 'identity'],
    ['identity;q=0, gzip', 'gzip'],
    // A malformed element is ignored alone.
    ['br;q=2, gzip', 'gzip'],
    ['br;q=abc, gzip;q=0.3', 'gzip'],
    ['br;level, gzip', 'gzip'],
    ['br;q=0.1234, gzip;q=0.2', 'gzip'],
    [',,gzip,,', 'gzip'],
    ['gzip;q=0, gzip', 'identity'],
    ['br, gzip', 'gzip', gzipOnly],
    ['br', 'identity', gzipOnly],
  ];
  for (const [field, expected, reply] of cases) {
    t.equal(chosen(field, reply), expected, `Accept-Encoding: ${JSON.stringify(field)}${reply ? ' (gzip only)' : ''}`);
    t.equal(chosen(field, reply), expected, `${JSON.stringify(field)} again, from the memo`);
  }
  const short = tagged(SHORT_BODY);
  t.equal(negotiate(short, acceptedCodings('br')), short, 'a short body has only identity');
});

t.test('compressed representations decompress to the identity body, each with its own tag and headers', async (t) => {
  const identity = tagged(LONG_BODY);
  const reply = await compressed(identity);
  t.equal(reply.body, identity.body, 'the identity body stays');
  t.same(Object.keys(reply.encoded ?? {}).sort(), ['br', 'gzip']);
  const tags = new Set([reply.etag]);
  for (const coding of ['gzip', 'br'] as const) {
    const representation = reply.encoded![coding]!;
    t.ok(representation.body.length < identity.body.length / 2, `${coding}: ${representation.body.length} bytes`);
    t.same(decode(coding, representation.body), identity.body, `${coding} decompresses to the identity body`);
    t.equal(
      representation.etag,
      `${identity.etag.slice(0, -1)}-${coding}"`,
      `${coding}: the identity tag and the coding`,
    );
    tags.add(representation.etag);
    t.same(entityHeaders(representation), {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Encoding': coding,
      ETag: representation.etag,
      'Cache-Control': 'no-cache',
      Vary: 'Accept-Encoding',
    });
    t.notOk(representation.body.buffer.byteLength > representation.body.length, `${coding}: not a pool slice`);
  }
  t.equal(tags.size, 3, 'three representations, three tags');
  t.equal(entityHeaders(reply).Vary, 'Accept-Encoding', 'identity says Vary too');
  t.notOk('Content-Encoding' in entityHeaders(reply));

  const belowThreshold = await compressed(tagged(Buffer.alloc(COMPRESSIBLE_BYTES - 1, 'a')));
  t.equal(belowThreshold.encoded, undefined, `${COMPRESSIBLE_BYTES - 1} bytes are sent as they are`);
  t.notOk('Vary' in entityHeaders(belowThreshold), 'without Vary');
  const atThreshold = await compressed(tagged(Buffer.alloc(COMPRESSIBLE_BYTES, 'a')));
  t.ok(atThreshold.encoded?.gzip, `${COMPRESSIBLE_BYTES} bytes are compressed`);
  const incompressible = await compressed(tagged(randomBytes(4096)));
  t.same(incompressible.encoded, {}, 'a coding that does not shrink the body is not kept');
  t.equal(negotiate(incompressible, acceptedCodings('gzip, br')).body, incompressible.body, 'so identity is sent');
});

t.test(
  'the cache compresses a body once, when first asked, and counts every representation toward its byte bound',
  async (t) => {
    const cache = new ResponseCache({ maxBytes: 1024 * 1024, ttlMs: 0 });
    const loaded = await cache.load('product:1.0:detail', async () => LONG_BODY);
    t.equal(cache.get('product:1.0:detail'), loaded, 'the stored reply is the one answered');
    t.equal(loaded?.encoded, undefined, 'stored as identity until a client takes a coding');
    t.match(cache.stats(), { entries: 1, bytes: LONG_BODY.length });
    const full = await loaded!.compressOnDemand!();
    t.equal(await loaded!.compressOnDemand!(), full, 'compressed once');
    t.equal(cache.get('product:1.0:detail'), full, 'the compressed representations replace the identity entry');
    const bytes = LONG_BODY.length + full.encoded!.gzip!.body.length + full.encoded!.br!.body.length;
    t.match(cache.stats(), { entries: 1, bytes });

    const tight = new ResponseCache({ maxBytes: LONG_BODY.length + 10, ttlMs: 0 });
    const fits = await tight.load('a', async () => LONG_BODY);
    await fits!.compressOnDemand!();
    t.match(tight.stats(), { entries: 0 }, 'an entry larger than the bound with its codings is not kept');

    const disabled = new ResponseCache({ maxBytes: 0, ttlMs: 0 });
    const sent = await disabled.load('a', async () => LONG_BODY);
    t.equal(sent?.encoded, undefined, 'a body that will not be stored is not compressed');
    t.equal(sent?.variesByEncoding, true, 'but still says Vary');

    const racing = new ResponseCache({ maxBytes: 1024 * 1024, ttlMs: 0 });
    let release!: () => void;
    const loading = racing.load(racing.versionedKey('review-lists', 1, 'newest:1:5'), async () => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return LONG_BODY;
    });
    await new Promise((resolve) => setImmediate(resolve));
    racing.invalidate('review-lists', 1);
    release();
    const invalidated = await loading;
    t.equal(invalidated?.encoded, undefined, 'a body invalidated while loading is answered uncompressed');
    t.equal(invalidated?.compressOnDemand, undefined, 'and never compressed');
    t.match(racing.stats(), { entries: 0 }, 'and not stored');
  },
);

const DESCRIPTION = 'Soft, warm and hard-wearing; machine washable at 30 degrees. '.repeat(40);
const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', '${DESCRIPTION}', 'Jackets', 140), (2, 'Shades', 'Wear shades', 'Dark', 'Accessories', 69);
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, reported, helpful) VALUES
  (1, 1, 'Can I wash it?', '2020-12-25T00:14:44.662Z', 'bob', 'bob@example.com', false, 0);
INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email, reported, helpful) VALUES
  (1, 1, '${DESCRIPTION.slice(0, 600)}', '2021-01-05T10:00:00.000Z', 'cat', 'cat@example.com', false, 0),
  (2, 1, '${DESCRIPTION.slice(0, 600)}', '2021-01-06T10:00:00.000Z', 'dan', 'dan@example.com', false, 0);
`;

async function fixtureServer(t: Test, env: Record<string, string> = {}): Promise<number> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-fixture');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  return (await serve(t, url, { ...CACHED, ...env })).port;
}

t.test('over HTTP: negotiated bodies, ETags and 304s per coding, Vary, HEAD and CORS', async (t) => {
  const port = await fixtureServer(t);
  const connection = await rawConnection(t, port);
  const get = async (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> => {
    connection.send(method, path, headers);
    return connection.response(method === 'HEAD', `${method} ${path} ${JSON.stringify(headers)}`);
  };

  // The first GET is the miss that fills the cache: it is answered compressed already.
  const first = await get('/products/1', { 'Accept-Encoding': 'gzip, deflate, br' });
  t.equal(first.headers['content-encoding'], 'br', 'a browser gets brotli, from the miss on');
  const identity = await get('/products/1');
  t.equal(identity.status, 200);
  t.equal(identity.headers['content-encoding'], undefined, 'no Accept-Encoding: identity');
  t.ok(identity.body.length > COMPRESSIBLE_BYTES, `identity: ${identity.body.length} bytes`);
  t.match(JSON.parse(String(identity.body)), { id: 1, description: DESCRIPTION });

  const tags = new Map<string, string>();
  for (const [field, coding] of [
    ['', 'identity'],
    ['gzip, deflate, br', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0, gzip;q=0.5', 'gzip'],
    ['identity', 'identity'],
  ] as const) {
    const headers: Record<string, string> = field === '' ? {} : { 'Accept-Encoding': field };
    const answer = await get('/products/1', headers);
    const label = `Accept-Encoding: ${JSON.stringify(field)}`;
    t.equal(answer.headers['content-encoding'], coding === 'identity' ? undefined : coding, `${label}: ${coding}`);
    t.same(decode(answer.headers['content-encoding'], answer.body), identity.body, `${label}: the identity body`);
    t.equal(answer.headers['content-length'], String(answer.body.length), `${label}: its own length`);
    t.equal(answer.headers.vary, 'Accept-Encoding', `${label}: Vary`);
    t.equal(answer.headers['access-control-allow-origin'], '*', `${label}: CORS`);
    t.equal(answer.headers['access-control-expose-headers'], 'Retry-After, ETag', `${label}: ETag exposed`);
    t.equal(answer.headers['cache-control'], 'no-cache');
    const etag = answer.headers.etag!;
    if (tags.has(coding)) t.equal(etag, tags.get(coding), `${label}: the same tag as before for ${coding}`);
    tags.set(coding, etag);

    const head = await get('/products/1', headers, 'HEAD');
    t.equal(head.headers['content-encoding'], answer.headers['content-encoding'], `HEAD ${label}: the same coding`);
    t.equal(head.headers['content-length'], String(answer.body.length), `HEAD ${label}: the length GET sends`);
    t.equal(head.headers.etag, etag, `HEAD ${label}: the same tag`);
    t.equal(head.headers.vary, 'Accept-Encoding');

    for (const method of ['GET', 'HEAD']) {
      const revalidated = await get('/products/1', { ...headers, 'If-None-Match': etag }, method);
      t.equal(revalidated.status, 304, `${method} ${label} naming its tag: 304`);
      t.equal(revalidated.headers.etag, etag);
      t.equal(revalidated.headers.vary, 'Accept-Encoding', `${method} ${label}: the 304 says Vary too`);
      t.equal(revalidated.headers['content-encoding'], undefined);
      const weak = await get('/products/1', { ...headers, 'If-None-Match': `"other", W/${etag}` }, method);
      t.equal(weak.status, 304, `${method} ${label}: a weak form of the tag in a list matches`);
    }
  }
  t.equal(new Set(tags.values()).size, 3, `one tag per coding: ${[...tags.values()].join(' ')}`);
  t.match(tags.get('identity'), /^"[A-Za-z0-9_-]{22}"$/, 'identity keeps the plain tag');
  const gzipHolder = await get('/products/1', { 'Accept-Encoding': 'br', 'If-None-Match': tags.get('gzip')! });
  t.equal(gzipHolder.status, 200, "another coding's tag does not revalidate this one");
  t.equal(gzipHolder.headers['content-encoding'], 'br');

  const short = await get('/products/2', { 'Accept-Encoding': 'gzip, br' });
  t.equal(short.headers['content-encoding'], undefined, 'a body under 1 KiB is sent as it is');
  t.equal(short.headers.vary, undefined, 'without Vary');

  // An answers list is read uncached until its question's product is known (server/reads.ts).
  const uncached = await get('/qa/questions/1/answers', { 'Accept-Encoding': 'gzip' });
  t.equal(uncached.headers['content-encoding'], undefined, 'a body read uncached is sent as it is');
  t.equal(uncached.headers.vary, 'Accept-Encoding', 'with Vary, since a cached copy would be compressed');
  t.ok(uncached.body.length > COMPRESSIBLE_BYTES);
  const cached = await get('/qa/questions/1/answers', { 'Accept-Encoding': 'gzip' });
  t.equal(cached.headers['content-encoding'], 'gzip', 'once cached it is compressed');
  t.same(gunzipSync(cached.body), uncached.body, 'to the same body');
  const revalidatedUncached = await get('/qa/questions/1/answers', { 'If-None-Match': uncached.headers.etag! });
  t.equal(revalidatedUncached.status, 304, 'the uncached tag is the identity tag of the cached body');

  // Filled by a client that takes no coding, a body is stored as identity; the first hit by one
  // that does is compressed before it is answered, and the hits after it are sent the stored bytes.
  const plain = await get('/qa/questions?product_id=1');
  t.equal(plain.headers['content-encoding'], undefined);
  t.ok(plain.body.length > COMPRESSIBLE_BYTES);
  const hits = [await get('/qa/questions?product_id=1', { 'Accept-Encoding': 'gzip' })];
  hits.push(await get('/qa/questions?product_id=1', { 'Accept-Encoding': 'gzip' }));
  for (const [i, hit] of hits.entries()) {
    t.equal(hit.headers['content-encoding'], 'gzip', `hit ${i + 1} by a gzip client: gzipped`);
    t.same(gunzipSync(hit.body), plain.body, `hit ${i + 1}: the body the plain client got`);
    t.equal(hit.headers.etag, hits[0]!.headers.etag, `hit ${i + 1}: one gzip tag`);
  }
  t.equal((await get('/qa/questions?product_id=1')).headers.etag, plain.headers.etag, 'identity keeps its tag');

  const document = await get('/openapi.json', { 'Accept-Encoding': 'gzip' });
  t.equal(
    document.headers['content-encoding'],
    undefined,
    'a body never cached is sent as it is (nginx compresses it)',
  );
  t.equal(document.headers.vary, 'Accept-Encoding', 'and says Vary, since nginx may compress it');
  // Last: a POST without its body ends the connection.
  const post = await get('/reviews', { 'Accept-Encoding': 'gzip' }, 'POST');
  t.equal(post.headers['content-encoding'], undefined, 'errors are never compressed');
});

t.test('with a CORS_ORIGINS list, compressed replies vary by Origin and Accept-Encoding', async (t) => {
  const shop = 'https://shop.example';
  const port = await fixtureServer(t, { CORS_ORIGINS: shop });
  for (const origin of [shop, 'https://evil.example']) {
    const response = await fetch(`http://127.0.0.1:${port}/products/1`, {
      headers: { origin, 'accept-encoding': 'gzip' },
    });
    t.equal(response.status, 200);
    t.equal(response.headers.get('content-encoding'), 'gzip', `${origin}: gzip`);
    t.equal(response.headers.get('vary'), 'Origin, Accept-Encoding', `${origin}: both Vary`);
    t.equal(
      response.headers.get('access-control-allow-origin'),
      origin === shop ? shop : null,
      `${origin}: Allow-Origin`,
    );
    t.match(await response.json(), { id: 1, description: DESCRIPTION }, 'fetch decodes it');
  }
});
