/**
 * Keeps one worker's cached bodies coherent with every change committed to the tables they are
 * built from, by any worker of any instance or by any other writer of the database (an inventory
 * feed, SQL typed by hand), and its whole cache with a re-ingest.
 *
 * The tables' triggers notify the products each committed statement changed, and which kinds of
 * their bodies (sql/queries/invalidation.ts), so PostgreSQL sends the notification exactly when
 * the change commits, to every listening connection at once; the ingest sends EVERYTHING_CHANGED
 * the same way. This worker keeps ONE dedicated LISTEN connection and drops those cached bodies
 * of those products on each notification, or every cached body on EVERYTHING_CHANGED. A writing
 * worker also drops them itself as soon as its write returns, then waits (at most
 * OWN_NOTIFICATION_WAIT_MS) until its own listener has received that write's notification before
 * answering: the other listeners were sent theirs at the same moment, which narrows the window in
 * which another worker could still answer from its old body.
 *
 * Notifications are not stored: whatever is sent while a listener is disconnected is lost to it.
 * So while the connection is down this worker neither reads nor fills the cache for the bodies
 * that API writes change (review lists, meta, Q&A: every read goes to the database), and each
 * reconnection clears the cache, so no body cached before it is served. Catalogue bodies are
 * still served from the cache meanwhile (server/reads.ts), which keeps a storefront's catalogue up
 * through a database outage; a catalogue change made during the disconnection shows once the
 * listener is back. A worker started while the database is down is in that state from the start,
 * and connects with the same backoff as after a loss: it need not die (and be respawned) for want
 * of a database. A connection that died silently is found by a heartbeat.
 */
import { Backoff } from '../lib/backoff.js';
import { errorMessage, type Log } from '../lib/log.js';
import { listen, type Listener } from '../sql/db/listen.js';
import {
  EVERYTHING_CHANGED,
  INVALIDATION_CHANNEL,
  parseInvalidation,
  PRODUCT_LISTS,
  type BodyKind,
  type Written,
} from '../sql/queries/invalidation.js';
import type { ResponseCache } from './cache.js';

/**
 * The wait normally ends within a millisecond or two, when the notification arrives; the bound
 * only matters when PostgreSQL's listening backends are starved of CPU (seen beyond 100 ms on a
 * 2-core machine at load 15), where answering early would let another worker serve an old body.
 */
export const OWN_NOTIFICATION_WAIT_MS = 1000;
const HEARTBEAT_MS = 5000;
/**
 * A writer may receive its own notification before its statement's result: the tokens of the
 * latest notifications are kept for it to find. Far more than can arrive in that instant.
 */
const RECENT_TOKENS = 1024;

export interface CoherenceOptions {
  readonly databaseUrl: string;
  readonly applicationName: string;
  readonly connectTimeoutMs: number;
}

export class CacheCoherence {
  private listener: Listener | undefined;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** The connection attempt under way, which close() waits for so that no connection outlives it. */
  private attempting: Promise<void> | undefined;
  /** An attempt failed or the connection was lost since the last success. */
  private interrupted = false;
  private readonly backoff = new Backoff({ initialMs: 100, maxMs: 5000, jitter: 0.2 });
  private readonly recentTokens = new Set<string>();
  private readonly waiters = new Map<string, (() => void)[]>();

  private constructor(
    private readonly cache: ResponseCache,
    private readonly options: CoherenceOptions,
    private readonly log: Log,
  ) {}

  /**
   * Resolves after the first attempt to LISTEN, whether or not it succeeded: when it failed, the
   * worker serves without the listener and attempts again with backoff until the database answers.
   */
  static async start(cache: ResponseCache, options: CoherenceOptions, log: Log): Promise<CacheCoherence> {
    const coherence = new CacheCoherence(cache, options, log);
    await coherence.attempt();
    return coherence;
  }

  /**
   * Whether notifications are being received: only then may bodies that writes change be served
   * from, or stored in, the cache (server/reads.ts).
   */
  get listening(): boolean {
    return this.listener !== undefined;
  }

  /**
   * Call once a write has committed, before answering it: drops this worker's bodies the write
   * changed, then waits (bounded) for this worker's listener to receive the write's notification.
   */
  async written({ productId, kinds, token }: Written): Promise<void> {
    this.invalidate(productId, kinds);
    if (token === null || this.listener === undefined || this.recentTokens.has(token)) return;
    // Every write of a batch (server/write-batcher.ts) carries its transaction's token.
    await new Promise<void>((resolve) => {
      const arrived = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const waiting = this.waiters.get(token);
        waiting?.splice(waiting.indexOf(arrived), 1);
        if (waiting?.length === 0) this.waiters.delete(token);
        resolve();
      }, OWN_NOTIFICATION_WAIT_MS);
      const waiting = this.waiters.get(token);
      if (waiting === undefined) this.waiters.set(token, [arrived]);
      else waiting.push(arrived);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.releaseWaiters();
    await this.attempting;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.close();
  }

  private connect(): Promise<Listener> {
    return listen({
      connectionString: this.options.databaseUrl,
      channel: INVALIDATION_CHANNEL,
      applicationName: this.options.applicationName,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      heartbeatMillis: HEARTBEAT_MS,
      onNotification: (payload) => this.received(payload),
      onLost: (err) => this.lost(err),
    });
  }

  private received(payload: string): void {
    const invalidation = parseInvalidation(payload);
    if (invalidation === undefined) {
      this.log.error('invalidation_payload_invalid', { payload });
      return;
    }
    if (invalidation === EVERYTHING_CHANGED) {
      this.cache.clear();
      return;
    }
    for (const productId of invalidation.productIds) this.invalidate(productId, invalidation.kinds);
    const waiting = this.waiters.get(invalidation.token);
    this.waiters.delete(invalidation.token);
    for (const arrived of waiting ?? []) arrived();
    this.recentTokens.add(invalidation.token);
    if (this.recentTokens.size > RECENT_TOKENS) this.recentTokens.delete(this.recentTokens.values().next().value!);
  }

  private invalidate(productId: number, kinds: readonly BodyKind[]): void {
    for (const kind of kinds) this.cache.invalidate(kind, productId);
    if (kinds.includes('product')) this.cache.invalidate(PRODUCT_LISTS, 0);
  }

  private lost(err: Error): void {
    this.listener = undefined;
    this.interrupted = true;
    // Nothing these writers wait for can arrive any more.
    this.releaseWaiters();
    if (this.closed) return;
    this.log.error('invalidation_listener_lost', { error: errorMessage(err) });
    this.scheduleReconnect();
  }

  private attempt(): Promise<void> {
    this.attempting = this.connect().then(
      (listener) => {
        if (this.closed) return listener.close().catch(() => undefined);
        // Anything sent while disconnected was lost: no body cached before now may be served.
        this.cache.clear();
        this.listener = listener;
        this.backoff.reset();
        if (this.interrupted) this.log.info('invalidation_listener_restored');
        this.interrupted = false;
      },
      (err: unknown) => {
        if (this.closed) return;
        this.interrupted = true;
        this.log.error('invalidation_listener_connect_failed', { error: errorMessage(err) });
        this.scheduleReconnect();
      },
    );
    return this.attempting;
  }

  private scheduleReconnect(): void {
    this.reconnectTimer = setTimeout(() => void this.attempt(), this.backoff.next());
  }

  private releaseWaiters(): void {
    for (const waiting of this.waiters.values()) for (const arrived of waiting) arrived();
    this.waiters.clear();
  }
}
