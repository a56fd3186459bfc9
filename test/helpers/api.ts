import http from 'node:http';
import type { Test } from 'tap';
import { startServer, type RunningServer } from '../../server/app.js';
import { loadConfig } from '../../lib/config.js';
import { openSession, type Session } from '../../sql/db/admin.js';
import { freshDatabase } from './database.js';

/** A server over a fixture database, and a session for looking underneath it. */
export interface Api {
  readonly url: string;
  readonly db: Session;
  get(path: string): Promise<Response>;
  /** `body` is sent as JSON; a string is sent as it is, with `contentType`. */
  send(method: string, path: string, body?: unknown, contentType?: string): Promise<Response>;
}

/** Long enough that no body expires by age during a test. */
export const CACHED = { CACHE_TTL_MS: '600000' };

/** One in-process server over the database at `url`, configured by `env`, closed at teardown. */
export async function serve(t: Test, url: string, env: Record<string, string> = {}): Promise<RunningServer> {
  // No client is left to reconnect when a test ends, so closing needs no linger.
  const server = await startServer(loadConfig({ DATABASE_URL: url, DRAIN_LINGER_MS: '0', ...env }), { port: 0 });
  t.teardown(() => server.close());
  return server;
}

/**
 * Each of `variants`, as `server` answers `path(variant)`, against `fresh(variant)` (the database's
 * own print of it); returns the variants the server read again rather than answered from its cache.
 */
export async function compareWithFresh<V>(
  t: Test,
  server: RunningServer,
  variants: readonly V[],
  path: (variant: V) => string,
  fresh: (variant: V) => Promise<string>,
  after: string,
): Promise<V[]> {
  const reread: V[] = [];
  for (const variant of variants) {
    const loads = server.cacheStats().loads;
    const response = await fetch(`http://127.0.0.1:${server.port}${path(variant)}`);
    t.equal(response.status, 200, `${after}: ${path(variant)} answers 200`);
    const body = await response.text();
    if (server.cacheStats().loads > loads) reread.push(variant);
    t.equal(body, await fresh(variant), `${after}: ${path(variant)} is what a fresh read prints`);
  }
  return reread;
}

/** A fresh database holding `fixture` (SQL), one in-process server over it, both gone at teardown. */
export async function serveFixture(t: Test, fixture: string): Promise<Api> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-fixture');
  t.teardown(() => db.end());
  await db.query(fixture);
  const server = await serve(t, url);
  const base = `http://127.0.0.1:${server.port}`;
  return {
    url,
    db,
    get: (path) => fetch(`${base}${path}`),
    send: (method, path, body, contentType = 'application/json') =>
      fetch(`${base}${path}`, {
        method,
        ...(body === undefined
          ? {}
          : {
              body: typeof body === 'string' ? body : JSON.stringify(body),
              headers: { 'content-type': contentType },
            }),
      }),
  };
}

export async function expectBody(t: Test, response: Response, body: string, message = response.url): Promise<void> {
  t.equal(response.status, 200, message);
  t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8', message);
  t.equal(await response.text(), body, message);
}

export async function expectError(
  t: Test,
  response: Response,
  status: number,
  error: string,
  message = response.url,
): Promise<void> {
  t.equal(response.status, status, message);
  t.equal(response.headers.get('content-type'), 'application/json; charset=utf-8', message);
  t.equal(await response.text(), JSON.stringify({ error }), message);
}

export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The local port of the connection it came over. */
  readonly clientPort: number;
}

/**
 * One request; over `agent`'s connections, or a new one that closes after it. Unlike fetch, it
 * tells which connection carried it (for finding the worker that answered).
 */
export function request(
  port: number,
  method: string,
  path: string,
  body?: string,
  agent: http.Agent | false = false,
  contentType = 'application/json',
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const sent = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent,
        headers: body === undefined ? {} : { 'content-type': contentType },
      },
      (response) => {
        const clientPort = response.socket.localPort ?? 0;
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: text, headers: response.headers, clientPort }),
        );
        response.on('error', reject);
      },
    );
    sent.on('error', reject);
    sent.end(body);
  });
}
