/**
 * A real browser against the API, the way storefronts meet it: headless Chromium (Debian's
 * `chromium`, driven by playwright-core) opens a page served from ANOTHER origin, whose script
 * calls the API directly with an `Authorization` header (which forces a CORS preflight) and
 * shows what came back. With `CORS_ORIGINS` naming some other origin, the same calls must be
 * blocked by the browser. The same browser opens GET /docs and runs one "try it" request.
 * Screenshots go to test-output/ (git-ignored) for a person to look at.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import t, { type Test } from 'tap';
import { openSession } from '../sql/db/admin.js';
import { serve } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { within } from '../lib/wait.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUTPUT = path.join(root, 'test-output');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in to your crowd', 'The So Fatigues will wake you up.', 'Jackets', 140);
INSERT INTO styles (id, product_id, name, sale_price, original_price, default_style) VALUES
  (1, 1, 'Forest Green & Black', NULL, 140, true);
INSERT INTO skus (id, style_id, size, quantity) VALUES (1, 1, 'XS', 8);
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reviewer_name, reviewer_email, helpfulness)
  VALUES (1, 1, 5, '2021-01-01T00:00:00Z', 'Great', 'Fits well and keeps me warm.', true, 'ada', 'ada@example.com', 2);
INSERT INTO characteristics (id, product_id, name) VALUES (1, 1, 'Fit');
INSERT INTO characteristic_reviews (id, characteristic_id, review_id, value) VALUES (1, 1, 1, 4);
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, helpful)
  VALUES (1, 1, 'Does it run small?', '2021-01-02T00:00:00Z', 'bob', 'bob@example.com', 1);
SELECT refresh_review_stats();
-- Rows inserted with their ids leave the identity sequences behind, as the ingest does not.
SELECT setval(pg_get_serial_sequence(name, 'id'), 1) FROM unnest(ARRAY['reviews', 'questions']) AS name;
`;

/**
 * The storefront page: every call a product page makes, straight from the browser, each with the
 * legacy token header. Each result lands in the DOM (for the screenshot) and in window.results.
 */
const STOREFRONT = `<!doctype html>
<html><head><meta charset="utf-8"><title>Storefront</title>
<style>body{font:14px sans-serif;margin:2em} li.ok{color:#060} li.fail{color:#a00}</style></head>
<body><h1>Atelier storefront (another origin)</h1><ul id="calls"></ul>
<script>
const api = new URLSearchParams(location.search).get('api');
const headers = { Authorization: 'Bearer storefront-token' };
const json = { ...headers, 'Content-Type': 'application/json' };
const calls = [
  ['GET product', '/products/1', {}],
  ['GET styles', '/products/1/styles', {}],
  ['GET reviews', '/reviews?product_id=1', {}],
  ['GET meta', '/reviews/meta?product_id=1', {}],
  ['GET questions', '/qa/questions?product_id=1', {}],
  ['PUT helpful', '/reviews/1/helpful', { method: 'PUT' }],
  ['POST question', '/qa/questions', { method: 'POST', body: JSON.stringify({ body: 'Is it warm?', name: 'cy', email: 'cy@example.com', product_id: 1 }) }],
  ['POST answer', '/qa/questions/1/answers', { method: 'POST', body: JSON.stringify({ body: 'Very warm.', name: 'di', email: 'di@example.com' }) }],
];
window.results = [];
(async () => {
  for (const [name, route, init] of calls) {
    let result;
    try {
      const response = await fetch(api + route, { ...init, headers: init.body ? json : headers });
      const text = await response.text();
      result = { name, status: response.status, text };
    } catch (err) {
      result = { name, error: String(err) };
    }
    window.results.push(result);
    const item = document.createElement('li');
    item.className = result.status >= 200 && result.status < 300 ? 'ok' : 'fail';
    item.textContent = name + ': ' + (result.error ?? result.status + ' ' + result.text.slice(0, 90));
    document.getElementById('calls').append(item);
  }
  document.body.dataset.done = 'yes';
})();
</script></body></html>`;

interface CallResult {
  readonly name: string;
  readonly status?: number;
  readonly text?: string;
  readonly error?: string;
}

async function servePage(t: Test): Promise<string> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(STOREFRONT);
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://localhost:${(server.address() as AddressInfo).port}`;
}

async function launch(t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root Chromium needs --no-sandbox; the rest keep it off this machine's closed network.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}

/** Opens the storefront page against `api` and returns what each call got, once all are done. */
async function runStorefront(browser: Browser, pageOrigin: string, api: string, screenshot: string) {
  const page = await browser.newPage();
  try {
    await page.goto(`${pageOrigin}/?api=${encodeURIComponent(api)}`);
    await within(
      page.waitForSelector('body[data-done="yes"]', { timeout: 0 }),
      'the storefront page finished its calls',
      { timeoutMs: 30_000 },
    );
    await page.screenshot({ path: path.join(OUTPUT, screenshot), fullPage: true });
    return (await page.evaluate('window.results')) as CallResult[];
  } finally {
    await page.close();
  }
}

t.test('a storefront on another origin calls every widget route and write, with Authorization', async (t) => {
  await mkdir(OUTPUT, { recursive: true });
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-browser');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  const browser = await launch(t);
  const pageOrigin = await servePage(t);

  t.test('with CORS_ORIGINS at its default (*) every call succeeds and the page shows it', async (t) => {
    const server = await serve(t, url);
    const results = await runStorefront(browser, pageOrigin, `http://127.0.0.1:${server.port}`, 'storefront-cors.png');
    t.equal(results.length, 8, 'all eight calls ran');
    for (const result of results) {
      t.notOk(result.error, `${result.name} was not blocked`);
      t.ok(
        result.status !== undefined && result.status >= 200 && result.status < 300,
        `${result.name} → ${result.status}`,
      );
    }
    t.match(results.find((r) => r.name === 'GET product')?.text, /"name":"Camo Onesie"/);
    t.match(results.find((r) => r.name === 'GET reviews')?.text, /Fits well/);
    t.match(results.find((r) => r.name === 'POST question')?.text, /^\{"question_id":\d+\}$/);
    t.match(results.find((r) => r.name === 'POST answer')?.text, /^\{"answer_id":\d+\}$/);
    const [helpfulness] = await db.query<{ helpfulness: number }>('SELECT helpfulness FROM reviews WHERE id = 1');
    t.equal(helpfulness?.helpfulness, 3, 'the browser’s helpful vote was stored');
  });

  t.test('with CORS_ORIGINS naming another origin, the browser blocks every call', async (t) => {
    const server = await serve(t, url, { CORS_ORIGINS: 'https://shop.example' });
    const results = await runStorefront(
      browser,
      pageOrigin,
      `http://127.0.0.1:${server.port}`,
      'storefront-blocked.png',
    );
    t.equal(results.length, 8, 'all eight calls ran');
    for (const result of results) t.match(result.error, /TypeError/, `${result.name} was blocked by CORS`);
  });
});

t.test('the browser loads /docs from the server alone and one "try it" request answers 200', async (t) => {
  await mkdir(OUTPUT, { recursive: true });
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-browser-docs');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  const browser = await launch(t);
  const server = await serve(t, url);
  const origin = `http://127.0.0.1:${server.port}`;
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  t.teardown(() => page.close());
  const elsewhere: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(`${origin}/`)) elsewhere.push(request.url());
  });
  await page.goto(`${origin}/docs`);
  const operation = page.locator('#operations-Products-GET_products_product_id');
  await within(operation.waitFor({ timeout: 0 }), 'the docs page listed GET /products/{product_id}', {
    timeoutMs: 30_000,
  });
  await operation.locator('.opblock-summary').click();
  await operation.getByRole('button', { name: 'Try it out' }).click();
  await operation.locator('input[placeholder="product_id"]').fill('1');
  const answered = page.waitForResponse((response) => response.url() === `${origin}/products/1`, { timeout: 0 });
  await operation.getByRole('button', { name: 'Execute' }).click();
  const response = await within(answered, '"try it" sent GET /products/1', { timeoutMs: 30_000 });
  t.equal(response.status(), 200, '"try it" got 200 from this server');
  const status = operation.locator('.live-responses-table tbody .response-col_status').first();
  await within(status.waitFor({ timeout: 0 }), 'the page showed the live response', { timeoutMs: 30_000 });
  t.equal((await status.textContent())?.trim(), '200', 'the page shows the 200');
  await page.screenshot({ path: path.join(OUTPUT, 'docs-try-it.png') });
  t.same(elsewhere, [], 'the page loaded nothing from any other origin');
});
