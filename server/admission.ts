/**
 * Admission control in front of the one database pool (docs/operations.md § Admission control).
 *
 * Every statement a route runs belongs to a domain (the tables it touches: catalogue, reviews,
 * Q&A, cart and clicks) and passes that domain's gate. A gate lets at most `limit` statements of
 * its domain into the pool at once, below the pool's size, so a domain whose statements are stuck
 * (a locked table, a slow plan) holds only its own share of the connections; the others keep
 * theirs. Beyond the limit a statement waits in the gate's own bounded queue, never in the pool's
 * shared one, so a stuck domain cannot fill the queue slots of the others either.
 *
 * Under overload, waiting is cheaper than refusing: a held request costs a closure, while a
 * refused one is answered in microseconds and its client (wrk, a retrying browser) sends the next
 * one at once, which spends on refusals the CPU that PostgreSQL on the same box needs. So a
 * statement waits as long as it can still start within `queueDeadlineMs`, and is refused at
 * arrival, at once and cheaply, only when it could not: the queue is full, or the estimated wait
 * (queued statements × mean service time of the statements that succeeded ÷ limit) exceeds the
 * deadline. One still waiting at its deadline is refused then (CoDel's sojourn-time bound,
 * without its control law: the deadline is the bound and the estimate keeps arrivals from
 * queueing past it).
 *
 * A stalled domain (a locked table: its statements fail by lock timeout or hang) is not refused
 * at arrival: its failures do not move the service-time estimate, so its newcomers queue and are
 * refused at their deadline. Refusing them at once measured worse: the clients of the stuck
 * domain asked again at once, tens of thousands of times a second, and that churn took the CPU of
 * the healthy domains (GET /products/:id/styles fell to 0.42 of its rps with reviews locked).
 */
import type { Pool } from '../sql/db/pool.js';

/** A statement its domain's gate would not let into the pool: the route answers 503 + Retry-After. */
export class AdmissionRefused extends Error {
  constructor(
    readonly domain: string,
    /** Refused on arrival (shed, answered at once), not after waiting to its queue deadline. */
    readonly atArrival: boolean,
  ) {
    super(
      atArrival
        ? `the ${domain} domain is at its admission limit`
        : `a ${domain} statement waited for the database past its queue deadline`,
    );
    this.name = 'AdmissionRefused';
  }
}

export interface GateOptions {
  /** Statements of this domain in the pool at once. */
  readonly limit: number;
  /** Statements that may wait for one of those slots. */
  readonly maxQueued: number;
  /** The longest a statement waits for a slot. */
  readonly queueDeadlineMs: number;
}

/** Time and timers, replaceable by a fake clock in tests. */
export interface GateClock {
  now(): number;
  /** Calls `fire` after `ms`; the returned function cancels it. */
  after(ms: number, fire: () => void): () => void;
}

export const REAL_CLOCK: GateClock = {
  now: () => performance.now(),
  after(ms, fire) {
    const timer = setTimeout(fire, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface GateStats {
  readonly domain: string;
  readonly limit: number;
  readonly inFlight: number;
  readonly queued: number;
  /** Refused at arrival or at the queue deadline, since start. */
  readonly refused: number;
}

interface Waiter {
  readonly deadline: number;
  readonly start: () => void;
  readonly refuse: () => void;
}

/** Weight of the newest duration in the mean service time: about the last 20 statements. */
const SERVICE_TIME_WEIGHT = 0.05;

export class AdmissionGate {
  private inFlight = 0;
  private refused = 0;
  private readonly queue: Waiter[] = [];
  /** Mean time a successful statement holds its slot, exponentially weighted; 0 until one succeeds. */
  private serviceMs = 0;
  private cancelExpiry: (() => void) | undefined;
  private readonly refusal: AdmissionRefused;
  private readonly expiry: AdmissionRefused;

  constructor(
    readonly domain: string,
    private readonly options: GateOptions,
    private readonly clock: GateClock = REAL_CLOCK,
  ) {
    // One error for every refusal: building one (and its stack) per refused request is the
    // per-request cost that overload multiplies.
    this.refusal = new AdmissionRefused(domain, true);
    this.expiry = new AdmissionRefused(domain, false);
  }

  /** Runs `task` once the domain has a free slot; rejects with AdmissionRefused if it cannot get one in time. */
  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.inFlight < this.options.limit && this.queue.length === 0) return this.start(task);
    if (this.refusesArrival()) {
      this.refused += 1;
      return Promise.reject(this.refusal);
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        deadline: this.clock.now() + this.options.queueDeadlineMs,
        start: () => this.start(task).then(resolve, reject),
        refuse: () => reject(this.expiry),
      });
      if (this.cancelExpiry === undefined) this.armExpiry();
    });
  }

  stats(): GateStats {
    return {
      domain: this.domain,
      limit: this.options.limit,
      inFlight: this.inFlight,
      queued: this.queue.length,
      refused: this.refused,
    };
  }

  private refusesArrival(): boolean {
    const { limit, maxQueued, queueDeadlineMs } = this.options;
    if (this.queue.length >= maxQueued) return true;
    return ((this.queue.length + 1) * this.serviceMs) / limit > queueDeadlineMs;
  }

  private async start<T>(task: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    const startedAt = this.clock.now();
    try {
      const result = await task();
      const tookMs = this.clock.now() - startedAt;
      this.serviceMs += (tookMs - this.serviceMs) * (this.serviceMs === 0 ? 1 : SERVICE_TIME_WEIGHT);
      return result;
    } finally {
      this.inFlight -= 1;
      this.startNext();
    }
  }

  private startNext(): void {
    this.disarmExpiry();
    this.expire();
    this.queue.shift()?.start();
    this.armExpiry();
  }

  /** Refuses the waiters whose deadline has passed (the oldest are at the front). */
  private expire(): void {
    const now = this.clock.now();
    while (this.queue.length > 0 && this.queue[0]!.deadline <= now) {
      this.refused += 1;
      this.queue.shift()!.refuse();
    }
  }

  /** A stalled domain may free no slot for long, so its waiters are refused by a timer at the oldest one's deadline. */
  private armExpiry(): void {
    const head = this.queue[0];
    if (head === undefined) return;
    this.cancelExpiry = this.clock.after(Math.max(0, head.deadline - this.clock.now()), () => {
      this.cancelExpiry = undefined;
      this.expire();
      this.armExpiry();
    });
  }

  private disarmExpiry(): void {
    this.cancelExpiry?.();
    this.cancelExpiry = undefined;
  }
}

/** The tables whose trouble stays theirs: each domain's statements pass their own gate. */
export const DOMAINS = ['catalogue', 'reviews', 'qa', 'shopping'] as const;
export type Domain = (typeof DOMAINS)[number];

/** The pool as one domain sees it: the same query() the sql/queries functions call, behind its gate. */
function gatedPool(pool: Pool, gate: AdmissionGate): Pool {
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  return { query: ((...args: unknown[]) => gate.run(() => query(...args))) as Pool['query'] };
}

/**
 * One gate per domain in front of one worker's pool. A domain's reads that a router sends to a
 * replica (server/reads.ts) pass the same gate: its limit bounds the domain's statements wherever
 * they run.
 */
export class Admission {
  readonly pools: Readonly<Record<Domain, Pool>>;
  private readonly gates: Readonly<Record<Domain, AdmissionGate>>;

  constructor(pool: Pool, options: GateOptions, clock: GateClock = REAL_CLOCK) {
    this.gates = Object.fromEntries(
      DOMAINS.map((domain) => [domain, new AdmissionGate(domain, options, clock)]),
    ) as Record<Domain, AdmissionGate>;
    this.pools = Object.fromEntries(DOMAINS.map((domain) => [domain, gatedPool(pool, this.gates[domain])])) as Record<
      Domain,
      Pool
    >;
  }

  /** `pool` (another than the worker's own, such as a replica's) behind `domain`'s gate. */
  gated(domain: Domain, pool: Pool): Pool {
    return gatedPool(pool, this.gates[domain]);
  }

  stats(): GateStats[] {
    return DOMAINS.map((domain) => this.gates[domain].stats());
  }
}
