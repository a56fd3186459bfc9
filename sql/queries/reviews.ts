/**
 * The Ratings & reviews statements. Reads build the whole body in PostgreSQL (compact JSON via
 * row_to_json/array_to_json, see products.ts); each write is ONE statement whose data-modifying
 * CTEs commit or fail together, so a 201/204 means the review, its photos, its characteristic
 * ratings and the pre-aggregated stats are all committed, and the invalidation NOTIFY is sent
 * by that same commit. New reviews are created a whole batch per statement (server/writes.ts),
 * like new questions and answers (qa.ts).
 */
import { batchRows, rowPerItem, withNewIds } from './batches.js';
import { bodiesByKey, type Bodies, type Statement } from './bodies.js';
import { isoDate, jsonArray, jsonPage, type Page } from './json.js';
import type { Pool } from '../db/pool.js';
import { notifyProducts, reviewListPatch, rowWrite, type BodyKind, type Written } from './invalidation.js';

export type ReviewSort = 'newest' | 'helpful' | 'relevant';

export const REVIEW_SORTS: readonly ReviewSort[] = ['newest', 'helpful', 'relevant'];

/** 90 days, the relevance decay's unit of age. */
export const RELEVANCE_DECAY_SECONDS = 7_776_000;

/**
 * The contract's blend: helpfulness / (1 + age_days / 90), age measured at $5 (the request
 * time) and never negative, so a review dated in the future does not outrank by dividing by less
 * than 1. server/review-lists.ts computes the same float8 arithmetic in the same order.
 */
const RELEVANCE = `r.helpfulness / (1 + greatest(0, extract(epoch FROM $5::timestamptz - r.date)::float8) / ${RELEVANCE_DECAY_SECONDS})`;

/**
 * The columns a page is chosen by, and the order over them (all descending). Every order ends with
 * date then id, so pages are stable.
 */
const PAGE_ORDER: Record<ReviewSort, Pick<Page, 'keys' | 'orderBy'>> = {
  newest: { keys: 'r.id, r.date', orderBy: ['date DESC', 'id DESC'] },
  helpful: { keys: 'r.id, r.date, r.helpfulness', orderBy: ['helpfulness DESC', 'date DESC', 'id DESC'] },
  relevant: { keys: `r.id, r.date, ${RELEVANCE} AS relevance`, orderBy: ['relevance DESC', 'date DESC', 'id DESC'] },
};

/**
 * One review as every list prints it, from the review `r` and its photos in `photos` (the table,
 * or the CTE of the statement that inserted them): a new review's own statement prints it the
 * same way, for the cached lists it is spliced into (server/review-lists.ts).
 */
function reviewColumns(photos: string): string {
  return `r.id AS review_id, r.rating, r.summary, r.recommend,
          nullif(r.response, '') AS response, r.body,
          ${isoDate('r.date')} AS date,
          r.reviewer_name, r.helpfulness,
          ${jsonArray({ from: `${photos} p`, columns: 'p.id, p.url', where: 'p.review_id = r.id', orderBy: 'p.id' })} AS photos`;
}

/**
 * A page of the visible reviews of product `id` ($1, or the column of the batched statement's
 * keys) as the columns of the list's object: $2 count, $3 offset, $4 page - 1, $5 the relevance
 * clock.
 */
function listColumns(sort: ReviewSort, id: string): string {
  return `SELECT ${id}::integer::text AS product, $4::integer AS page, $2::integer AS count,
         ${jsonPage({
           table: 'reviews',
           alias: 'r',
           where: `r.product_id = ${id} AND NOT r.reported`,
           ...PAGE_ORDER[sort],
           limit: '$2',
           offset: '$3',
           columns: reviewColumns('reviews_photos'),
         })} AS results`;
}

/**
 * One product's list, as reviewList reads it and the bench's database ceiling runs it
 * (perf/bench-routes.ts). It prints the snapshot column LISTS prints, so that ceiling does the
 * route's work.
 */
function listStatement(sort: ReviewSort): Statement {
  return {
    name: `reviews_list_${sort}`,
    text: `
SELECT row_to_json(b)::text AS body, pg_current_snapshot()::text AS snapshot
FROM (
  ${listColumns(sort, '$1')}
) b`,
  };
}

/**
 * listStatement for many products ($1 their ids): a body for each id, as for one (an unknown
 * product lists no reviews). The statement's snapshot comes with the bodies, every one of which
 * it read: a cached list is later patched with exactly the changes it does not show
 * (server/review-lists.ts).
 */
function listsStatement(sort: ReviewSort): Statement {
  return {
    name: `reviews_lists_${sort}`,
    text: `
SELECT k.id, row_to_json(b)::text AS body, pg_current_snapshot()::text AS snapshot
FROM unnest($1::int[]) k(id)
CROSS JOIN LATERAL (
  ${listColumns(sort, 'k.id')}
) b`,
  };
}

/** The statement `make` builds for each sort. */
const bySort = (make: (sort: ReviewSort) => Statement): Record<ReviewSort, Statement> => ({
  newest: make('newest'),
  helpful: make('helpful'),
  relevant: make('relevant'),
});

const LIST = bySort(listStatement);
const LISTS = bySort(listsStatement);

// Counts are strings and zero counts are left out, as the legacy API printed them; averages are
// sum::numeric / count, which prints exactly what avg() over integers prints. `id` is `$1`, or the
// column of the batched statement's keys.
function metaColumns(id: string): string {
  return `${id}::integer::text AS product_id,
         coalesce((
           SELECT ('{' || concat_ws(',',
                     CASE WHEN s.rating_1 > 0 THEN '"1":"' || s.rating_1 || '"' END,
                     CASE WHEN s.rating_2 > 0 THEN '"2":"' || s.rating_2 || '"' END,
                     CASE WHEN s.rating_3 > 0 THEN '"3":"' || s.rating_3 || '"' END,
                     CASE WHEN s.rating_4 > 0 THEN '"4":"' || s.rating_4 || '"' END,
                     CASE WHEN s.rating_5 > 0 THEN '"5":"' || s.rating_5 || '"' END) || '}')::json
           FROM review_stats s WHERE s.product_id = ${id}
         ), '{}') AS ratings,
         coalesce((
           SELECT ('{' || concat_ws(',',
                     CASE WHEN s.recommended_false > 0 THEN '"false":"' || s.recommended_false || '"' END,
                     CASE WHEN s.recommended_true > 0 THEN '"true":"' || s.recommended_true || '"' END) || '}')::json
           FROM review_stats s WHERE s.product_id = ${id}
         ), '{}') AS recommended,
         coalesce((
           SELECT ('{' || string_agg(to_json(c.name)::text || ':' || row_to_json(cv)::text, ',' ORDER BY c.id) || '}')::json
           FROM characteristics c
           LEFT JOIN characteristic_stats cs ON cs.characteristic_id = c.id
           CROSS JOIN LATERAL (
             SELECT c.id, (cs.rating_sum::numeric / nullif(cs.rating_count, 0))::text AS value
           ) cv
           WHERE c.product_id = ${id}
         ), '{}') AS characteristics`;
}

const META: Statement = {
  name: 'reviews_meta',
  text: `
SELECT row_to_json(m)::text AS body
FROM (
  SELECT ${metaColumns('$1')}
) m`,
};

/** META for many products: a body for each id, as for one (a product without reviews has empty counts). */
const META_MANY: Statement = {
  name: 'reviews_meta_many',
  text: `
SELECT k.id, row_to_json(m)::text AS body
FROM unnest($1::int[]) k(id)
CROSS JOIN LATERAL (SELECT ${metaColumns('k.id')}) m`,
};

/** A new or reported review changes its product's lists and ratings (a helpful vote: votes.ts). */
const EVERY_REVIEW_BODY: readonly BodyKind[] = ['review-lists', 'review-meta'];

/**
 * Inserts each review of the batch $1 (batchRows) with its photos and its ratings, and adds them
 * to the stats, only if its product exists and every characteristic it rates is the product's;
 * for any other item it inserts nothing, and its row says why. A failing insert (the CHECKs on
 * rating and value, which the route's validation keeps from happening) fails the whole batch.
 * The date is cut to milliseconds, the precision every body prints, so the instant printed is
 * the instant stored and ordered by; a batch's reviews share it and are ordered by id.
 * The stats are summed per product and per characteristic first (one INSERT … ON CONFLICT may
 * not update a row twice) and their rows locked in key order, so two workers' batches cannot
 * deadlock. Each review notifies on its own, with its patch (reviewListPatch), so
 * every cached list of its product gets each new review of the batch.
 */
const CREATE: Statement = {
  name: 'reviews_create',
  text: `
WITH item AS (
  SELECT i.*, (SELECT true FROM products p WHERE p.id = i.product_id) IS NOT NULL AS product_exists
  FROM ${batchRows(
    `product_id integer, rating smallint, summary text, body text, recommend boolean, name text, email text,
     photos text[], characteristic_ids integer[], characteristic_values smallint[]`,
  )}
), valid AS (${withNewIds(
    'reviews',
    `SELECT * FROM item
     WHERE product_exists AND NOT EXISTS (
       SELECT FROM unnest(item.characteristic_ids) AS k
       WHERE NOT EXISTS (SELECT FROM characteristics c WHERE c.id = k AND c.product_id = item.product_id))`,
  )}
), review AS (
  INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reviewer_name, reviewer_email)
  SELECT id, product_id, rating, date_trunc('milliseconds', now()), summary, body, recommend, name, email FROM valid
  RETURNING id, product_id, rating, recommend, date, summary, body, reviewer_name, response, helpfulness
), photos AS (
  INSERT INTO reviews_photos (review_id, url)
  SELECT valid.id, u.url FROM valid, unnest(valid.photos) WITH ORDINALITY AS u(url, k) ORDER BY valid.n, u.k
  RETURNING id, review_id, url
), rated AS (
  SELECT valid.n, x.o, valid.id AS review_id, x.k, x.v
  FROM valid, unnest(valid.characteristic_ids, valid.characteristic_values) WITH ORDINALITY AS x(k, v, o)
), ratings AS (
  INSERT INTO characteristic_reviews (characteristic_id, review_id, value)
  SELECT k, review_id, v FROM rated ORDER BY n, o
), review_totals AS (
  INSERT INTO review_stats AS s (product_id, rating_1, rating_2, rating_3, rating_4, rating_5,
                                 recommended_true, recommended_false)
  SELECT product_id, count(*) FILTER (WHERE rating = 1), count(*) FILTER (WHERE rating = 2),
         count(*) FILTER (WHERE rating = 3), count(*) FILTER (WHERE rating = 4),
         count(*) FILTER (WHERE rating = 5), count(*) FILTER (WHERE recommend),
         count(*) FILTER (WHERE NOT recommend)
  FROM valid GROUP BY product_id ORDER BY product_id
  ON CONFLICT (product_id) DO UPDATE SET
    rating_1 = s.rating_1 + excluded.rating_1, rating_2 = s.rating_2 + excluded.rating_2,
    rating_3 = s.rating_3 + excluded.rating_3, rating_4 = s.rating_4 + excluded.rating_4,
    rating_5 = s.rating_5 + excluded.rating_5,
    recommended_true = s.recommended_true + excluded.recommended_true,
    recommended_false = s.recommended_false + excluded.recommended_false
), characteristic_totals AS (
  INSERT INTO characteristic_stats AS s (characteristic_id, rating_sum, rating_count)
  SELECT k, sum(v), count(*) FROM rated GROUP BY k ORDER BY k
  ON CONFLICT (characteristic_id) DO UPDATE SET
    rating_sum = s.rating_sum + excluded.rating_sum, rating_count = s.rating_count + excluded.rating_count
), listed AS (
  SELECT r.id, r.product_id, ${reviewListPatch.newReview(`(SELECT row_to_json(element)::text FROM (SELECT ${reviewColumns('photos')}) element)`)} AS patch
  FROM review r
), notified AS (
  ${notifyProducts('listed', EVERY_REVIEW_BODY, true)}
)
SELECT item.n, valid.id AS review_id, listed.patch, (SELECT max(token) FROM notified) AS token, item.product_exists
FROM item LEFT JOIN valid USING (n) LEFT JOIN listed ON listed.id = valid.id`,
};

/**
 * Reporting takes the review out of every read and out of the stats, once: a concurrent second
 * report waits for the first one's row lock, then re-checks `NOT reported` on the row the first
 * one committed, and changes (and notifies) nothing. The final SELECT sees the statement's
 * snapshot, so it finds the review whether or not this statement hid it.
 * A review may hold several ratings of one characteristic (the legacy files do not forbid it),
 * so they are summed per characteristic before an UPDATE … FROM, which would apply only one.
 */
const REPORT = {
  name: 'reviews_report',
  text: `
WITH hidden AS (
  UPDATE reviews SET reported = true WHERE id = $1 AND NOT reported
  RETURNING id, product_id, rating, recommend
), review_totals AS (
  UPDATE review_stats s SET
    rating_1 = s.rating_1 - (h.rating = 1)::int, rating_2 = s.rating_2 - (h.rating = 2)::int,
    rating_3 = s.rating_3 - (h.rating = 3)::int, rating_4 = s.rating_4 - (h.rating = 4)::int,
    rating_5 = s.rating_5 - (h.rating = 5)::int,
    recommended_true = s.recommended_true - h.recommend::int,
    recommended_false = s.recommended_false - (NOT h.recommend)::int
  FROM hidden h WHERE s.product_id = h.product_id
), characteristic_totals AS (
  UPDATE characteristic_stats s
  SET rating_sum = s.rating_sum - hidden_ratings.total, rating_count = s.rating_count - hidden_ratings.ratings
  FROM (
    SELECT cr.characteristic_id, sum(cr.value) AS total, count(*) AS ratings
    FROM hidden h JOIN characteristic_reviews cr ON cr.review_id = h.id
    GROUP BY cr.characteristic_id
  ) hidden_ratings
  WHERE s.characteristic_id = hidden_ratings.characteristic_id
), notified AS (
  ${notifyProducts('hidden', EVERY_REVIEW_BODY)}
)
SELECT r.product_id, (SELECT token FROM notified) AS token FROM reviews r WHERE r.id = $1`,
};

/**
 * The relevant order measures ages from the request time cut to the hour (against a 90-day decay
 * an hour moves a score by about 0.05 %), so every page of a listing fetched within the hour, and
 * every cached copy of it, is ordered by the same clock: paging cannot skip or repeat a review
 * because two pages were ranked at different instants. A finer clock (it was the minute) made
 * every cached relevant list go stale at once, every minute.
 */
const RELEVANCE_CLOCK_MS = 60 * 60_000;

/** The instant the relevant order of a request made at `now` measures ages from. */
export function relevanceClock(now: Date): Date {
  return new Date(Math.floor(now.getTime() / RELEVANCE_CLOCK_MS) * RELEVANCE_CLOCK_MS);
}

/** The parameters after the product id(s) of a LIST or LISTS statement. */
function listParameters(sort: ReviewSort, page: number, count: number, relevanceAsOf: Date): unknown[] {
  const values: unknown[] = [count, (page - 1) * count, page - 1];
  if (sort === 'relevant') values.push(relevanceAsOf);
  return values;
}

/**
 * One page of a product's visible reviews, as the whole response body. `relevanceAsOf` is the
 * request time the relevant order measures ages from.
 */
export async function reviewList(
  pool: Pool,
  productId: number,
  sort: ReviewSort,
  page: number,
  count: number,
  relevanceAsOf: Date,
): Promise<string> {
  const values = [productId, ...listParameters(sort, page, count, relevanceAsOf)];
  const result = await pool.query<{ body: string }>({ ...LIST[sort], values });
  return result.rows[0]!.body;
}

/** Review list bodies and the snapshot they were read in (pg_current_snapshot's text, "xmin:xmax:xip,…"). */
export interface ReviewListings {
  readonly bodies: Bodies;
  readonly snapshot: string;
}

/** reviewList of each product, the same page of each, in one statement, with its snapshot. */
export async function reviewListings(
  pool: Pool,
  productIds: readonly number[],
  sort: ReviewSort,
  page: number,
  count: number,
  relevanceAsOf: Date,
): Promise<ReviewListings> {
  const values = [productIds, ...listParameters(sort, page, count, relevanceAsOf)];
  const result = await pool.query<{ id: number; body: string; snapshot: string }>({ ...LISTS[sort], values });
  return {
    bodies: new Map(result.rows.map((row) => [row.id, row.body])),
    // Every row carries the one snapshot; no ids, no bodies to patch.
    snapshot: result.rows[0]?.snapshot ?? '',
  };
}

/** The /reviews/meta body (a product without reviews gets empty counts, null averages). */
export async function reviewMeta(pool: Pool, productId: number): Promise<string> {
  const result = await pool.query<{ body: string }>({ ...META, values: [productId] });
  return result.rows[0]!.body;
}

/** reviewMeta of each product, in one statement. */
export function reviewMetaMany(pool: Pool, productIds: readonly number[]): Promise<Bodies> {
  return bodiesByKey(pool, META_MANY, productIds);
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
  /** [characteristic id, value] pairs, each id once. */
  readonly characteristics: readonly (readonly [number, number])[];
}

export type CreateReviewResult =
  | { readonly created: true; readonly reviewId: number; readonly written: Written }
  | { readonly created: false; readonly reason: 'unknown_product' | 'foreign_characteristic' };

/**
 * Each new review with its photos and ratings, in one statement: one outcome per review, in order.
 * All of it commits, or the promise rejects having stored none of it.
 */
export async function createReviews(pool: Pool, reviews: readonly NewReview[]): Promise<CreateReviewResult[]> {
  const rows = await rowPerItem<{
    n: number;
    review_id: number | null;
    token: string | null;
    patch: string | null;
    product_exists: boolean;
  }>(
    pool,
    CREATE,
    // rating, summary, body, recommend, name, email and photos are the statement's columns already.
    reviews.map(({ productId, characteristics, ...columns }) => ({
      ...columns,
      product_id: productId,
      characteristic_ids: characteristics.map(([id]) => id),
      characteristic_values: characteristics.map(([, value]) => value),
    })),
  );
  return rows.map((row, n): CreateReviewResult => {
    const { review_id: reviewId, token, patch, product_exists: productExists } = row!;
    if (reviewId === null)
      return { created: false, reason: productExists ? 'foreign_characteristic' : 'unknown_product' };
    const written = { productId: reviews[n]!.productId, kinds: EVERY_REVIEW_BODY, token, patch: patch ?? undefined };
    return { created: true, reviewId, written };
  });
}

/** Hides the review from every read (once); undefined for an unknown review. */
export const reportReview = rowWrite(REPORT, EVERY_REVIEW_BODY);
