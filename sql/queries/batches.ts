/**
 * Batched creates: one statement inserts a whole batch of new rows (server/write-batcher.ts), checks
 * each item in SQL and answers one row per item it stored, so one bad item never fails the others.
 * New questions, answers (qa.ts) and reviews (reviews.ts) are written this way.
 */
import type { Pool } from '../db/pool.js';
import type { Statement } from './bodies.js';

/**
 * The rows of a batch, `$1` as a JSON array of objects with these `columns`, each with its index in
 * the batch as `n`. JSON rather than one array per column because an item can carry arrays (photos,
 * ratings), and arrays of arrays must all be the same length in PostgreSQL.
 */
export const batchRows = (columns: string): string => `json_to_recordset($1::json) AS i(n integer, ${columns})`;

/**
 * The rows of `source` in batch order, each given its new id up front: an INSERT's RETURNING
 * cannot name the batch row it came from, so the ids are drawn first and inserted explicitly,
 * and every item's id is known by its `n`.
 */
export const withNewIds = (table: string, source: string): string => `
  SELECT nextval(pg_get_serial_sequence('${table}', 'id'))::integer AS id, v.*
  FROM (${source} ORDER BY n) v`;

/**
 * Runs `statement` over `rows` (one per item, in order; batchRows reads them) and returns, per
 * item, the statement's row whose `n` is the item's index, or undefined where it answered none.
 * All of it commits, or the promise rejects having stored none of it.
 */
export async function rowPerItem<Row extends { readonly n: number }>(
  pool: Pool,
  statement: Statement,
  rows: readonly object[],
): Promise<(Row | undefined)[]> {
  const result = await pool.query<Row>({
    ...statement,
    values: [JSON.stringify(rows.map((row, n) => ({ ...row, n })))],
  });
  const answered = new Map(result.rows.map((row) => [row.n, row]));
  return rows.map((_, n) => answered.get(n));
}
