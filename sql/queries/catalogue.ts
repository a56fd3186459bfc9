import type { Pool } from '../db/pool.js';

const HAS_PRODUCTS = { name: 'catalogue_has_products', text: 'SELECT EXISTS (SELECT FROM products) AS found' };

/** True once any product is loaded: the primary seeds only an empty catalogue. */
export async function hasProducts(pool: Pool): Promise<boolean> {
  const result = await pool.query<{ found: boolean }>(HAS_PRODUCTS);
  return result.rows[0]!.found;
}
