import { hash } from 'node:crypto';

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
  /**
   * With etag: its Content-Type, Content-Encoding, ETag, Cache-Control and Vary, joined with the
   * CORS block once (see EntityHeaders).
   */
  readonly entityHeaders?: EntityHeaders;
}

/** The content codings the server compresses bodies with (server/compression.ts). */
export type ContentCoding = 'br' | 'gzip';

/** A 200 whose body a client may keep and revalidate: what the response cache stores. */
export interface TaggedReply extends Reply {
  readonly body: Buffer;
  readonly etag: string;
  readonly entityHeaders: EntityHeaders;
  /**
   * Whether the body is long enough to be sent compressed (mayBeCompressed), by this worker or
   * another: its responses then say `Vary: Accept-Encoding`, the 304s too (RFC 9110 §15.4.5).
   */
  readonly variesByEncoding: boolean;
  /** On an identity reply the cache stored: the same body in each coding that made it smaller. */
  readonly encoded?: Readonly<Partial<Record<ContentCoding, TaggedReply>>>;
  /**
   * On an identity reply the cache stored without its encodings (server/cache.ts): makes them,
   * once, and resolves to the reply with them (to identity if compressing failed).
   */
  readonly compressOnDemand?: () => Promise<TaggedReply>;
}

/** Whether `reply` is a tagged 200 (made by tagged(), maybe stored with its encodings). */
export function isTagged(reply: Reply): reply is TaggedReply {
  return reply.entityHeaders !== undefined;
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/**
 * The Cache-Control of a tagged reply: stored by browsers, but revalidated before every use, so
 * a page never shows a body older than a write it has just made, and an unchanged body costs a 304.
 */
export const REVALIDATE = 'no-cache';
/**
 * Bodies of this many bytes or more are compressed when cached, and nginx in front compresses the
 * others (its gzip_min_length is the same); shorter ones would gain a few hundred bytes at most,
 * less than a TCP segment, and are always sent as they are.
 */
export const COMPRESSIBLE_BYTES = 1024;
export const VARY_ENCODING: Header = ['Vary', 'Accept-Encoding'];

/**
 * Whether a body of `length` bytes may reach a client compressed, by a worker or by nginx: every
 * response carrying one says `Vary: Accept-Encoding`, so that no cache hands it to a client of
 * another coding (nginx.conf leaves Vary to the service: gzip_vary off).
 */
export function mayBeCompressed(length: number): boolean {
  return length >= COMPRESSIBLE_BYTES;
}

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
 * `bytes` if they own their memory, else a copy out of Node's shared allocation pool, for the
 * same reason as encodeBody: what the cache keeps must not pin a pool slab (nor zlib's output
 * chunk). A batched miss is encoded with Buffer.from, into the pool when short, which costs no
 * allocation of its own, and copied only if the cache stores it.
 */
export function ownedBytes(bytes: Buffer): Buffer {
  if (bytes.byteLength === bytes.buffer.byteLength) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/**
 * The 200 for a body that a client may revalidate, with its ETag: the first 128 bits of the
 * body's SHA-256, so equal bytes get equal tags on every worker of every instance. Computed once
 * per database load; a cache hit sends the stored tag. This is the identity representation; the
 * cache adds the compressed ones (server/compression.ts).
 */
export function tagged(body: Buffer): TaggedReply {
  const etag = `"${digestPrefix(hash('sha256', body, 'base64url'))}"`;
  return entity(body, etag, mayBeCompressed(body.length));
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * The base64url of a digest's first 16 bytes, cut from the base64url of the whole digest: its
 * first 21 characters carry the same 126 bits; the 22nd carries the last 2 bits of the 16th byte
 * and 4 of the 17th, where the 16 bytes' own encoding has zero pad bits (RFC 4648 §3.5). The one-shot
 * hash costs a third of a Hash object's, and a string out of it two thirds of a Buffer (an
 * ArrayBuffer of its own) or of a latin1 string sliced and decoded again.
 */
function digestPrefix(digest: string): string {
  return digest.slice(0, 21) + BASE64URL[BASE64URL.indexOf(digest[21]!) & 0b110000];
}

/**
 * `identity`'s body in a content coding, as a reply of its own. Its ETag is the identity tag with
 * the coding appended (`"…-gzip"`): a strong validator names one representation, and each coding
 * is one (RFC 9110 §8.8.3), so a client revalidates the coding it holds.
 */
export function encodedReply(identity: TaggedReply, coding: ContentCoding, body: Buffer): TaggedReply {
  return entity(body, `${identity.etag.slice(0, -1)}-${coding}"`, true, coding);
}

/** `identity` with its compressed representations attached, for the cache to store. */
export function withEncodings(
  identity: TaggedReply,
  encoded: Readonly<Partial<Record<ContentCoding, TaggedReply>>>,
): TaggedReply {
  return Object.freeze({ ...identity, encoded: Object.freeze(encoded) });
}

/**
 * The headers joined as joinHeaders would, without its checks or its arrays: every value is the
 * server's own (the ETag is base64url), and a miss makes one of these per body.
 */
function entity(body: Buffer, etag: string, variesByEncoding: boolean, coding?: ContentCoding): TaggedReply {
  const encoding = coding === undefined ? '' : `\r\nContent-Encoding: ${coding}`;
  const vary = variesByEncoding ? `\r\n${VARY_ENCODING[0]}: ${VARY_ENCODING[1]}` : '';
  const entityHeaders = new EntityHeaders([
    'Content-Type',
    `${JSON_CONTENT_TYPE}${encoding}\r\nETag: ${etag}\r\nCache-Control: ${REVALIDATE}${vary}`,
  ]);
  return Object.freeze({ status: '200 OK', body, etag, entityHeaders, variesByEncoding });
}
