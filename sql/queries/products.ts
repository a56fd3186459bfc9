/**
 * The Products API's statements. Each route is one round trip: PostgreSQL assembles the whole
 * response body and returns it as text, so the worker neither parses rows nor builds objects.
 *
 * The bodies are built with row_to_json/array_to_json, which print compact JSON
 * (`{"a":1,"b":[2,3]}`) and keep column order as key order; json_build_object, json_agg and
 * json_object_agg would add spaces (`{"a" : 1}`) to every key and element. Where a nested
 * object must not carry the column it is sorted by, a `CROSS JOIN LATERAL (SELECT …)` names the
 * exported columns; the planner flattens it into the projection.
 *
 * Every per-product statement selects from `products pr WHERE pr.id = $1`, so an unknown product
 * yields no row (→ 404) within the same round trip. The batched ones (sql/queries/bodies.ts) print
 * the same body over `pr.id = ANY($1)`; the single-key statements stay what the bench's pgbench
 * ceiling runs.
 */
import type { Pool } from '../db/pool.js';
import { bodiesByKey, type Bodies, type Statement } from './bodies.js';
import { jsonArray, jsonObjectById } from './json.js';

const LIST = {
  name: 'products_list',
  text: `
SELECT coalesce(array_to_json(array_agg(row_to_json(p) ORDER BY p.id)), '[]')::text AS body
FROM (
  SELECT id, name, slogan, description, category, default_price::text AS default_price
  FROM products
  ORDER BY id
  LIMIT $1 OFFSET $2
) p`,
};

/** A per-product body: the object of `columns` over `products pr`, and no row for an unknown product. */
function productBody(name: string, columns: string): Statement {
  return {
    name,
    text: `
SELECT row_to_json(p)::text AS body
FROM (
  SELECT ${columns}
  FROM products pr
  WHERE pr.id = $1
) p`,
  };
}

/** productBody for many products: the same object, named in a LATERAL so the row also carries pr.id. */
function productBodies(name: string, columns: string): Statement {
  return {
    name,
    text: `
SELECT pr.id, row_to_json(p)::text AS body
FROM products pr
CROSS JOIN LATERAL (SELECT ${columns}) p
WHERE pr.id = ANY($1::int[])`,
  };
}

const DETAIL_COLUMNS = `pr.id, pr.name, pr.slogan, pr.description, pr.category,
   pr.default_price::text AS default_price,
   ${jsonArray({ from: 'features f', columns: 'f.feature, f.value', where: 'f.product_id = pr.id', orderBy: 'f.id' })} AS features`;
const DETAIL = productBody('products_detail', DETAIL_COLUMNS);
const DETAILS = productBodies('products_details', DETAIL_COLUMNS);

// Legacy front ends read photos[0] and iterate skus without guards, hence the placeholders.
const STYLES_COLUMNS = `pr.id::text AS product_id,
   ${jsonArray({
     from: 'styles s',
     columns: `s.id AS style_id, s.name,
               s.original_price::text AS original_price,
               s.sale_price::text AS sale_price,
               s.default_style AS "default?",
               ${jsonArray({
                 from: 'photos ph',
                 columns: 'ph.thumbnail_url, ph.url',
                 where: 'ph.style_id = s.id',
                 orderBy: 'ph.id',
                 empty: '[{"thumbnail_url":null,"url":null}]',
               })} AS photos,
               ${jsonObjectById({
                 from: 'skus k',
                 id: 'k.id',
                 columns: 'k.quantity, k.size',
                 where: 'k.style_id = s.id',
                 empty: '{"null":{"quantity":null,"size":null}}',
               })} AS skus`,
     where: 's.product_id = pr.id',
     orderBy: 's.id',
   })} AS results`;
const STYLES = productBody('products_styles', STYLES_COLUMNS);
const STYLES_MANY = productBodies('products_styles_many', STYLES_COLUMNS);

// The ingest rejects related ids that are 0, unknown or the product itself, and the schema's
// foreign keys and CHECK forbid them, but the ingest drops those constraints while it loads;
// both filters cost a few index probes per product. Repeats are allowed: the first one counts.
const RELATED_IDS = `coalesce((
  SELECT array_to_json(array_agg(rel.related_product_id ORDER BY rel.first_id))
  FROM (
    SELECT r.related_product_id, min(r.id) AS first_id
    FROM related r
    WHERE r.current_product_id = pr.id
      AND r.related_product_id <> pr.id
      AND EXISTS (SELECT FROM products q WHERE q.id = r.related_product_id)
    GROUP BY r.related_product_id
  ) rel
), '[]')::text`;
const RELATED: Statement = {
  name: 'products_related',
  text: `
SELECT ${RELATED_IDS} AS body
FROM products pr
WHERE pr.id = $1`,
};
const RELATED_MANY: Statement = {
  name: 'products_related_many',
  text: `
SELECT pr.id, ${RELATED_IDS} AS body
FROM products pr
WHERE pr.id = ANY($1::int[])`,
};

type Body = { body: string };

async function body(pool: Pool, statement: Statement, values: unknown[]): Promise<string | undefined> {
  const result = await pool.query<Body>({ ...statement, values });
  return result.rows[0]?.body;
}

/** A page of products ordered by id, as a JSON array (`[]` past the end). */
export async function productList(pool: Pool, page: number, count: number): Promise<string> {
  return (await body(pool, LIST, [count, (page - 1) * count])) ?? '[]';
}

/** The product with its features, or undefined when no product has this id. */
export function productDetail(pool: Pool, productId: number): Promise<string | undefined> {
  return body(pool, DETAIL, [productId]);
}

/** productDetail of each product that exists, in one statement. */
export function productDetails(pool: Pool, productIds: readonly number[]): Promise<Bodies> {
  return bodiesByKey(pool, DETAILS, productIds);
}

/** `{"product_id":"…","results":[…]}`, or undefined when no product has this id. */
export function productStyles(pool: Pool, productId: number): Promise<string | undefined> {
  return body(pool, STYLES, [productId]);
}

/** productStyles of each product that exists, in one statement. */
export function productStylesMany(pool: Pool, productIds: readonly number[]): Promise<Bodies> {
  return bodiesByKey(pool, STYLES_MANY, productIds);
}

/** The bare array of related product ids, or undefined when no product has this id. */
export function productRelated(pool: Pool, productId: number): Promise<string | undefined> {
  return body(pool, RELATED, [productId]);
}

/** productRelated of each product that exists, in one statement. */
export function productRelatedMany(pool: Pool, productIds: readonly number[]): Promise<Bodies> {
  return bodiesByKey(pool, RELATED_MANY, productIds);
}
