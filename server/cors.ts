/**
 * Cross-origin access per the Fetch standard, for storefront pages that call the API straight
 * from the browser. Every response carries the headers of its request's origin, and a preflight
 * OPTIONS on a known path is answered with what that path allows. The header blocks are built
 * once, each joined into one header write (server/reply.ts joinHeaders): with CORS_ORIGINS=* (the
 * default) a response costs that one write and nothing more, since the request's Origin need not
 * even be read.
 *
 * With a list, only a listed Origin is echoed, and every response says `Vary: Origin` so that a
 * shared cache never hands one origin's answer to another. No credentials mode: the API uses no
 * cookies, and an `Authorization` header sent explicitly by a page needs none.
 */
import type { CorsOrigins } from '../lib/config.js';
import { joinHeaders, type Headers } from './reply.js';
import type { HttpRequest } from './uws.js';

/** What a page's script may read besides the safelisted response headers. */
const EXPOSED = ['Access-Control-Expose-Headers', 'Retry-After, ETag'] as const;
/** How long a browser may reuse a preflight answer, in seconds. */
export const PREFLIGHT_MAX_AGE_SECONDS = 600;
const MAX_AGE = ['Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_SECONDS)] as const;
const VARY_ORIGIN = ['Vary', 'Origin'] as const;
const NONE: Headers = Object.freeze([]);

export class CorsPolicy {
  /** The headers for each allowed origin ('*' under CORS_ORIGINS=*). */
  private readonly allowed: ReadonlyMap<string, Headers>;
  /** For a request from no allowed origin: nothing under '*' (never used), else Vary alone. */
  private readonly refused: Headers;
  private readonly anyOrigin: Headers | undefined;

  constructor(origins: CorsOrigins) {
    const block = (origin: string): Headers =>
      Object.freeze([
        joinHeaders(
          origins === '*'
            ? [['Access-Control-Allow-Origin', origin], EXPOSED]
            : [['Access-Control-Allow-Origin', origin], EXPOSED, VARY_ORIGIN],
        ),
      ]);
    this.anyOrigin = origins === '*' ? block('*') : undefined;
    this.allowed = new Map(origins === '*' ? [] : origins.map((origin) => [origin, block(origin)]));
    this.refused = origins === '*' ? NONE : Object.freeze([VARY_ORIGIN]);
  }

  /** The CORS headers of every response to `req`. Reads `req`, so call it before the first await. */
  responseHeaders(req: HttpRequest): Headers {
    return this.anyOrigin ?? this.allowed.get(req.getHeader('origin')) ?? this.refused;
  }

  /**
   * The headers a preflight adds for a path answering `methods`: none for a refused origin (the
   * browser then blocks the call); otherwise the methods, the request headers the browser asked
   * for (Authorization and Content-Type among them), and how long to remember the answer.
   */
  preflightHeaders(req: HttpRequest, methods: string): Headers {
    if (this.anyOrigin === undefined && !this.allowed.has(req.getHeader('origin'))) return NONE;
    const requested = req.getHeader('access-control-request-headers');
    const headers: (readonly [string, string])[] = [['Access-Control-Allow-Methods', methods], MAX_AGE];
    if (requested !== '') headers.push(['Access-Control-Allow-Headers', requested]);
    return headers;
  }
}
