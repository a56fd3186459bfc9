/**
 * The one read path: every cached route answers through CachedReads.reply, whatever the kind of
 * body. A hit is answered synchronously from the stored bytes; a miss loads (coalesced with
 * concurrent misses of the key) and answers `whenMissing` if the load found nothing.
 *
 * The scope says what may change the body, and so how it is keyed (server/cache.ts): one kind of
 * body of one product, keyed under that product's current version for the kind, which every
 * committed change of it bumps (server/invalidation.ts).
 * - Catalogue bodies (product detail, styles, related, the list pages) are served from the cache
 *   even while this worker's listener is down: the API never writes them, and a database outage
 *   should not take the catalogue with it. The reconnection clears the cache.
 * - The bodies API writes change (review lists, meta, Q&A) are served from and stored in the
 *   cache only while this worker receives invalidations and holds its acknowledgement lease
 *   (server/acknowledgements.ts); otherwise every read goes to the database, so a storefront
 *   reads its own write whichever worker answers. A body whose product
 *   is not known before it is read (an answers list, addressed by its question) has no key yet:
 *   it is read from the database uncached.
 *
 * A miss reads from the pool `source` gives for the body's domain and the WAL position its scope
 * needs (server/read-positions.ts): a replica that has replayed every change this worker was told
 * of for the scope, or the primary.
 */
import type { Pool } from '../sql/db/pool.js';
import type { WalPosition } from '../sql/db/wal.js';
import { PRODUCT_LISTS, type BodyKind } from '../sql/queries/invalidation.js';
import type { Domain } from './admission.js';
import type { Loader, PatchableBody, ResponseCache } from './cache.js';
import { ERRORS } from './errors.js';
import type { CacheCoherence } from './invalidation.js';
import {
  type BatchRead,
  MissBatcher,
  type MissBatchingOptions,
  type PagedBatchRead,
  type Paging,
  PagedMissBatcher,
} from './miss-batcher.js';
import { tagged, type Reply } from './reply.js';

export type CacheKind = BodyKind | typeof PRODUCT_LISTS;

/** One kind of body of one product, which that product's changes of the kind invalidate. */
export interface ReadScope {
  readonly kind: CacheKind;
  /** undefined while the product is unknown: the body is read, not cached. */
  readonly productId: number | undefined;
}

/** The scope of every product list page. */
export const PRODUCT_LIST_PAGES: ReadScope = Object.freeze({ kind: PRODUCT_LISTS, productId: 0 });

const CATALOGUE_KINDS: ReadonlySet<CacheKind> = new Set<CacheKind>(['product', 'styles', 'related', PRODUCT_LISTS]);

const DOMAIN_OF: Readonly<Record<CacheKind, Domain>> = {
  product: 'catalogue',
  styles: 'catalogue',
  related: 'catalogue',
  [PRODUCT_LISTS]: 'catalogue',
  'review-lists': 'reviews',
  'review-meta': 'reviews',
  qa: 'qa',
};

/**
 * Loads a missed body with the pool it is given; undefined when the thing it shows does not
 * exist. A body that knows how to show a later change is patched by it instead of dropped
 * (server/cache.ts).
 */
export type ReadLoader = (pool: Pool) => Promise<Buffer | PatchableBody | undefined>;

/** A miss that joins its route's batch (server/miss-batcher.ts) instead of running its own statement. */
export interface BatchedLoad {
  readonly batcher: MissBatcher;
  readonly key: number;
}

/** The pool a read of `domain` runs on that must see every change committed up to `position` (undefined: the newest). */
export type ReadSource = (domain: Domain, position: WalPosition | undefined) => Pool;

export class CachedReads {
  constructor(
    private readonly cache: ResponseCache,
    private readonly coherence: CacheCoherence,
    private readonly source: ReadSource,
  ) {}

  /** The reply for the body `variant` (e.g. "newest:1:5") of `scope`, loaded by `load` on a miss. */
  reply(
    scope: ReadScope,
    variant: string,
    load: ReadLoader | BatchedLoad,
    whenMissing: Reply = ERRORS.unknownId,
  ): Reply | Promise<Reply> {
    // The position is read when the load starts, with the invalidations received by then.
    const fill = () => {
      const position = this.coherence.readPosition(scope.kind, scope.productId);
      return typeof load === 'function'
        ? load(this.source(DOMAIN_OF[scope.kind], position))
        : load.batcher.load(load.key, position);
    };
    if (scope.productId === undefined || !(this.coherence.servesWriteAffected || CATALOGUE_KINDS.has(scope.kind))) {
      return answer(fill(), whenMissing);
    }
    return this.cached(this.cache.versionedKey(scope.kind, scope.productId, variant), fill, whenMissing);
  }

  /** A batcher for the misses of one route whose bodies are of `kind`: each batch runs on that kind's domain. */
  batcher(kind: CacheKind, read: BatchRead, options?: MissBatchingOptions): MissBatcher {
    return new MissBatcher(read, (position) => this.source(DOMAIN_OF[kind], position), options);
  }

  /** batcher for a paged route: misses share a statement with misses of the same variant (page, count, …). */
  pagedBatcher<V = Paging>(
    kind: CacheKind,
    read: PagedBatchRead<V>,
    options?: MissBatchingOptions,
  ): PagedMissBatcher<V> {
    return new PagedMissBatcher(read, (position) => this.source(DOMAIN_OF[kind], position), options);
  }

  /**
   * Runs `listener` whenever this worker's cache is cleared (a re-ingest committed, or the listener
   * reconnected after notifications may have been lost): for what a route learnt from the data
   * alongside its bodies.
   */
  onCacheCleared(listener: () => void): void {
    this.cache.onClear(listener);
  }

  private cached(key: string, load: Loader, whenMissing: Reply): Reply | Promise<Reply> {
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    return this.cache.load(key, load).then((reply) => reply ?? whenMissing);
  }
}

/**
 * A body read uncached still carries its ETag, computed for this response: a client revalidates
 * the same way whichever worker, cached or not, answers it.
 */
function answer(loading: ReturnType<Loader>, whenMissing: Reply): Promise<Reply> {
  return loading.then((found) => {
    if (found === undefined) return whenMissing;
    return tagged(Buffer.isBuffer(found) ? found : found.body);
  });
}
