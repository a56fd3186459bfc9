/**
 * Every error the API answers with. Fixed errors are built once at start-up (status line and
 * encoded body), so answering one costs a single write. Bodies are `{"error":"<one sentence>"}`
 * and never carry a stack or SQL text.
 */
import type { Reply } from './reply.js';

function errorReply(status: string, message: string, extra: Omit<Reply, 'status' | 'body'> = {}): Reply {
  return Object.freeze({ status, body: Buffer.from(JSON.stringify({ error: message })), ...extra });
}

export const ERRORS = Object.freeze({
  malformedJson: errorReply('400 Bad Request', 'The request body is not valid JSON.'),
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
  cartItemMissing: errorReply(
    '422 Unprocessable Content',
    'A cart body must name sku_id, or user_session and product_id.',
  ),
  cartTwoItems: errorReply('422 Unprocessable Content', 'A cart body names sku_id or product_id, not both.'),
  internal: errorReply('500 Internal Server Error', 'The server failed to answer this request.'),
});

/** 405 for a known path; `allowed` lists the methods the path answers (the Allow header). */
export function methodNotAllowed(allowed: readonly string[]): Reply {
  return errorReply('405 Method Not Allowed', `This path only accepts ${allowed.join(', ')}.`, {
    headers: [['Allow', allowed.join(', ')]],
  });
}

/** 422 naming the parameter and what it must be, e.g. ("page", "a positive integer"). */
export function invalidParameter(name: string, requirement: string): Reply {
  return errorReply('422 Unprocessable Content', `${name} must be ${requirement}.`);
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
