/**
 * The Questions & answers routes. Reads are cached per product (server/reads.ts); every write
 * answers only after it has committed and invalidated (server/writes.ts).
 *
 * Every cached Q&A body is keyed under a product, so each write (which notifies the product it
 * changed) drops exactly the bodies it can change, on every worker of every instance. An answers
 * list is addressed by its question, so this worker remembers each question's product the first
 * time it reads the list (the statement returns it): the API never moves a question to another
 * product, and a re-ingest (which can reuse ids) clears the mapping with the cache. That first
 * read is answered without being cached, since its key is only known once the read returns;
 * later reads of the question are cached like any other body.
 */
import { LRUCache } from 'lru-cache';
import { answerLists, questionLists, type NewQuestion } from '../../sql/queries/qa.js';
import { ApiError, ERRORS } from '../errors.js';
import { created, mount, readJsonBody } from '../http.js';
import { paging, pathId, queryParams, queryProductId } from '../params.js';
import type { TemplatedApp } from '../uws.js';
import { body, email, id, photoUrls, text } from '../validate.js';
import type { RouteContext } from './context.js';
import { rowChangeRoute } from './row-change.js';

/** Question → product entries kept per worker (about 100 bytes each). */
const KNOWN_QUESTIONS = 100_000;

const UNKNOWN_PRODUCT = new ApiError(ERRORS.unknownProduct);

/** What every question and answer carries, in the contract's order. */
const POST_FIELDS = { body: text(1, 1000), name: text(1, 60), email: email() };

/** The POST /qa/questions body. */
export const NEW_QUESTION_BODY = body({ ...POST_FIELDS, product_id: id() });

/** The POST /qa/questions/:question_id/answers body; `photos` may be absent. */
export const NEW_ANSWER_BODY = body({ ...POST_FIELDS, photos: photoUrls() });

function parseNewQuestion(input: unknown): NewQuestion {
  const question = NEW_QUESTION_BODY.parse(input);
  return { body: question.body, name: question.name, email: question.email, productId: question.product_id };
}

export function mountQaRoutes(app: TemplatedApp, { exchanges, reads, writes }: RouteContext): void {
  const questionProducts = new LRUCache<number, number>({ max: KNOWN_QUESTIONS });
  // A re-ingest may hand a question id to another product's question.
  reads.onCacheCleared(() => questionProducts.clear());

  // Concurrent misses of a page share one statement (server/miss-batcher.ts).
  const questionPages = reads.pagedBatcher('qa', (pool, productIds, { page, count }) =>
    questionLists(pool, productIds, page, count),
  );

  mount(app, exchanges, '/qa/questions', {
    get: (req) => {
      const query = queryParams(req.getQuery());
      const productId = queryProductId(query);
      const { page, count } = paging(query);
      const batcher = questionPages.page(`${page}:${count}`, { page, count });
      return reads.reply({ kind: 'qa', productId }, `questions:${page}:${count}`, { batcher, key: productId });
    },
    post: async (req, res) => {
      const questionId = await writes.questions.create(parseNewQuestion(await readJsonBody(req, res)));
      if (questionId === undefined) throw UNKNOWN_PRODUCT;
      return created(`{"question_id":${questionId}}`);
    },
  });

  const answerPages = reads.pagedBatcher('qa', async (pool, questionIds, { page, count }) => {
    const lists = await answerLists(pool, questionIds, page, count);
    const bodies = new Map<number, string>();
    for (const [questionId, list] of lists) {
      questionProducts.set(questionId, list.productId);
      bodies.set(questionId, list.body);
    }
    return bodies;
  });

  mount(app, exchanges, '/qa/questions/:question_id/answers', {
    get: (req) => {
      const questionId = pathId(req.getParameter(0));
      const { page, count } = paging(queryParams(req.getQuery()));
      const productId = questionProducts.get(questionId);
      const scope = { kind: 'qa', productId } as const;
      const batcher = answerPages.page(`${page}:${count}`, { page, count });
      return reads.reply(scope, `answers:${questionId}:${page}:${count}`, { batcher, key: questionId });
    },
    post: async (req, res) => {
      // Read before awaiting: uWS invalidates req when this callback returns.
      const rawQuestionId = req.getParameter(0);
      const input = await readJsonBody(req, res);
      const answerId = await writes.answers.create(pathId(rawQuestionId), NEW_ANSWER_BODY.parse(input));
      if (answerId === undefined) return ERRORS.unknownId;
      return created(`{"answer_id":${answerId}}`);
    },
  });

  mount(app, exchanges, '/qa/questions/:question_id/helpful', rowChangeRoute(writes.questions.helpful));
  mount(app, exchanges, '/qa/questions/:question_id/report', rowChangeRoute(writes.questions.report));
  mount(app, exchanges, '/qa/answers/:answer_id/helpful', rowChangeRoute(writes.answers.helpful));
  mount(app, exchanges, '/qa/answers/:answer_id/report', rowChangeRoute(writes.answers.report));
}
