/**
 * GET /cart, POST /cart and GET /cart/:user_session: the two legacy cart forms over one store
 * (sql/migrations/003_cart.sql).
 *
 * Cart reads are never cached. The contract promises the owner its own add on the very next
 * read, on any worker of any instance; a cached cart would need an invalidation per add, and it
 * would only ever be read by its one owner between two of its adds. Uncached, each read is one
 * indexed statement whose body PostgreSQL builds, and an add is visible once its 201 is sent.
 */
import { createHash } from 'node:crypto';
import { cartItems, cartSessionRows, type CartOwner } from '../../sql/queries/cart.js';
import { ApiError, ERRORS, invalidField } from '../errors.js';
import { created, mount, readJsonBody } from '../http.js';
import { pathId, queryParams } from '../params.js';
import { ok } from '../reply.js';
import type { TemplatedApp } from '../uws.js';
import { body, id, idOrIdString, jsonObject } from '../validate.js';
import type { RouteContext } from './context.js';

const STORED = created('{}');
// Built once: a refused add is common input, not worth a stack capture per request.
const NO_OWNER = new ApiError(ERRORS.cartOwnerMissing);
const UNKNOWN_SKU = new ApiError(ERRORS.unknownSku);
const UNKNOWN_PRODUCT = new ApiError(ERRORS.unknownProduct);
const TWO_ITEMS = new ApiError(ERRORS.cartTwoItems);
const NO_ITEM = new ApiError(ERRORS.cartItemMissing);

/**
 * The v2 cart's owner: the Authorization value, compared exactly and kept only as its sha256, or
 * without one (uWS reports an empty value as absent) the `user_session` query parameter.
 */
function cartOwner(authorization: string, rawQuery: string | undefined): CartOwner {
  if (authorization !== '') return { hash: createHash('sha256').update(authorization).digest() };
  const userSession = idOrIdString(queryParams(rawQuery).get('user_session'));
  if (userSession === undefined) throw NO_OWNER;
  return { userSession };
}

type Addition =
  | { readonly form: 'v2'; readonly skuId: number }
  | { readonly form: 'v1'; readonly userSession: number; readonly productId: number };

/** The v2 cart body. */
export const CART_SKU_BODY = body({ sku_id: id(invalidField.idOrIdString) });
/** The v1 cart body, the shape of cart.csv. */
export const CART_PRODUCT_BODY = body({
  user_session: id(invalidField.idOrIdString),
  product_id: id(invalidField.idOrIdString),
});

/** A POST /cart body: `{"sku_id"}` (v2) or `{"user_session", "product_id"}` (v1), never both. */
function parseAddition(input: unknown): Addition {
  const fields = jsonObject(input);
  const hasSku = fields.sku_id !== undefined;
  const hasProduct = fields.product_id !== undefined;
  if (hasSku && hasProduct) throw TWO_ITEMS;
  if (hasSku) return { form: 'v2', skuId: CART_SKU_BODY.parse(fields).sku_id };
  if (!hasProduct) throw NO_ITEM;
  const { user_session, product_id } = CART_PRODUCT_BODY.parse(fields);
  return { form: 'v1', userSession: user_session, productId: product_id };
}

export function mountCartRoutes(
  app: TemplatedApp,
  { exchanges, pools: { shopping: pool }, writes }: RouteContext,
): void {
  mount(app, exchanges, '/cart', {
    get: (req) => {
      const owner = cartOwner(req.getHeader('authorization'), req.getQuery());
      return cartItems(pool, owner).then(ok);
    },
    post: async (req, res) => {
      // The owner is known only once the body says which form this is; uWS lets req be read
      // only now, before the first await.
      const authorization = req.getHeader('authorization');
      const rawQuery = req.getQuery();
      const addition = parseAddition(await readJsonBody(req, res));
      if (addition.form === 'v2') {
        if (!(await writes.cart.addSku(cartOwner(authorization, rawQuery), addition.skuId))) throw UNKNOWN_SKU;
      } else if (!(await writes.cart.addProduct(addition.userSession, addition.productId))) {
        throw UNKNOWN_PRODUCT;
      }
      return STORED;
    },
  });

  mount(app, exchanges, '/cart/:user_session', {
    get: (req) => cartSessionRows(pool, pathId(req.getParameter(0))).then(ok),
  });
}
