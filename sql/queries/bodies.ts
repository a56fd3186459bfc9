/**
 * Batched reads: a route's statement for many keys at once (`… = ANY($1)` or `unnest($1)`)
 * prints the same body expression as its single-key statement, one (id, body) row per key found,
 * for a worker's concurrent misses of that route (server/miss-batcher.ts).
 */
import type { Pool } from '../db/pool.js';

export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** Key → body, for the keys that name something that exists. */
export type Bodies = ReadonlyMap<number, string>;

/** Runs `statement` with the keys as its first parameter, an array, and `rest` after it. */
export async function bodiesByKey(
  pool: Pool,
  statement: Statement,
  keys: readonly number[],
  rest: readonly unknown[] = [],
): Promise<Bodies> {
  // Rows as arrays: the driver builds no object per row, only to be taken apart here.
  const result = await pool.query<[id: number, body: string]>({
    ...statement,
    values: [keys, ...rest],
    rowMode: 'array',
  });
  return new Map(result.rows);
}
