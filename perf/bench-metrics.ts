/**
 * The response cache's hit rate during measured runs, read from the API's own GET /metrics
 * (the whole instance: every worker summed). A storefront mix's throughput depends mostly on it,
 * so the report says what it was instead of leaving it to guesswork.
 */
import { parseExposition } from '../lib/prometheus-text.js';
import { type CacheLookups, cacheLookups } from './bench-costs.js';
import type { Measurement } from './bench-session.js';

async function lookups(port: number): Promise<CacheLookups> {
  return (await cacheLookups(port)) ?? { hits: 0, misses: 0 };
}

/** Cache lookups counted over the measured runs of one scenario. */
export class HitRate {
  private hits = 0;
  private misses = 0;

  constructor(private readonly port: number) {}

  /** `measure`, with the lookups it caused added to this tally. */
  around(measure: () => Promise<Measurement>): () => Promise<Measurement> {
    return async () => {
      const before = await lookups(this.port);
      const measurement = await measure();
      const after = await lookups(this.port);
      this.hits += after.hits - before.hits;
      this.misses += after.misses - before.misses;
      return measurement;
    };
  }

  /** e.g. "0.86 (412,000 hits, 67,000 misses)". */
  describe(): string {
    const lookups = this.hits + this.misses;
    if (lookups === 0) return 'no cache lookups';
    return (
      `${(this.hits / lookups).toFixed(2)} (${this.hits.toLocaleString('en-US')} hits, ` +
      `${this.misses.toLocaleString('en-US')} misses)`
    );
  }
}

/** One route's refusal (503) latency buckets, summed over the instance: cumulative count by upper bound. */
async function refusalBuckets(port: number, route: string): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const buckets = new Map<string, number>();
  for (const sample of parseExposition(await response.text())) {
    if (sample.name !== 'atelier_http_refusal_duration_seconds_bucket' || sample.labels.route !== route) continue;
    const le = sample.labels.le!;
    buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
  }
  return buckets;
}

/**
 * How fast the server answered its refusals during measured runs, from its own histogram
 * (atelier_http_refusal_duration_seconds, time from receiving the request to writing the 503): what
 * a client measures adds its own queueing, which under overload is most of it.
 */
export class RefusalLatency {
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly port: number,
    private readonly route: string,
  ) {}

  around(measure: () => Promise<Measurement>): () => Promise<Measurement> {
    return async () => {
      const before = await refusalBuckets(this.port, this.route);
      const measurement = await measure();
      const after = await refusalBuckets(this.port, this.route);
      for (const [le, count] of after) this.counts.set(le, (this.counts.get(le) ?? 0) + count - (before.get(le) ?? 0));
      return measurement;
    };
  }

  get refusals(): number {
    return this.counts.get('+Inf') ?? 0;
  }

  /** The upper bound, in ms, of the bucket holding quantile `q`; undefined with no refusal or no histogram. */
  quantileMs(q: number): number | undefined {
    const total = this.refusals;
    if (total === 0) return undefined;
    const bounds = [...this.counts.entries()]
      .map(([le, count]) => [le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le) * 1000, count] as const)
      .sort((a, b) => a[0] - b[0]);
    return bounds.find(([, count]) => count >= q * total)?.[0];
  }
}
