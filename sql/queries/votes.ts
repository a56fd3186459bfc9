/**
 * Helpful votes, many per statement: a worker batches the votes that arrive together
 * (server/write-batcher.ts), so one transaction, one WAL flush and one NOTIFY per product replace
 * one of each per vote.
 */
import type { Pool } from '../db/pool.js';
import { notifyProducts, reviewListPatch, type BodyKind, type Written } from './invalidation.js';
import { PRODUCT_OF } from './qa.js';

interface VoteTarget {
  readonly name: string;
  readonly table: 'reviews' | 'questions' | 'answers';
  readonly column: 'helpfulness' | 'helpful';
  /** The product whose bodies a vote changes, from the voted row `w`. */
  readonly productOf: string;
  readonly kinds: readonly BodyKind[];
  /** Whether the notification carries the voted rows' new counts, for cached review lists to patch. */
  readonly patches: boolean;
}

/**
 * Adds each id's votes (an id may appear several times) and notifies each product once. The rows
 * are locked in id order before any is changed: two batches sharing rows, from two workers,
 * would otherwise be able to lock them in opposite orders and deadlock. The lock count is a
 * one-time filter, so every lock is taken before the UPDATE starts; a row changed by someone else
 * meanwhile is re-read by the UPDATE (READ COMMITTED), so no vote is lost. Ids with no row come
 * back missing.
 */
function voteStatement({ name, table, column, productOf, kinds, patches }: VoteTarget): { name: string; text: string } {
  const votedProducts = patches
    ? `SELECT product_id, ${reviewListPatch.helpfulness} AS patch FROM voted GROUP BY product_id`
    : 'SELECT DISTINCT product_id FROM voted';
  return {
    name,
    text: `
WITH votes AS (
  SELECT id, count(*)::integer AS n FROM unnest($1::integer[]) AS id GROUP BY id
), locked AS (
  SELECT w.id FROM ${table} w WHERE w.id IN (SELECT id FROM votes) ORDER BY w.id FOR NO KEY UPDATE
), voted AS (
  UPDATE ${table} w SET ${column} = w.${column} + votes.n
  FROM votes
  WHERE w.id = votes.id AND (SELECT count(*) FROM locked) > 0
  RETURNING w.id, ${productOf} AS product_id, w.${column} AS value
), voted_products AS (
  ${votedProducts}
), notified AS (
  ${notifyProducts('voted_products', kinds, patches)}
)
SELECT id, product_id, (SELECT max(token) FROM notified) AS token${patches ? ', (SELECT patch FROM voted_products p WHERE p.product_id = voted.product_id) AS patch' : ''}
FROM voted`,
  };
}

/** One result per id, in order: what the vote changed, or undefined for an unknown id. */
export type CastVotes = (pool: Pool, ids: readonly number[]) => Promise<(Written | undefined)[]>;

function castVotes(target: VoteTarget): CastVotes {
  const statement = voteStatement(target);
  return async (pool, ids) => {
    const result = await pool.query<{ id: number; product_id: number; token: string; patch?: string | null }>({
      ...statement,
      values: [ids],
    });
    const voted = new Map(result.rows.map((row) => [row.id, row]));
    return ids.map((id) => {
      const row = voted.get(id);
      if (row === undefined) return undefined;
      return { productId: row.product_id, kinds: target.kinds, token: row.token, patch: row.patch ?? undefined };
    });
  };
}

/** A helpful vote reorders a product's review lists; its ratings (meta) stay as they were. */
export const voteForReviews = castVotes({
  name: 'votes_reviews',
  table: 'reviews',
  column: 'helpfulness',
  productOf: 'w.product_id',
  kinds: ['review-lists'],
  patches: true,
});
export const voteForQuestions = castVotes({
  name: 'votes_questions',
  table: 'questions',
  column: 'helpful',
  productOf: PRODUCT_OF.questions,
  kinds: ['qa'],
  patches: false,
});
export const voteForAnswers = castVotes({
  name: 'votes_answers',
  table: 'answers',
  column: 'helpful',
  productOf: PRODUCT_OF.answers,
  kinds: ['qa'],
  patches: false,
});
