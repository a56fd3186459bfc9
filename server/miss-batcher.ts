/**
 * DataLoader-style misses: concurrent misses of one route for different keys share one
 * statement (`… WHERE pr.id = ANY($1)`, one body per key found), so PostgreSQL parses, plans
 * and answers one query instead of one per key, and the worker writes and reads one round trip.
 *
 * It is the group-commit queue of server/write-batcher.ts with no delay: the first miss of an idle
 * route leaves at the end of the event-loop turn it arrived in (with whatever arrived in that
 * turn); misses that arrive while every batch slot of the route is busy wait for one to free up
 * and leave together, so batches grow with the load and add no wait of their own.
 *
 * A batch runs on a pool that satisfies every one of its misses: the primary if any needs the
 * newest data, else the furthest WAL position any needs (server/read-positions.ts). A batch that
 * fails rejects its own misses only; a key the batch did not find is a miss without a body (the
 * route's 404).
 *
 * A paged route's misses share a statement only with misses of the same variant (page and count,
 * and whatever else its statement is asked for, e.g. a sort): one batcher per variant, made on
 * first use, the most recently used PAGE_VARIANTS kept.
 *
 * A batch read gives each key found its body's text, or a body already made (a PatchableBody,
 * server/cache.ts: a review list carries the snapshot its batch was read in).
 */
import { LRUCache } from 'lru-cache';
import type { Pool } from '../sql/db/pool.js';
import type { WalPosition } from '../sql/db/wal.js';
import type { PatchableBody } from './cache.js';
import { WriteBatcher } from './write-batcher.js';

export interface MissBatchingOptions {
  /** Keys per statement, at most. */
  readonly maxKeys: number;
  /** Statements of the route running at once per worker. */
  readonly maxConcurrentBatches: number;
}

/**
 * Measured with `npm run bench -- --quick --runs 3 --scenarios uncached` (scale 0.01, 2 workers,
 * c64): GET /products/:id reached 0.55 × pgbench with one batch in flight per route, 0.71–0.82
 * with two, 0.70 with four, which also take a whole domain's default admission limit.
 */
export const MISS_BATCHING: MissBatchingOptions = Object.freeze({ maxKeys: 100, maxConcurrentBatches: 2 });

/** Key → body, for the keys found: its text, or a body that can be patched. */
export type BatchBodies = ReadonlyMap<number, string | PatchableBody>;

/** The bodies of those of `keys` that exist, read with `pool` in one statement. */
export type BatchRead = (pool: Pool, keys: readonly number[]) => Promise<BatchBodies>;

/** The page and count per page a paged route's miss asks for. */
export interface Paging {
  readonly page: number;
  readonly count: number;
}

/** The bodies of one variant (e.g. one page) of each of `keys` that exists, in one statement. */
export type PagedBatchRead<V = Paging> = (pool: Pool, keys: readonly number[], variant: V) => Promise<BatchBodies>;

/**
 * Variants of a paged route that keep a batcher: a storefront asks for a few (the first page at
 * its own count, in a sort or two); a batcher forgotten with misses in flight still answers them.
 */
export const PAGE_VARIANTS = 32;

/** The pool that has every change committed up to `position` (undefined: the newest). */
export type PositionedPool = (position: WalPosition | undefined) => Pool;

interface Miss {
  readonly key: number;
  readonly position: WalPosition | undefined;
}

export class MissBatcher {
  private readonly queue: WriteBatcher<Miss, Buffer | PatchableBody | undefined>;

  constructor(read: BatchRead, pool: PositionedPool, options: MissBatchingOptions = MISS_BATCHING) {
    this.queue = new WriteBatcher<Miss, Buffer | PatchableBody | undefined>(
      async (misses) => {
        // An uncached read is not coalesced (server/reads.ts): the same key may come twice.
        const keys = [...new Set(misses.map((miss) => miss.key))];
        const bodies = await read(pool(positionForAll(misses)), keys);
        return misses.map(({ key }) => {
          const body = bodies.get(key);
          // Into the pool: the cache copies out the bodies it keeps (ownedBytes).
          return typeof body === 'string' ? Buffer.from(body) : body;
        });
      },
      { maxItems: options.maxKeys, maxDelayMs: 0, maxConcurrentFlushes: options.maxConcurrentBatches },
    );
  }

  /** The body of `key` read at `position` or later, or undefined when it does not exist. */
  load(key: number, position: WalPosition | undefined): Promise<Buffer | PatchableBody | undefined> {
    return this.queue.add({ key, position });
  }
}

/** undefined (the newest) if any miss needs it, else the furthest position any needs. */
export function positionForAll(
  misses: readonly { readonly position: WalPosition | undefined }[],
): WalPosition | undefined {
  let furthest = 0;
  for (const { position } of misses) {
    if (position === undefined) return undefined;
    if (position > furthest) furthest = position;
  }
  return furthest;
}

/** A MissBatcher per variant (by default, per page and count) of one paged route. */
export class PagedMissBatcher<V = Paging> {
  private readonly variants = new LRUCache<string, MissBatcher>({ max: PAGE_VARIANTS });

  constructor(
    private readonly read: PagedBatchRead<V>,
    private readonly pool: PositionedPool,
    private readonly options: MissBatchingOptions = MISS_BATCHING,
  ) {}

  /** The batcher of misses of `variant`, which `name` names: equal names for equal variants only. */
  page(name: string, variant: V): MissBatcher {
    let batcher = this.variants.get(name);
    if (batcher === undefined) {
      batcher = new MissBatcher((pool, keys) => this.read(pool, keys, variant), this.pool, this.options);
      this.variants.set(name, batcher);
    }
    return batcher;
  }
}
