/**
 * The OpenAPI document against the server: every route and status is exercised over a fixture
 * database, each real response is validated against the document's schema for it, the examples
 * are taken from those responses, and docs/openapi.json (what GET /openapi.json serves) must equal
 * the document the code and those responses give. `OPENAPI_WRITE=1 npm test` rewrites it.
 * Every GET is also asked as HEAD and, where it answers with an ETag, again with If-None-Match
 * (→ 304); every path gets a CORS preflight; and every header of every response must be documented
 * for its operation and status, with a value its schema accepts.
 * The request-body schemas come from the parsers' own field tables; generated cases check that a
 * schema accepts exactly what its parser accepts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import t from 'tap';
import { dropDatabase, openSession } from '../sql/db/admin.js';
import { type Examples, openApiDocument } from '../server/openapi.js';
import { CART_PRODUCT_BODY, CART_SKU_BODY } from '../server/routes/cart.js';
import { OPENAPI_PATH } from '../server/routes/docs.js';
import { INTERACTION_BODY } from '../server/routes/interactions.js';
import { NEW_ANSWER_BODY, NEW_QUESTION_BODY } from '../server/routes/qa.js';
import { NEW_REVIEW_BODY } from '../server/routes/reviews.js';
import type { Body } from '../server/validate.js';
import { serve } from './helpers/api.js';
import { adminUrl, freshDatabase } from './helpers/database.js';
import { CATALOGUE as FIXTURE } from './fixtures/catalogue.js';

// ajv-formats is CommonJS: its default export arrives as the module object.
const addFormats = (addFormatsModule as unknown as { default: (ajv: Ajv2020) => Ajv2020 }).default;

const REVIEW = {
  product_id: 2,
  rating: 5,
  summary: 'Great',
  body: 'Comfortable and practical.',
  recommend: true,
  name: 'jackson11',
  email: 'first.last@gmail.com',
  photos: ['https://images.example/p1'],
  characteristics: { 1: 4 },
};
const QUESTION = { body: 'Does this run big?', name: 'jbilas', email: 'jb@example.com', product_id: 1 };
const ANSWER = {
  body: 'Runs small, size up.',
  name: 'sillyguy',
  email: 'sg@example.com',
  photos: ['https://images.example/a2'],
};
const CLICK = { element: '#add-to-cart', widget: 'overview', time: '2021-03-17T13:28:37.620Z' };

/** One request: the operation ("<METHOD> <template>") it exercises and the status it must get. */
interface Exchange {
  readonly operation: string;
  readonly path?: string;
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** Record the response body as this named example of the operation's status. */
  readonly example?: string;
  /** Record the request body as this named example of the operation's request. */
  readonly requestExample?: string;
  /** The component response it must match instead of the operation's own (405, unknown route). */
  readonly component?: string;
}

const BODY_ROUTES = [
  ['POST /reviews', '/reviews', REVIEW],
  ['POST /qa/questions', '/qa/questions', QUESTION],
  ['POST /qa/questions/{question_id}/answers', '/qa/questions/1/answers', ANSWER],
  ['POST /cart', '/cart', { sku_id: 1 }],
  ['POST /interactions', '/interactions', CLICK],
] as const;

/** Every route and status but 500, in an order that keeps the recorded examples stable. */
const EXCHANGES: Exchange[] = [
  { operation: 'GET /products', path: '/products?count=2', status: 200, example: 'page' },
  { operation: 'GET /products', path: '/products?page=0', status: 422, example: 'page' },
  { operation: 'GET /products/{product_id}', path: '/products/1', status: 200, example: 'product' },
  { operation: 'GET /products/{product_id}', path: '/products/99', status: 404 },
  { operation: 'GET /products/{product_id}/styles', path: '/products/1/styles', status: 200, example: 'styles' },
  { operation: 'GET /products/{product_id}/styles', path: '/products/3/styles', status: 200, example: 'no styles' },
  { operation: 'GET /products/{product_id}/styles', path: '/products/x/styles', status: 404 },
  { operation: 'GET /products/{product_id}/related', path: '/products/1/related', status: 200, example: 'related' },
  { operation: 'GET /products/{product_id}/related', path: '/products/0/related', status: 404 },
  { operation: 'GET /reviews', path: '/reviews?product_id=2', status: 200, example: 'reviews' },
  { operation: 'GET /reviews', path: '/reviews?product_id=2&sort=rating', status: 422, example: 'sort' },
  { operation: 'GET /reviews', path: '/reviews', status: 422, example: 'product_id' },
  { operation: 'GET /reviews/meta', path: '/reviews/meta?product_id=2', status: 200, example: 'meta' },
  { operation: 'GET /reviews/meta', path: '/reviews/meta?product_id=3', status: 200, example: 'no reviews' },
  { operation: 'GET /reviews/meta', path: '/reviews/meta?product_id=-1', status: 422 },
  { operation: 'GET /qa/questions', path: '/qa/questions?product_id=1', status: 200, example: 'questions' },
  { operation: 'GET /qa/questions', path: '/qa/questions?product_id=1&count=0', status: 422, example: 'count' },
  {
    operation: 'GET /qa/questions/{question_id}/answers',
    path: '/qa/questions/1/answers',
    status: 200,
    example: 'answers',
  },
  { operation: 'GET /qa/questions/{question_id}/answers', path: '/qa/questions/1/answers?page=x', status: 422 },
  { operation: 'GET /qa/questions/{question_id}/answers', path: '/qa/questions/99/answers', status: 404 },
  { operation: 'GET /cart/{user_session}', path: '/cart/7', status: 200, example: 'rows' },
  { operation: 'GET /cart/{user_session}', path: '/cart/abc', status: 404 },
  { operation: 'GET /cart', status: 422, example: 'no owner' },
  {
    operation: 'POST /cart',
    body: { sku_id: 1 },
    headers: { authorization: 'Bearer storefront-token' },
    status: 201,
    example: 'added',
    requestExample: 'v2: a sku into the caller’s cart',
  },
  {
    operation: 'POST /cart',
    body: { user_session: 7, product_id: 2 },
    status: 201,
    requestExample: 'v1: a product into a session’s cart',
  },
  { operation: 'POST /cart', body: { sku_id: 1, product_id: 1 }, status: 422, example: 'both forms' },
  { operation: 'POST /cart', body: { sku_id: 99 }, headers: { authorization: 'x' }, status: 422, example: 'sku_id' },
  {
    operation: 'GET /cart',
    headers: { authorization: 'Bearer storefront-token' },
    status: 200,
    example: 'cart',
  },
  { operation: 'GET /cart', path: '/cart?user_session=7', status: 200, example: 'by user_session' },
  { operation: 'POST /reviews', body: REVIEW, status: 201, example: 'created', requestExample: 'review' },
  {
    operation: 'POST /reviews',
    body: { ...REVIEW, product_id: '2', rating: '4', recommend: 'false', characteristics: { 1: '3' } },
    status: 201,
    requestExample: 'form values as strings',
  },
  { operation: 'POST /reviews', body: { ...REVIEW, rating: 6 }, status: 422, example: 'rating' },
  { operation: 'POST /reviews', body: { ...REVIEW, product_id: 99 }, status: 422, example: 'unknown product' },
  {
    operation: 'POST /reviews',
    body: { ...REVIEW, characteristics: { 2: 9 } },
    status: 422,
    example: 'characteristics',
  },
  { operation: 'POST /reviews', body: [REVIEW], status: 422, example: 'not an object' },
  { operation: 'POST /qa/questions', body: QUESTION, status: 201, example: 'created', requestExample: 'question' },
  { operation: 'POST /qa/questions', body: { ...QUESTION, email: 'jb' }, status: 422, example: 'email' },
  {
    operation: 'POST /qa/questions/{question_id}/answers',
    path: '/qa/questions/1/answers',
    body: ANSWER,
    status: 201,
    example: 'created',
    requestExample: 'answer',
  },
  {
    operation: 'POST /qa/questions/{question_id}/answers',
    path: '/qa/questions/1/answers',
    body: { ...ANSWER, photos: ['ftp://x'] },
    status: 422,
    example: 'photos',
  },
  {
    operation: 'POST /qa/questions/{question_id}/answers',
    path: '/qa/questions/99/answers',
    body: ANSWER,
    status: 404,
  },
  { operation: 'POST /interactions', body: CLICK, status: 201, example: 'stored', requestExample: 'click' },
  { operation: 'POST /interactions', body: { ...CLICK, widget: '' }, status: 422, example: 'widget' },
  ...BODY_ROUTES.flatMap(([operation, path, body]): Exchange[] => [
    { operation, path, body: '{"body":', status: 400 },
    { operation, path, body: JSON.stringify(body), headers: { 'content-type': 'text/plain' }, status: 415 },
    { operation, path, body: JSON.stringify({ ...body, padding: 'x'.repeat(70_000) }), status: 413 },
  ]),
  ...[
    ['PUT /reviews/{review_id}/helpful', '/reviews/1/helpful'],
    ['PUT /reviews/{review_id}/report', '/reviews/2/report'],
    ['PUT /qa/questions/{question_id}/helpful', '/qa/questions/1/helpful'],
    ['PUT /qa/questions/{question_id}/report', '/qa/questions/2/report'],
    ['PUT /qa/answers/{answer_id}/helpful', '/qa/answers/1/helpful'],
    ['PUT /qa/answers/{answer_id}/report', '/qa/answers/1/report'],
  ].flatMap(([operation, path]): Exchange[] => [
    { operation: operation!, path, status: 204 },
    { operation: operation!, path: path!.replace(/\/\d+\//, '/99/'), status: 404 },
  ]),
  { operation: 'GET /health', status: 200, example: 'up' },
  { operation: 'GET /ready', status: 200, example: 'ready' },
  { operation: 'GET /metrics', status: 200 },
  { operation: 'GET /openapi.json', status: 200 },
  { operation: 'GET /docs', status: 200 },
  { operation: 'GET /docs/{file}', path: '/docs/swagger-ui-bundle.js', status: 200 },
  { operation: 'GET /docs/{file}', path: '/docs/swagger-ui.css', status: 200 },
  { operation: 'GET /docs/{file}', path: '/docs/init.js', status: 200 },
  { operation: 'GET /docs/{file}', path: '/docs/favicon-32x32.png', status: 200 },
  { operation: 'GET /docs/{file}', path: '/docs/secret.txt', status: 404 },
  { operation: 'PUT /products', status: 405, component: 'MethodNotAllowed' },
  { operation: 'DELETE /reviews', status: 405, component: 'MethodNotAllowed' },
  { operation: 'GET /nowhere', status: 404, component: 'UnknownRoute' },
];

/** Asked once the database is gone: every database route's answer is then a 503. */
const UNAVAILABLE: Exchange[] = [
  { operation: 'GET /ready', status: 503 },
  { operation: 'GET /products/{product_id}', path: '/products/2', status: 503 },
  { operation: 'POST /reviews', body: REVIEW, status: 503 },
  { operation: 'PUT /reviews/{review_id}/helpful', path: '/reviews/1/helpful', status: 503 },
];

/** A listed origin, sent on every request, so that every CORS header (Vary included) is sent and checked. */
const ORIGIN = 'https://shop.example';
/**
 * Framing, the server's signature, and the coding a body is sent in (negotiated by Accept-Encoding
 * whatever the operation): not part of any operation's contract.
 */
const TRANSPORT_HEADERS = new Set([
  'date',
  'content-length',
  'connection',
  'uwebsockets',
  'content-type',
  'content-encoding',
]);

interface HeaderObject {
  readonly $ref?: string;
  readonly schema?: { readonly const?: unknown; readonly type?: string };
}
interface ResponseObject {
  readonly $ref?: string;
  readonly content?: object;
  readonly headers?: Record<string, HeaderObject>;
}
type Doc = ReturnType<typeof openApiDocument> & {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>;
  components: { responses: Record<string, ResponseObject>; headers: Record<string, HeaderObject> };
};

const mediaType = (contentType: string | null) => (contentType ?? '').split(';')[0]!.trim();
const pointer = (...parts: string[]) => parts.map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

t.test(
  'every route and status answers as the OpenAPI document says, and docs/openapi.json is up to date',
  async (t) => {
    const url = await freshDatabase(t);
    const setup = await openSession(url, 'openapi-fixture');
    await setup.query(FIXTURE);
    await setup.end();
    const server = await serve(t, url, { CORS_ORIGINS: ORIGIN });
    const base = `http://127.0.0.1:${server.port}`;

    const examples: Examples = {};
    const record = (operation: string, slot: string, name: string, value: unknown) => {
      examples[operation] ??= {};
      examples[operation][slot] ??= {};
      examples[operation][slot][name] = value;
    };
    const answered: {
      exchange: Exchange;
      status: number;
      contentType: string | null;
      headers: Headers;
      body: Buffer;
    }[] = [];
    const exercise = async (exchange: Exchange) => {
      const [method, template] = exchange.operation.split(' ') as [string, string];
      const body =
        exchange.body === undefined || typeof exchange.body === 'string'
          ? exchange.body
          : JSON.stringify(exchange.body);
      const response = await fetch(`${base}${exchange.path ?? template}`, {
        method,
        headers: {
          origin: ORIGIN,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...exchange.headers,
        },
        ...(body === undefined ? {} : { body }),
      });
      const bytes = Buffer.from(await response.arrayBuffer());
      t.equal(response.status, exchange.status, `${exchange.operation} ${exchange.path ?? ''}`);
      answered.push({
        exchange,
        status: response.status,
        contentType: response.headers.get('content-type'),
        headers: response.headers,
        body: bytes,
      });
      if (exchange.example)
        record(exchange.operation, String(exchange.status), exchange.example, JSON.parse(String(bytes)));
      if (exchange.requestExample) record(exchange.operation, 'request', exchange.requestExample, exchange.body);
      return response.headers.get('etag');
    };
    /** A GET, then the same as HEAD and, when it got an ETag, both again naming it in If-None-Match. */
    const exerciseRead = async (exchange: Exchange) => {
      const etag = await exercise(exchange);
      if (!exchange.operation.startsWith('GET ') || exchange.component) return;
      const head = exchange.operation.replace(/^GET /, 'HEAD ');
      await exercise({ operation: head, path: exchange.path, headers: exchange.headers, status: exchange.status });
      if (etag === null) return;
      const conditional = { path: exchange.path, headers: { ...exchange.headers, 'if-none-match': etag }, status: 304 };
      await exercise({ operation: exchange.operation, ...conditional });
      await exercise({ operation: head, ...conditional });
    };
    for (const exchange of EXCHANGES) await exerciseRead(exchange);
    for (const [template, methods] of Object.entries((openApiDocument() as Doc).paths)) {
      await exercise({
        operation: `OPTIONS ${template}`,
        path: template.replaceAll(/\{[^}]+\}/g, '1'),
        headers: {
          'access-control-request-method': Object.keys(methods)[0]!.toUpperCase(),
          'access-control-request-headers': 'authorization,content-type',
        },
        status: 204,
      });
    }
    const served = answered.find(({ exchange }) => exchange.operation === 'GET /openapi.json')!.body;
    await dropDatabase(adminUrl(), decodeURIComponent(new URL(url).pathname.slice(1)));
    for (const exchange of UNAVAILABLE) await exerciseRead(exchange);

    const document = openApiDocument(examples) as Doc;
    const text = `${JSON.stringify(document, null, 2)}\n`;
    if (process.env.OPENAPI_WRITE === '1') writeFileSync(OPENAPI_PATH, text);
    t.equal(
      readFileSync(OPENAPI_PATH, 'utf8'),
      text,
      'docs/openapi.json is current (OPENAPI_WRITE=1 npm test rewrites it)',
    );
    t.equal(String(served), readFileSync(OPENAPI_PATH, 'utf8'), 'GET /openapi.json serves docs/openapi.json');

    const ajv = new Ajv2020({ strict: false, validateSchema: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(document, 'openapi.json');
    /** Every header sent is documented (transport aside), every required one sent, each value valid. */
    const checkHeaders = (label: string, location: string, documented: Record<string, HeaderObject>, sent: Headers) => {
      const names = new Map(Object.keys(documented).map((name) => [name.toLowerCase(), name]));
      for (const [name, value] of sent) {
        if (TRANSPORT_HEADERS.has(name)) continue;
        const documentedName = names.get(name);
        if (!t.ok(documentedName, `${label}: ${name} is documented`)) continue;
        const declared = documented[documentedName!]!;
        const at = declared.$ref ? declared.$ref.slice(2) : `${location}/headers/${pointer(documentedName!)}`;
        const header = declared.$ref ? document.components.headers[declared.$ref.split('/').pop()!]! : declared;
        const validate = ajv.getSchema(`openapi.json#/${at}/schema`)!;
        const typed = header.schema?.type === 'integer' || typeof header.schema?.const === 'number';
        t.ok(validate(typed ? Number(value) : value), `${label}: ${name}: ${value} matches its schema`, {
          errors: validate.errors,
        });
      }
      // The server runs with a CORS_ORIGINS list and every request names a listed Origin, so even
      // the headers sent only in some configurations are sent here: none is documented in vain.
      for (const name of names.values()) t.ok(sent.has(name), `${label} carries ${name}`);
    };
    const covered = new Set<string>();
    for (const { exchange, status, contentType, headers, body } of answered) {
      const [method, template] = exchange.operation.split(' ') as [string, string];
      const label = `${exchange.operation} ${exchange.path ?? ''} → ${status}`;
      const documented = exchange.component
        ? {
            location: pointer('components', 'responses', exchange.component),
            response: document.components.responses[exchange.component],
          }
        : (() => {
            const response = document.paths[template]?.[method.toLowerCase()]?.responses[String(status)];
            const name = response?.$ref?.replace('#/components/responses/', '');
            return name
              ? { location: pointer('components', 'responses', name), response: document.components.responses[name] }
              : { location: pointer('paths', template, method.toLowerCase(), 'responses', String(status)), response };
          })();
      if (!t.ok(documented.response, `${label} is documented`)) continue;
      covered.add(`${exchange.operation} ${status}`);
      checkHeaders(label, documented.location, documented.response!.headers ?? {}, headers);
      if (exchange.component === 'MethodNotAllowed') {
        const preflight = document.paths[template]!.options!.responses['204']!.headers!.Allow!;
        t.equal(headers.get('allow'), preflight.schema!.const, `${label}: Allow is what OPTIONS documents`);
      }
      const content = documented.response!.content as Record<string, unknown> | undefined;
      if (content === undefined) {
        t.equal(body.length, 0, `${label} has no body`);
        if (method === 'HEAD' && status !== 304) {
          const get = document.paths[template]!.get!.responses[String(status)]!;
          const getContent = (get.$ref ? document.components.responses[get.$ref.split('/').pop()!]! : get).content;
          const types = Object.keys(getContent ?? {}).map(mediaType);
          if (getContent) t.ok(types.includes(mediaType(contentType)), `${label}: the GET's Content-Type`);
        }
        continue;
      }
      const media = Object.keys(content).find((key) => mediaType(key) === mediaType(contentType));
      if (!t.ok(media, `${label}: ${contentType} is a documented media type`)) continue;
      if (mediaType(media!) !== 'application/json') continue;
      const validate = ajv.getSchema(`openapi.json#/${documented.location}/content/${pointer(media!)}/schema`)!;
      t.ok(validate(JSON.parse(String(body))), `${label} matches its schema`, { errors: validate.errors });
    }

    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, { responses }] of Object.entries(methods)) {
        for (const status of Object.keys(responses)) {
          // A 500 needs a bug to happen; its body is the error table's, like every other error's.
          if (status === '500') continue;
          const operation = `${method.toUpperCase()} ${path}`;
          const exercisedElsewhere = status === '503' && covered.has('GET /ready 503');
          t.ok(covered.has(`${operation} ${status}`) || exercisedElsewhere, `${operation} ${status} was exercised`);
        }
      }
    }

    const validator = new Validator();
    const check = await validator.validate(document as never);
    t.same(check.errors ?? [], [], 'the document is valid OpenAPI');
    t.equal(check.valid, true);
    t.equal(validator.version, '3.1', 'as OpenAPI 3.1');
  },
);

/** Values each kind of field must be judged alike by its parser and its schema. */
const VALUES: unknown[] = [
  ...[1, 5, 6, 0, -1, 1.5, 2147483647, 2147483648, true, false, null, [], {}, [1], { 1: 1 }],
  ...['1', '5', '6', '05', '5.0', ' 5', '+5', '', '2147483647', '2147483648', 'true', 'false', 'True', '1e0'],
  ...['a', 'x'.repeat(60), 'x'.repeat(61), 'x'.repeat(200), 'x'.repeat(201), `${'x'.repeat(59)}😀`, 'a\u0000b'],
  ...['a@b.co', 'first.last@gmail.com', 'first@gmail', 'a b@c.de', 'a@b.co\u0000', `${'e'.repeat(50)}@example.com`],
  ...[['https://img.example/1'], ['ftp://img.example/1'], ['not a url'], ['HTTP://img.example/1'], [null]],
  ...[
    Array(5).fill('https://a.example/'),
    Array(6).fill('https://a.example/'),
    [`https://a.example/${'p'.repeat(2040)}`],
  ],
  ...[{ 1: 4 }, { 1: '4' }, { 1: 6 }, { '01': 4 }, { abc: 4 }, { 2147483648: 4 }],
];

const BODIES: [string, Body<unknown>, Record<string, unknown>][] = [
  ['NewReview', NEW_REVIEW_BODY, REVIEW],
  ['NewQuestion', NEW_QUESTION_BODY, QUESTION],
  ['NewAnswer', NEW_ANSWER_BODY, ANSWER],
  ['CartSku', CART_SKU_BODY, { sku_id: 1 }],
  ['CartProduct', CART_PRODUCT_BODY, { user_session: 7, product_id: 1 }],
  ['Interaction', INTERACTION_BODY, CLICK],
];

t.test('each request-body schema accepts exactly what its parser accepts', async (t) => {
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  for (const [name, body, valid] of BODIES) {
    const validate = ajv.compile(body.schema);
    const fields = Object.keys((body.schema as { properties: object }).properties);
    let cases = 0;
    for (const field of fields) {
      for (const value of [undefined, ...VALUES]) {
        const input = { ...valid, [field]: value };
        let parsed = true;
        try {
          body.parse(input);
        } catch {
          parsed = false;
        }
        const label = `${name}.${field} = ${JSON.stringify(value)?.slice(0, 40)}`;
        if (parsed !== validate(input)) t.fail(`${label}: parser ${parsed ? 'accepts' : 'refuses'}, schema disagrees`);
        cases += 1;
      }
    }
    t.pass(`${name}: ${cases} generated cases agree`);
  }
});
