/**
 * Compact sets of positive int32 ids for the ingest's parent and duplicate checks: O(1) per row,
 * a few bits per id, and memory that follows the ids actually seen rather than the largest one.
 */

const PAGE_BITS = 16;
const PAGE_IDS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_IDS - 1;

/**
 * A bitset over 1..2^31-1 split into 8 KiB pages allocated on first use, so a stray huge id
 * costs one page instead of a 256 MiB array. The real data (ids up to ~12.4 M) needs ~1.5 MiB.
 */
export class IdSet {
  private readonly pages: (Uint32Array | undefined)[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    const page = this.pages[id >>> PAGE_BITS];
    if (page === undefined) return false;
    const bit = id & PAGE_MASK;
    return (page[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  add(id: number): void {
    const index = id >>> PAGE_BITS;
    let page = this.pages[index];
    if (page === undefined) {
      page = new Uint32Array(PAGE_IDS / 32);
      this.pages[index] = page;
    }
    const bit = id & PAGE_MASK;
    const word = bit >>> 5;
    const mask = 1 << (bit & 31);
    if ((page[word]! & mask) === 0) {
      page[word] = page[word]! | mask;
      this.count++;
    }
  }
}

const EMPTY = 0;

/** murmur3's finaliser over both halves: ids are dense and sequential, so raw bits would cluster. */
function mix(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
const MIN_CAPACITY = 1024;

/**
 * Set of (a, b) pairs of positive int32s: open addressing with linear probing over one
 * Int32Array holding both halves of each slot (0 marks an empty slot, which no valid id is).
 * 4.5 M related pairs take 64 MiB at most, whatever the id values.
 */
export class PairSet {
  private slots = new Int32Array(MIN_CAPACITY * 2);
  private mask = MIN_CAPACITY - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(a: number, b: number): boolean {
    return this.slots[this.find(a, b) * 2] !== EMPTY;
  }

  add(a: number, b: number): void {
    const slot = this.find(a, b);
    if (this.slots[slot * 2] !== EMPTY) return;
    this.slots[slot * 2] = a;
    this.slots[slot * 2 + 1] = b;
    this.count++;
    // Linear probing stays short up to three quarters full.
    if (this.count * 4 > this.mask * 3) this.grow();
  }

  /** The slot holding (a, b), or the empty slot where it would go. */
  private find(a: number, b: number): number {
    let slot = mix(a, b) & this.mask;
    for (;;) {
      const first = this.slots[slot * 2]!;
      if (first === EMPTY || (first === a && this.slots[slot * 2 + 1] === b)) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    this.mask = old.length - 1;
    for (let i = 0; i < old.length; i += 2) {
      const a = old[i]!;
      if (a === EMPTY) continue;
      const slot = this.find(a, old[i + 1]!);
      this.slots[slot * 2] = a;
      this.slots[slot * 2 + 1] = old[i + 1]!;
    }
  }
}
