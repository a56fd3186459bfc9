/** GET /products, /products/:product_id, /products/:product_id/styles, /products/:product_id/related. */
import type { Pool } from '../../sql/db/pool.js';
import { productDetail, productList, productRelated, productStyles } from '../../sql/queries/products.js';
import { mount } from '../http.js';
import { paging, pathId, queryParams } from '../params.js';
import { CATALOGUE } from '../reads.js';
import { encodeBody } from '../reply.js';
import type { HttpRequest, TemplatedApp } from '../uws.js';
import type { RouteContext } from './context.js';

type ProductQuery = (pool: Pool, productId: number) => Promise<string | undefined>;

/**
 * The API never writes the catalogue, so its bodies carry no version: review and Q&A writes leave
 * them cached. A re-ingest clears every worker's cache when it commits (server/invalidation.ts); a
 * catalogue changed by hand shows after config.cacheTtlMs.
 */
export function mountProductRoutes(
  app: TemplatedApp,
  { exchanges, pools: { catalogue: pool }, reads }: RouteContext,
): void {
  const perProduct = (variant: string, query: ProductQuery) => ({
    get: (req: HttpRequest) => {
      const productId = pathId(req.getParameter(0));
      return reads.reply(CATALOGUE, `${variant}:${productId}`, async () => {
        const body = await query(pool, productId);
        return body === undefined ? undefined : encodeBody(body);
      });
    },
  });

  mount(app, exchanges, '/products', {
    get: (req) => {
      const { page, count } = paging(queryParams(req.getQuery()));
      return reads.reply(CATALOGUE, `products:${page}:${count}`, async () =>
        encodeBody(await productList(pool, page, count)),
      );
    },
  });
  mount(app, exchanges, '/products/:product_id', perProduct('detail', productDetail));
  mount(app, exchanges, '/products/:product_id/styles', perProduct('styles', productStyles));
  mount(app, exchanges, '/products/:product_id/related', perProduct('related', productRelated));
}
