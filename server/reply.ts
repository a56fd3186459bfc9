import { createHash } from 'node:crypto';

export type Header = readonly [name: string, value: string];
export type Headers = readonly Header[];

/** What a route hands back; server/http.ts turns it into one corked write. */
export interface Reply {
  /** The status line for writeStatus, e.g. "200 OK". */
  readonly status: string;
  readonly body: string | Buffer;
  readonly headers?: Headers;
  /** JSON_CONTENT_TYPE unless set: every route but GET /metrics answers JSON. */
  readonly contentType?: string;
  /** Close the connection after this reply, because the request body was left unread. */
  readonly closeConnection?: boolean;
  /** The strong validator of the body, quoted (`"…"`): sent as ETag and matched against If-None-Match. */
  readonly etag?: string;
  /** With etag: its Content-Type, ETag and Cache-Control, joined with the CORS block once (see EntityHeaders). */
  readonly entityHeaders?: EntityHeaders;
}

/** A 200 whose body a client may keep and revalidate: what the response cache stores. */
export interface TaggedReply extends Reply {
  readonly body: Buffer;
  readonly etag: string;
  readonly entityHeaders: EntityHeaders;
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/**
 * The Cache-Control of a tagged reply: stored by browsers, but revalidated before every use, so
 * a page never shows a body older than a write it has just made, and an unchanged body costs a 304.
 */
export const REVALIDATE = 'no-cache';

/**
 * Headers fixed in advance, as one header whose value carries the lines after the first:
 * uWS writes `name: value\r\n` per writeHeader, a native call each, so a cache hit sends the
 * same bytes in one call instead of one per header. For values the server chose only, never
 * request data: a CR or LF in one would start a header of its own, so it is refused here.
 */
export function joinHeaders(headers: Headers): Header {
  for (const [name, value] of headers) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value))
      throw new Error(`header ${JSON.stringify(name)} holds a line break`);
  }
  const [[name, value], ...rest] = headers as [Header, ...Header[]];
  return [name, [value, ...rest.map(([restName, restValue]) => `${restName}: ${restValue}`)].join('\r\n')];
}

/**
 * A tagged reply's Content-Type, ETag and Cache-Control, joined with the CORS block of the
 * request into one header write. The join is kept for the last block seen: under CORS_ORIGINS=*
 * every request has the same block, so a cache hit writes all its headers in one native call, the
 * join made once per entry; under a list it is redone only when the origin changes between hits.
 */
export class EntityHeaders {
  private corsSeen: Headers | undefined;
  private joined: Header;

  constructor(private readonly own: Header) {
    this.joined = own;
  }

  /** `cors` followed by this reply's own headers, as one header. */
  after(cors: Headers): Header {
    if (cors !== this.corsSeen) {
      this.corsSeen = cors;
      this.joined = [...cors, this.own].reduce(appendJoined);
    }
    return this.joined;
  }
}

/** Two headers that joinHeaders already checked, as one. */
function appendJoined(first: Header, second: Header): Header {
  return [first[0], `${first[1]}\r\n${second[0]}: ${second[1]}`];
}

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

/**
 * The 200 for a body that a client may revalidate, with its ETag: the first 128 bits of the
 * body's SHA-256, so equal bytes get equal tags on every worker of every instance. Computed once
 * per database load; a cache hit sends the stored tag.
 */
export function tagged(body: Buffer): TaggedReply {
  const etag = `"${createHash('sha256').update(body).digest().subarray(0, 16).toString('base64url')}"`;
  const entityHeaders = new EntityHeaders(
    joinHeaders([
      ['Content-Type', JSON_CONTENT_TYPE],
      ['ETag', etag],
      ['Cache-Control', REVALIDATE],
    ]),
  );
  return Object.freeze({ status: '200 OK', body, etag, entityHeaders });
}
