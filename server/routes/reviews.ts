/**
 * GET /reviews, GET /reviews/meta, POST /reviews, PUT /reviews/:review_id/helpful and /report.
 * Reads are cached per product through CacheCoherence; every write answers only after it has
 * committed and invalidated (see server/invalidation.ts).
 */
import type { Pool } from '../../sql/db/pool.js';
import {
  createReview,
  relevanceClock,
  reportReview,
  reviewList,
  reviewMeta,
  REVIEW_SORTS,
  type NewReview,
  type ReviewSort,
} from '../../sql/queries/reviews.js';
import { ApiError, invalidParameter } from '../errors.js';
import type { CacheCoherence } from '../invalidation.js';
import { created, mount, readJsonBody, type Exchanges } from '../http.js';
import { MAX_ID, paging, queryParams, queryProductId } from '../params.js';
import { encodeBody } from '../reply.js';
import type { TemplatedApp } from '../uws.js';
import { email, id, invalid, jsonObject, photoUrls, text } from '../validate.js';
import { rowWriteRoute, type WriteRow } from './row-write.js';

const DEFAULT_SORT: ReviewSort = 'relevant';
const INVALID_SORT = new ApiError(invalidParameter('sort', `one of ${REVIEW_SORTS.join(', ')}`));

function reviewSort(query: URLSearchParams): ReviewSort {
  const sort = query.get('sort') ?? DEFAULT_SORT;
  if (!(REVIEW_SORTS as readonly string[]).includes(sort)) throw INVALID_SORT;
  return sort as ReviewSort;
}

const CHARACTERISTIC_ID = /^[1-9][0-9]*$/;

function rating(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 5;
}

const INVALID_CHARACTERISTICS = invalid(
  'characteristics',
  "an object mapping this product's characteristic ids to integers from 1 to 5",
);

function characteristics(value: unknown): [number, number][] {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw INVALID_CHARACTERISTICS;
  return Object.entries(value).map(([key, score]): [number, number] => {
    if (!CHARACTERISTIC_ID.test(key) || Number(key) > MAX_ID || !rating(score)) throw INVALID_CHARACTERISTICS;
    return [Number(key), score];
  });
}

/**
 * The POST /reviews body, validated field by field in the contract's order; the first failing
 * field is named in the 422. Unknown fields are ignored. `summary` may be empty or absent
 * (the contract gives it no minimum); every other field but photos and characteristics is required.
 */
export function parseNewReview(input: unknown): NewReview {
  const fields = jsonObject(input);
  const productId = id(fields, 'product_id');
  if (!rating(fields.rating)) throw invalid('rating', 'an integer from 1 to 5');
  const summary = fields.summary === undefined ? '' : text(fields, 'summary', 0, 60);
  const body = text(fields, 'body', 1, 1000);
  if (typeof fields.recommend !== 'boolean') throw invalid('recommend', 'true or false');
  return {
    productId,
    rating: fields.rating,
    summary,
    body,
    recommend: fields.recommend,
    name: text(fields, 'name', 1, 60),
    email: email(fields),
    photos: photoUrls(fields),
    characteristics: characteristics(fields.characteristics),
  };
}

const UNKNOWN_PRODUCT = invalid('product_id', 'the id of an existing product');

export function mountReviewRoutes(
  app: TemplatedApp,
  exchanges: Exchanges,
  pool: Pool,
  coherence: CacheCoherence,
  voteHelpful: WriteRow,
): void {
  mount(app, exchanges, '/reviews', {
    get: (req) => {
      const query = queryParams(req.getQuery());
      const productId = queryProductId(query);
      const { page, count } = paging(query);
      const sort = reviewSort(query);
      // The clock is part of the key: every page and cached copy within it is ranked alike.
      const clock = relevanceClock(new Date());
      const variant = sort === 'relevant' ? `relevant@${clock.getTime()}:${page}:${count}` : `${sort}:${page}:${count}`;
      return coherence.reply('review-lists', productId, variant, async () =>
        encodeBody(await reviewList(pool, productId, sort, page, count, clock)),
      );
    },
    post: async (req, res) => {
      const review = parseNewReview(await readJsonBody(req, res));
      const outcome = await createReview(pool, review);
      if (!outcome.created) throw outcome.reason === 'unknown_product' ? UNKNOWN_PRODUCT : INVALID_CHARACTERISTICS;
      await coherence.written(outcome.written);
      return created(`{"review_id":${outcome.reviewId}}`);
    },
  });

  mount(app, exchanges, '/reviews/meta', {
    get: (req) => {
      const productId = queryProductId(queryParams(req.getQuery()));
      return coherence.reply('review-meta', productId, '', async () => encodeBody(await reviewMeta(pool, productId)));
    },
  });

  mount(app, exchanges, '/reviews/:review_id/helpful', rowWriteRoute(coherence, voteHelpful));
  mount(
    app,
    exchanges,
    '/reviews/:review_id/report',
    rowWriteRoute(coherence, (id) => reportReview(pool, id)),
  );
}
