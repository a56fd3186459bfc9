/**
 * The response cache's hit rate during measured runs, read from the API's own GET /metrics
 * (the whole instance: every worker summed). A storefront mix's throughput depends mostly on it,
 * so the report says what it was instead of leaving it to guesswork.
 */
import { parseExposition, total } from '../lib/prometheus-text.js';
import type { Measurement } from './bench-session.js';

interface CacheLookups {
  readonly hits: number;
  readonly misses: number;
}

async function lookups(port: number): Promise<CacheLookups> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const samples = parseExposition(await response.text());
  return {
    hits: total(samples, 'atelier_cache_hits_total') ?? 0,
    misses: total(samples, 'atelier_cache_misses_total') ?? 0,
  };
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
