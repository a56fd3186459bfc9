export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** 0.2 spreads each delay uniformly over ±20 %, so workers that died together do not restart together. */
  readonly jitter: number;
  /** Injected by tests that check the bounds. */
  readonly random?: () => number;
}

/** Capped exponential backoff with jitter: initialMs, 2×, 4×, … up to maxMs, until reset(). */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  next(): number {
    const { initialMs, maxMs, jitter, random = Math.random } = this.options;
    const base = Math.min(maxMs, initialMs * 2 ** this.attempt);
    // Once capped, stop growing the exponent: 2 ** attempt would otherwise overflow to Infinity.
    if (base < maxMs) this.attempt += 1;
    return Math.round(base * (1 + jitter * (2 * random() - 1)));
  }

  reset(): void {
    this.attempt = 0;
  }
}
