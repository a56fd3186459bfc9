import type { Pool } from '../db/pool.js';

/**
 * Every write that changes what a product's cached bodies would say sends the product id, and
 * which kinds of its bodies changed, on this channel from inside its own statement, so the
 * notification leaves exactly when the write commits (and not at all if it rolls back); every
 * worker of every instance LISTENs and drops those bodies of that product.
 *
 * The payload is "<product id> <transaction id> <kind>[,<kind>…]". The transaction id is also
 * returned to the writer as its write token, so the writing worker can recognise its own
 * notification among everyone else's and answer only once it has arrived (server/invalidation.ts).
 *
 * The ingest, which replaces whole tables, sends EVERYTHING_CHANGED instead, from inside its
 * transaction: every worker then drops every cached body, catalogue bodies included.
 */
export const INVALIDATION_CHANNEL = 'atelier_invalidate';

/** The payload meaning that any cached body may have changed. */
export const EVERYTHING_CHANGED = 'all';

/**
 * The kinds of cached body a write can change. A helpful vote reorders a product's review lists
 * but leaves its ratings (meta) and Q&A as they were; a new or reported review changes both
 * review kinds; Q&A writes change only the product's questions and answers lists.
 */
export const BODY_KINDS = ['review-lists', 'review-meta', 'qa'] as const;
export type BodyKind = (typeof BODY_KINDS)[number];

/**
 * The body of a write's `notified` CTE: notifies the `product_id` of every row of `source`, for
 * `kinds`, and yields the write token as `token`. The CTE must be read by the main query (a
 * SELECT in WITH runs only as far as it is read); pg_notify being volatile keeps it from being
 * inlined away. `kinds` are constants of this module, never user input.
 */
export function notifyProducts(source: string, kinds: readonly BodyKind[]): string {
  return `SELECT pg_notify('${INVALIDATION_CHANNEL}', product_id::text || ' ' || pg_current_xact_id()::text || ' ${kinds.join(',')}'),
       pg_current_xact_id()::text AS token
FROM ${source}`;
}

/** What a committed write changed: the product and kinds of body it invalidated, and its write token. */
export interface Written {
  readonly productId: number;
  readonly kinds: readonly BodyKind[];
  /** The transaction id its notification carries; null when it changed (and notified) nothing. */
  readonly token: string | null;
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
  readonly productId: number;
  readonly kinds: readonly BodyKind[];
  /** The writing transaction's id, as the writer's statement returned it. */
  readonly token: string;
}

const PAYLOAD = /^([1-9][0-9]*) ([0-9]+) ([a-z,-]+)$/;

/**
 * The notification's product, kinds and write token, EVERYTHING_CHANGED, or undefined for a
 * payload of another format.
 */
export function parseInvalidation(payload: string): Invalidation | typeof EVERYTHING_CHANGED | undefined {
  if (payload === EVERYTHING_CHANGED) return EVERYTHING_CHANGED;
  const match = PAYLOAD.exec(payload);
  if (!match) return undefined;
  const kinds = match[3]!.split(',');
  if (!kinds.every((kind): kind is BodyKind => (BODY_KINDS as readonly string[]).includes(kind))) return undefined;
  return { productId: Number(match[1]), kinds, token: match[2]! };
}
