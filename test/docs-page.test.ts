/**
 * GET /docs: the Swagger UI page and every asset it loads are served by the worker itself (no
 * CDN), with their content types, and its one script points the UI at this server's document.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import t from 'tap';
import { serveFixture } from './helpers/api.js';

const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
};

t.test('GET /docs serves the page and every asset it references, from this server only', async (t) => {
  const api = await serveFixture(t, 'SELECT 1');
  const page = await api.get('/docs');
  t.equal(page.status, 200);
  t.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await page.text();
  const references = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((match) => match[1]!);
  t.same(
    references.sort(),
    ['/docs/favicon-32x32.png', '/docs/init.js', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css'],
    'only same-origin assets',
  );
  for (const reference of references) {
    const asset = await api.get(reference);
    t.equal(asset.status, 200, reference);
    t.equal(asset.headers.get('content-type'), CONTENT_TYPES[path.extname(reference)], reference);
    const bytes = Buffer.from(await asset.arrayBuffer());
    if (reference === '/docs/init.js') {
      t.match(String(bytes), /url: '\/openapi\.json'/, 'the UI loads this server’s document');
    } else {
      t.ok(
        bytes.equals(readFileSync(path.join(swaggerUiDir, path.basename(reference)))),
        `${reference} is the package's file`,
      );
    }
  }
  const document = (await (await api.get('/openapi.json')).json()) as { servers: { url: string }[] };
  t.same(document.servers, [{ url: '/', description: 'This server' }], '"Try it out" calls this same server');
  const unknown = await api.get('/docs/package.json');
  t.equal(unknown.status, 404, 'nothing else of the package is served');
  await unknown.arrayBuffer();
});
