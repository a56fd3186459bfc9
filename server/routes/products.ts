/** GET /products, /products/:product_id, /products/:product_id/styles, /products/:product_id/related. */
import { productDetails, productList, productRelatedMany, productStylesMany } from '../../sql/queries/products.js';
import { mount } from '../http.js';
import { paging, pathId, queryParams } from '../params.js';
import type { BatchRead } from '../miss-batcher.js';
import { PRODUCT_LIST_PAGES, type CacheKind } from '../reads.js';
import { encodeBody } from '../reply.js';
import type { HttpRequest, TemplatedApp } from '../uws.js';
import type { RouteContext } from './context.js';

/**
 * The API never writes the catalogue, but other systems do (prices, stock): each committed change
 * drops the bodies of the products it touched (server/invalidation.ts), and any product's change
 * drops every list page.
 */
export function mountProductRoutes(app: TemplatedApp, { exchanges, reads }: RouteContext): void {
  mount(app, exchanges, '/products', {
    get: (req) => {
      const { page, count } = paging(queryParams(req.getQuery()));
      return reads.reply(PRODUCT_LIST_PAGES, `${page}:${count}`, async (pool) =>
        encodeBody(await productList(pool, page, count)),
      );
    },
  });
  // Concurrent misses of a route share one statement (server/miss-batcher.ts).
  const batched = (kind: CacheKind, read: BatchRead) => {
    const batcher = reads.batcher(kind, read);
    return {
      get: (req: HttpRequest) => {
        const productId = pathId(req.getParameter(0));
        return reads.reply({ kind, productId }, '', { batcher, key: productId });
      },
    };
  };

  mount(app, exchanges, '/products/:product_id', batched('product', productDetails));
  mount(app, exchanges, '/products/:product_id/styles', batched('styles', productStylesMany));
  mount(app, exchanges, '/products/:product_id/related', batched('related', productRelatedMany));
}
