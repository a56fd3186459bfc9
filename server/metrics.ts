/**
 * Prometheus metrics (prom-client). Each worker counts into a registry of its own: requests by
 * route, method and status, their latency, its response cache and its database pool. The primary
 * keeps worker restarts and ready workers in another, and GET /metrics answers the sum of all of
 * them (cluster/primary.ts gathers the workers' snapshots over IPC).
 */
import { AggregatorRegistry, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { ConnectionPool } from '../sql/db/pool.js';
import type { ReplicaStats } from '../sql/db/replicas.js';
import type { GateStats } from './admission.js';
import type { CacheStats } from './cache.js';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** A registry's metrics as values, the form that crosses IPC and that aggregate() sums. */
export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** The route label of requests that no mounted pattern matched. */
export const UNMATCHED_ROUTE = 'unmatched';

/** The status label of a request whose client went away before its reply was ready. */
export const ABORTED = 'aborted';

/** From a cache hit (well under a millisecond) to a query running into the statement timeout. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The methods uWS may report that get a label of their own; any other token becomes OTHER, so a
 * client inventing methods cannot grow the label set.
 */
const KNOWN_METHODS = new Set(['get', 'head', 'post', 'put', 'delete', 'patch', 'options', 'connect', 'trace']);

/**
 * Counts and times the requests of one route and method in plain numbers, handed to prom-client
 * only when scraped: a prom-client child rebuilds and hashes its label set on every inc() or
 * observe(), which measured at ~3 µs per request, a seventh of a whole cache hit.
 */
export class RequestRecorder {
  /** Replies by status line. */
  readonly replies = new Map<string, number>();
  /** Requests per duration bucket: bucket i counts durations ≤ DURATION_BUCKETS[i] (and above the one before); the last, the rest. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  durationSum = 0;
  /** The same for requests shed (refused on arrival, 503) alone: how fast a refusal is answered. */
  readonly refusalBuckets = new Float64Array(DURATION_BUCKETS.length + 1);
  refusalSum = 0;

  constructor(
    readonly route: string,
    readonly method: string,
  ) {}

  /** One reply, by its status line (or ABORTED), taken `startedAt` (performance.now()); `shed` for a refusal on arrival. */
  record(status: string, startedAt: number, shed = false): void {
    const seconds = (performance.now() - startedAt) / 1000;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    this.buckets[bucket]! += 1;
    this.durationSum += seconds;
    if (shed) {
      this.refusalBuckets[bucket]! += 1;
      this.refusalSum += seconds;
    }
    this.replies.set(status, (this.replies.get(status) ?? 0) + 1);
  }
}

const DURATION_NAME = 'atelier_http_request_duration_seconds';
const REFUSAL_DURATION_NAME = 'atelier_http_refusal_duration_seconds';

interface Sample {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/**
 * The recorders' durations as a Prometheus histogram (cumulative buckets, sum, count), in the
 * shape prom-client's Registry reads from its own metrics' get(), so it prints and aggregates
 * across workers like them. `refusals` picks the 503 replies' histogram instead of all replies'.
 */
class DurationHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    private readonly recorders: readonly RequestRecorder[],
    readonly name: string,
    readonly help: string,
    private readonly refusals: boolean,
  ) {}

  async get() {
    const values: Sample[] = [];
    const { name } = this;
    for (const recorder of this.recorders) {
      const { route, method } = recorder;
      const buckets = this.refusals ? recorder.refusalBuckets : recorder.buckets;
      let cumulative = 0;
      for (let bucket = 0; bucket < buckets.length; bucket++) {
        cumulative += buckets[bucket]!;
        const le = bucket < DURATION_BUCKETS.length ? DURATION_BUCKETS[bucket]! : '+Inf';
        values.push({ metricName: `${name}_bucket`, labels: { le, route, method }, value: cumulative });
      }
      const sum = this.refusals ? recorder.refusalSum : recorder.durationSum;
      values.push({ metricName: `${name}_sum`, labels: { route, method }, value: sum });
      values.push({ metricName: `${name}_count`, labels: { route, method }, value: cumulative });
    }
    return { name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

/** The recorders of one route, one per method, made on first use. */
export class RouteRecorders {
  private readonly byMethod = new Map<string, RequestRecorder>();

  constructor(
    private readonly metrics: RequestMetrics,
    private readonly route: string,
  ) {}

  /** `method` in lower case, as uWS reports it. */
  method(method: string): RequestRecorder {
    const known = KNOWN_METHODS.has(method) ? method : 'other';
    let recorder = this.byMethod.get(known);
    if (recorder === undefined) {
      recorder = this.metrics.recorder(this.route, known.toUpperCase());
      this.byMethod.set(known, recorder);
    }
    return recorder;
  }
}

/** The request counter and latency histogram. */
export class RequestMetrics {
  private readonly recorders: RequestRecorder[] = [];

  /** Without a registry they count into one nobody reads (a bare Exchanges in tests). */
  constructor(registry: Registry = new Registry()) {
    const { recorders } = this;
    new Counter({
      name: 'atelier_http_requests_total',
      help: 'HTTP requests answered, by mounted route pattern, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { route, method, replies } of recorders) {
          for (const [status, count] of replies) this.inc({ route, method, status: status.split(' ', 1)[0]! }, count);
        }
      },
    });
    // Registry accepts any metric with get(); its typings list only prom-client's own classes.
    const histograms = [
      new DurationHistogram(
        recorders,
        DURATION_NAME,
        'Time from receiving a request to writing its reply, by mounted route pattern and method.',
        false,
      ),
      new DurationHistogram(
        recorders,
        REFUSAL_DURATION_NAME,
        'Time from receiving a request refused on arrival (shed: admission gate or pool queue full, or the wait estimated past its deadline) to writing its 503, by mounted route pattern and method.',
        true,
      ),
    ];
    for (const histogram of histograms) registry.registerMetric(histogram as unknown as Metric);
  }

  /** `route` is the mounted pattern (e.g. /products/:product_id), never the raw path. */
  route(route: string): RouteRecorders {
    return new RouteRecorders(this, route);
  }

  recorder(route: string, method: string): RequestRecorder {
    const recorder = new RequestRecorder(route, method);
    this.recorders.push(recorder);
    return recorder;
  }
}

/** A counter that reports a running total kept elsewhere, read at scrape time. */
function totalCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge read at scrape time. */
function sampledGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

type CacheStat = keyof CacheStats;

/** Response cache counters since the worker started: [metric, help, CacheStats field]. */
const CACHE_TOTALS: readonly (readonly [string, string, CacheStat])[] = [
  ['atelier_cache_hits_total', 'Response cache lookups answered from a stored body.', 'hits'],
  ['atelier_cache_misses_total', 'Response cache lookups that found no stored body.', 'misses'],
  ['atelier_cache_evictions_total', 'Bodies the response cache dropped to stay within its byte bound.', 'evictions'],
  [
    'atelier_cache_loads_total',
    'Database loads started by cache misses (concurrent misses of one key share one).',
    'loads',
  ],
];

/** What the response cache holds now: [metric, help, CacheStats field]. */
const CACHE_AMOUNTS: readonly (readonly [string, string, CacheStat])[] = [
  ['atelier_cache_bytes', 'Bytes of response bodies stored in the response cache.', 'bytes'],
  ['atelier_cache_entries', 'Response bodies stored in the response cache.', 'entries'],
];

/** Each domain's admission gate (server/admission.ts), read when scraped: [metric, help, GateStats field]. */
const ADMISSION_AMOUNTS: readonly (readonly [string, string, 'limit' | 'inFlight' | 'queued'])[] = [
  ['atelier_admission_limit', 'Statements a domain may have in the database pool at once.', 'limit'],
  ['atelier_admission_in_flight', 'Statements of a domain in the database pool now.', 'inFlight'],
  ['atelier_admission_queued', 'Statements of a domain waiting for one of its slots.', 'queued'],
];

function admissionMetrics(registry: Registry, gates: () => readonly GateStats[]): void {
  for (const [name, help, field] of ADMISSION_AMOUNTS) {
    new Gauge({
      name,
      help,
      labelNames: ['domain'],
      registers: [registry],
      collect() {
        for (const gate of gates()) this.set({ domain: gate.domain }, gate[field]);
      },
    });
  }
  new Counter({
    name: 'atelier_admission_refused_total',
    help: 'Statements a domain refused (503), at arrival or at the queue deadline.',
    labelNames: ['domain'],
    registers: [registry],
    collect() {
      this.reset();
      for (const gate of gates()) this.inc({ domain: gate.domain }, gate.refused);
    },
  });
}

/** Each replica as this worker's read router sees it (sql/db/replicas.ts), labelled by host:port. */
function replicaMetrics(registry: Registry, replicas: () => readonly ReplicaStats[]): void {
  new Gauge({
    name: 'atelier_replica_in_rotation',
    help: 'Workers that send reads to the replica (1 per worker that has it in rotation).',
    labelNames: ['replica'],
    registers: [registry],
    collect() {
      for (const replica of replicas()) this.set({ replica: replica.node }, replica.inRotation ? 1 : 0);
    },
  });
  new Gauge({
    name: 'atelier_replica_lag_ms',
    help: "How far the replica's replay was behind the primary at its last probe (the largest any worker saw).",
    labelNames: ['replica'],
    registers: [registry],
    aggregator: 'max',
    collect() {
      for (const replica of replicas()) this.set({ replica: replica.node }, Math.round(replica.lagMs));
    },
  });
  const totals = [
    ['atelier_replica_reads_total', 'Reads the replica answered.', 'reads'],
    [
      'atelier_replica_reads_retried_total',
      'Reads sent to the replica that failed there and ran on the primary.',
      'retried',
    ],
  ] as const;
  for (const [name, help, field] of totals) {
    new Counter({
      name,
      help,
      labelNames: ['replica'],
      registers: [registry],
      collect() {
        this.reset();
        for (const replica of replicas()) this.inc({ replica: replica.node }, replica[field]);
      },
    });
  }
}

/** One worker's registry: its requests, plus its cache, pool, admission gates and replicas read when scraped. */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly requests = new RequestMetrics(this.registry);

  constructor(
    cacheStats: () => CacheStats,
    pool: ConnectionPool,
    gates: () => readonly GateStats[],
    replicas: () => readonly ReplicaStats[],
  ) {
    for (const [name, help, stat] of CACHE_TOTALS) totalCounter(this.registry, name, help, () => cacheStats()[stat]);
    for (const [name, help, stat] of CACHE_AMOUNTS) sampledGauge(this.registry, name, help, () => cacheStats()[stat]);
    const poolAmounts: readonly (readonly [name: string, help: string, read: () => number])[] = [
      [
        'atelier_db_pool_in_use',
        'Database connections checked out of the pool.',
        () => pool.totalCount - pool.idleCount,
      ],
      ['atelier_db_pool_idle', 'Open database connections waiting in the pool.', () => pool.idleCount],
      ['atelier_db_pool_waiting', 'Queries waiting for a pooled connection.', () => pool.waitingCount],
    ];
    for (const [name, help, read] of poolAmounts) sampledGauge(this.registry, name, help, read);
    admissionMetrics(this.registry, gates);
    replicaMetrics(this.registry, replicas);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  snapshot(): Promise<MetricsSnapshot> {
    return this.registry.getMetricsAsJSON();
  }
}

/** The primary's registry: what only the primary sees. */
export class PrimaryMetrics {
  readonly registry = new Registry();
  readonly workerRestarts = new Counter({
    name: 'atelier_worker_restarts_total',
    help: 'Workers that died without being asked to and were respawned.',
    registers: [this.registry],
  });

  constructor(readyWorkers: () => number) {
    sampledGauge(this.registry, 'atelier_workers', 'Workers ready to serve.', readyWorkers);
  }

  snapshot(): Promise<MetricsSnapshot> {
    return this.registry.getMetricsAsJSON();
  }
}

/**
 * The Prometheus text of several registries together. Every metric here is a count or an amount
 * that adds up across processes, so prom-client's default aggregation (the sum) fits them all.
 */
export function aggregate(snapshots: readonly MetricsSnapshot[]): Promise<string> {
  return AggregatorRegistry.aggregate([...snapshots]).metrics();
}
