/**
 * The request/response discipline every route goes through, following uWebSockets.js's rules:
 * a route reads everything it needs from `req` synchronously (uWS invalidates `req` when the
 * callback returns); a reply known at once is written within the callback; otherwise onAborted
 * is attached before the callback returns and the later write is corked. No exception escapes a
 * uWS callback: an unexpected one becomes a logged 500 whose body says nothing about it.
 * Every reply is counted and timed by its mounted route (server/metrics.ts).
 */
import { createLog, errorMessage, type Log } from '../lib/log.js';
import { isDatabaseUnavailable, isPoolSaturated, isStatementTimeout } from '../sql/db/errors.js';
import { ApiError, ERRORS, methodNotAllowed, unavailable } from './errors.js';
import { ABORTED, RequestMetrics, type RequestRecorder } from './metrics.js';
import { JSON_CONTENT_TYPE, type Reply } from './reply.js';
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
  private unavailableLoggedAt = -Infinity;
  private unavailableSuppressed = 0;

  constructor(
    retryAfterSeconds: number,
    private readonly log: Log = createLog('worker'),
    private readonly requestMetrics: RequestMetrics = new RequestMetrics(),
  ) {
    this.unavailable = unavailable(retryAfterSeconds);
  }

  /**
   * Wraps a route into a uWS handler that always answers exactly once and never throws. `route`
   * labels its requests in the metrics; `method` is given when the handler answers only that one.
   */
  handle(respond: Respond, route: string, method?: Method): UwsHandler {
    const recorders = this.requestMetrics.route(route);
    const onlyMethod = method === undefined ? undefined : recorders.method(method);
    return (res, req) => {
      const startedAt = performance.now();
      const recorder = onlyMethod ?? recorders.method(req.getMethod());
      let reply: Reply;
      try {
        const outcome = respond(req, res);
        if (outcome instanceof Promise) return this.answerLater(res, outcome, recorder, startedAt);
        reply = outcome;
      } catch (err) {
        reply = this.replyFor(err);
      }
      this.writeOrLog(res, reply);
      recorder.record(reply.status, startedAt);
    };
  }

  /** The reply for a failed route: its ApiError, 503 for database trouble, else a logged 500. */
  replyFor(err: unknown): Reply {
    if (err instanceof ApiError) return err.reply;
    // Shedding is counted in /metrics (503s), not logged: under overload a log line per refused
    // request would spend the CPU the worker is short of. A write that outlived the drain
    // deadline is refused the same way.
    if (isPoolSaturated(err) || err instanceof WriteBatcherClosed) return this.unavailable;
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

  private answerLater(res: HttpResponse, outcome: Promise<Reply>, recorder: RequestRecorder, startedAt: number): void {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    this.inFlight += 1;
    outcome
      .catch((err: unknown) => this.replyFor(err))
      .then((reply) => {
        if (aborted) return recorder.record(ABORTED, startedAt);
        res.cork(() => this.writeOrLog(res, reply));
        recorder.record(reply.status, startedAt);
      })
      .finally(() => {
        this.inFlight -= 1;
        if (this.inFlight === 0) this.onIdle?.();
      });
  }

  private write(res: HttpResponse, reply: Reply): void {
    if (reply.status === NO_CONTENT.status) {
      // A 204 carries neither a body nor Content-Type/Content-Length (RFC 9110 §8.6). uWS can only
      // close the connection after it by reporting a length, so a draining worker sends length 0.
      res.writeStatus(reply.status);
      if (this.draining) res.endWithoutBody(0, true);
      else res.endWithoutBody();
      return;
    }
    res.writeStatus(reply.status).writeHeader('Content-Type', reply.contentType ?? JSON_CONTENT_TYPE);
    if (reply.headers) for (const [name, value] of reply.headers) res.writeHeader(name, value);
    res.end(reply.body, this.draining || reply.closeConnection === true);
  }

  private writeOrLog(res: HttpResponse, reply: Reply): void {
    try {
      this.write(res, reply);
    } catch (err) {
      this.log.error('reply_failed', { error: errorMessage(err) });
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

/** The answer to a PUT that succeeded. */
export const NO_CONTENT: Reply = Object.freeze({ status: '204 No Content', body: '' });

/** The answer to a POST that created something; `body` names it, e.g. `{"review_id":5}`. */
export function created(body: string): Reply {
  return { status: '201 Created', body };
}

export type Method = 'get' | 'post' | 'put';

/** Mounts a path's routes, and a 405 naming them (Allow) for every other method on the path. */
export function mount(
  app: TemplatedApp,
  exchanges: Exchanges,
  pattern: string,
  routes: Partial<Record<Method, Respond>>,
): void {
  const methods = Object.keys(routes) as Method[];
  for (const method of methods) app[method](pattern, exchanges.handle(routes[method] as Respond, pattern, method));
  const notAllowed = methodNotAllowed(methods.map((method) => method.toUpperCase()));
  // uWS prefers a method's own handler to `any`, whatever the registration order.
  app.any(
    pattern,
    exchanges.handle(() => notAllowed, pattern),
  );
}

export const MAX_BODY_BYTES = 64 * 1024;

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
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        done = true;
        reject(new ApiError(ERRORS.bodyTooLarge));
        return;
      }
      // uWS reuses the chunk's memory once this callback returns, so keep a copy.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast) return;
      done = true;
      try {
        resolve(JSON.parse(utf8.decode(Buffer.concat(chunks, size))));
      } catch {
        reject(new ApiError(ERRORS.malformedJson));
      }
    });
  });
}
