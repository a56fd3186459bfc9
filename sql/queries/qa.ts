/**
 * The Questions & answers statements. Reads build the whole body in PostgreSQL (compact JSON via
 * row_to_json/array_to_json, see products.ts), in one round trip however many answers a question
 * has. Each write is ONE statement whose data-modifying CTEs commit or fail together and which
 * notifies the products it changed from inside itself (see invalidation.ts), so a 201/204 means
 * the write is committed and every worker has been told. Creates take a whole batch of questions
 * or answers per statement (server/writes.ts), like helpful votes (votes.ts).
 */
import { batchRows, rowPerItem, withNewIds } from './batches.js';
import { bodiesByKey, type Bodies, type Statement } from './bodies.js';
import { isoDate, jsonArray, jsonObjectById, jsonPage } from './json.js';
import type { Pool } from '../db/pool.js';
import { notifyProducts, rowWrite, type BodyKind, type Written } from './invalidation.js';

/** Every Q&A write changes only its product's questions and answers lists. */
const QA_BODIES: readonly BodyKind[] = ['qa'];

/** A question's visible answers as one JSON object keyed by answer id, photos as URL strings. */
const ANSWERS_BY_ID = jsonObjectById({
  from: 'answers a',
  id: 'a.id',
  columns: `a.id, a.body, ${isoDate('a.date_written')} AS date,
            a.answerer_name, a.helpful AS helpfulness,
            ${jsonArray({ from: 'answers_photos p', value: 'p.url', where: 'p.answer_id = a.id', orderBy: 'p.id' })} AS photos`,
  where: 'a.question_id = q.id AND NOT a.reported',
});

/** A page is chosen by helpfulness, most helpful first, then by id. */
const BY_HELPFULNESS = ['helpful DESC', 'id'];

/**
 * A page is chosen over the narrow (id, helpful) columns of the visible-rows index, so pages
 * deep into a product skip rows without reading them; only the page's rows are read whole.
 * `product` is the product id's expression; $2 count, $3 offset.
 */
function questionPage(product: string): string {
  return `SELECT ${product}::integer::text AS product_id,
         ${jsonPage({
           table: 'questions',
           alias: 'q',
           where: `q.product_id = ${product} AND NOT q.reported`,
           keys: 'q.id, q.helpful',
           orderBy: BY_HELPFULNESS,
           limit: '$2',
           offset: '$3',
           columns: `q.id AS question_id, q.body AS question_body,
                     ${isoDate('q.date_written')} AS question_date,
                     q.asker_name, q.helpful AS question_helpfulness, q.reported,
                     ${ANSWERS_BY_ID} AS answers`,
         })} AS results`;
}

const QUESTION_LIST: Statement = {
  name: 'qa_question_list',
  text: `
SELECT row_to_json(b)::text AS body
FROM (
  ${questionPage('$1')}
) b`,
};

/** QUESTION_LIST for the products of $1: a body for each id, as for one (an unknown product has no questions). */
const QUESTION_LISTS: Statement = {
  name: 'qa_question_lists',
  text: `
SELECT k.id, row_to_json(b)::text AS body
FROM unnest($1::int[]) k(id)
CROSS JOIN LATERAL (${questionPage('k.id')}) b`,
};

/** A page of question q's visible answers, as `b.body`'s object; $2 count, $3 offset, $4 page - 1. */
const ANSWER_PAGE = `CROSS JOIN LATERAL (
  SELECT q.id::text AS question, $4::integer AS page, $2::integer AS count,
         ${jsonPage({
           table: 'answers',
           alias: 'a',
           where: 'a.question_id = q.id AND NOT a.reported',
           keys: 'a.id, a.helpful',
           orderBy: BY_HELPFULNESS,
           limit: '$2',
           offset: '$3',
           columns: `a.id AS answer_id, a.body,
                     ${isoDate('a.date_written')} AS date,
                     a.answerer_name, a.helpful AS helpfulness,
                     ${jsonArray({ from: 'answers_photos p', columns: 'p.id, p.url', where: 'p.answer_id = a.id', orderBy: 'p.id' })} AS photos`,
         })} AS results
) b`;

/** No row for an unknown or reported question; otherwise its product (the cache key's) and the body. */
const ANSWER_LIST: Statement = {
  name: 'qa_answer_list',
  text: `
SELECT q.product_id, row_to_json(b)::text AS body
FROM questions q
${ANSWER_PAGE}
WHERE q.id = $1 AND NOT q.reported`,
};

/** ANSWER_LIST for the questions of $1, one (id, product_id, body) row per visible question. */
const ANSWER_LISTS: Statement = {
  name: 'qa_answer_lists',
  text: `
SELECT q.id, q.product_id, row_to_json(b)::text AS body
FROM questions q
${ANSWER_PAGE}
WHERE q.id = ANY($1::int[]) AND NOT q.reported`,
};

/**
 * Each new question whose product exists; the date is cut to the milliseconds every body prints.
 * One notification per product, one transaction for the whole batch.
 */
const CREATE_QUESTIONS: Statement = {
  name: 'qa_questions_create',
  text: `
WITH valid AS (${withNewIds(
    'questions',
    `SELECT i.n, i.product_id, i.body, i.name, i.email
     FROM ${batchRows('product_id integer, body text, name text, email text')}
     JOIN products p ON p.id = i.product_id`,
  )}
), question AS (
  INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email)
  SELECT id, product_id, body, date_trunc('milliseconds', now()), name, email FROM valid
), notified AS (
  ${notifyProducts('(SELECT DISTINCT product_id FROM valid) AS products', QA_BODIES)}
)
SELECT n, id, product_id, (SELECT max(token) FROM notified) AS token FROM valid`,
};

/**
 * Each new answer whose question exists and is not reported, with its photos in their order
 * (photo ids follow it, and the lists read photos by id).
 */
const CREATE_ANSWERS: Statement = {
  name: 'qa_answers_create',
  text: `
WITH valid AS (${withNewIds(
    'answers',
    `SELECT i.n, i.question_id, q.product_id, i.body, i.name, i.email, i.photos
     FROM ${batchRows('question_id integer, body text, name text, email text, photos text[]')}
     JOIN questions q ON q.id = i.question_id AND NOT q.reported`,
  )}
), answer AS (
  INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email)
  SELECT id, question_id, body, date_trunc('milliseconds', now()), name, email FROM valid
  RETURNING id
), photos AS (
  INSERT INTO answers_photos (answer_id, url)
  SELECT answer.id, u.url
  FROM answer JOIN valid USING (id), unnest(valid.photos) WITH ORDINALITY AS u(url, k)
  ORDER BY valid.n, u.k
), notified AS (
  ${notifyProducts('(SELECT DISTINCT product_id FROM valid) AS products', QA_BODIES)}
)
SELECT n, id, product_id, (SELECT max(token) FROM notified) AS token FROM valid`,
};

/** The product a row's bodies belong to: a question's own, an answer's through its question. */
export const PRODUCT_OF = {
  questions: 'w.product_id',
  answers: '(SELECT q.product_id FROM questions q WHERE q.id = w.question_id)',
} as const;

/**
 * Hides the row with id $1, once: reporting twice changes (and notifies) nothing the second time.
 * The final SELECT reads the statement's snapshot, so it finds the row whether or not the UPDATE
 * changed it: no row means an unknown id. (Helpful votes are in votes.ts.)
 */
function reportStatement(name: string, table: keyof typeof PRODUCT_OF): Statement {
  return {
    name,
    text: `
WITH changed AS (
  UPDATE ${table} w SET reported = true WHERE w.id = $1 AND NOT w.reported RETURNING ${PRODUCT_OF[table]} AS product_id
), notified AS (
  ${notifyProducts('changed', QA_BODIES)}
)
SELECT ${PRODUCT_OF[table]} AS product_id, (SELECT token FROM notified) AS token FROM ${table} w WHERE w.id = $1`,
  };
}

const QUESTION_REPORT = reportStatement('qa_question_report', 'questions');
const ANSWER_REPORT = reportStatement('qa_answer_report', 'answers');

/** One page of a product's visible questions with all their visible answers, as the response body. */
export async function questionList(pool: Pool, productId: number, page: number, count: number): Promise<string> {
  const result = await pool.query<{ body: string }>({
    ...QUESTION_LIST,
    values: [productId, count, (page - 1) * count],
  });
  return result.rows[0]!.body;
}

/** questionList of each product, the same page of each, in one statement. */
export function questionLists(pool: Pool, productIds: readonly number[], page: number, count: number): Promise<Bodies> {
  return bodiesByKey(pool, QUESTION_LISTS, productIds, [count, (page - 1) * count]);
}

export interface AnswerList {
  /** The question's product, whose version keys the cached body. */
  readonly productId: number;
  readonly body: string;
}

/** One page of a question's visible answers; undefined for an unknown or reported question. */
export async function answerList(
  pool: Pool,
  questionId: number,
  page: number,
  count: number,
): Promise<AnswerList | undefined> {
  const result = await pool.query<{ product_id: number; body: string }>({
    ...ANSWER_LIST,
    values: [questionId, count, (page - 1) * count, page - 1],
  });
  const row = result.rows[0];
  return row === undefined ? undefined : { productId: row.product_id, body: row.body };
}

/** answerList of each visible question of `questionIds`, the same page of each, in one statement. */
export async function answerLists(
  pool: Pool,
  questionIds: readonly number[],
  page: number,
  count: number,
): Promise<ReadonlyMap<number, AnswerList>> {
  const result = await pool.query<{ id: number; product_id: number; body: string }>({
    ...ANSWER_LISTS,
    values: [questionIds, count, (page - 1) * count, page - 1],
  });
  return new Map(result.rows.map((row) => [row.id, { productId: row.product_id, body: row.body }]));
}

export interface NewPost {
  readonly body: string;
  readonly name: string;
  readonly email: string;
}

export interface NewQuestion extends NewPost {
  readonly productId: number;
}

export interface NewAnswer extends NewPost {
  readonly photos: readonly string[];
}

export interface Created {
  readonly id: number;
  readonly written: Written;
}

/** An answer to the question with this id. */
export interface AnswerTo {
  readonly questionId: number;
  readonly answer: NewAnswer;
}

/** The created item of each row, undefined for the items the statement did not insert. */
async function createAll(pool: Pool, statement: Statement, rows: readonly object[]): Promise<(Created | undefined)[]> {
  const inserted = await rowPerItem<{ n: number; id: number; product_id: number; token: string }>(
    pool,
    statement,
    rows,
  );
  return inserted.map(
    (row) => row && { id: row.id, written: { productId: row.product_id, kinds: QA_BODIES, token: row.token } },
  );
}

/** Each new question, in one statement; undefined where the product does not exist. */
export function createQuestions(pool: Pool, questions: readonly NewQuestion[]): Promise<(Created | undefined)[]> {
  return createAll(
    pool,
    CREATE_QUESTIONS,
    questions.map((question) => ({
      product_id: question.productId,
      body: question.body,
      name: question.name,
      email: question.email,
    })),
  );
}

/** Each new answer with its photos, in one statement; undefined where the question is unknown or reported. */
export function createAnswers(pool: Pool, answers: readonly AnswerTo[]): Promise<(Created | undefined)[]> {
  return createAll(
    pool,
    CREATE_ANSWERS,
    answers.map(({ questionId, answer }) => ({
      question_id: questionId,
      body: answer.body,
      name: answer.name,
      email: answer.email,
      photos: answer.photos,
    })),
  );
}

/** Each hides the row (once); undefined for an unknown id. */
export const reportQuestion = rowWrite(QUESTION_REPORT, QA_BODIES);
export const reportAnswer = rowWrite(ANSWER_REPORT, QA_BODIES);
