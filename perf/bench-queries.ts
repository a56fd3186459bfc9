/**
 * The benchmark's own read-only statements: where the ids are, how many interactions are stored,
 * how much WAL has been written.
 */
import type { ConnectionPool, Pool } from '../sql/db/pool.js';

export interface ProductSpan {
  readonly count: number;
  readonly maxId: number;
}

const PRODUCT_SPAN = {
  name: 'bench_product_span',
  text: 'SELECT count(*)::int AS count, coalesce(max(id), 0) AS max_id FROM products',
};

// Capped per product: the mix only needs a few to vote on, and the list is loaded by every wrk thread.
const VISIBLE_CHILDREN_PER_PRODUCT = 20;

/** The first visible rows of `table` per product of a range ($1..$2). */
function visibleChildren(table: 'questions' | 'reviews') {
  return {
    name: `bench_visible_${table}`,
    text: `
SELECT product_id, (array_agg(id ORDER BY id))[1:${VISIBLE_CHILDREN_PER_PRODUCT}] AS ids
FROM ${table} WHERE product_id BETWEEN $1 AND $2 AND NOT reported
GROUP BY product_id`,
  };
}

const VISIBLE_QUESTIONS = visibleChildren('questions');
const VISIBLE_REVIEWS = visibleChildren('reviews');

const INTERACTION_COUNT = {
  name: 'bench_interaction_count',
  text: 'SELECT count(*)::bigint::text AS count FROM interactions',
};

const WAL_POSITION = {
  name: 'bench_wal_position',
  // Bytes since 0/0: exact in a double up to 8 PiB of WAL.
  text: "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS bytes",
};

export async function productSpan(pool: Pool): Promise<ProductSpan> {
  const row = (await pool.query<{ count: number; max_id: number }>(PRODUCT_SPAN)).rows[0]!;
  return { count: row.count, maxId: row.max_id };
}

async function childrenByProduct(
  pool: Pool,
  statement: { name: string; text: string },
  first: number,
  last: number,
): Promise<Map<number, number[]>> {
  const result = await pool.query<{ product_id: number; ids: number[] }>({ ...statement, values: [first, last] });
  return new Map(result.rows.map((row) => [row.product_id, row.ids]));
}

/** Up to 20 ids of the visible questions of each product in [first, last] that has any. */
export function visibleQuestions(pool: Pool, first: number, last: number): Promise<Map<number, number[]>> {
  return childrenByProduct(pool, VISIBLE_QUESTIONS, first, last);
}

/** Up to 20 ids of the visible reviews of each product in [first, last] that has any. */
export function visibleReviews(pool: Pool, first: number, last: number): Promise<Map<number, number[]>> {
  return childrenByProduct(pool, VISIBLE_REVIEWS, first, last);
}

/** Rows in the interactions table; a bigint, so read as text. */
export async function interactionCount(pool: Pool): Promise<number> {
  return Number((await pool.query<{ count: string }>(INTERACTION_COUNT)).rows[0]!.count);
}

/** The primary's current WAL position, in bytes. */
export async function walPosition(pool: Pool): Promise<number> {
  return Number((await pool.query<{ bytes: string }>(WAL_POSITION)).rows[0]!.bytes);
}

/** pg_stat_statements' totals start again from zero (its extension made first, in this database). */
export async function resetStatementStats(pool: Pool): Promise<void> {
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await pool.query('SELECT pg_stat_statements_reset()');
}

export interface StatementStats {
  readonly calls: number;
  /** Executor milliseconds, all calls. */
  readonly totalMs: number;
  readonly meanUs: number;
  readonly rows: number;
  /** The statement's text, whitespace folded, cut short. */
  readonly query: string;
}

const TOP_STATEMENTS = {
  name: 'bench_top_statements',
  text: `
SELECT calls::int AS calls, total_exec_time AS total_ms, 1000 * total_exec_time / calls AS mean_us, rows::bigint AS rows,
       left(regexp_replace(query, '\\s+', ' ', 'g'), $2) AS query
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND calls > 0
ORDER BY total_exec_time DESC
LIMIT $1`,
};

/** The `limit` statements of this database that took most executor time since the last reset. */
export async function topStatements(pool: Pool, limit: number, queryChars = 100): Promise<StatementStats[]> {
  const result = await pool.query<{ calls: number; total_ms: number; mean_us: number; rows: string; query: string }>({
    ...TOP_STATEMENTS,
    values: [limit, queryChars],
  });
  return result.rows.map((row) => ({
    calls: row.calls,
    totalMs: row.total_ms,
    meanUs: row.mean_us,
    rows: Number(row.rows),
    query: row.query,
  }));
}

/**
 * Locks `table` against every other session (what a long migration does) until the returned
 * function is called, on a connection of `pool`'s own.
 */
export async function lockTable(pool: ConnectionPool, table: 'reviews'): Promise<() => Promise<void>> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  } catch (err) {
    client.release(err as Error);
    throw err;
  }
  return async () => {
    try {
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  };
}
