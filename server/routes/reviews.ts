/**
 * GET /reviews, GET /reviews/meta, POST /reviews, PUT /reviews/:review_id/helpful and /report.
 * Reads are cached per product through CacheCoherence; every write answers only after it has
 * committed and invalidated (see server/invalidation.ts).
 */
import type { Pool } from '../../sql/db.js';
import {
  createReview, markReviewHelpful, reportReview, reviewList, reviewMeta, REVIEW_SORTS,
  type NewReview, type ReviewSort,
} from '../../sql/queries/reviews.js';
import { ApiError, ERRORS, invalidParameter } from '../errors.js';
import type { CacheCoherence } from '../invalidation.js';
import { created, mount, NO_CONTENT, readJsonBody, type Exchanges } from '../http.js';
import { MAX_ID, paging, pathId, queryParams, queryProductId } from '../params.js';
import { encodeBody, type Reply } from '../reply.js';
import type { HttpRequest, TemplatedApp } from '../uws.js';

const DEFAULT_SORT: ReviewSort = 'relevant';
const INVALID_SORT = new ApiError(invalidParameter('sort', `one of ${REVIEW_SORTS.join(', ')}`));

/**
 * The relevant order measures ages from the request time cut to the minute (a 90-day scale makes
 * that invisible), so every page of a listing fetched within the minute, and every cached copy
 * of it on every worker, is ordered by the same clock: paging cannot skip or repeat a review
 * because two pages were ranked at different instants. The minute is part of the cache key.
 */
const RELEVANCE_CLOCK_MS = 60_000;

function reviewSort(query: URLSearchParams): ReviewSort {
  const sort = query.get('sort') ?? DEFAULT_SORT;
  if (!(REVIEW_SORTS as readonly string[]).includes(sort)) throw INVALID_SORT;
  return sort as ReviewSort;
}

const MAX_PHOTOS = 5;
const MAX_URL_LENGTH = 2048;
// One @, no spaces, and a dot in the domain: what a mail form accepts, not RFC 5322's every corner.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
const CHARACTERISTIC_ID = /^[1-9][0-9]*$/;

function invalid(field: string, requirement: string): ApiError {
  return new ApiError(invalidParameter(field, requirement));
}

function text(input: Record<string, unknown>, field: string, min: number, max: number): string {
  const value = input[field];
  // Characters are code points, as PostgreSQL's char_length counts them, not UTF-16 units.
  const length = typeof value === 'string' ? [...value].length : -1;
  if (typeof value !== 'string' || length < min || length > max) {
    throw invalid(field, min === 0 ? `a string of at most ${max} characters` : `a string of ${min} to ${max} characters`);
  }
  // PostgreSQL text cannot hold U+0000: it would fail the insert instead of answering 422.
  if (value.includes('\0')) throw invalid(field, 'text without NUL characters');
  return value;
}

function rating(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 5;
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > MAX_URL_LENGTH || value.includes('\0')) return false;
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}

function photos(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_PHOTOS || !value.every(isHttpUrl)) {
    throw invalid('photos', `an array of at most ${MAX_PHOTOS} http(s) URLs of at most ${MAX_URL_LENGTH} characters each`);
  }
  return value;
}

const INVALID_CHARACTERISTICS = invalid('characteristics', "an object mapping this product's characteristic ids to integers from 1 to 5");

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
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ApiError(ERRORS.notAnObject);
  const fields = input as Record<string, unknown>;
  const productId = fields.product_id;
  if (!Number.isInteger(productId) || (productId as number) < 1 || (productId as number) > MAX_ID) {
    throw invalid('product_id', `a positive integer no larger than ${MAX_ID}`);
  }
  if (!rating(fields.rating)) throw invalid('rating', 'an integer from 1 to 5');
  const summary = fields.summary === undefined ? '' : text(fields, 'summary', 0, 60);
  const body = text(fields, 'body', 1, 1000);
  if (typeof fields.recommend !== 'boolean') throw invalid('recommend', 'true or false');
  const name = text(fields, 'name', 1, 60);
  const email = text(fields, 'email', 1, 60);
  if (!EMAIL.test(email)) throw invalid('email', 'an email address');
  return {
    productId: productId as number,
    rating: fields.rating,
    summary,
    body,
    recommend: fields.recommend,
    name,
    email,
    photos: photos(fields.photos),
    characteristics: characteristics(fields.characteristics),
  };
}

const UNKNOWN_PRODUCT = invalid('product_id', 'the id of an existing product');

export function mountReviewRoutes(app: TemplatedApp, exchanges: Exchanges, pool: Pool, coherence: CacheCoherence): void {
  mount(app, exchanges, '/reviews', {
    get: (req) => {
      const query = queryParams(req.getQuery());
      const productId = queryProductId(query);
      const { page, count } = paging(query);
      const sort = reviewSort(query);
      const clock = Math.floor(Date.now() / RELEVANCE_CLOCK_MS) * RELEVANCE_CLOCK_MS;
      const variant = sort === 'relevant' ? `reviews:relevant@${clock}:${page}:${count}` : `reviews:${sort}:${page}:${count}`;
      return coherence.reply(productId, variant, async () =>
        encodeBody(await reviewList(pool, productId, sort, page, count, new Date(clock))));
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
      return coherence.reply(productId, 'reviews-meta', async () => encodeBody(await reviewMeta(pool, productId)));
    },
  });

  const reviewWrite = (write: typeof markReviewHelpful) => ({
    put: async (req: HttpRequest): Promise<Reply> => {
      const written = await write(pool, pathId(req.getParameter(0)));
      if (written === undefined) return ERRORS.unknownId;
      await coherence.written(written);
      return NO_CONTENT;
    },
  });
  mount(app, exchanges, '/reviews/:review_id/helpful', reviewWrite(markReviewHelpful));
  mount(app, exchanges, '/reviews/:review_id/report', reviewWrite(reportReview));
}
