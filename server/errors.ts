/**
 * Every error the API answers with. Fixed errors are built once at start-up (status line and
 * encoded body), so answering one costs a single write. Bodies are `{"error":"<one sentence>"}`
 * and never carry a stack or SQL text. A 422 names the parameter or field and what it must be:
 * fixed ones stand in ERRORS, those of a field whose name or bounds vary are built by invalidField.
 */
import { REVIEW_SORTS } from '../sql/queries/reviews.js';
import { MAX_ID, MAX_PAGE, MAX_PHOTOS, MAX_URL_LENGTH } from './limits.js';
import type { Reply } from './reply.js';

function errorReply(status: string, message: string, extra: Omit<Reply, 'status' | 'body'> = {}): Reply {
  return Object.freeze({ status, body: Buffer.from(JSON.stringify({ error: message })), ...extra });
}

/** 422 naming the parameter and what it must be, e.g. ("page", "a positive integer"). */
function invalidParameter(name: string, requirement: string): Reply {
  return errorReply('422 Unprocessable Content', `${name} must be ${requirement}.`);
}

/** The 422s of JSON body fields (server/validate.ts), named by the field. */
export const invalidField = Object.freeze({
  id: (field: string) => invalidParameter(field, `a positive integer no larger than ${MAX_ID}`),
  idOrIdString: (field: string) =>
    invalidParameter(field, `a positive integer no larger than ${MAX_ID}, as a JSON number or a decimal string`),
  text: (field: string, min: number, max: number) =>
    invalidParameter(
      field,
      min === 0 ? `a string of at most ${max} characters` : `a string of ${min} to ${max} characters`,
    ),
  textWithNul: (field: string) => invalidParameter(field, 'text without NUL characters'),
  textWithLoneSurrogate: (field: string) => invalidParameter(field, 'text without unpaired UTF-16 surrogates'),
  email: (field: string) => invalidParameter(field, 'an email address'),
  photos: (field: string) =>
    invalidParameter(
      field,
      `an array of at most ${MAX_PHOTOS} http(s) URLs of at most ${MAX_URL_LENGTH} characters each`,
    ),
});

export const ERRORS = Object.freeze({
  malformedJson: errorReply('400 Bad Request', 'The request body is not valid JSON.'),
  // The rest of the connection's bytes cannot be told apart from a body, so it is closed.
  badFraming: errorReply(
    '400 Bad Request',
    'The request is framed ambiguously: send one Content-Length of digits, or Transfer-Encoding: chunked alone.',
    { closeConnection: true },
  ),
  unknownRoute: errorReply('404 Not Found', 'No route matches this path.'),
  unknownId: errorReply('404 Not Found', 'Nothing exists with this id.'),
  // The body was not read, so the connection cannot carry another request.
  bodyTooLarge: errorReply('413 Content Too Large', 'The request body is larger than 64 KiB.', {
    closeConnection: true,
  }),
  unsupportedMediaType: errorReply(
    '415 Unsupported Media Type',
    'The request body must be sent with Content-Type: application/json.',
    { closeConnection: true },
  ),
  notAnObject: errorReply('422 Unprocessable Content', 'The request body must be a JSON object.'),
  invalidPage: invalidParameter('page', `a positive integer no larger than ${MAX_PAGE}`),
  invalidCount: invalidParameter('count', 'a positive integer'),
  invalidProductId: invalidField.id('product_id'),
  invalidSort: invalidParameter('sort', `one of ${REVIEW_SORTS.join(', ')}`),
  invalidRating: invalidParameter('rating', 'an integer from 1 to 5'),
  invalidRecommend: invalidParameter('recommend', 'true or false'),
  invalidCharacteristics: invalidParameter(
    'characteristics',
    "an object mapping this product's characteristic ids to integers from 1 to 5",
  ),
  unknownProduct: invalidParameter('product_id', 'the id of an existing product'),
  unknownSku: invalidParameter('sku_id', 'the id of an existing sku'),
  cartOwnerMissing: invalidParameter(
    'user_session',
    `a positive integer no larger than ${MAX_ID} when no Authorization is sent`,
  ),
  cartItemMissing: errorReply(
    '422 Unprocessable Content',
    'A cart body must name sku_id, or user_session and product_id.',
  ),
  cartTwoItems: errorReply('422 Unprocessable Content', 'A cart body names sku_id or product_id, not both.'),
  internal: errorReply('500 Internal Server Error', 'The server failed to answer this request.'),
});

/** 405 for a known path; `allowed` lists the methods the path answers (the Allow header), e.g. "GET, HEAD, OPTIONS". */
export function methodNotAllowed(allowed: string): Reply {
  return errorReply('405 Method Not Allowed', `This path only accepts ${allowed}.`, {
    headers: [['Allow', allowed]],
  });
}

/** 503 for an unreachable, overloaded or slow database; clients retry after the given delay. */
export function unavailable(retryAfterSeconds: number): Reply {
  return errorReply('503 Service Unavailable', 'The database is unavailable or overloaded; retry later.', {
    headers: [['Retry-After', String(retryAfterSeconds)]],
  });
}

/** Thrown by parsers and readers to answer with `reply` instead of running the route. */
export class ApiError extends Error {
  constructor(readonly reply: Reply) {
    super(reply.status);
    this.name = 'ApiError';
  }
}
