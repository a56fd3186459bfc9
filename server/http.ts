/**
 * The request/response discipline every route goes through, following uWebSockets.js's rules:
 * a route reads everything it needs from `req` synchronously (uWS invalidates `req` when the
 * callback returns); a reply known at once is written within the callback; otherwise onAborted
 * is attached before the callback returns and the later write is corked. No exception escapes a
 * uWS callback: an unexpected one becomes a logged 500 whose body says nothing about it.
 * Every reply is counted and timed by its mounted route (server/metrics.ts), and carries the
 * CORS headers of its request's origin (server/cors.ts). A GET or HEAD of a cached body gets the
 * representation its Accept-Encoding prefers (server/accept-encoding.ts).
 *
 * Every path is mounted with HEAD wherever it has GET (the GET's status and headers, no body),
 * OPTIONS (the CORS preflight), a 405 naming the methods it allows for every other method uWS
 * reports, and all of it again under the path with one trailing slash.
 */
import { createLog, errorMessage, type Log } from '../lib/log.js';
import { acceptedCodings, compressionFor, negotiate, type Preference } from './accept-encoding.js';
import { isDatabaseUnavailable, isPoolSaturated, isStatementTimeout } from '../sql/db/errors.js';
import { AdmissionRefused } from './admission.js';
import { CorsPolicy } from './cors.js';
import { ApiError, ERRORS, methodNotAllowed, unavailable } from './errors.js';
import { ABORTED, RequestMetrics, type RequestRecorder } from './metrics.js';
import {
  type Headers,
  isTagged,
  JSON_CONTENT_TYPE,
  mayBeCompressed,
  type Reply,
  REVALIDATE,
  type TaggedReply,
  VARY_ENCODING,
} from './reply.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.js';
import { WriteBatcherClosed } from './write-batcher.js';

/**
 * A route: reads `req` synchronously, then returns the reply, or a promise of it when it must
 * wait (for the database or the request body). Throwing ApiError answers with its reply.
 */
export type Respond = (req: HttpRequest, res: HttpResponse) => Reply | Promise<Reply>;

export type UwsHandler = (res: HttpResponse, req: HttpRequest) => void;

/** A database failure is logged at most this often while it lasts (it hits every request). */
const UNAVAILABLE_LOG_INTERVAL_MS = 1000;

export class Exchanges {
  private inFlight = 0;
  private draining = false;
  private onIdle: (() => void) | undefined;
  private readonly unavailable: Reply;
  /**
   * The same 503 as a distinct object, for a request refused on arrival (shed): the metrics time
   * these apart from a 503 after a wait (server/metrics.ts, the refusal histogram).
   */
  private readonly shed: Reply;
  private unavailableLoggedAt = -Infinity;
  private unavailableSuppressed = 0;

  constructor(
    retryAfterSeconds: number,
    private readonly log: Log = createLog('worker'),
    private readonly requestMetrics: RequestMetrics = new RequestMetrics(),
    readonly cors: CorsPolicy = new CorsPolicy('*'),
  ) {
    this.unavailable = unavailable(retryAfterSeconds);
    this.shed = Object.freeze({ ...this.unavailable });
  }

  /**
   * Wraps a route into a uWS handler that always answers exactly once and never throws. `route`
   * labels its requests in the metrics; `method` is given when the handler answers only that one.
   * A HEAD request gets the reply's status and headers without its body; a GET or HEAD whose
   * If-None-Match names the reply's ETag gets a 304.
   */
  handle(respond: Respond, route: string, method?: HandledMethod): UwsHandler {
    const recorders = this.requestMetrics.route(route);
    const onlyMethod = method === undefined ? undefined : recorders.method(method);
    const conditional = method === 'get' || method === 'head';
    const bodyless = conditional || method === 'options';
    return (res, req) => {
      const startedAt = performance.now();
      const requestMethod = method ?? req.getMethod();
      const recorder = onlyMethod ?? recorders.method(requestMethod);
      if (!hasSoundFraming(req, bodyless)) return this.refuseFraming(res, recorder, startedAt);
      const head = requestMethod === 'head';
      const cors = this.cors.responseHeaders(req);
      const ifNoneMatch = conditional ? req.getHeader('if-none-match') : '';
      const preference = conditional ? acceptedCodings(req.getHeader('accept-encoding')) : IDENTITY;
      let reply: Reply;
      try {
        const outcome = respond(req, res);
        // A hit whose body is not compressed yet is answered, like a miss, once it is (answerLater).
        const later = outcome instanceof Promise ? outcome : compressionFor(outcome, preference);
        if (later !== undefined) {
          return this.answerLater(res, later, recorder, startedAt, { head, cors, ifNoneMatch, preference }, bodyless);
        }
        // Not a promise, or `later` would be it.
        reply = outcome as Reply;
      } catch (err) {
        reply = this.replyFor(err);
      }
      recorder.record(this.writeOrLog(res, reply, { head, cors, ifNoneMatch, preference }), startedAt);
    };
  }

  /** The reply for a failed route: its ApiError, 503 for database trouble, else a logged 500. */
  replyFor(err: unknown): Reply {
    if (err instanceof ApiError) return err.reply;
    // Shedding is counted in /metrics (503s), not logged: under overload a log line per refused
    // request would spend the CPU the worker is short of. A write that outlived the drain
    // deadline is refused the same way.
    if ((err instanceof AdmissionRefused && err.atArrival) || isPoolSaturated(err)) return this.shed;
    if (err instanceof AdmissionRefused || err instanceof WriteBatcherClosed) return this.unavailable;
    if (isDatabaseUnavailable(err) || isStatementTimeout(err)) {
      this.logUnavailable(err);
      return this.unavailable;
    }
    this.log.error('request_failed', { error: errorMessage(err), stack: err instanceof Error ? err.stack : undefined });
    return ERRORS.internal;
  }

  /** The 503 reply (with Retry-After) for routes that report database trouble themselves. */
  get unavailableReply(): Reply {
    return this.unavailable;
  }

  /** From now on every response carries `Connection: close`. */
  beginDrain(): void {
    this.draining = true;
  }

  /**
   * Like beginDrain, then resolves once no request is waiting for its reply, or after `timeoutMs`.
   */
  drain(timeoutMs: number): Promise<void> {
    this.beginDrain();
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.onIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Answers a request whose body framing is ambiguous with 400 and closes the connection, without
   * ever reading what follows its headers. uWS dispatches the next request parsed from the same
   * buffer as soon as this callback returns, even after a close-marked reply; a response left
   * pending makes uWS close the socket instead of dispatching it (docs/uws-behaviour.md §4). So
   * the 400 goes out on the next turn of the event loop, unless uWS has closed the socket first.
   */
  private refuseFraming(res: HttpResponse, recorder: RequestRecorder, startedAt: number): void {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    setImmediate(() => {
      if (aborted) return recorder.record(ABORTED, startedAt);
      let status = ERRORS.badFraming.status;
      res.cork(() => {
        status = this.writeOrLog(res, ERRORS.badFraming, UNCONDITIONAL);
      });
      recorder.record(status, startedAt);
    });
  }

  private answerLater(
    res: HttpResponse,
    outcome: Promise<Reply>,
    recorder: RequestRecorder,
    startedAt: number,
    request: RequestTraits,
    bodyless: boolean,
  ): void {
    // uWS closes a connection on which a request is parsed while an earlier reply is pending,
    // dropping that reply (docs/uws-behaviour.md §9). Not reading the socket until this reply is
    // written leaves a pipelined request in the kernel's buffer, to be read and answered in
    // order after it. A request with a body cannot wait so: its body is still to be read.
    if (bodyless) res.pause();
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
      // uWS keeps one onAborted per response: a body still arriving learns of it from here.
      abandonedBodies.get(res)?.();
    });
    this.inFlight += 1;
    // One reaction for both outcomes: a miss is answered after one promise hop, not three.
    const answer = (reply: Reply) => {
      try {
        if (aborted) return recorder.record(ABORTED, startedAt);
        let status = reply.status;
        res.cork(() => {
          if (bodyless) res.resume();
          status = this.writeOrLog(res, reply, request);
        });
        recorder.record(status, startedAt, reply === this.shed);
      } finally {
        this.inFlight -= 1;
        if (this.inFlight === 0) this.onIdle?.();
      }
    };
    // A body cached without its codings yet is compressed, once, before a client that takes one gets it.
    const compressedAnswer = (reply: Reply) => {
      const compressing = compressionFor(reply, request.preference);
      if (compressing === undefined) answer(reply);
      else void compressing.then(answer);
    };
    outcome.then(compressedAnswer, (err: unknown) => answer(this.replyFor(err)));
  }

  /**
   * Writes `reply` (for a tagged one, the representation `preference` picks, or a 304 when
   * `ifNoneMatch` names its ETag; no body for HEAD) and returns the status line sent.
   *
   * uWS's endWithoutBody breaks the connection when given a length other than 0 (the response
   * stays pending), so a body-less reply sets Content-Length itself and calls it with no
   * argument; that leaves no way to close the connection after it, so a draining worker keeps
   * such a connection open until the client's next request gets Connection: close.
   */
  private write(res: HttpResponse, reply: Reply, { head, cors, ifNoneMatch, preference }: RequestTraits): string {
    if (isTagged(reply)) return this.writeTagged(res, negotiate(reply, preference), head, cors, ifNoneMatch);
    res.writeStatus(reply.status);
    writeHeaders(res, cors);
    if (reply.headers) writeHeaders(res, reply.headers);
    if (reply.status === NO_CONTENT.status) {
      // A 204 carries neither a body nor Content-Type/Content-Length (RFC 9110 §8.6). uWS can only
      // close the connection after it by reporting a length, so a draining worker sends length 0.
      if (this.draining) res.endWithoutBody(0, true);
      else res.endWithoutBody();
      return reply.status;
    }
    res.writeHeader('Content-Type', reply.contentType ?? JSON_CONTENT_TYPE);
    if (mayBeCompressed(Buffer.byteLength(reply.body))) res.writeHeader(...VARY_ENCODING);
    return this.endWithBody(res, reply, head);
  }

  private writeTagged(
    res: HttpResponse,
    reply: TaggedReply,
    head: boolean,
    cors: Headers,
    ifNoneMatch: string,
  ): string {
    if (ifNoneMatch !== '' && matchesAny(ifNoneMatch, reply.etag)) {
      res.writeStatus(NOT_MODIFIED);
      writeHeaders(res, cors);
      res.writeHeader('ETag', reply.etag).writeHeader('Cache-Control', REVALIDATE);
      if (reply.variesByEncoding) res.writeHeader(...VARY_ENCODING);
      res.endWithoutBody();
      return NOT_MODIFIED;
    }
    // A cache hit: uWS writes "200 OK" when no status is given, and the headers go in one call.
    const [name, value] = reply.entityHeaders.after(cors);
    res.writeHeader(name, value);
    return this.endWithBody(res, reply, head);
  }

  /** The body, or for HEAD its length alone. uWS writes Content-Length for end() itself: a second one would break the framing. */
  private endWithBody(res: HttpResponse, reply: Reply, head: boolean): string {
    if (head) res.writeHeader('Content-Length', String(Buffer.byteLength(reply.body))).endWithoutBody();
    else res.end(reply.body, this.draining || reply.closeConnection === true);
    return reply.status;
  }

  private writeOrLog(res: HttpResponse, reply: Reply, request: RequestTraits): string {
    try {
      return this.write(res, reply, request);
    } catch (err) {
      this.log.error('reply_failed', { error: errorMessage(err) });
      return reply.status;
    }
  }

  private logUnavailable(err: unknown): void {
    const now = performance.now();
    if (now - this.unavailableLoggedAt < UNAVAILABLE_LOG_INTERVAL_MS) {
      this.unavailableSuppressed += 1;
      return;
    }
    this.log.error('database_unavailable', { error: errorMessage(err), suppressed: this.unavailableSuppressed });
    this.unavailableLoggedAt = now;
    this.unavailableSuppressed = 0;
  }
}

/** What a reply's writing depends on in its request, read from `req` before the route runs. */
interface RequestTraits {
  readonly head: boolean;
  readonly cors: Headers;
  readonly ifNoneMatch: string;
  readonly preference: Preference;
}

const NOT_MODIFIED = '304 Not Modified';
const IDENTITY = acceptedCodings('');
const UNCONDITIONAL: RequestTraits = Object.freeze({ head: false, cors: [], ifNoneMatch: '', preference: IDENTITY });
/** Digits only, as RFC 9110 §8.6 defines Content-Length; 15 of them stay exact in a double. */
const CONTENT_LENGTH = /^\d{1,15}$/;

/**
 * Whether the request's body is framed one way only, so that no proxy in front can read a
 * different request boundary than uWS does: at most one Content-Length, of digits; at most one
 * Transfer-Encoding, exactly `chunked`; never both. uWS takes the first of two Content-Lengths,
 * and leaves the rest of the body to be parsed as another request.
 *
 * A request of a method without a body (`bodyless`) is only scanned when its first framing
 * header has a value: two lookups instead of a walk over every header, on the path cached GETs
 * take. With a browser's dozen headers the walk cost 2–7 µs of CPU a request on a bare uWS app
 * that spent 12–14 µs on the whole request; the lookups cost nothing measurable. The one case
 * this lets through, a GET whose first Content-Length is empty and a second one follows, nginx
 * in front refuses (docs/operations.md § Failure modes).
 */
function hasSoundFraming(req: HttpRequest, bodyless: boolean): boolean {
  if (bodyless && req.getHeader('content-length') === '' && req.getHeader('transfer-encoding') === '') {
    return true;
  }
  let lengths = 0;
  let encodings = 0;
  let sound = true;
  req.forEach((name, value) => {
    if (name === 'content-length') {
      lengths += 1;
      if (!CONTENT_LENGTH.test(value)) sound = false;
    } else if (name === 'transfer-encoding') {
      encodings += 1;
      if (value !== 'chunked') sound = false;
    }
  });
  return sound && lengths + encodings <= 1;
}

function writeHeaders(res: HttpResponse, headers: Headers): void {
  for (let i = 0; i < headers.length; i++) res.writeHeader(headers[i]![0], headers[i]![1]);
}

/**
 * If-None-Match against a strong ETag, by the weak comparison RFC 9110 §13.1.2 prescribes:
 * `*`, or any listed tag whose opaque part equals it, with or without `W/`.
 */
export function matchesAny(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === etag) return true;
  for (const listed of ifNoneMatch.split(',')) {
    const tag = listed.trim();
    if (tag === '*' || tag === etag || (tag.startsWith('W/') && tag.slice(2) === etag)) return true;
  }
  return false;
}

/** The answer to a PUT that succeeded. */
export const NO_CONTENT: Reply = Object.freeze({ status: '204 No Content', body: '' });

/** The answer to a POST that created something; `body` names it, e.g. `{"review_id":5}`. */
export function created(body: string): Reply {
  return { status: '201 Created', body };
}

export type Method = 'get' | 'post' | 'put';
type HandledMethod = Method | 'head' | 'options';

/** The order methods are listed in Allow and Access-Control-Allow-Methods. */
const METHOD_ORDER: readonly HandledMethod[] = ['get', 'head', 'post', 'put', 'options'];

/**
 * Mounts a path's routes, HEAD beside GET, the OPTIONS preflight, and a 405 naming them all
 * (Allow) for every other method on the path; each under the path and the path with one
 * trailing slash, with the same handlers (and so the same metrics), as the Express-based legacy
 * API accepted both. Routes key their cached bodies by their parameters, never by the URL, so
 * both forms share one cache entry.
 */
export function mount(
  app: TemplatedApp,
  exchanges: Exchanges,
  pattern: string,
  routes: Partial<Record<Method, Respond>>,
): void {
  const handlers = new Map<HandledMethod, UwsHandler>();
  for (const method of Object.keys(routes) as Method[]) {
    handlers.set(method, exchanges.handle(routes[method] as Respond, pattern, method));
  }
  if (routes.get) handlers.set('head', exchanges.handle(routes.get, pattern, 'head'));
  const allowed = METHOD_ORDER.filter((method) => method === 'options' || handlers.has(method))
    .map((method) => method.toUpperCase())
    .join(', ');
  const { cors } = exchanges;
  handlers.set(
    'options',
    exchanges.handle(
      (req) => ({
        status: NO_CONTENT.status,
        body: '',
        headers: [['Allow', allowed], ...cors.preflightHeaders(req, allowed)],
      }),
      pattern,
      'options',
    ),
  );
  const notAllowed = exchanges.handle(() => methodNotAllowed(allowed), pattern);
  // uWS matches paths exactly; one trailing slash more is a pattern of its own.
  for (const form of [pattern, `${pattern}/`]) {
    for (const [method, handler] of handlers) app[method](form, handler);
    // uWS prefers a method's own handler to `any`, whatever the registration order.
    app.any(form, notAllowed);
  }
}

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * What to do when the client of a body being read goes away, by its response: uWS keeps one
 * onAborted per response, and Exchanges owns it (answerLater calls this from its own).
 */
const abandonedBodies = new WeakMap<HttpResponse, () => void>();

// Decoding rejects invalid UTF-8 instead of replacing it, so bad bytes are a 400 too.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isJsonMediaType(contentType: string): boolean {
  const semicolon = contentType.indexOf(';');
  const mediaType = semicolon === -1 ? contentType : contentType.slice(0, semicolon);
  return mediaType.trim().toLowerCase() === 'application/json';
}

/**
 * Reads a JSON request body: 415 unless Content-Type is application/json, 413 past 64 KiB
 * (declared or streamed), 400 when it is not UTF-8 JSON. Call it synchronously from a route,
 * since it reads headers from `req` and must attach onData before the callback returns.
 */
export function readJsonBody(req: HttpRequest, res: HttpResponse): Promise<unknown> {
  if (!isJsonMediaType(req.getHeader('content-type'))) return Promise.reject(new ApiError(ERRORS.unsupportedMediaType));
  const declaredLength = req.getHeader('content-length');
  if (declaredLength !== '' && Number(declaredLength) > MAX_BODY_BYTES) {
    return Promise.reject(new ApiError(ERRORS.bodyTooLarge));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (error: ApiError): void => {
      done = true;
      abandonedBodies.delete(res);
      reject(error);
    };
    // A client gone mid-body never sends its last chunk; without this the request would stay in
    // flight forever and hold every later drain for DRAIN_TIMEOUT_MS. Its reply is never sent.
    abandonedBodies.set(res, () => {
      if (!done) fail(new ApiError(ERRORS.malformedJson));
    });
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) return fail(new ApiError(ERRORS.bodyTooLarge));
      // uWS reuses the chunk's memory once this callback returns, so keep a copy.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast) return;
      done = true;
      abandonedBodies.delete(res);
      try {
        resolve(JSON.parse(utf8.decode(Buffer.concat(chunks, size))));
      } catch {
        reject(new ApiError(ERRORS.malformedJson));
      }
    });
  });
}
