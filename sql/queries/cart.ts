/**
 * The cart statements (sql/migrations/003_cart.sql). A cart is named by its owner: the sha256 of
 * an Authorization value, or a user_session. Reads build the whole body in PostgreSQL (compact
 * JSON via row_to_json/array_to_json, see products.ts); each add is one INSERT that stores
 * nothing when the sku or product does not exist.
 */
import type { Pool } from '../db/pool.js';

export type CartOwner = { readonly hash: Buffer } | { readonly userSession: number };

/** The owner as the (owner_hash, user_session) pair the table stores, exactly one of them set. */
function ownerColumns(owner: CartOwner): [Buffer | null, number | null] {
  return 'hash' in owner ? [owner.hash, null] : [null, owner.userSession];
}

/**
 * The v2 body: one entry per sku among the owner's active rows, ordered by its first addition.
 * Rows without a sku (cart.csv and v1 adds name only a product) have nothing to show here.
 */
function itemsStatement(column: 'owner_hash' | 'user_session'): { name: string; text: string } {
  return {
    name: `cart_items_by_${column}`,
    text: `
SELECT coalesce(array_to_json(array_agg(row_to_json(iv) ORDER BY i.first_id)), '[]')::text AS body
FROM (
  SELECT sku_id, count(*) AS count, min(id) AS first_id
  FROM cart
  WHERE ${column} = $1 AND active AND sku_id IS NOT NULL
  GROUP BY sku_id
) i
CROSS JOIN LATERAL (SELECT i.sku_id, i.count) iv`,
  };
}

const ITEMS_BY_HASH = itemsStatement('owner_hash');
const ITEMS_BY_SESSION = itemsStatement('user_session');

/** The v1 body: every row of the session, active or not, v2 adds included, in id order. */
const SESSION_ROWS = {
  name: 'cart_session_rows',
  text: `
SELECT coalesce(array_to_json(array_agg(row_to_json(c) ORDER BY c.id)), '[]')::text AS body
FROM (
  SELECT id, user_session, product_id, active
  FROM cart
  WHERE user_session = $1
) c`,
};

// The sku's product is stored with it, so a v1 read of the same user_session lists the add.
const ADD_SKU = {
  name: 'cart_add_sku',
  text: `
INSERT INTO cart (owner_hash, user_session, sku_id, product_id, active)
SELECT $1::bytea, $2::integer, k.id, s.product_id, true
FROM skus k JOIN styles s ON s.id = k.style_id
WHERE k.id = $3`,
};

const ADD_PRODUCT = {
  name: 'cart_add_product',
  text: `
INSERT INTO cart (user_session, product_id, active)
SELECT $1, p.id, true FROM products p WHERE p.id = $2`,
};

/** The owner's cart as the v2 GET /cart body, `[{"sku_id":N,"count":N}]`. */
export async function cartItems(pool: Pool, owner: CartOwner): Promise<string> {
  const [statement, key] = 'hash' in owner ? [ITEMS_BY_HASH, owner.hash] : [ITEMS_BY_SESSION, owner.userSession];
  const result = await pool.query<{ body: string }>({ ...statement, values: [key] });
  return result.rows[0]!.body;
}

/** The session's rows as the v1 GET /cart/:user_session body. */
export async function cartSessionRows(pool: Pool, userSession: number): Promise<string> {
  const result = await pool.query<{ body: string }>({ ...SESSION_ROWS, values: [userSession] });
  return result.rows[0]!.body;
}

/** One more of the sku in the owner's cart; false (nothing stored) when the sku does not exist. */
export async function addSku(pool: Pool, owner: CartOwner, skuId: number): Promise<boolean> {
  const result = await pool.query({ ...ADD_SKU, values: [...ownerColumns(owner), skuId] });
  return result.rowCount === 1;
}

/** One more of the product in the session's cart; false (nothing stored) when the product does not exist. */
export async function addProduct(pool: Pool, userSession: number, productId: number): Promise<boolean> {
  const result = await pool.query({ ...ADD_PRODUCT, values: [userSession, productId] });
  return result.rowCount === 1;
}
