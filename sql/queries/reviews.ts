/**
 * The Ratings & reviews statements. Reads build the whole body in PostgreSQL (compact JSON via
 * row_to_json/array_to_json, see products.ts); each write is ONE statement whose data-modifying
 * CTEs commit or fail together, so a 201/204 means the review, its photos, its characteristic
 * ratings and the pre-aggregated stats are all committed, and the invalidation NOTIFY is sent
 * by that same commit.
 */
import type { Pool } from '../db.js';
import { INVALIDATION_CHANNEL } from './invalidation.js';

export type ReviewSort = 'newest' | 'helpful' | 'relevant';

export const REVIEW_SORTS: readonly ReviewSort[] = ['newest', 'helpful', 'relevant'];

const ISO_DATE = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/**
 * The primary sort key per order; every order then falls back to date desc and review id desc,
 * so pages are stable. `relevant` is the contract's blend: helpfulness decays with age over a
 * 90-day scale, measured from the statement's start time.
 */
const SORT_KEY: Record<ReviewSort, string> = {
  newest: 'r.date',
  helpful: 'r.helpfulness',
  relevant: `r.helpfulness / (1 + extract(epoch FROM (now() - r.date)) / 86400.0 / 90)`,
};

function listStatement(sort: ReviewSort): { name: string; text: string } {
  return {
    name: `reviews_list_${sort}`,
    text: `
SELECT row_to_json(b)::text AS body
FROM (
  SELECT $1::integer::text AS product, $4::integer AS page, $2::integer AS count,
         coalesce((
           SELECT array_to_json(array_agg(row_to_json(v) ORDER BY t.sort_key DESC, t.date DESC, t.id DESC))
           FROM (
             SELECT r.*, ${SORT_KEY[sort]} AS sort_key
             FROM reviews r
             WHERE r.product_id = $1 AND NOT r.reported
             ORDER BY sort_key DESC, r.date DESC, r.id DESC
             LIMIT $2 OFFSET $3
           ) t
           CROSS JOIN LATERAL (
             SELECT t.id AS review_id, t.rating, t.summary, t.recommend,
                    nullif(t.response, '') AS response, t.body,
                    to_char(t.date AT TIME ZONE 'UTC', ${ISO_DATE}) AS date,
                    t.reviewer_name, t.helpfulness,
                    coalesce((
                      SELECT array_to_json(array_agg(row_to_json(pv) ORDER BY p.id))
                      FROM reviews_photos p CROSS JOIN LATERAL (SELECT p.id, p.url) pv
                      WHERE p.review_id = t.id
                    ), '[]') AS photos
           ) v
         ), '[]') AS results
) b`,
  };
}

const LIST: Record<ReviewSort, { name: string; text: string }> = {
  newest: listStatement('newest'),
  helpful: listStatement('helpful'),
  relevant: listStatement('relevant'),
};

// Counts are strings and zero counts are left out, as the legacy API printed them; averages are
// sum::numeric / count, which prints exactly what avg() over integers prints.
const META = {
  name: 'reviews_meta',
  text: `
SELECT row_to_json(m)::text AS body
FROM (
  SELECT $1::integer::text AS product_id,
         coalesce((
           SELECT ('{' || concat_ws(',',
                     CASE WHEN s.rating_1 > 0 THEN '"1":"' || s.rating_1 || '"' END,
                     CASE WHEN s.rating_2 > 0 THEN '"2":"' || s.rating_2 || '"' END,
                     CASE WHEN s.rating_3 > 0 THEN '"3":"' || s.rating_3 || '"' END,
                     CASE WHEN s.rating_4 > 0 THEN '"4":"' || s.rating_4 || '"' END,
                     CASE WHEN s.rating_5 > 0 THEN '"5":"' || s.rating_5 || '"' END) || '}')::json
           FROM review_stats s WHERE s.product_id = $1
         ), '{}') AS ratings,
         coalesce((
           SELECT ('{' || concat_ws(',',
                     CASE WHEN s.recommended_false > 0 THEN '"false":"' || s.recommended_false || '"' END,
                     CASE WHEN s.recommended_true > 0 THEN '"true":"' || s.recommended_true || '"' END) || '}')::json
           FROM review_stats s WHERE s.product_id = $1
         ), '{}') AS recommended,
         coalesce((
           SELECT ('{' || string_agg(to_json(c.name)::text || ':' || row_to_json(cv)::text, ',' ORDER BY c.id) || '}')::json
           FROM characteristics c
           LEFT JOIN characteristic_stats cs ON cs.characteristic_id = c.id
           CROSS JOIN LATERAL (
             SELECT c.id, (cs.rating_sum::numeric / nullif(cs.rating_count, 0))::text AS value
           ) cv
           WHERE c.product_id = $1
         ), '{}') AS characteristics
) m`,
};

/**
 * Inserts the review, its photos and its ratings, and adds them to the stats, only if the
 * product exists and every rated characteristic belongs to it; otherwise inserts nothing and
 * says why. The CHECK constraints (rating, value 1–5) fail the whole statement.
 */
const CREATE = {
  name: 'reviews_create',
  text: `
WITH product AS (
  SELECT id FROM products WHERE id = $1
), foreign_characteristics AS (
  SELECT k FROM unnest($9::integer[]) AS k
  WHERE NOT EXISTS (SELECT FROM characteristics c WHERE c.id = k AND c.product_id = $1)
), review AS (
  INSERT INTO reviews (product_id, rating, summary, body, recommend, reviewer_name, reviewer_email)
  SELECT product.id, $2, $3, $4, $5, $6, $7 FROM product
  WHERE NOT EXISTS (SELECT FROM foreign_characteristics)
  RETURNING id, product_id, rating, recommend
), photos AS (
  INSERT INTO reviews_photos (review_id, url)
  SELECT review.id, url FROM review, unnest($8::text[]) WITH ORDINALITY AS u(url, n) ORDER BY n
), ratings AS (
  INSERT INTO characteristic_reviews (characteristic_id, review_id, value)
  SELECT k, review.id, v FROM review, unnest($9::integer[], $10::smallint[]) AS x(k, v)
), review_totals AS (
  INSERT INTO review_stats AS s (product_id, rating_1, rating_2, rating_3, rating_4, rating_5,
                                 recommended_true, recommended_false)
  SELECT product_id, (rating = 1)::int, (rating = 2)::int, (rating = 3)::int, (rating = 4)::int,
         (rating = 5)::int, recommend::int, (NOT recommend)::int
  FROM review
  ON CONFLICT (product_id) DO UPDATE SET
    rating_1 = s.rating_1 + excluded.rating_1, rating_2 = s.rating_2 + excluded.rating_2,
    rating_3 = s.rating_3 + excluded.rating_3, rating_4 = s.rating_4 + excluded.rating_4,
    rating_5 = s.rating_5 + excluded.rating_5,
    recommended_true = s.recommended_true + excluded.recommended_true,
    recommended_false = s.recommended_false + excluded.recommended_false
), characteristic_totals AS (
  INSERT INTO characteristic_stats AS s (characteristic_id, rating_sum, rating_count)
  SELECT k, v, 1 FROM review, unnest($9::integer[], $10::smallint[]) AS x(k, v)
  ON CONFLICT (characteristic_id) DO UPDATE SET
    rating_sum = s.rating_sum + excluded.rating_sum, rating_count = s.rating_count + 1
), notified AS (
  SELECT pg_notify('${INVALIDATION_CHANNEL}', review.product_id::text) FROM review
)
SELECT (SELECT id FROM review) AS review_id,
       EXISTS (SELECT FROM product) AS product_exists,
       EXISTS (SELECT FROM foreign_characteristics) AS foreign_characteristic,
       (SELECT count(*) FROM notified) AS notified`,
};

const HELPFUL = {
  name: 'reviews_helpful',
  text: `
WITH voted AS (
  UPDATE reviews SET helpfulness = helpfulness + 1 WHERE id = $1 RETURNING product_id
), notified AS (
  SELECT pg_notify('${INVALIDATION_CHANNEL}', product_id::text) FROM voted
)
SELECT product_id, (SELECT count(*) FROM notified) AS notified FROM voted`,
};

/**
 * Reporting takes the review out of every read and out of the stats, once: the row lock makes a
 * concurrent second report see reported = true and change nothing.
 */
const REPORT = {
  name: 'reviews_report',
  text: `
WITH target AS (
  SELECT id, product_id, reported FROM reviews WHERE id = $1 FOR UPDATE
), hidden AS (
  UPDATE reviews r SET reported = true FROM target
  WHERE r.id = target.id AND NOT target.reported
  RETURNING r.id, r.product_id, r.rating, r.recommend
), review_totals AS (
  UPDATE review_stats s SET
    rating_1 = s.rating_1 - (h.rating = 1)::int, rating_2 = s.rating_2 - (h.rating = 2)::int,
    rating_3 = s.rating_3 - (h.rating = 3)::int, rating_4 = s.rating_4 - (h.rating = 4)::int,
    rating_5 = s.rating_5 - (h.rating = 5)::int,
    recommended_true = s.recommended_true - h.recommend::int,
    recommended_false = s.recommended_false - (NOT h.recommend)::int
  FROM hidden h WHERE s.product_id = h.product_id
), characteristic_totals AS (
  UPDATE characteristic_stats s SET rating_sum = s.rating_sum - cr.value, rating_count = s.rating_count - 1
  FROM hidden h JOIN characteristic_reviews cr ON cr.review_id = h.id
  WHERE s.characteristic_id = cr.characteristic_id
), notified AS (
  SELECT pg_notify('${INVALIDATION_CHANNEL}', product_id::text) FROM target
)
SELECT product_id, (SELECT count(*) FROM notified) AS notified FROM target`,
};

/** One page of a product's visible reviews, as the whole response body. */
export async function reviewList(
  pool: Pool, productId: number, sort: ReviewSort, page: number, count: number,
): Promise<string> {
  const result = await pool.query<{ body: string }>({
    ...LIST[sort],
    values: [productId, count, (page - 1) * count, page - 1],
  });
  return result.rows[0]!.body;
}

/** The /reviews/meta body (a product without reviews gets empty counts, null averages). */
export async function reviewMeta(pool: Pool, productId: number): Promise<string> {
  const result = await pool.query<{ body: string }>({ ...META, values: [productId] });
  return result.rows[0]!.body;
}

export interface NewReview {
  readonly productId: number;
  readonly rating: number;
  readonly summary: string;
  readonly body: string;
  readonly recommend: boolean;
  readonly name: string;
  readonly email: string;
  readonly photos: readonly string[];
  /** [characteristic id, value] pairs. */
  readonly characteristics: readonly (readonly [number, number])[];
}

export type CreateReviewResult =
  | { readonly created: true; readonly reviewId: number }
  | { readonly created: false; readonly reason: 'unknown_product' | 'foreign_characteristic' };

export async function createReview(pool: Pool, review: NewReview): Promise<CreateReviewResult> {
  const result = await pool.query<{ review_id: number | null; product_exists: boolean; foreign_characteristic: boolean }>({
    ...CREATE,
    values: [
      review.productId, review.rating, review.summary, review.body, review.recommend, review.name, review.email,
      review.photos, review.characteristics.map(([id]) => id), review.characteristics.map(([, value]) => value),
    ],
  });
  const row = result.rows[0]!;
  if (row.review_id !== null) return { created: true, reviewId: row.review_id };
  return { created: false, reason: row.product_exists ? 'foreign_characteristic' : 'unknown_product' };
}

/** Adds one helpful vote; returns the review's product, or undefined for an unknown review. */
export async function markReviewHelpful(pool: Pool, reviewId: number): Promise<number | undefined> {
  const result = await pool.query<{ product_id: number }>({ ...HELPFUL, values: [reviewId] });
  return result.rows[0]?.product_id;
}

/** Hides the review from every read; returns its product, or undefined for an unknown review. */
export async function reportReview(pool: Pool, reviewId: number): Promise<number | undefined> {
  const result = await pool.query<{ product_id: number }>({ ...REPORT, values: [reviewId] });
  return result.rows[0]?.product_id;
}
