import type { Pool } from '../db/pool.js';

/**
 * Every committed change to a table that cached bodies are built from notifies, on this channel,
 * the products it touched and which kinds of their bodies it changed, so the notification leaves
 * exactly when the change commits (and not at all if it rolls back), whoever made it; every
 * worker of every instance LISTENs and drops those bodies.
 *
 * - The API's write statements notify from inside themselves (notifyProducts), with the exact
 *   kinds they changed, and mark their transaction so that the tables' triggers stay quiet.
 * - Every other writer — an inventory feed, a price update typed into psql — is covered by the
 *   tables' statement-level triggers (sql/migrations/004_change_notifications.sql).
 *
 * The payload is "<transaction id> <kind>[,<kind>…] <product id>[,<product id>…]" (at most 700
 * products: a bigger statement sends several), or for one product "… <product id> <patch>"
 * (reviewListPatch). The API's statements return their transaction id
 * as the write token, so the writing worker can find its write's place in the stream and answer
 * only once every live listener has acknowledged it (server/acknowledgements.ts).
 *
 * The ingest, which replaces whole tables, disables the triggers inside its transaction and
 * sends EVERYTHING_CHANGED instead: every worker then drops every cached body. So does a
 * TRUNCATE made outside the ingest.
 */
export const INVALIDATION_CHANNEL = 'atelier_invalidate';

/**
 * Each worker's listener says here which invalidation it has applied last, as
 * "<listener id> <token>" (server/acknowledgements.ts); writers wait for every live listener.
 */
export const ACK_CHANNEL = 'atelier_ack';

/** The payload meaning that any cached body may have changed. */
export const EVERYTHING_CHANGED = 'all';

/**
 * The kinds of cached body a change can touch, per product: its detail (products, features), its
 * styles (styles, photos, skus), its related list, its review lists (reviews, their photos), its
 * ratings (meta: reviews, characteristics, the stats tables) and its Q&A. A helpful vote
 * reorders review lists but leaves the ratings as they were.
 */
export const BODY_KINDS = ['product', 'styles', 'related', 'review-lists', 'review-meta', 'qa'] as const;
export type BodyKind = (typeof BODY_KINDS)[number];

/**
 * The cache scope of the product list pages (GET /products), under product id 0: a change of
 * any product's detail may rename, reprice, add or remove an entry of any page, so it drops them all.
 */
export const PRODUCT_LISTS = 'product-lists';

/**
 * The transaction-local setting by which an API write tells the tables' triggers that it has
 * notified its changes itself (sql/migrations/004_change_notifications.sql reads it).
 */
const NOTIFIED_SETTING = 'atelier.notified';

/**
 * The body of a write's `notified` CTE: notifies the `product_id` of every row of `source`, for
 * `kinds`, marks the transaction as notified, and yields the write token as `token`. The CTE must
 * be read by the main query (a SELECT in WITH runs only as far as it is read), which happens
 * before the statement's triggers fire at its end; pg_notify being volatile keeps it from being
 * inlined away. `kinds` are constants of this module, never user input. With `patched`, the
 * rows' `patch` column (reviewListPatch), when not null, ends the payload.
 */
export function notifyProducts(source: string, kinds: readonly BodyKind[], patched = false): string {
  const patch = patched ? ` || coalesce(' ' || patch, '')` : '';
  return `SELECT pg_notify('${INVALIDATION_CHANNEL}', pg_current_xact_id()::text || ' ${kinds.join(',')} ' || product_id::text${patch}),
       set_config('${NOTIFIED_SETTING}', 'on', true),
       pg_current_xact_id()::text AS token
FROM ${source}`;
}

/**
 * NOTIFY payloads are limited to 8000 bytes; a patch longer than this is left out, and its
 * notification drops the lists like any other.
 */
const PATCH_MAX_BYTES = 7000;

/**
 * What a cached review list of the notified product can be patched with instead of being
 * dropped (server/review-lists.ts), as SQL expressions printing the patch, or null when it would
 * not fit a notification:
 * - `helpful <review id>:<helpfulness>[,…]`: those reviews' helpfulness is now that (votes only
 *   ever add to it);
 * - `review <json>`: this new review, printed as every list prints one.
 */
export const reviewListPatch = {
  /** The aggregate over a product's voted rows `id` and `value` (their helpfulness after the vote). */
  helpfulness: `CASE WHEN count(*) <= 200 THEN 'helpful ' || string_agg(id || ':' || value, ',' ORDER BY id) END`,
  newReview: (printed: string): string =>
    `(SELECT CASE WHEN octet_length(printed) <= ${PATCH_MAX_BYTES} THEN 'review ' || printed END FROM (SELECT ${printed} AS printed) p)`,
};

/** What a committed write changed: the product and kinds of body it invalidated, and its write token. */
export interface Written {
  readonly productId: number;
  readonly kinds: readonly BodyKind[];
  /** The transaction id its notification carries; null when it changed (and notified) nothing. */
  readonly token: string | null;
  /** What the product's cached review lists may be patched with (reviewListPatch), if anything. */
  readonly patch?: string | undefined;
}

/** A statement that changes the row named by a path id; undefined when no row has that id. */
export type RowWrite = (pool: Pool, id: number) => Promise<Written | undefined>;

/**
 * The RowWrite that runs `statement`, which takes the id as $1 and returns the row's `product_id`
 * and its `notified` CTE's `token`, or no row for an unknown id; `kinds` are the bodies it changes.
 */
export function rowWrite(
  statement: { readonly name: string; readonly text: string },
  kinds: readonly BodyKind[],
): RowWrite {
  return async (pool, id) => {
    const result = await pool.query<{ product_id: number; token: string | null }>({ ...statement, values: [id] });
    const row = result.rows[0];
    return row === undefined ? undefined : { productId: row.product_id, kinds, token: row.token };
  };
}

export interface Invalidation {
  readonly productIds: readonly number[];
  readonly kinds: readonly BodyKind[];
  /** The changing transaction's id, as the API's write statements return it. */
  readonly token: string;
  /** The review-list patch of a one-product notification (reviewListPatch), if it carries one. */
  readonly patch: string | undefined;
}

const PAYLOAD = /^([0-9]+) ([a-z,-]+) ([1-9][0-9]*(?:,[1-9][0-9]*)*)(?: (.+))?$/s;

/**
 * The notification's products, kinds and transaction id, EVERYTHING_CHANGED, or undefined for a
 * payload of another format.
 */
export function parseInvalidation(payload: string): Invalidation | typeof EVERYTHING_CHANGED | undefined {
  if (payload === EVERYTHING_CHANGED) return EVERYTHING_CHANGED;
  const match = PAYLOAD.exec(payload);
  if (!match) return undefined;
  const kinds = match[2]!.split(',');
  if (!kinds.every((kind): kind is BodyKind => (BODY_KINDS as readonly string[]).includes(kind))) return undefined;
  const productIds = match[3]!.split(',').map(Number);
  if (match[4] !== undefined && productIds.length > 1) return undefined;
  return { productIds, kinds, token: match[1]!, patch: match[4] };
}
