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
import type { Pool } from '../../sql/db.js';
import { addProduct, addSku, cartItems, cartSessionRows, type CartOwner } from '../../sql/queries/cart.js';
import { ApiError, ERRORS } from '../errors.js';
import { created, mount, readJsonBody, type Exchanges } from '../http.js';
import { MAX_ID, pathId, queryParams } from '../params.js';
import { ok } from '../reply.js';
import type { TemplatedApp } from '../uws.js';
import { invalid, jsonObject } from '../validate.js';

const STORED = created('{}');

// Form values arrive as strings and the legacy API let PostgreSQL cast them; only the canonical
// spelling is taken ("5", not "05", "5.0" or " 5"), so one id has one spelling.
const CANONICAL_INTEGER = /^[1-9][0-9]*$/;

/** A row id given as a JSON integer or a canonical decimal string, 1 to 2^31-1; else undefined. */
function lenientId(value: unknown): number | undefined {
  const number = typeof value === 'string' && CANONICAL_INTEGER.test(value) ? Number(value) : value;
  return Number.isInteger(number) && (number as number) >= 1 && (number as number) <= MAX_ID
    ? (number as number)
    : undefined;
}

const ID_REQUIREMENT = `a positive integer no larger than ${MAX_ID}, as a JSON number or a decimal string`;
// Built once: a refused add is common input, not worth a stack capture per request.
const INVALID = {
  sku_id: invalid('sku_id', ID_REQUIREMENT),
  user_session: invalid('user_session', ID_REQUIREMENT),
  product_id: invalid('product_id', ID_REQUIREMENT),
};
const NO_OWNER = invalid('user_session', `a positive integer no larger than ${MAX_ID} when no Authorization is sent`);
const UNKNOWN_SKU = invalid('sku_id', 'the id of an existing sku');
const UNKNOWN_PRODUCT = invalid('product_id', 'the id of an existing product');
const TWO_ITEMS = new ApiError(ERRORS.cartTwoItems);
const NO_ITEM = new ApiError(ERRORS.cartItemMissing);

function bodyId(fields: Record<string, unknown>, field: keyof typeof INVALID): number {
  const value = lenientId(fields[field]);
  if (value === undefined) throw INVALID[field];
  return value;
}

/**
 * The v2 cart's owner: the Authorization value, compared exactly and kept only as its sha256, or
 * without one (uWS reports an empty value as absent) the `user_session` query parameter.
 */
function cartOwner(authorization: string, rawQuery: string | undefined): CartOwner {
  if (authorization !== '') return { hash: createHash('sha256').update(authorization).digest() };
  const userSession = lenientId(queryParams(rawQuery).get('user_session'));
  if (userSession === undefined) throw NO_OWNER;
  return { userSession };
}

type Addition =
  | { readonly form: 'v2'; readonly skuId: number }
  | { readonly form: 'v1'; readonly userSession: number; readonly productId: number };

/** A POST /cart body: `{"sku_id"}` (v2) or `{"user_session", "product_id"}` (v1), never both. */
function parseAddition(input: unknown): Addition {
  const fields = jsonObject(input);
  const hasSku = fields.sku_id !== undefined;
  const hasProduct = fields.product_id !== undefined;
  if (hasSku && hasProduct) throw TWO_ITEMS;
  if (hasSku) return { form: 'v2', skuId: bodyId(fields, 'sku_id') };
  if (!hasProduct) throw NO_ITEM;
  return { form: 'v1', userSession: bodyId(fields, 'user_session'), productId: bodyId(fields, 'product_id') };
}

export function mountCartRoutes(app: TemplatedApp, exchanges: Exchanges, pool: Pool): void {
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
        if (!(await addSku(pool, cartOwner(authorization, rawQuery), addition.skuId))) throw UNKNOWN_SKU;
      } else if (!(await addProduct(pool, addition.userSession, addition.productId))) {
        throw UNKNOWN_PRODUCT;
      }
      return STORED;
    },
  });

  mount(app, exchanges, '/cart/:user_session', {
    get: (req) => cartSessionRows(pool, pathId(req.getParameter(0))).then(ok),
  });
}
