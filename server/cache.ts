/**
 * The per-worker response cache: serialised bodies, each stored as its 200 reply with the ETag
 * computed when it was loaded (server/reply.ts tagged), keyed by route and parameters (never by
 * the URL: `/products/1` and `/products/1/` share one entry), bounded by
 * bytes and by age (config.cacheMaxBytes, config.cacheTtlMs), with concurrent misses for one
 * key coalesced into a single load. Only successful bodies are stored: a load that fails or
 * finds nothing is answered to every waiter and forgotten.
 *
 * Bodies the API can change are keyed by what a write invalidates: one kind of body of one product
 * (`<kind>:<productId>.<version>:<variant>`, e.g. the review lists of product 7), so a write drops
 * all of them, whatever their page/count/sort variants, in O(1) by bumping that version, and
 * nothing else: a helpful vote on a review leaves the product's meta, Q&A and catalogue bodies
 * cached. Bodies under the old version are unreachable from then on and leave through LRU eviction
 * or their TTL. Catalogue bodies (products, styles, related) are never written by the API and
 * carry no version.
 *
 * A body whose load says how to patch it (a PatchableBody: the review lists, server/review-lists.ts)
 * is patched by the changes that carry a patch instead of being dropped: patch() moves each such
 * body of the scope to the scope's next version, rewritten, so a load that started before the
 * change still cannot store what it read, exactly as after invalidate().
 *
 * A stored body of COMPRESSIBLE_BYTES or more gets its gzip and brotli representations
 * (server/compression.ts) once, the first time a client that accepts a coding asks for it
 * (TaggedReply.compressOnDemand); they then replace the identity entry under the same key, and the
 * byte bound counts all of them. Until then the body is stored as identity: a body that only
 * clients without Accept-Encoding read is never compressed, and a popular list that a write
 * refills or patches many times between two reads by browsers is compressed once per read, not
 * once per write (each compression costs milliseconds).
 */
import { LRUCache } from 'lru-cache';
import { compressed } from './compression.js';
import { ownedBytes, tagged, type TaggedReply } from './reply.js';

/** Milliseconds from an arbitrary origin, like performance.now(). */
export interface Clock {
  now(): number;
}

export interface CacheOptions {
  /** 0 disables storing (loads are still coalesced). */
  readonly maxBytes: number;
  /** 0 means bodies never expire by age. */
  readonly ttlMs: number;
  /** What bodies' ages and versions' ages are measured with; performance unless given (tests). */
  readonly clock?: Clock;
}

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  /** Misses that joined a load already running for the same key. */
  readonly coalesced: number;
  /** Loads actually started (database round trips). */
  readonly loads: number;
  readonly evictions: number;
  readonly entries: number;
  readonly bytes: number;
}

/** A change that carries a patch (sql/queries/invalidation.ts reviewListPatch), and its transaction. */
export interface Change {
  readonly token: string;
  readonly patch: string;
}

/** A body that can show a change without being read again. */
export interface PatchableBody {
  readonly body: Buffer;
  /** This body after `change`: itself when the change is not news to it, undefined when it cannot tell (it is dropped). */
  patched(change: Change): PatchableBody | undefined;
}

export type Loader = () => Promise<Buffer | PatchableBody | undefined>;

/** `<kind>:<productId>.<version>:<variant>`, as made by versionedKey. */
const VERSIONED_KEY = /^([a-z-]+:\d+)\.(\d+):/;

export class ResponseCache {
  private readonly entries: LRUCache<string, TaggedReply> | undefined;
  private readonly inFlight = new Map<string, Promise<TaggedReply | undefined>>();
  /**
   * Only invalidated (kind, product) pairs, keyed `<kind>:<productId>`, ordered by invalidation
   * time (re-inserted on every bump).
   */
  private readonly versions = new Map<string, { readonly version: number; readonly at: number }>();
  /** The patchable bodies stored under each scope's current version: scope → key → body. */
  private readonly patchable = new Map<string, Map<string, PatchableBody>>();
  /** Versions are never reused, so a key made before an invalidation never matches again. */
  private lastVersion = 0;
  private clears = 0;
  private readonly clearListeners: (() => void)[] = [];
  private readonly ttlMs: number;
  private readonly clock: Clock;
  private readonly counters = { hits: 0, misses: 0, coalesced: 0, loads: 0, evictions: 0 };

  constructor(options: CacheOptions) {
    this.ttlMs = options.ttlMs;
    this.clock = options.clock ?? performance;
    this.entries =
      options.maxBytes > 0
        ? new LRUCache<string, TaggedReply>({
            maxSize: options.maxBytes,
            sizeCalculation: storedBytes,
            perf: this.clock,
            ...(options.ttlMs > 0 ? { ttl: options.ttlMs } : {}),
            dispose: (_body, key, reason) => {
              if (reason === 'evict') this.counters.evictions += 1;
              // 'set' replaces a body by its compressed self under the same key.
              if (reason !== 'set') this.forgetPatchable(key);
            },
          })
        : undefined;
  }

  /**
   * The key of one variant (e.g. "relevant:1:5") of one kind of body (e.g. "review-lists") of a
   * product, which invalidate(kind, productId) makes unreachable.
   */
  versionedKey(kind: string, productId: number, variant: string): string {
    const scope = `${kind}:${productId}`;
    return `${scope}.${this.version(scope)}:${variant}`;
  }

  private version(scope: string): number {
    return this.versions.get(scope)?.version ?? 0;
  }

  /** False for a versioned key whose scope has been invalidated since the key was made. */
  private isCurrent(key: string): boolean {
    const versioned = VERSIONED_KEY.exec(key);
    return versioned === null || Number(versioned[2]) === this.version(versioned[1]!);
  }

  /** The stored reply, synchronously, so that a hit is answered within the request callback. */
  get(key: string): TaggedReply | undefined {
    const reply = this.entries?.get(key);
    if (reply === undefined) this.counters.misses += 1;
    else this.counters.hits += 1;
    return reply;
  }

  /** Runs `load` unless a load of `key` is already running, and stores the reply of a found body. */
  load(key: string, load: Loader): Promise<TaggedReply | undefined> {
    const running = this.inFlight.get(key);
    if (running) {
      this.counters.coalesced += 1;
      return running;
    }
    this.counters.loads += 1;
    const clearsAtStart = this.clears;
    // One reaction for both outcomes: a miss is answered one promise hop after its load
    // (docs/benchmarks.md § Worker CPU per miss).
    const loading = load().then(
      (found) => {
        this.inFlight.delete(key);
        if (found === undefined) return undefined;
        const body = Buffer.isBuffer(found) ? found : found.body;
        // A body that will not be stored is sent once, as it is (docs/api.md § Compression).
        if (!this.storable(key, clearsAtStart)) return tagged(body);
        const reply = this.compressedOnDemand(key, tagged(ownedBytes(body)), storedBytes);
        this.entries!.set(key, reply);
        if (!Buffer.isBuffer(found)) this.rememberPatchable(key, found);
        return reply;
      },
      (err: unknown) => {
        this.inFlight.delete(key);
        throw err;
      },
    );
    this.inFlight.set(key, loading);
    return loading;
  }

  /**
   * A body read while its scope was invalidated may predate the write; storing it under its (now
   * old) key is harmless until that key's version is forgotten, so it is not stored at all. Other
   * scopes' invalidations do not matter to it. (A compression made later replaces the entry only
   * if it is still there: compressedOnDemand.)
   */
  private storable(key: string, clearsAtStart: number): boolean {
    return this.entries !== undefined && this.isCurrent(key) && clearsAtStart === this.clears;
  }

  /** Drops every stored body, and keeps loads already running from storing theirs. */
  clear(): void {
    this.clears += 1;
    this.entries?.clear();
    this.patchable.clear();
    for (const listener of this.clearListeners) listener();
  }

  /** Runs `listener` on every clear(): for what a worker learnt from the data alongside its bodies. */
  onClear(listener: () => void): void {
    this.clearListeners.push(listener);
  }

  /** Makes every cached body of this kind of the product unreachable (see the module comment). */
  invalidate(kind: string, productId: number): void {
    const scope = `${kind}:${productId}`;
    this.bump(scope);
    for (const key of this.takePatchable(scope).keys()) this.entries?.delete(key);
  }

  /**
   * Like invalidate, but each patchable body of the scope is kept, patched with `change`, under
   * the new version (unless it cannot say what the change did to it).
   */
  patch(kind: string, productId: number, change: Change): void {
    const scope = `${kind}:${productId}`;
    const versioned = this.bump(scope);
    for (const [key, body] of this.takePatchable(scope)) {
      const stored = this.entries?.peek(key);
      this.entries?.delete(key);
      const patched = stored === undefined ? undefined : body.patched(change);
      if (patched === undefined) continue;
      const patchedKey = versioned + key.slice(key.indexOf(':', scope.length + 1) + 1);
      // A body not compressed yet is compressed, when asked, under its new key.
      const reply =
        patched !== body
          ? this.compressedOnDemand(patchedKey, tagged(patched.body), patchedSize)
          : stored!.compressOnDemand === undefined
            ? stored!
            : this.compressedOnDemand(patchedKey, stored!, patchedSize);
      this.entries!.set(patchedKey, reply, { size: patchedSize(reply) });
      this.rememberPatchable(patchedKey, patched);
    }
  }

  /** Gives the scope a version never used before, and returns its key prefix. */
  private bump(scope: string): string {
    const now = this.clock.now();
    this.versions.delete(scope);
    this.versions.set(scope, { version: ++this.lastVersion, at: now });
    this.forgetExpiredVersions(now);
    return `${scope}.${this.lastVersion}:`;
  }

  /** The scope's patchable bodies, which are under its previous version now, no longer remembered. */
  private takePatchable(scope: string): ReadonlyMap<string, PatchableBody> {
    const bodies = this.patchable.get(scope) ?? new Map<string, PatchableBody>();
    this.patchable.delete(scope);
    return bodies;
  }

  private rememberPatchable(key: string, body: PatchableBody): void {
    const scope = VERSIONED_KEY.exec(key)?.[1];
    if (scope === undefined) return;
    const bodies = this.patchable.get(scope) ?? new Map<string, PatchableBody>();
    this.patchable.set(scope, bodies);
    bodies.set(key, body);
  }

  private forgetPatchable(key: string): void {
    const scope = VERSIONED_KEY.exec(key)?.[1];
    if (scope !== undefined) this.patchable.get(scope)?.delete(key);
  }

  /**
   * `identity`, stored under `key` without its compressed representations, which the first
   * client that accepts one sets going; they replace it under the same key (counted by `size`) if
   * it is still there. A compression that fails leaves the identity entry as it is.
   */
  private compressedOnDemand(key: string, identity: TaggedReply, size: (reply: TaggedReply) => number): TaggedReply {
    if (!identity.variesByEncoding) return identity;
    let compressing: Promise<TaggedReply> | undefined;
    const reply: TaggedReply = Object.freeze({
      ...identity,
      compressOnDemand: () => {
        compressing ??= compressed(identity).then(
          (full) => {
            if (this.entries?.peek(key) === reply) {
              this.entries.set(key, full, { noUpdateTTL: true, size: size(full) });
            }
            return full;
          },
          () => identity,
        );
        return compressing;
      },
    });
    return reply;
  }

  stats(): CacheStats {
    return {
      ...this.counters,
      entries: this.entries?.size ?? 0,
      bytes: this.entries?.calculatedSize ?? 0,
    };
  }

  /**
   * A version older than the TTL guards nothing: every body stored under an earlier version was
   * stored before that bump (load() does not store across one) and has expired. Dropping it
   * sends the scope back to version 0, which is safe because versions are never reused.
   * Twice the TTL leaves room for lru-cache's coarse clock. Without a TTL the map keeps one
   * small entry per invalidated scope.
   */
  private forgetExpiredVersions(now: number): void {
    if (this.ttlMs === 0) return;
    for (const [scope, { at }] of this.versions) {
      if (now - at <= 2 * this.ttlMs) return;
      this.versions.delete(scope);
    }
  }
}

/**
 * A patched body also holds the list it was spliced from (server/review-lists.ts): its text and
 * items, about twice the body again, which the byte bound counts too.
 */
function patchedSize(reply: TaggedReply): number {
  return storedBytes(reply) + 2 * reply.body.length;
}

/** What an entry holds: its identity body and every compressed one. */
function storedBytes(reply: TaggedReply): number {
  let bytes = reply.body.length;
  for (const representation of Object.values(reply.encoded ?? {})) bytes += representation.body.length;
  return bytes;
}
