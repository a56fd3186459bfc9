/**
 * CORS per the Fetch standard (server/cors.ts, docs/api.md § Cross-origin calls): the headers on
 * every response (cache hits and errors included), preflights, and CORS_ORIGINS as a list.
 */
import t, { type Test } from 'tap';
import { loadConfig } from '../lib/config.js';
import { openSession } from '../sql/db/admin.js';
import { serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { rawConnection, type RawConnection } from './helpers/raw-http.js';

const SHOP = 'http://shop.test:8080';
const EVIL = 'http://evil.test';
const EXPOSED = 'Retry-After, ETag';

async function connect(t: Test, env: Record<string, string> = {}): Promise<RawConnection> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-fixture');
  t.teardown(() => db.end());
  await db.query("INSERT INTO products VALUES (1, 'Camo Onesie', 'Blend in', 'Fatigues', 'Jackets', 140)");
  const server = await serve(t, url, env);
  return rawConnection(t, server.port);
}

const PREFLIGHT = (origin: string, method: string) => ({
  Origin: origin,
  'Access-Control-Request-Method': method,
  'Access-Control-Request-Headers': 'authorization, content-type',
});

t.test('CORS_ORIGINS=* (the default): every response allows any origin', async (t) => {
  const connection = await connect(t);
  for (const [method, path, status] of [
    ['GET', '/products/1', 200],
    ['GET', '/products/1', 200],
    ['GET', '/products/99', 404],
    ['GET', '/reviews', 422],
    ['DELETE', '/products/1', 405],
    ['GET', '/nope', 404],
    ['PUT', '/reviews/99/helpful', 404],
    ['HEAD', '/products/1', 200],
  ] as const) {
    connection.send(method, path, { Origin: SHOP });
    const answer = await connection.response(method === 'HEAD', `${method} ${path}`);
    t.equal(answer.status, status, `${method} ${path}`);
    t.equal(answer.headers['access-control-allow-origin'], '*', `${method} ${path}: any origin`);
    t.equal(answer.headers['access-control-expose-headers'], EXPOSED, `${method} ${path}: exposed headers`);
    t.equal(answer.headers.vary, undefined, `${method} ${path}: the same for every origin`);
  }
  connection.send('GET', '/products/1');
  const withoutOrigin = await connection.response(false, 'GET without Origin');
  t.equal(withoutOrigin.headers['access-control-allow-origin'], '*', 'sent without an Origin too');

  for (const [path, method, methods] of [
    ['/reviews', 'POST', 'GET, HEAD, POST, OPTIONS'],
    ['/reviews/', 'POST', 'GET, HEAD, POST, OPTIONS'],
    ['/qa/questions/1/helpful', 'PUT', 'PUT, OPTIONS'],
    ['/products/1', 'GET', 'GET, HEAD, OPTIONS'],
    ['/cart', 'POST', 'GET, HEAD, POST, OPTIONS'],
  ] as const) {
    connection.send('OPTIONS', path, PREFLIGHT(SHOP, method));
    const preflight = await connection.response(false, `OPTIONS ${path}`);
    t.equal(preflight.status, 204, `OPTIONS ${path}`);
    t.equal(preflight.headers['access-control-allow-origin'], '*');
    t.equal(preflight.headers['access-control-allow-methods'], methods, `OPTIONS ${path}: methods`);
    t.equal(preflight.headers['access-control-allow-headers'], 'authorization, content-type', 'the asked headers');
    t.equal(preflight.headers['access-control-max-age'], '600');
    t.equal(preflight.headers.allow, methods);
    t.equal(preflight.headers['content-type'], undefined, '204: no Content-Type');
    t.equal(preflight.body.length, 0);
  }
  connection.send('OPTIONS', '/products/1', { Origin: SHOP, 'Access-Control-Request-Method': 'GET' });
  const bare = await connection.response(false, 'a preflight asking no headers');
  t.equal(bare.status, 204);
  t.equal(bare.headers['access-control-allow-headers'], undefined, 'no headers asked, none listed');
  connection.send('GET', '/health');
  t.equal((await connection.response(false, 'GET /health after the preflights')).status, 200, 'still usable');
});

t.test('CORS_ORIGINS as a list: a listed origin is echoed, others get no CORS headers', async (t) => {
  const connection = await connect(t, { CORS_ORIGINS: `${SHOP}, https://other.test` });
  for (const path of ['/products/1', '/products/1', '/products/99']) {
    connection.send('GET', path, { Origin: SHOP });
    const allowed = await connection.response(false, `GET ${path} from ${SHOP}`);
    t.equal(allowed.headers['access-control-allow-origin'], SHOP, `${path}: the origin echoed`);
    t.equal(allowed.headers['access-control-expose-headers'], EXPOSED);
    t.equal(allowed.headers.vary, 'Origin', `${path}: Vary: Origin`);

    connection.send('GET', path, { Origin: EVIL });
    const refused = await connection.response(false, `GET ${path} from ${EVIL}`);
    t.equal(refused.status, allowed.status, `${path}: the same answer`);
    t.equal(refused.headers['access-control-allow-origin'], undefined, `${path}: no Allow-Origin for ${EVIL}`);
    t.equal(refused.headers['access-control-expose-headers'], undefined);
    t.equal(refused.headers.vary, 'Origin', `${path}: still Vary: Origin, for shared caches`);
  }
  connection.send('GET', '/products/1', { Origin: 'http://shop.test' });
  const otherPort = await connection.response(false, 'the same host on another port');
  t.equal(otherPort.headers['access-control-allow-origin'], undefined, 'an origin matches exactly');

  connection.send('OPTIONS', '/reviews', PREFLIGHT(SHOP, 'POST'));
  const allowed = await connection.response(false, 'a preflight from the shop');
  t.equal(allowed.status, 204);
  t.equal(allowed.headers['access-control-allow-origin'], SHOP);
  t.equal(allowed.headers['access-control-allow-methods'], 'GET, HEAD, POST, OPTIONS');
  t.equal(allowed.headers['access-control-allow-headers'], 'authorization, content-type');

  connection.send('OPTIONS', '/reviews', PREFLIGHT(EVIL, 'POST'));
  const refused = await connection.response(false, 'a preflight from elsewhere');
  t.equal(refused.status, 204, 'answered, but allowing nothing');
  for (const name of ['origin', 'methods', 'headers']) {
    t.equal(refused.headers[`access-control-allow-${name}`], undefined, `no Access-Control-Allow-${name}`);
  }
  t.equal(refused.headers['access-control-max-age'], undefined);
  t.equal(refused.headers.allow, 'GET, HEAD, POST, OPTIONS');
});

t.test('CORS_ORIGINS and LISTEN_ADDRESS are validated at start', async (t) => {
  t.equal(loadConfig({}).corsOrigins, '*');
  t.equal(loadConfig({ CORS_ORIGINS: ' * ' }).corsOrigins, '*');
  t.same(loadConfig({ CORS_ORIGINS: 'https://a.test,http://b.test:8080' }).corsOrigins, [
    'https://a.test',
    'http://b.test:8080',
  ]);
  for (const bad of ['a.test', 'https://a.test/', 'https://A.test', 'https://a.test,*']) {
    t.throws(() => loadConfig({ CORS_ORIGINS: bad }), /CORS_ORIGINS must be \* or a comma list/, `CORS_ORIGINS=${bad}`);
  }
  t.equal(loadConfig({}).listenAddress, '0.0.0.0');
  t.equal(loadConfig({ LISTEN_ADDRESS: '127.0.0.1' }).listenAddress, '127.0.0.1');
  t.throws(() => loadConfig({ LISTEN_ADDRESS: 'localhost' }), /LISTEN_ADDRESS must be an IP address/);
});
