/**
 * A steady stream of requests from a few concurrent keep-alive clients, each reply (or its absence)
 * recorded with its timing: what a fault test drives a cluster with while it breaks something.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Planned {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
}

export interface Outcome extends Planned {
  /** performance.now() when it was sent and when it ended. */
  readonly sentAt: number;
  readonly endedAt: number;
  /** Absent when no reply came: `error` says why (a reset, or none within the bound). */
  readonly status?: number;
  readonly retryAfter?: string;
  readonly error?: string;
}

export interface Load {
  /** Every request ended so far. */
  readonly outcomes: readonly Outcome[];
  /** Stops sending, waits for the requests in flight, and returns every outcome. */
  stop(): Promise<readonly Outcome[]>;
}

/** One request over `agent`; a reply not complete within `timeoutMs` is given up and recorded as none. */
function send(port: number, planned: Planned, agent: http.Agent, timeoutMs: number): Promise<Outcome> {
  const sentAt = performance.now();
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    const end = (outcome: Omit<Outcome, keyof Planned | 'sentAt' | 'endedAt'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...planned, sentAt, endedAt: performance.now(), ...outcome });
    };
    const sent = http.request(
      {
        host: '127.0.0.1',
        port,
        path: planned.path,
        method: planned.method,
        agent,
        headers: planned.body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (response) => {
        response.resume();
        response.on('end', () => {
          const retryAfter = response.headers['retry-after'];
          end({ status: response.statusCode ?? 0, ...(retryAfter === undefined ? {} : { retryAfter }) });
        });
        response.on('error', (err) => end({ error: err.message }));
      },
    );
    const timer = setTimeout(() => {
      end({ error: `no reply within ${timeoutMs} ms` });
      sent.destroy();
    }, timeoutMs);
    sent.on('error', (err: NodeJS.ErrnoException) => end({ error: err.code ?? err.message }));
    sent.end(planned.body);
  });
}

/**
 * `clients` loops, each sending `plan` in turn (each client from its own offset, so that every
 * route is in flight at every moment) over its own keep-alive connection, `pauseMs` apart.
 */
export function steadyLoad(
  port: number,
  plan: readonly Planned[],
  { clients, timeoutMs, pauseMs = 5 }: { clients: number; timeoutMs: number; pauseMs?: number },
): Load {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const loops = Array.from({ length: clients }, async (_, client) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = client; !stopped; i++) {
        outcomes.push(await send(port, plan[i % plan.length]!, agent, timeoutMs));
        await sleep(pauseMs);
      }
    } finally {
      agent.destroy();
    }
  });
  return {
    outcomes,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/** A line per outcome that is not one of `allowed` statuses, or a 503 without Retry-After, or no reply. */
export function unexpected(outcomes: readonly Outcome[], allowed: (outcome: Outcome) => boolean): string[] {
  return outcomes
    .filter(
      (o) =>
        o.error !== undefined || (o.status === 503 && o.retryAfter === undefined) || (o.status !== 503 && !allowed(o)),
    )
    .map(
      (o) =>
        `${o.method} ${o.path}: ${o.error ?? o.status}${o.status === 503 ? ' without Retry-After' : ''} ` +
        `after ${Math.round(o.endedAt - o.sentAt)} ms`,
    );
}

/** The longest time any request waited for its reply, in ms. */
export function slowest(outcomes: readonly Outcome[]): number {
  return Math.round(Math.max(0, ...outcomes.map((o) => o.endedAt - o.sentAt)));
}

/** Which request waited longest, for a failure message. */
export function slowestRequest(outcomes: readonly Outcome[]): string {
  const ms = slowest(outcomes);
  const found = outcomes.find((o) => Math.round(o.endedAt - o.sentAt) === ms);
  return found === undefined ? 'none' : `${found.method} ${found.path} (${found.status ?? found.error})`;
}
