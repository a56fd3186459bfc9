/**
 * GET /reviews, GET /reviews/meta, POST /reviews, PUT /reviews/:review_id/helpful and /report.
 * Reads are cached per product (server/reads.ts); every write answers only after it has
 * committed and invalidated (server/writes.ts).
 */
import {
  relevanceClock,
  reviewListings,
  reviewMetaMany,
  REVIEW_SORTS,
  type NewReview,
  type ReviewSort,
} from '../../sql/queries/reviews.js';
import { ApiError, ERRORS } from '../errors.js';
import { created, mount, readJsonBody } from '../http.js';
import { MAX_ID } from '../limits.js';
import { paging, queryParams, queryProductId } from '../params.js';
import { type ListShape, ReviewListBody } from '../review-lists.js';
import type { TemplatedApp } from '../uws.js';
import {
  body,
  boolean,
  decimalPattern,
  email,
  type Field,
  id,
  integer,
  integerOrString,
  integerSchema,
  optional,
  photoUrls,
  text,
} from '../validate.js';
import type { RouteContext } from './context.js';
import { rowChangeRoute } from './row-change.js';

const DEFAULT_SORT: ReviewSort = 'relevant';
const INVALID_SORT = new ApiError(ERRORS.invalidSort);

function reviewSort(query: URLSearchParams): ReviewSort {
  const sort = query.get('sort') ?? DEFAULT_SORT;
  if (!(REVIEW_SORTS as readonly string[]).includes(sort)) throw INVALID_SORT;
  return sort as ReviewSort;
}

const INVALID_CHARACTERISTICS = new ApiError(ERRORS.invalidCharacteristics);
const CHARACTERISTIC_ID = new RegExp(decimalPattern(MAX_ID));

/** Characteristic ids (object keys, so strings) mapped to ratings; absent is none. */
const characteristics: Field<[number, number][]> = {
  read(value) {
    if (value === undefined) return [];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw INVALID_CHARACTERISTICS;
    return Object.entries(value).map(([key, score]): [number, number] => {
      const rating = integerOrString(score, 5);
      if (!CHARACTERISTIC_ID.test(key) || rating === undefined) throw INVALID_CHARACTERISTICS;
      return [Number(key), rating];
    });
  },
  schema: {
    type: 'object',
    propertyNames: { pattern: CHARACTERISTIC_ID.source },
    additionalProperties: integerSchema(5),
  },
  required: false,
};

/**
 * The POST /reviews body in the contract's order. `summary` may be empty or absent (the contract
 * gives it no minimum); every other field but photos and characteristics is required. Whether the
 * product exists and the characteristics are its own is the write's to say.
 */
export const NEW_REVIEW_BODY = body({
  product_id: id(),
  rating: integer(5, ERRORS.invalidRating),
  summary: optional(text(0, 60), ''),
  body: text(1, 1000),
  recommend: boolean(ERRORS.invalidRecommend),
  name: text(1, 60),
  email: email(),
  photos: photoUrls(),
  characteristics,
});

function parseNewReview(input: unknown): NewReview {
  const review = NEW_REVIEW_BODY.parse(input);
  return {
    productId: review.product_id,
    rating: review.rating,
    summary: review.summary,
    body: review.body,
    recommend: review.recommend,
    name: review.name,
    email: review.email,
    photos: review.photos,
    characteristics: review.characteristics,
  };
}

const UNKNOWN_PRODUCT = new ApiError(ERRORS.unknownProduct);

export function mountReviewRoutes(app: TemplatedApp, { exchanges, reads, writes }: RouteContext): void {
  // Concurrent misses of one list shape share one statement, and its snapshot (server/miss-batcher.ts).
  const listPages = reads.pagedBatcher('review-lists', async (pool, productIds, shape: ListShape) => {
    const { sort, clockMs, page, count } = shape;
    const { bodies, snapshot } = await reviewListings(pool, productIds, sort, page, count, new Date(clockMs));
    return ReviewListBody.read(bodies, snapshot, shape);
  });

  mount(app, exchanges, '/reviews', {
    get: (req) => {
      const query = queryParams(req.getQuery());
      const productId = queryProductId(query);
      const { page, count } = paging(query);
      const sort = reviewSort(query);
      // The clock is part of the key: every page and cached copy within it is ranked alike.
      const clockMs = relevanceClock(new Date()).getTime();
      const variant = sort === 'relevant' ? `relevant@${clockMs}:${page}:${count}` : `${sort}:${page}:${count}`;
      // Every sort's shape carries the clock, so a batcher is never asked for a list of another shape.
      const batcher = listPages.page(`${sort}@${clockMs}:${page}:${count}`, { sort, clockMs, page, count });
      return reads.reply({ kind: 'review-lists', productId }, variant, { batcher, key: productId });
    },
    post: async (req, res) => {
      const review = parseNewReview(await readJsonBody(req, res));
      const outcome = await writes.reviews.create(review);
      if (!outcome.created) throw outcome.reason === 'unknown_product' ? UNKNOWN_PRODUCT : INVALID_CHARACTERISTICS;
      return created(`{"review_id":${outcome.reviewId}}`);
    },
  });

  // A light body, where a statement's fixed cost dominates: concurrent misses share one.
  const metaBatcher = reads.batcher('review-meta', reviewMetaMany);
  mount(app, exchanges, '/reviews/meta', {
    get: (req) => {
      const productId = queryProductId(queryParams(req.getQuery()));
      return reads.reply({ kind: 'review-meta', productId }, '', { batcher: metaBatcher, key: productId });
    },
  });

  mount(app, exchanges, '/reviews/:review_id/helpful', rowChangeRoute(writes.reviews.helpful));
  mount(app, exchanges, '/reviews/:review_id/report', rowChangeRoute(writes.reviews.report));
}
