/**
 * New questions and answers are written a batch per statement (sql/queries/qa.ts, batched by
 * server/writes.ts): each item of a batch must come out exactly as if it had been written alone,
 * a batch must fail whole or not at all, and a burst of posts through the API must all be stored
 * and read back.
 */
import t, { type Test } from 'tap';
import type { Session } from '../sql/db/admin.js';
import { openSession } from '../sql/db/admin.js';
import { createAnswers, createQuestions, type AnswerTo, type Created, type NewQuestion } from '../sql/queries/qa.js';
import { QA_CREATE_BATCHING, WriteBatcher } from '../server/write-batcher.js';
import { serveFixture } from './helpers/api.js';
import { collectNotifications, directPool, freshDatabase } from './helpers/database.js';
import { until } from '../lib/wait.js';

/** Question 2 is reported; product 3 has no question; sequences continue after the loaded ids. */
const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'A onesie', 'Jackets', 140),
  (2, 'Bright Future Sunglasses', 'Shades', 'Glasses', 'Accessories', 69),
  (3, 'Morning Joggers', 'Mornings', 'Joggers', 'Pants', 40);
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, reported, helpful) VALUES
  (1, 1, 'Does it run small?', '2020-12-21T07:31:47.083Z', 'jbilas', 'j@example.com', false, 3),
  (2, 1, 'Buy followers', '2020-12-25T00:14:44.662Z', 'spammer', 's@example.com', true, 0),
  (3, 2, 'Where is it made?', '2020-05-25T17:54:33.460Z', 'iluvcatz', 'i@example.com', false, 0);
INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email, helpful) VALUES
  (1, 1, 'A little.', '2021-01-05T10:00:00.000Z', 'sillyguy', 's@example.com', 2);
INSERT INTO answers_photos (id, answer_id, url) VALUES (1, 1, 'https://img.example/a1');
SELECT setval(pg_get_serial_sequence('questions', 'id'), 3);
SELECT setval(pg_get_serial_sequence('answers', 'id'), 1);
SELECT setval(pg_get_serial_sequence('answers_photos', 'id'), 1);
`;

const post = (body: string) => ({ body, name: 'jackson11', email: 'first.last@gmail.com' });

/** Product 99 does not exist. Texts need JSON escaping and hold characters outside ASCII. */
const QUESTIONS: readonly NewQuestion[] = [
  { productId: 1, ...post('Does it "run" big?\nAsking for a friend') },
  { productId: 99, ...post('Is this on?') },
  { productId: 2, ...post('Naïve question: café? 👍') },
  { productId: 1, ...post('Does it shrink?') },
];
const QUESTION_IDS = [4, undefined, 5, 6];

/**
 * Question 2 is reported, 999 unknown, 4 is the first of QUESTIONS; photos are given out of
 * alphabetical order, and must keep the order they were posted in.
 */
const ANSWERS: readonly AnswerTo[] = [
  { questionId: 1, answer: { ...post('Yes'), photos: ['https://img.example/b', 'https://img.example/a'] } },
  { questionId: 2, answer: { ...post('Hidden'), photos: ['https://img.example/x'] } },
  { questionId: 999, answer: { ...post('Nobody asked'), photos: [] } },
  { questionId: 3, answer: { ...post('Italy'), photos: [] } },
  { questionId: 1, answer: { ...post('No "it" does not'), photos: ['https://img.example/c'] } },
  { questionId: 4, answer: { ...post('Big'), photos: [] } },
];
const ANSWER_IDS = [2, undefined, undefined, 3, 4, 5];

/** Every column but the date, which must be the transaction's, cut to the millisecond. */
const ROWS = {
  questions: `SELECT id, product_id, body, asker_name, asker_email, reported, helpful,
                     date_written = date_trunc('milliseconds', date_written) AS milliseconds
              FROM questions ORDER BY id`,
  answers: `SELECT id, question_id, body, answerer_name, answerer_email, reported, helpful,
                   date_written = date_trunc('milliseconds', date_written) AS milliseconds
            FROM answers ORDER BY id`,
  photos: 'SELECT id, answer_id, url FROM answers_photos ORDER BY id',
};

async function fixture(t: Test): Promise<{ url: string; db: Session }> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-qa-batches');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  return { url, db };
}

async function rows(db: Session): Promise<Record<keyof typeof ROWS, unknown[]>> {
  return {
    questions: await db.query(ROWS.questions),
    answers: await db.query(ROWS.answers),
    photos: await db.query(ROWS.photos),
  };
}

const ascending = (ids: readonly number[]): number[] => [...ids].sort((a, b) => a - b);

const outcomes = (created: readonly (Created | undefined)[]) =>
  created.map((item) => item && { id: item.id, productId: item.written.productId, kinds: item.written.kinds });

/** The one write token of a batch's created items. */
function tokenOf(t: Test, created: readonly (Created | undefined)[]): string | null | undefined {
  const tokens = new Set(created.filter((item) => item !== undefined).map((item) => item.written.token));
  t.equal(tokens.size, 1, 'one transaction, one write token');
  return [...tokens][0];
}

t.test('a batch returns and stores, item by item, what one create per item does', async (t) => {
  const batched = await fixture(t);
  const alone = await fixture(t);
  const batchPool = directPool(t, batched.url);
  const alonePool = directPool(t, alone.url);

  const questions = await createQuestions(batchPool, QUESTIONS);
  const answers = await createAnswers(batchPool, ANSWERS);
  const questionsAlone = [];
  for (const question of QUESTIONS) questionsAlone.push(...(await createQuestions(alonePool, [question])));
  const answersAlone = [];
  for (const answer of ANSWERS) answersAlone.push(...(await createAnswers(alonePool, [answer])));

  t.same(
    questions.map((item) => item?.id),
    QUESTION_IDS,
    'one result per question, in order; none for the unknown product',
  );
  t.same(
    answers.map((item) => item?.id),
    ANSWER_IDS,
    'one result per answer, in order; none for the reported and the unknown question',
  );
  t.same(outcomes(questions), outcomes(questionsAlone), 'the same ids and products as one create per question');
  t.same(outcomes(answers), outcomes(answersAlone), 'the same ids and products as one create per answer');
  t.same(
    answers.map((item) => item?.written.productId),
    [1, undefined, undefined, 2, 1, 1],
    "an answer names its question's product",
  );
  t.ok(tokenOf(t, questions), 'the questions batch has a token');
  t.ok(tokenOf(t, answers), 'the answers batch has a token');

  const stored = await rows(batched.db);
  t.same(stored, await rows(alone.db), 'the same rows as one create per item');
  t.same(
    stored.photos,
    [
      { id: 1, answer_id: 1, url: 'https://img.example/a1' },
      { id: 2, answer_id: 2, url: 'https://img.example/b' },
      { id: 3, answer_id: 2, url: 'https://img.example/a' },
      { id: 4, answer_id: 4, url: 'https://img.example/c' },
    ],
    'photos in the order they were posted',
  );
  t.same(
    (stored.questions as { milliseconds: boolean }[]).map((row) => row.milliseconds),
    [true, true, true, true, true, true],
    'dates to the millisecond',
  );
  t.same(
    await batched.db.query(
      'SELECT count(DISTINCT date_written)::int AS dates FROM questions WHERE id >= 4 UNION ALL SELECT count(DISTINCT date_written)::int FROM answers WHERE id >= 2',
    ),
    [{ dates: 1 }, { dates: 1 }],
    "a batch's posts share its transaction's date",
  );
});

t.test('a batch notifies each product it changed once, with its write token', async (t) => {
  const { url, db } = await fixture(t);
  const pool = directPool(t, url);
  const payloads = await collectNotifications(t, url);
  const questions = await createQuestions(pool, QUESTIONS);
  const answers = await createAnswers(pool, ANSWERS);
  const expected = [tokenOf(t, questions), tokenOf(t, answers)].flatMap((token) => [`${token} qa 1`, `${token} qa 2`]);
  await until(() => payloads.length >= expected.length, 'both batches have notified', { timeoutMs: 5000 });
  t.same([...payloads].sort(), expected.sort(), 'products 1 and 2 once per batch, kind qa only');

  const nothing = await createQuestions(pool, [{ productId: 99, ...post('Anyone?') }]);
  t.same(nothing, [undefined], 'a batch that creates nothing answers undefined');
  t.same(await db.query('SELECT count(*)::int AS n FROM questions'), [{ n: 6 }], 'and stores nothing');
});

t.test('a failing batch refuses every item in it, and only those', async (t) => {
  const { url, db } = await fixture(t);
  const pool = directPool(t, url);
  const batcher = new WriteBatcher((items: readonly AnswerTo[]) => createAnswers(pool, items), QA_CREATE_BATCHING);
  t.teardown(() => batcher.close());
  const valid: AnswerTo = { questionId: 1, answer: { ...post('Fine'), photos: ['https://img.example/ok'] } };
  // The route never lets a null URL through; it stands for any error the statement can meet.
  const broken: AnswerTo = { ...valid, answer: { ...valid.answer, photos: [null as never] } };
  // Added in one turn, the first two share a batch; the third arrives while it runs, so it waits
  // for the next one.
  const sharing = [batcher.add(valid), batcher.add(broken)];
  await new Promise((resolve) => setImmediate(resolve));
  const later = batcher.add(valid);
  for (const [i, result] of (await Promise.allSettled(sharing)).entries()) {
    t.equal(result.status, 'rejected', `item ${i} of the failing batch is refused`);
  }
  const stored = await later;
  t.ok(stored, 'the next batch is stored');
  t.same(
    await db.query('SELECT a.id, p.url FROM answers a JOIN answers_photos p ON p.answer_id = a.id ORDER BY a.id'),
    [
      { id: 1, url: 'https://img.example/a1' },
      { id: stored?.id, url: 'https://img.example/ok' },
    ],
    'nothing of the failed batch was stored',
  );
});

t.test('through the API, 50 concurrent posts are all created, distinct, and read back at once', async (t) => {
  const api = await serveFixture(t, FIXTURE);
  const listed = async (path: string): Promise<number[]> => {
    const response = await api.get(path);
    t.equal(response.status, 200, path);
    const body = (await response.json()) as { results: ({ question_id: number } | { answer_id: number })[] };
    return body.results.map((item) => ('question_id' in item ? item.question_id : item.answer_id));
  };
  const QUESTIONS_PAGE = '/qa/questions?product_id=3&count=100';
  const ANSWERS_PAGE = '/qa/questions/3/answers?count=100';
  // Cached before the burst: every post must reach the cache as well as the table.
  for (let i = 0; i < 2; i += 1) {
    t.same(await listed(QUESTIONS_PAGE), [], 'product 3 has no question yet');
    t.same(await listed(ANSWERS_PAGE), [], 'question 3 has no answer yet');
  }

  const burst = async (path: string, body: (i: number) => object, key: string): Promise<number[]> => {
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => api.send('POST', path, body(i))));
    const ids: number[] = [];
    for (const response of responses) {
      t.equal(response.status, 201, `POST ${path}`);
      ids.push(((await response.json()) as Record<string, number>)[key]!);
    }
    t.equal(new Set(ids).size, 50, `50 distinct ids from POST ${path}`);
    return ids;
  };
  const questionIds = await burst('/qa/questions', (i) => ({ product_id: 3, ...post(`Question ${i}`) }), 'question_id');
  t.same(ascending(await listed(QUESTIONS_PAGE)), ascending(questionIds), 'every question is listed');

  const answerIds = await burst(
    '/qa/questions/3/answers',
    (i) => ({ ...post(`Answer ${i}`), photos: [`https://img.example/${i}`] }),
    'answer_id',
  );
  t.same(ascending(await listed(ANSWERS_PAGE)), ascending(answerIds), 'every answer is listed');
  t.same(
    await api.db.query(
      `SELECT count(*)::int AS n FROM answers a JOIN answers_photos p ON p.answer_id = a.id
       WHERE a.question_id = 3 AND p.url = 'https://img.example/' || substr(a.body, 8)`,
    ),
    [{ n: 50 }],
    'each answer with its own photo',
  );
});
