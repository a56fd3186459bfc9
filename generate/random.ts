/**
 * The generator's two kinds of randomness, both derived from the run's seed:
 *
 * - `Rng`, a sequential sfc32 stream, for the content of rows (text, prices, flags). Each file
 *   has its own stream, so files can be written in any order and still come out identical.
 * - `HashedUnit`, a stateless hash of (salt, id), for the *shape* of the catalogue (how many
 *   styles product 42 has, how many photos style 77 has). Every file that needs a count
 *   recomputes it from the id instead of reading it from another file, which is what lets each
 *   file be written alone, in one pass, with bounded memory.
 */

const TWO_POW_32 = 4294967296;

/** lowbias32 (Chris Wellons): a cheap 32-bit bijective mixer with good avalanche. */
export function mix32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Folds a seed (any safe integer) and a salt into one 32-bit key. */
export function deriveKey(seed: number, salt: number): number {
  const low = seed >>> 0;
  const high = Math.floor(seed / TWO_POW_32) >>> 0;
  return mix32(mix32(low ^ Math.imul(salt + 1, 0x9e3779b9)) ^ mix32(high + salt));
}

/** Uniform [0, 1) values that depend only on (seed, salt, id, draw). */
export class HashedUnit {
  private readonly key: number;

  constructor(seed: number, salt: number) {
    this.key = deriveKey(seed, salt);
  }

  /** The `draw`-th independent uniform of `id` (a count may need two or three). */
  at(id: number, draw = 0): number {
    return mix32((mix32(id ^ this.key) + this.key + Math.imul(draw, 0x9e3779b9)) >>> 0) / TWO_POW_32;
  }
}

/** sfc32 (Chris Doty-Humphrey's small fast counting generator), uniform [0, 1). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number, salt: number) {
    this.a = deriveKey(seed, salt);
    this.b = deriveKey(seed, salt + 0x1000);
    this.c = deriveKey(seed, salt + 0x2000);
    // The first outputs of sfc32 still show the seed; discard them.
    for (let i = 0; i < 16; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / TWO_POW_32;
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [min, max]. */
  between(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

/**
 * Rounds `mean * weight` up or down at random so that the expected result is exactly
 * `mean * E[weight]`: counts built this way hit the real totals on average whatever the shape
 * of the weight's distribution.
 */
export function stochasticCount(mean: number, weight: number, unit: number): number {
  return Math.floor(mean * weight + unit);
}

/** Exponential weight with mean 1, from a uniform in [0, 1). */
export function exponentialWeight(unit: number): number {
  return -Math.log(1 - unit);
}

/** Log-normal weight with mean 1 and the given sigma, from two uniforms in [0, 1). */
export function logNormalWeight(sigma: number, unitA: number, unitB: number): number {
  const normal = Math.sqrt(-2 * Math.log(1 - unitA)) * Math.cos(2 * Math.PI * unitB);
  return Math.exp(sigma * normal - (sigma * sigma) / 2);
}
