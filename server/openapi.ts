/**
 * The OpenAPI 3.1 description of every route this server mounts. Request bodies are the very
 * field tables the routes parse with (server/validate.ts); response examples are handed in by
 * test/openapi.test.ts, which records them from real responses over a fixture database, writes the
 * result to docs/openapi.json, and validates every real response against it. The server serves
 * that committed file (server/routes/operational.ts), so what is served is what was checked.
 */
import { REVIEW_SORTS } from '../sql/queries/reviews.js';
import { PREFLIGHT_MAX_AGE_SECONDS } from './cors.js';
import { ERRORS, methodNotAllowed, unavailable } from './errors.js';
import { DEFAULT_COUNT, DEFAULT_PAGE, MAX_COUNT, MAX_ID, MAX_PAGE } from './limits.js';
import { METRICS_CONTENT_TYPE } from './metrics.js';
import type { Reply } from './reply.js';
import { CART_PRODUCT_BODY, CART_SKU_BODY } from './routes/cart.js';
import { INTERACTION_BODY } from './routes/interactions.js';
import { NEW_ANSWER_BODY, NEW_QUESTION_BODY } from './routes/qa.js';
import { NEW_REVIEW_BODY } from './routes/reviews.js';
import type { JsonSchema } from './validate.js';

/** Named examples of one operation, by status ('201') or 'request' for its request body. */
export type OperationExamples = Record<string, Record<string, unknown>>;
/** Examples by operation, keyed "<METHOD> <path template>", e.g. "GET /products/{product_id}". */
export type Examples = Record<string, OperationExamples>;

const JSON_MEDIA = 'application/json';
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string) => ({ type: [type, 'null'] });
const integer = { type: 'integer' };
const string = { type: 'string' };
const date = { type: 'string', format: 'date-time' };

/** An object with exactly these properties, all required: a response that grows a field fails the test. */
function exactly(properties: Record<string, JsonSchema>): JsonSchema {
  return { type: 'object', required: Object.keys(properties), properties, additionalProperties: false };
}

const arrayOf = (items: JsonSchema) => ({ type: 'array', items });
const photo = exactly({ id: integer, url: string });

const PRODUCT = {
  id: integer,
  name: string,
  slogan: string,
  description: string,
  category: string,
  default_price: { type: 'string', description: 'The stored decimal as written, e.g. "140".' },
};

const SCHEMAS: Record<string, JsonSchema> = {
  Error: exactly({ error: { type: 'string', description: 'One sentence saying what was wrong.' } }),
  Product: exactly(PRODUCT),
  ProductDetail: exactly({
    ...PRODUCT,
    features: arrayOf(exactly({ feature: string, value: nullable('string') })),
  }),
  Styles: exactly({
    product_id: { type: 'string', description: 'The product id, as a string.' },
    results: arrayOf(
      exactly({
        style_id: integer,
        name: string,
        original_price: string,
        sale_price: nullable('string'),
        'default?': { type: 'boolean' },
        photos: arrayOf(exactly({ thumbnail_url: nullable('string'), url: nullable('string') })),
        skus: {
          type: 'object',
          description: 'Keyed by sku id; a style without skus has the one key "null" with null values.',
          additionalProperties: exactly({ quantity: nullable('integer'), size: nullable('string') }),
        },
      }),
    ),
  }),
  ReviewList: exactly({
    product: { type: 'string', description: 'The product id, as a string.' },
    page: { type: 'integer', description: '0-based: the requested page minus one.' },
    count: { type: 'integer', description: 'The effective page size.' },
    results: arrayOf(
      exactly({
        review_id: integer,
        rating: { type: 'integer', minimum: 1, maximum: 5 },
        summary: string,
        recommend: { type: 'boolean' },
        response: nullable('string'),
        body: string,
        date,
        reviewer_name: string,
        helpfulness: integer,
        photos: arrayOf(photo),
      }),
    ),
  }),
  ReviewMeta: exactly({
    product_id: string,
    ratings: {
      type: 'object',
      description: 'Counts as strings by star; a star with no review is left out.',
      propertyNames: { pattern: '^[1-5]$' },
      additionalProperties: { type: 'string', pattern: '^[1-9][0-9]*$' },
    },
    recommended: {
      type: 'object',
      propertyNames: { enum: ['false', 'true'] },
      additionalProperties: { type: 'string', pattern: '^[1-9][0-9]*$' },
    },
    characteristics: {
      type: 'object',
      description: 'By characteristic name; value is the mean rating with 16 fractional digits, or null.',
      additionalProperties: exactly({ id: integer, value: nullable('string') }),
    },
  }),
  QuestionList: exactly({
    product_id: string,
    results: arrayOf(
      exactly({
        question_id: integer,
        question_body: string,
        question_date: date,
        asker_name: string,
        question_helpfulness: integer,
        reported: { const: false },
        answers: {
          type: 'object',
          description: 'Every visible answer, keyed by answer id.',
          additionalProperties: exactly({
            id: integer,
            body: string,
            date,
            answerer_name: string,
            helpfulness: integer,
            photos: arrayOf(string),
          }),
        },
      }),
    ),
  }),
  AnswerList: exactly({
    question: { type: 'string', description: 'The question id, as a string.' },
    page: { type: 'integer', description: '0-based: the requested page minus one.' },
    count: integer,
    results: arrayOf(
      exactly({
        answer_id: integer,
        body: string,
        date,
        answerer_name: string,
        helpfulness: integer,
        photos: arrayOf(photo),
      }),
    ),
  }),
  CartItems: arrayOf(exactly({ sku_id: integer, count: integer })),
  CartRows: arrayOf(exactly({ id: integer, user_session: integer, product_id: integer, active: { type: 'boolean' } })),
  Empty: exactly({}),
  NewReview: NEW_REVIEW_BODY.schema,
  NewQuestion: NEW_QUESTION_BODY.schema,
  NewAnswer: NEW_ANSWER_BODY.schema,
  CartSku: CART_SKU_BODY.schema,
  CartProduct: CART_PRODUCT_BODY.schema,
  Interaction: INTERACTION_BODY.schema,
};

const header = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` });

/** Response headers sent by server/http.ts and server/cors.ts whatever the route. */
const HEADERS = {
  'Access-Control-Allow-Origin': {
    description:
      'On every response: `*` under CORS_ORIGINS=* (the default); with a list of origins, the request’s ' +
      'Origin when it is listed, and no CORS header at all (Vary aside) when it is not.',
    schema: string,
  },
  'Access-Control-Expose-Headers': {
    description:
      'On every response to an allowed origin: what a page’s script may read besides the safelisted headers.',
    schema: { const: 'Retry-After, ETag' },
  },
  Vary: {
    description:
      '`Origin` on every response when CORS_ORIGINS is a list: the answer depends on the request’s Origin. ' +
      '`Accept-Encoding` on every response whose body is 1 KiB or more: such a body is sent compressed ' +
      '(`Content-Encoding: br` or `gzip`) to a client whose Accept-Encoding prefers it (docs/api.md § Compression).',
    schema: { enum: ['Origin', 'Accept-Encoding', 'Origin, Accept-Encoding'] },
  },
  ETag: {
    description:
      'The strong validator of the body (128 bits of its SHA-256, base64url, quoted); a compressed body’s tag ' +
      'names its coding too (`"…-br"`, `"…-gzip"`). Send it back in If-None-Match.',
    required: true,
    schema: { type: 'string', pattern: '^"[A-Za-z0-9_-]{22}(-br|-gzip)?"$' },
  },
  'Cache-Control': {
    description: 'A client may store the body but must revalidate it (If-None-Match) before every use.',
    required: true,
    schema: { const: 'no-cache' },
  },
  'Content-Length': {
    description: 'The length of the body a GET would get.',
    required: true,
    schema: { type: 'integer', minimum: 0 },
  },
  'Access-Control-Allow-Headers': {
    description:
      'The request headers the preflight asked for (Access-Control-Request-Headers), echoed; absent when it named none.',
    schema: string,
  },
  'Access-Control-Max-Age': {
    description: 'Seconds a browser may reuse this preflight answer.',
    schema: { const: PREFLIGHT_MAX_AGE_SECONDS },
  },
} as const;

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': header('Access-Control-Allow-Origin'),
  'Access-Control-Expose-Headers': header('Access-Control-Expose-Headers'),
  Vary: header('Vary'),
};
const REVALIDATION_HEADERS = { ETag: header('ETag'), 'Cache-Control': header('Cache-Control'), ...CORS_HEADERS };

const errorExample = (reply: Reply) => ({ value: JSON.parse(String(reply.body)) });

/** Error responses every operation of a kind can give, with the error table's exact bodies. */
const RESPONSES = {
  MalformedJson: { description: 'The body is not UTF-8 JSON.', reply: ERRORS.malformedJson },
  UnknownId: { description: 'A malformed path id, or one that names nothing.', reply: ERRORS.unknownId },
  UnknownRoute: { description: 'No route matches the path.', reply: ERRORS.unknownRoute },
  BodyTooLarge: {
    description: 'The body is over 64 KiB; the connection is closed.',
    reply: ERRORS.bodyTooLarge,
  },
  UnsupportedMediaType: {
    description: 'The body was not sent as application/json; the connection is closed.',
    reply: ERRORS.unsupportedMediaType,
  },
  Internal: { description: 'An unexpected failure, logged by the server.', reply: ERRORS.internal },
  MethodNotAllowed: {
    description: 'A method the path does not serve; Allow lists the ones it does.',
    reply: methodNotAllowed('GET, HEAD, OPTIONS'),
    headers: {
      Allow: {
        required: true,
        schema: string,
        description: 'The methods the path serves, as its OPTIONS answer lists them, e.g. "GET, HEAD, OPTIONS".',
      },
    },
  },
  Unavailable: {
    description: 'The database is unreachable, too slow or overloaded; retry after Retry-After seconds.',
    reply: unavailable(1),
    headers: { 'Retry-After': { required: true, schema: integer, description: 'Seconds to wait before retrying.' } },
  },
} as const;

function componentResponses() {
  return {
    ...Object.fromEntries(
      Object.entries(RESPONSES).map(([name, response]) => [
        name,
        {
          description: response.description,
          headers: { ...('headers' in response ? response.headers : {}), ...CORS_HEADERS },
          content: { [JSON_MEDIA]: { schema: ref('Error'), examples: { [name]: errorExample(response.reply) } } },
        },
      ]),
    ),
    NotModified: {
      description: 'If-None-Match names the current ETag (or is *): the body has not changed; no body.',
      headers: REVALIDATION_HEADERS,
    },
  };
}

const parameter = (name: string) => ({ $ref: `#/components/parameters/${name}` });

const PARAMETERS = {
  page: {
    name: 'page',
    in: 'query',
    description: '1-based page number.',
    schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE },
  },
  count: {
    name: 'count',
    in: 'query',
    description: `Page size; above ${MAX_COUNT} is treated as ${MAX_COUNT}.`,
    schema: { type: 'integer', minimum: 1, default: DEFAULT_COUNT },
  },
  productIdQuery: {
    name: 'product_id',
    in: 'query',
    required: true,
    description: 'A product id; one that names no product gives empty results.',
    schema: { type: 'integer', minimum: 1, maximum: MAX_ID },
  },
  sort: {
    name: 'sort',
    in: 'query',
    schema: { type: 'string', enum: [...REVIEW_SORTS], default: 'relevant' },
  },
  userSessionQuery: {
    name: 'user_session',
    in: 'query',
    description: 'Names the v2 cart when no Authorization is sent.',
    schema: { type: 'integer', minimum: 1, maximum: MAX_ID },
  },
  ifNoneMatch: {
    name: 'If-None-Match',
    in: 'header',
    description: 'ETags of bodies the client holds (a list, `*`, and `W/` tags allowed); the current one gives a 304.',
    schema: string,
  },
  origin: {
    name: 'Origin',
    in: 'header',
    description: 'The calling page’s origin; with a CORS_ORIGINS list only a listed one gets the CORS headers.',
    schema: string,
  },
  accessControlRequestMethod: {
    name: 'Access-Control-Request-Method',
    in: 'header',
    description: 'The method the browser means to send.',
    schema: string,
  },
  accessControlRequestHeaders: {
    name: 'Access-Control-Request-Headers',
    in: 'header',
    description: 'The headers the browser means to send, echoed in Access-Control-Allow-Headers.',
    schema: string,
  },
};

function pathParameter(name: string) {
  return {
    name,
    in: 'path',
    required: true,
    description: 'A positive integer in canonical decimal; anything else is a 404.',
    schema: { type: 'integer', minimum: 1, maximum: MAX_ID },
  };
}

/** A response body of one or several media types (a JSON body needs only its schema). */
interface Media {
  readonly media: string | readonly string[];
  readonly schema: JsonSchema;
}

interface Operation {
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly parameters?: readonly unknown[];
  /** Schema names of the accepted request bodies (several: any one of them). */
  readonly body?: readonly string[];
  /** By status: the schema name of a JSON body, a media type and schema, or null for no body. */
  readonly responses: Record<
    string,
    string | JsonSchema | { readonly media: string; readonly schema: JsonSchema } | null
  >;
  /** Error responses from components.responses, by status. */
  readonly errors?: Record<string, keyof typeof RESPONSES>;
  /** Statuses whose body is an Error (422s, whose message says which field). */
  readonly failures?: Record<string, string>;
  readonly security?: readonly Record<string, string[]>[];
  /** A GET whose 200 carries ETag and Cache-Control: no-cache, and a matching If-None-Match gets a 304. */
  readonly revalidated?: true;
}

const DATABASE_ERRORS = { '500': 'Internal', '503': 'Unavailable' } as const;
const BODY_ERRORS = {
  '400': 'MalformedJson',
  '413': 'BodyTooLarge',
  '415': 'UnsupportedMediaType',
  ...DATABASE_ERRORS,
} as const;
const INVALID = 'A query parameter or body field fails validation; the message names the first one.';

const rowChange = (summary: string, idName: string, tag: string): Operation => ({
  summary,
  tag,
  parameters: [pathParameter(idName)],
  responses: { '204': null },
  errors: { '404': 'UnknownId', ...DATABASE_ERRORS },
});

const CART_OWNER: Record<string, string[]>[] = [{ cartOwner: [] }, {}];

const OPERATIONS: Record<string, Record<string, Operation>> = {
  '/products': {
    get: {
      summary: 'A page of products, by id',
      revalidated: true,
      tag: 'Products',
      parameters: [parameter('page'), parameter('count')],
      responses: { '200': { media: JSON_MEDIA, schema: arrayOf(ref('Product')) } },
      failures: { '422': INVALID },
      errors: DATABASE_ERRORS,
    },
  },
  '/products/{product_id}': {
    get: {
      summary: 'One product with its features',
      revalidated: true,
      tag: 'Products',
      parameters: [pathParameter('product_id')],
      responses: { '200': 'ProductDetail' },
      errors: { '404': 'UnknownId', ...DATABASE_ERRORS },
    },
  },
  '/products/{product_id}/styles': {
    get: {
      summary: "The product's styles, by style id",
      revalidated: true,
      tag: 'Products',
      parameters: [pathParameter('product_id')],
      responses: { '200': 'Styles' },
      errors: { '404': 'UnknownId', ...DATABASE_ERRORS },
    },
  },
  '/products/{product_id}/related': {
    get: {
      summary: 'The ids of related products',
      revalidated: true,
      tag: 'Products',
      parameters: [pathParameter('product_id')],
      responses: { '200': { media: JSON_MEDIA, schema: arrayOf(integer) } },
      errors: { '404': 'UnknownId', ...DATABASE_ERRORS },
    },
  },
  '/reviews': {
    get: {
      summary: "A page of a product's visible reviews",
      revalidated: true,
      tag: 'Ratings & reviews',
      parameters: [parameter('productIdQuery'), parameter('page'), parameter('count'), parameter('sort')],
      responses: { '200': 'ReviewList' },
      failures: { '422': INVALID },
      errors: DATABASE_ERRORS,
    },
    post: {
      summary: 'Add a review',
      description:
        'Integer fields also take their canonical decimal string ("5"), recommend "true"/"false". ' +
        'Whether the product exists and the characteristics are its own is checked last, by the write.',
      tag: 'Ratings & reviews',
      body: ['NewReview'],
      responses: { '201': exactly({ review_id: integer }) },
      failures: { '422': INVALID },
      errors: BODY_ERRORS,
    },
  },
  '/reviews/meta': {
    get: {
      summary: "The product's rating, recommendation and characteristic statistics",
      revalidated: true,
      tag: 'Ratings & reviews',
      parameters: [parameter('productIdQuery')],
      responses: { '200': 'ReviewMeta' },
      failures: { '422': INVALID },
      errors: DATABASE_ERRORS,
    },
  },
  '/reviews/{review_id}/helpful': { put: rowChange('Vote a review helpful', 'review_id', 'Ratings & reviews') },
  '/reviews/{review_id}/report': { put: rowChange('Report (hide) a review', 'review_id', 'Ratings & reviews') },
  '/qa/questions': {
    get: {
      summary: "A page of a product's visible questions, each with all its answers",
      revalidated: true,
      tag: 'Questions & answers',
      parameters: [parameter('productIdQuery'), parameter('page'), parameter('count')],
      responses: { '200': 'QuestionList' },
      failures: { '422': INVALID },
      errors: DATABASE_ERRORS,
    },
    post: {
      summary: 'Ask a question',
      tag: 'Questions & answers',
      body: ['NewQuestion'],
      responses: { '201': exactly({ question_id: integer }) },
      failures: { '422': INVALID },
      errors: BODY_ERRORS,
    },
  },
  '/qa/questions/{question_id}/answers': {
    get: {
      summary: "A page of a visible question's visible answers",
      revalidated: true,
      tag: 'Questions & answers',
      parameters: [pathParameter('question_id'), parameter('page'), parameter('count')],
      responses: { '200': 'AnswerList' },
      failures: { '422': INVALID },
      errors: { '404': 'UnknownId', ...DATABASE_ERRORS },
    },
    post: {
      summary: 'Answer a question',
      description: 'The body is read before the path id is judged, so a body error comes before a 404.',
      tag: 'Questions & answers',
      parameters: [pathParameter('question_id')],
      body: ['NewAnswer'],
      responses: { '201': exactly({ answer_id: integer }) },
      failures: { '422': INVALID },
      errors: { '404': 'UnknownId', ...BODY_ERRORS },
    },
  },
  '/qa/questions/{question_id}/helpful': {
    put: rowChange('Vote a question helpful', 'question_id', 'Questions & answers'),
  },
  '/qa/questions/{question_id}/report': {
    put: rowChange('Report (hide) a question and its answers', 'question_id', 'Questions & answers'),
  },
  '/qa/answers/{answer_id}/helpful': { put: rowChange('Vote an answer helpful', 'answer_id', 'Questions & answers') },
  '/qa/answers/{answer_id}/report': { put: rowChange('Report (hide) an answer', 'answer_id', 'Questions & answers') },
  '/cart': {
    get: {
      summary: "The caller's cart (v2): one entry per sku, by first addition",
      description: 'The cart is the Authorization value (compared exactly), or without one the user_session parameter.',
      tag: 'Cart',
      parameters: [parameter('userSessionQuery')],
      security: CART_OWNER,
      responses: { '200': 'CartItems' },
      failures: { '422': 'Neither Authorization nor a valid user_session names the cart.' },
      errors: DATABASE_ERRORS,
    },
    post: {
      summary: 'Add to a cart: {sku_id} (v2, the caller’s cart) or {user_session, product_id} (v1)',
      description: 'A body naming both sku_id and product_id is a 422; an unknown sku or product is a 422.',
      tag: 'Cart',
      parameters: [parameter('userSessionQuery')],
      security: CART_OWNER,
      body: ['CartSku', 'CartProduct'],
      responses: { '201': 'Empty' },
      failures: { '422': INVALID },
      errors: BODY_ERRORS,
    },
  },
  '/cart/{user_session}': {
    get: {
      summary: "A session's cart rows (v1), by id",
      tag: 'Cart',
      parameters: [pathParameter('user_session')],
      responses: { '200': 'CartRows' },
      errors: { '404': 'UnknownId', ...DATABASE_ERRORS },
    },
  },
  '/interactions': {
    post: {
      summary: 'Record a click',
      tag: 'Interactions',
      body: ['Interaction'],
      responses: { '201': 'Empty' },
      failures: { '422': INVALID },
      errors: BODY_ERRORS,
    },
  },
  '/health': {
    get: {
      summary: 'The process is up',
      tag: 'Operations',
      responses: { '200': exactly({ status: { const: 'up' } }) },
    },
  },
  '/ready': {
    get: {
      summary: 'This worker reaches the database',
      description:
        '`ready`: it reaches the primary. `degraded`: it does not, but a read replica serves its reads ' +
        '(reads answer, writes answer 503): keep it in the balancer. 503: neither.',
      tag: 'Operations',
      responses: {
        '200': {
          oneOf: [
            exactly({ status: { const: 'ready' } }),
            exactly({ status: { const: 'degraded' }, reads: { const: 'replicas' }, writes: { const: 'unavailable' } }),
          ],
        },
      },
      errors: { '503': 'Unavailable' },
    },
  },
  '/metrics': {
    get: {
      summary: 'Prometheus metrics of the whole instance',
      tag: 'Operations',
      responses: { '200': { media: METRICS_CONTENT_TYPE, schema: string } },
      errors: { '500': 'Internal' },
    },
  },
  '/openapi.json': {
    get: {
      summary: 'This document',
      tag: 'Operations',
      responses: { '200': { media: JSON_MEDIA, schema: { type: 'object' } } },
    },
  },
  '/docs': {
    get: {
      summary: 'The interactive reference (Swagger UI) built from this document',
      tag: 'Operations',
      responses: { '200': { media: 'text/html; charset=utf-8', schema: string } },
    },
  },
  '/docs/{file}': {
    get: {
      summary: "The docs page's assets (Swagger UI's, from the swagger-ui-dist package)",
      tag: 'Operations',
      parameters: [{ name: 'file', in: 'path', required: true, schema: string }],
      responses: {
        '200': {
          media: ['text/javascript; charset=utf-8', 'text/css; charset=utf-8', 'image/png'],
          schema: string,
        },
      },
      errors: { '404': 'UnknownRoute' },
    },
  },
};

function mediaOf(response: Operation['responses'][string]): Media | null {
  if (response === null) return null;
  if (typeof response === 'string') return { media: JSON_MEDIA, schema: ref(response) };
  if ('media' in response) return response as Media;
  return { media: JSON_MEDIA, schema: response };
}

function withExamples(named: Record<string, unknown> | undefined) {
  return named === undefined
    ? {}
    : { examples: Object.fromEntries(Object.entries(named).map(([name, value]) => [name, { value }])) };
}

const operationId = (key: string) => key.replace(/[^A-Za-z0-9]+/g, '_').replace(/_$/, '');

function operationObject(key: string, operation: Operation, examples: OperationExamples) {
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(operation.responses)) {
    const media = mediaOf(response);
    responses[status] = {
      description: status === '204' ? 'Done; no body.' : 'Success.',
      headers: status === '200' && operation.revalidated ? REVALIDATION_HEADERS : CORS_HEADERS,
      ...(media && {
        content: Object.fromEntries(
          [media.media].flat().map((type) => [type, { schema: media.schema, ...withExamples(examples[status]) }]),
        ),
      }),
    };
  }
  for (const [status, description] of Object.entries(operation.failures ?? {})) {
    responses[status] = {
      description,
      headers: CORS_HEADERS,
      content: { [JSON_MEDIA]: { schema: ref('Error'), ...withExamples(examples[status]) } },
    };
  }
  for (const [status, name] of Object.entries(operation.errors ?? {})) {
    responses[status] = { $ref: `#/components/responses/${name}` };
  }
  if (operation.revalidated) responses['304'] = { $ref: '#/components/responses/NotModified' };
  const parameters = [...(operation.parameters ?? []), ...(operation.revalidated ? [parameter('ifNoneMatch')] : [])];
  const body = operation.body;
  return {
    operationId: operationId(key),
    summary: operation.summary,
    ...(operation.description && { description: operation.description }),
    tags: [operation.tag],
    ...(parameters.length > 0 && { parameters }),
    ...(operation.security && { security: operation.security }),
    ...(body && {
      requestBody: {
        required: true,
        content: {
          [JSON_MEDIA]: {
            schema: body.length === 1 ? ref(body[0]!) : { oneOf: body.map(ref) },
            ...withExamples(examples.request),
          },
        },
      },
    }),
    responses: Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b))),
  };
}

type OperationObject = ReturnType<typeof operationObject>;
interface ResponseObject {
  readonly $ref?: string;
  readonly description?: string;
  readonly headers?: Record<string, unknown>;
  readonly content?: unknown;
}

const HEAD_NOTE =
  'The GET’s status and headers, Content-Type and the Content-Length of the body it would send ' +
  'included, and no body.';

/** HEAD beside a GET, as server/http.ts mounts it: each of the GET's responses without its body. */
function headObject(key: string, get: OperationObject, components: Record<string, ResponseObject>) {
  const withoutBody = (response: ResponseObject): ResponseObject => {
    const named = response.$ref?.replace('#/components/responses/', '');
    const full = named === undefined ? response : components[named]!;
    if (full.content === undefined) return response;
    return {
      description: full.description!,
      headers: { 'Content-Length': header('Content-Length'), ...full.headers },
    };
  };
  return {
    ...get,
    operationId: operationId(key),
    summary: `${get.summary} (headers only)`,
    description: get.description === undefined ? HEAD_NOTE : `${HEAD_NOTE} ${get.description}`,
    responses: Object.fromEntries(
      Object.entries(get.responses as Record<string, ResponseObject>).map(([status, response]) => [
        status,
        withoutBody(response),
      ]),
    ),
  };
}

/** The order server/http.ts lists methods in Allow and Access-Control-Allow-Methods. */
const METHOD_ORDER = ['get', 'head', 'post', 'put', 'options'] as const;

/** The CORS preflight every path answers (server/http.ts mount, server/cors.ts). */
function optionsObject(key: string, path: string, allowed: string, tag: string) {
  const segments = [...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => name!);
  return {
    operationId: operationId(key),
    summary: 'CORS preflight',
    description:
      'Answered whatever the path segments hold (they are not judged). An origin CORS_ORIGINS does not list ' +
      'gets Allow (and Vary) alone, so the browser blocks the call.',
    tags: [tag],
    parameters: [
      ...segments.map((name) => ({ name, in: 'path', required: true, schema: string })),
      parameter('origin'),
      parameter('accessControlRequestMethod'),
      parameter('accessControlRequestHeaders'),
    ],
    responses: {
      '204': {
        description: 'The preflight answer; no body.',
        headers: {
          Allow: { description: 'The methods the path serves.', required: true, schema: { const: allowed } },
          'Access-Control-Allow-Methods': {
            description: 'For an allowed origin: the methods the path serves.',
            schema: { const: allowed },
          },
          'Access-Control-Allow-Headers': header('Access-Control-Allow-Headers'),
          'Access-Control-Max-Age': header('Access-Control-Max-Age'),
          ...CORS_HEADERS,
        },
      },
    },
  };
}

function pathItem(
  path: string,
  methods: Record<string, Operation>,
  examples: Examples,
  components: Record<string, ResponseObject>,
) {
  const item: Record<string, unknown> = {};
  for (const method of METHOD_ORDER) {
    const key = `${method.toUpperCase()} ${path}`;
    const operation = methods[method];
    if (operation) item[method] = operationObject(key, operation, examples[key] ?? {});
    else if (method === 'head' && methods.get) item.head = headObject(key, item.get as OperationObject, components);
  }
  const allowed = [...Object.keys(item), 'options'].map((method) => method.toUpperCase()).join(', ');
  item.options = optionsObject(`OPTIONS ${path}`, path, allowed, Object.values(methods)[0]!.tag);
  return item;
}

/** The document, with `examples` (recorded from real responses) attached to their operations. */
export function openApiDocument(examples: Examples = {}): Record<string, unknown> {
  const responses = componentResponses();
  const paths = Object.fromEntries(
    Object.entries(OPERATIONS).map(([path, methods]) => [path, pathItem(path, methods, examples, responses)]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'Atelier storefront API',
      version: '1',
      description:
        'The legacy Atelier storefront API, served by this repository; docs/api.md is the prose reference. ' +
        'Every path answers HEAD wherever it answers GET, OPTIONS (the CORS preflight) and, to any other ' +
        'method, 405 (components.responses.MethodNotAllowed, with Allow); an unknown path is a 404 ' +
        '(UnknownRoute). Each path is also served with one trailing slash, identically. Every response ' +
        'carries the CORS headers (components.headers). In JSON bodies an integer field also takes its ' +
        'canonical decimal string and a boolean field "true"/"false".',
    },
    servers: [{ url: '/', description: 'This server' }],
    tags: ['Products', 'Ratings & reviews', 'Questions & answers', 'Cart', 'Interactions', 'Operations'].map(
      (name) => ({ name }),
    ),
    paths,
    components: {
      schemas: SCHEMAS,
      responses,
      parameters: PARAMETERS,
      headers: HEADERS,
      securitySchemes: {
        cartOwner: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'Any value: it names the caller’s v2 cart (only its hash is stored). Other routes ignore it.',
        },
      },
    },
  };
}
