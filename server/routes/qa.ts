/**
 * The Questions & answers routes. Reads are cached per product through CacheCoherence; every
 * write answers only after it has committed and invalidated (see server/invalidation.ts).
 *
 * Every cached Q&A body is keyed under a product, so each write (which notifies the product it
 * changed) drops exactly the bodies it can change, on every worker of every instance. An answers
 * list is addressed by its question, so this worker remembers each question's product the first
 * time it reads the list (the statement returns it): the API never moves a question to another
 * product, and a re-ingest (which can reuse ids) clears the mapping with the cache. That first read is answered without being cached, since its key is
 * only known once the read returns; later reads of the question are cached like any other body.
 */
import { LRUCache } from 'lru-cache';
import type { Pool } from '../../sql/db/pool.js';
import {
  answerList,
  createAnswer,
  createQuestion,
  questionList,
  reportAnswer,
  reportQuestion,
  type NewAnswer,
  type NewPost,
  type NewQuestion,
} from '../../sql/queries/qa.js';
import { ERRORS } from '../errors.js';
import { created, mount, readJsonBody, type Exchanges } from '../http.js';
import type { CacheCoherence } from '../invalidation.js';
import { paging, pathId, queryParams, queryProductId } from '../params.js';
import { encodeBody, ok, type Reply } from '../reply.js';
import type { TemplatedApp } from '../uws.js';
import { email, id, invalid, jsonObject, photoUrls, text } from '../validate.js';
import { rowWriteRoute, type WriteRow } from './row-write.js';

/** Question → product entries kept per worker (about 100 bytes each). */
const KNOWN_QUESTIONS = 100_000;

const UNKNOWN_PRODUCT = invalid('product_id', 'the id of an existing product');

/** What every question and answer carries, checked in the contract's order. */
function postFields(fields: Record<string, unknown>): NewPost {
  return { body: text(fields, 'body', 1, 1000), name: text(fields, 'name', 1, 60), email: email(fields) };
}

/** The POST /qa/questions body, fields checked in the contract's order; unknown fields are ignored. */
function parseNewQuestion(input: unknown): NewQuestion {
  const fields = jsonObject(input);
  return { ...postFields(fields), productId: id(fields, 'product_id') };
}

/** The POST /qa/questions/:question_id/answers body; `photos` may be absent. */
function parseNewAnswer(input: unknown): NewAnswer {
  const fields = jsonObject(input);
  return { ...postFields(fields), photos: photoUrls(fields) };
}

/** Helpful votes, batched by the worker. */
export interface QaVotes {
  readonly questions: WriteRow;
  readonly answers: WriteRow;
}

export function mountQaRoutes(
  app: TemplatedApp,
  exchanges: Exchanges,
  pool: Pool,
  coherence: CacheCoherence,
  votes: QaVotes,
): void {
  const questionProducts = new LRUCache<number, number>({ max: KNOWN_QUESTIONS });
  // A re-ingest may hand a question id to another product's question.
  coherence.onCacheCleared(() => questionProducts.clear());

  mount(app, exchanges, '/qa/questions', {
    get: (req) => {
      const query = queryParams(req.getQuery());
      const productId = queryProductId(query);
      const { page, count } = paging(query);
      return coherence.reply('qa', productId, `questions:${page}:${count}`, async () =>
        encodeBody(await questionList(pool, productId, page, count)),
      );
    },
    post: async (req, res) => {
      const question = parseNewQuestion(await readJsonBody(req, res));
      const outcome = await createQuestion(pool, question);
      if (outcome === undefined) throw UNKNOWN_PRODUCT;
      await coherence.written(outcome.written);
      return created(`{"question_id":${outcome.id}}`);
    },
  });

  mount(app, exchanges, '/qa/questions/:question_id/answers', {
    get: (req) => {
      const questionId = pathId(req.getParameter(0));
      const { page, count } = paging(queryParams(req.getQuery()));
      const productId = questionProducts.get(questionId);
      if (productId !== undefined) {
        return coherence.reply('qa', productId, `answers:${questionId}:${page}:${count}`, async () => {
          const list = await answerList(pool, questionId, page, count);
          return list === undefined ? undefined : encodeBody(list.body);
        });
      }
      return answerList(pool, questionId, page, count).then((list): Reply => {
        if (list === undefined) return ERRORS.unknownId;
        questionProducts.set(questionId, list.productId);
        return ok(list.body);
      });
    },
    post: async (req, res) => {
      // Read before awaiting: uWS invalidates req when this callback returns.
      const rawQuestionId = req.getParameter(0);
      const input = await readJsonBody(req, res);
      const questionId = pathId(rawQuestionId);
      const outcome = await createAnswer(pool, questionId, parseNewAnswer(input));
      if (outcome === undefined) return ERRORS.unknownId;
      await coherence.written(outcome.written);
      return created(`{"answer_id":${outcome.id}}`);
    },
  });

  mount(app, exchanges, '/qa/questions/:question_id/helpful', rowWriteRoute(coherence, votes.questions));
  mount(
    app,
    exchanges,
    '/qa/questions/:question_id/report',
    rowWriteRoute(coherence, (id) => reportQuestion(pool, id)),
  );
  mount(app, exchanges, '/qa/answers/:answer_id/helpful', rowWriteRoute(coherence, votes.answers));
  mount(
    app,
    exchanges,
    '/qa/answers/:answer_id/report',
    rowWriteRoute(coherence, (id) => reportAnswer(pool, id)),
  );
}
