/**
 * Strict parsing of what a request carries. Parsers throw ApiError, which the exchange turns
 * into the reply, so a route reads as a straight line.
 */
import { ApiError, ERRORS } from './errors.js';
import { DEFAULT_COUNT, DEFAULT_PAGE, MAX_COUNT, MAX_ID, MAX_PAGE } from './limits.js';

// Canonical decimal only: "01", "+1", "1e3" and " 1" are not ids, so one id has one cache key.
const POSITIVE_INTEGER = /^[1-9][0-9]*$/;

function positiveInteger(raw: string, max: number): number | undefined {
  if (!POSITIVE_INTEGER.test(raw)) return undefined;
  const value = Number(raw);
  return value <= max ? value : undefined;
}

// Built once: bad input is common enough under scanners that a stack capture per request shows.
const UNKNOWN_ID = new ApiError(ERRORS.unknownId);
const INVALID_PAGE = new ApiError(ERRORS.invalidPage);
const INVALID_COUNT = new ApiError(ERRORS.invalidCount);
const INVALID_PRODUCT_ID = new ApiError(ERRORS.invalidProductId);

/** A path id; anything but a positive integer up to 2^31-1 names nothing, hence 404. */
export function pathId(raw: string): number {
  const id = positiveInteger(raw, MAX_ID);
  if (id === undefined) throw UNKNOWN_ID;
  return id;
}

/**
 * The `product_id` query parameter: 422 when missing or not a positive integer up to 2^31-1. A
 * well-formed id is not checked for existence (it names an empty result, not an error).
 */
export function queryProductId(query: URLSearchParams): number {
  const id = positiveInteger(query.get('product_id') ?? '', MAX_ID);
  if (id === undefined) throw INVALID_PRODUCT_ID;
  return id;
}

/** The query string as URLSearchParams (uWS gives undefined when there is none). */
export function queryParams(rawQuery: string | undefined): URLSearchParams {
  return new URLSearchParams(rawQuery ?? '');
}

export interface Paging {
  readonly page: number;
  readonly count: number;
}

/** page (1-based, default 1) and count (default 5, above 1000 treated as 1000). */
export function paging(query: URLSearchParams): Paging {
  const rawPage = query.get('page');
  const rawCount = query.get('count');
  const page = rawPage === null ? DEFAULT_PAGE : positiveInteger(rawPage, MAX_PAGE);
  if (page === undefined) throw INVALID_PAGE;
  if (rawCount === null) return { page, count: DEFAULT_COUNT };
  if (!POSITIVE_INTEGER.test(rawCount)) throw INVALID_COUNT;
  return { page, count: Math.min(Number(rawCount), MAX_COUNT) };
}
