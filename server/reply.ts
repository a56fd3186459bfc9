/** What a route hands back; server/http.ts turns it into one corked write. */
export interface Reply {
  /** The status line for writeStatus, e.g. "200 OK". */
  readonly status: string;
  readonly body: string | Buffer;
  readonly headers?: readonly (readonly [name: string, value: string])[];
  /** JSON_CONTENT_TYPE unless set: every route but GET /metrics answers JSON. */
  readonly contentType?: string;
  /** Close the connection after this reply, because the request body was left unread. */
  readonly closeConnection?: boolean;
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export function ok(body: string | Buffer): Reply {
  return { status: '200 OK', body };
}

/**
 * Encodes a body once so that every cache hit sends the same bytes without re-encoding.
 * allocUnsafeSlow keeps a small body out of Node's shared 8 KiB allocation pool: a long-lived
 * cache entry would otherwise pin a whole pool slab, and the cache counts only the body's bytes.
 */
export function encodeBody(text: string): Buffer {
  const buffer = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  buffer.write(text);
  return buffer;
}
