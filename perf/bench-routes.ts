/**
 * The read routes the benchmark measures, each tied to the sql/queries function its handler
 * calls with the same arguments. That one binding serves twice: the pgbench script of a route is
 * captured from the function (so the database ceiling runs exactly the route's SQL and cannot
 * drift from it), and the coherence check asks the database through it for what the API should
 * be serving.
 */
import type { Pool } from '../sql/db/pool.js';
import { productDetail, productRelated, productStyles } from '../sql/queries/products.js';
import { answerList, questionList } from '../sql/queries/qa.js';
import { relevanceClock, reviewList, reviewMeta } from '../sql/queries/reviews.js';

/** What a route's id is: a product id, or the id of a visible question of such a product. */
export type IdKind = 'product' | 'question';

export interface ReadRoute {
  readonly name: string;
  /** How tables and charts name it. */
  readonly label: string;
  /** The request path with `{id}` where the id goes (the Lua scripts substitute it). */
  readonly path: string;
  readonly ids: IdKind;
  /** The route's body, straight from the database, for a request made at `now`. */
  readonly body: (pool: Pool, id: number, now: Date) => Promise<string | undefined>;
}

/**
 * GET /reviews orders `relevant` by the request time cut to the hour and caches under that hour:
 * the database body for "now" is the one for relevanceClock(now).
 */
export { relevanceClock };

export const READ_ROUTES: readonly ReadRoute[] = [
  {
    name: 'product',
    label: 'GET /products/:id',
    path: '/products/{id}',
    ids: 'product',
    body: (pool, id) => productDetail(pool, id),
  },
  {
    name: 'styles',
    label: 'GET /products/:id/styles',
    path: '/products/{id}/styles',
    ids: 'product',
    body: (pool, id) => productStyles(pool, id),
  },
  {
    name: 'related',
    label: 'GET /products/:id/related',
    path: '/products/{id}/related',
    ids: 'product',
    body: (pool, id) => productRelated(pool, id),
  },
  {
    name: 'reviews',
    label: 'GET /reviews count=200 relevant',
    path: '/reviews?product_id={id}&count=200&sort=relevant',
    ids: 'product',
    body: (pool, id, now) => reviewList(pool, id, 'relevant', 1, 200, relevanceClock(now)),
  },
  {
    name: 'meta',
    label: 'GET /reviews/meta',
    path: '/reviews/meta?product_id={id}',
    ids: 'product',
    body: (pool, id) => reviewMeta(pool, id),
  },
  {
    name: 'questions',
    label: 'GET /qa/questions count=100',
    path: '/qa/questions?product_id={id}&count=100',
    ids: 'product',
    body: (pool, id) => questionList(pool, id, 1, 100),
  },
  {
    name: 'answers',
    label: 'GET /qa/questions/:id/answers',
    path: '/qa/questions/{id}/answers',
    ids: 'question',
    body: async (pool, id) => (await answerList(pool, id, 1, 5))?.body,
  },
];

export function routePath(route: ReadRoute, id: number): string {
  return route.path.replace('{id}', String(id));
}

/** The routes whose bodies the storefront mix's writes (reviews, helpful votes) change. */
export const REVIEW_ROUTES: readonly ReadRoute[] = READ_ROUTES.filter(
  (route) => route.name === 'reviews' || route.name === 'meta',
);
