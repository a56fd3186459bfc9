/**
 * GET /reviews, GET /reviews/meta, POST /reviews, PUT /reviews/:review_id/helpful and /report.
 * Reads are cached per product (server/reads.ts); every write answers only after it has
 * committed and invalidated (server/writes.ts).
 */
import {
  relevanceClock,
  reviewList,
  reviewMeta,
  REVIEW_SORTS,
  type NewReview,
  type ReviewSort,
} from '../../sql/queries/reviews.js';
import { ApiError, ERRORS } from '../errors.js';
import { created, mount, readJsonBody } from '../http.js';
import { MAX_ID } from '../limits.js';
import { paging, queryParams, queryProductId } from '../params.js';
import { encodeBody } from '../reply.js';
import type { TemplatedApp } from '../uws.js';
import { email, id, jsonObject, photoUrls, text } from '../validate.js';
import type { RouteContext } from './context.js';
import { rowChangeRoute } from './row-change.js';

const DEFAULT_SORT: ReviewSort = 'relevant';
const INVALID_SORT = new ApiError(ERRORS.invalidSort);

function reviewSort(query: URLSearchParams): ReviewSort {
  const sort = query.get('sort') ?? DEFAULT_SORT;
  if (!(REVIEW_SORTS as readonly string[]).includes(sort)) throw INVALID_SORT;
  return sort as ReviewSort;
}

const CHARACTERISTIC_ID = /^[1-9][0-9]*$/;

function rating(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 5;
}

const INVALID_CHARACTERISTICS = new ApiError(ERRORS.invalidCharacteristics);

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
  if (!rating(fields.rating)) throw new ApiError(ERRORS.invalidRating);
  const summary = fields.summary === undefined ? '' : text(fields, 'summary', 0, 60);
  const body = text(fields, 'body', 1, 1000);
  if (typeof fields.recommend !== 'boolean') throw new ApiError(ERRORS.invalidRecommend);
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

const UNKNOWN_PRODUCT = new ApiError(ERRORS.unknownProduct);

export function mountReviewRoutes(app: TemplatedApp, { exchanges, pool, reads, writes }: RouteContext): void {
  mount(app, exchanges, '/reviews', {
    get: (req) => {
      const query = queryParams(req.getQuery());
      const productId = queryProductId(query);
      const { page, count } = paging(query);
      const sort = reviewSort(query);
      // The clock is part of the key: every page and cached copy within it is ranked alike.
      const clock = relevanceClock(new Date());
      const variant = sort === 'relevant' ? `relevant@${clock.getTime()}:${page}:${count}` : `${sort}:${page}:${count}`;
      return reads.reply({ kind: 'review-lists', productId }, variant, async () =>
        encodeBody(await reviewList(pool, productId, sort, page, count, clock)),
      );
    },
    post: async (req, res) => {
      const review = parseNewReview(await readJsonBody(req, res));
      const outcome = await writes.reviews.create(review);
      if (!outcome.created) throw outcome.reason === 'unknown_product' ? UNKNOWN_PRODUCT : INVALID_CHARACTERISTICS;
      return created(`{"review_id":${outcome.reviewId}}`);
    },
  });

  mount(app, exchanges, '/reviews/meta', {
    get: (req) => {
      const productId = queryProductId(queryParams(req.getQuery()));
      return reads.reply({ kind: 'review-meta', productId }, '', async () =>
        encodeBody(await reviewMeta(pool, productId)),
      );
    },
  });

  mount(app, exchanges, '/reviews/:review_id/helpful', rowChangeRoute(writes.reviews.helpful));
  mount(app, exchanges, '/reviews/:review_id/report', rowChangeRoute(writes.reviews.report));
}
