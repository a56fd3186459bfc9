/**
 * GET /openapi.json (docs/openapi.json, the document test/openapi.test.ts generated and checked)
 * and GET /docs, Swagger UI over it, from the swagger-ui-dist package: no CDN, so it works
 * offline. Every file is read once at start and answered from memory. The page's "Try it out"
 * calls this same server, since the document's only server is "/".
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERRORS } from '../errors.js';
import { type Exchanges, mount } from '../http.js';
import { JSON_CONTENT_TYPE, ok, type Reply } from '../reply.js';
import type { TemplatedApp } from '../uws.js';

// build/server/routes or dist/server/routes: the repository root is three levels up.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const OPENAPI_PATH = path.join(ROOT, 'docs/openapi.json');

const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Atelier storefront API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// A file of its own rather than an inline script, so a strict Content-Security-Policy can allow it.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

const asset = (body: string | Buffer, contentType: string): Reply => ({ ...ok(body), contentType });
const fromPackage = (file: string, contentType: string) =>
  asset(readFileSync(path.join(SWAGGER_UI_DIR, file)), contentType);

export function mountDocsRoutes(app: TemplatedApp, exchanges: Exchanges): void {
  const document = asset(readFileSync(OPENAPI_PATH), JSON_CONTENT_TYPE);
  const page = asset(PAGE, 'text/html; charset=utf-8');
  const assets = new Map<string, Reply>([
    ['init.js', asset(INIT, 'text/javascript; charset=utf-8')],
    ['swagger-ui-bundle.js', fromPackage('swagger-ui-bundle.js', 'text/javascript; charset=utf-8')],
    ['swagger-ui.css', fromPackage('swagger-ui.css', 'text/css; charset=utf-8')],
    ['favicon-32x32.png', fromPackage('favicon-32x32.png', 'image/png')],
  ]);
  mount(app, exchanges, '/openapi.json', { get: () => document });
  mount(app, exchanges, '/docs', { get: () => page });
  mount(app, exchanges, '/docs/:file', { get: (req) => assets.get(req.getParameter(0)) ?? ERRORS.unknownRoute });
}
