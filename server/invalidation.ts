/**
 * Keeps one worker's cached bodies coherent with every change committed to the tables they are
 * built from, by any worker of any instance or by any other writer of the database (an inventory
 * feed, SQL typed by hand), and its whole cache with a re-ingest.
 *
 * The tables' triggers notify the products each committed statement changed, and which kinds of
 * their bodies (sql/queries/invalidation.ts), so PostgreSQL sends the notification exactly when
 * the change commits, to every listening connection at once; the ingest sends EVERYTHING_CHANGED
 * the same way. This worker keeps ONE dedicated LISTEN connection and drops those cached bodies
 * of those products on each notification, or every cached body on EVERYTHING_CHANGED.
 *
 * No stale read after a write is answered: each listener acknowledges on ACK_CHANNEL the last
 * invalidation it applied (after every burst, and every ACK_HEARTBEAT_MS), and a writing worker,
 * having dropped its own bodies as soon as its write returns, answers only once every live
 * listener of every instance has acknowledged the write's invalidation — or has gone silent for a
 * lease, by which time that listener has stopped serving write-affected bodies from its cache
 * (server/acknowledgements.ts has the argument).
 *
 * Notifications are not stored: whatever is sent while a listener is disconnected is lost to it.
 * So while the connection is down, or its lease has run out, this worker neither reads nor fills
 * the cache for the bodies that API writes change (review lists, meta, Q&A: every read goes to the database), and each
 * reconnection clears the cache, so no body cached before it is served. Catalogue bodies are
 * still served from the cache meanwhile (server/reads.ts), which keeps a storefront's catalogue up
 * through a database outage; a catalogue change made during the disconnection shows once the
 * listener is back. A worker started while the database is down is in that state from the start,
 * and connects with the same backoff as after a loss: it need not die (and be respawned) for want
 * of a database. A connection that died silently is found by a heartbeat.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Backoff } from '../lib/backoff.js';
import { errorMessage, type Log } from '../lib/log.js';
import { listen, type Listener } from '../sql/db/listen.js';
import {
  ACK_CHANNEL,
  EVERYTHING_CHANGED,
  INVALIDATION_CHANNEL,
  parseInvalidation,
  PRODUCT_LISTS,
  type BodyKind,
  type Written,
} from '../sql/queries/invalidation.js';
import type { WalPosition } from '../sql/db/wal.js';
import { ACK_HEARTBEAT_MS, Acknowledgements } from './acknowledgements.js';
import type { Change, ResponseCache } from './cache.js';
import { ReadPositions } from './read-positions.js';

const HEARTBEAT_MS = 5000;

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
  private readonly acks = new Acknowledgements(`${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`);
  private readonly positions = new ReadPositions();
  private ackHeartbeat: NodeJS.Timeout | undefined;
  private ackInFlight = false;
  /** Something was applied while an acknowledgement was in flight: send another after it. */
  private ackPending = false;
  private ackScheduled = false;
  private lastCappedLogAt = Number.NEGATIVE_INFINITY;

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
   * Whether bodies that writes change may be served from, or stored in, the cache
   * (server/reads.ts): only while notifications are being received and this worker holds its
   * acknowledgement lease (server/acknowledgements.ts), so that no writer has stopped waiting for it.
   */
  get servesWriteAffected(): boolean {
    return this.listener !== undefined && this.acks.holdsLease();
  }

  /**
   * How far a replica must have replayed to fill the body of `kind` of `productId` (undefined:
   * a body whose product is not known before it is read), or undefined when only the primary
   * will do: while this worker may not serve such bodies from its cache, it reads them fresh.
   */
  readPosition(kind: string, productId: number | undefined): WalPosition | undefined {
    if (!this.servesWriteAffected) return undefined;
    return this.positions.position(productId === undefined ? undefined : scopeKey(kind, productId));
  }

  /** Peers (other workers' listeners, of any instance) counted as live now: for /metrics and tests. */
  livePeers(): number {
    return this.acks.livePeers();
  }

  /**
   * Call once a write has committed, before answering it: drops this worker's bodies the write
   * changed, then waits until every live listener of every instance has applied the write's
   * invalidation, or has stopped counting as live (at most one lease after its last word).
   */
  async written({ productId, kinds, token, patch }: Written): Promise<void> {
    this.invalidate(productId, kinds, token !== null && patch !== undefined ? { token, patch } : undefined);
    if (token === null || this.listener === undefined) return;
    // Every write of a batch (server/write-batcher.ts) carries its transaction's token.
    const complete = await this.acks.reached(token);
    if (!complete && this.listener !== undefined && performance.now() - this.lastCappedLogAt > 1000) {
      this.lastCappedLogAt = performance.now();
      this.log.error('invalidation_wait_capped', { token, live_peers: this.acks.livePeers() });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.ackHeartbeat);
    this.acks.releaseAll();
    await this.attempting;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.close();
  }

  private connect(): Promise<Listener> {
    return listen({
      connectionString: this.options.databaseUrl,
      channels: [INVALIDATION_CHANNEL, ACK_CHANNEL],
      applicationName: this.options.applicationName,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      heartbeatMillis: HEARTBEAT_MS,
      onNotification: (channel, payload) =>
        channel === ACK_CHANNEL ? this.peerAcknowledged(payload) : this.received(payload),
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
      this.positions.everythingChanged();
      this.scheduleAcknowledgement();
      return;
    }
    const { token, patch } = invalidation;
    const change = patch === undefined ? undefined : { token, patch };
    for (const productId of invalidation.productIds) this.invalidate(productId, invalidation.kinds, change);
    this.acks.applied(invalidation.token);
    this.scheduleAcknowledgement();
  }

  private peerAcknowledged(payload: string): void {
    if (!this.acks.peerAcknowledged(payload)) this.log.error('acknowledgement_payload_invalid', { payload });
  }

  /** One acknowledgement per turn of the event loop however many invalidations it applied. */
  private scheduleAcknowledgement(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      this.acknowledge();
    });
  }

  /**
   * Sends the last applied token on the ack channel, one at a time; the lease it earns runs from
   * the moment it was sent, and the WAL position it reads is what replicas must have replayed to
   * fill the scopes it covers (server/read-positions.ts). A failure loses the LISTEN connection
   * (sql/db/listen.ts).
   */
  private acknowledge(): void {
    const listener = this.listener;
    if (listener === undefined) return;
    if (this.ackInFlight) {
      this.ackPending = true;
      return;
    }
    this.ackInFlight = true;
    const issuedAt = performance.now();
    const sent = this.positions.sending();
    listener
      .notify(ACK_CHANNEL, this.acks.acknowledgement())
      .then(
        (position) => {
          if (this.listener !== listener) return;
          this.acks.acknowledged(issuedAt);
          this.positions.committed(sent, position);
        },
        () => undefined,
      )
      .finally(() => {
        this.ackInFlight = false;
        if (this.ackPending) {
          this.ackPending = false;
          this.acknowledge();
        }
      });
  }

  /** With a `change` that carries a patch, the product's cached review lists are patched, not dropped. */
  private invalidate(productId: number, kinds: readonly BodyKind[], change?: Change): void {
    for (const kind of kinds) this.changed(kind, productId, kind === 'review-lists' ? change : undefined);
    if (kinds.includes('product')) this.changed(PRODUCT_LISTS, 0);
  }

  private changed(kind: string, productId: number, change?: Change): void {
    if (change === undefined) this.cache.invalidate(kind, productId);
    else this.cache.patch(kind, productId, change);
    this.positions.changed(scopeKey(kind, productId));
  }

  private lost(err: Error): void {
    this.listener = undefined;
    this.interrupted = true;
    this.positions.reset();
    clearInterval(this.ackHeartbeat);
    // Nothing these writers wait for can arrive any more.
    this.acks.releaseAll();
    if (this.closed) return;
    this.log.error('invalidation_listener_lost', { error: errorMessage(err) });
    this.scheduleReconnect();
  }

  private attempt(): Promise<void> {
    this.attempting = this.connect().then(
      (listener) => {
        if (this.closed) return listener.close().catch(() => undefined);
        // Anything sent while disconnected was lost: no body cached before now may be served.
        this.acks.restart();
        this.positions.reset();
        this.cache.clear();
        this.listener = listener;
        this.acknowledge();
        this.ackHeartbeat = setInterval(() => this.acknowledge(), ACK_HEARTBEAT_MS);
        this.ackHeartbeat.unref();
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
}

function scopeKey(kind: string, productId: number): string {
  return `${kind} ${productId}`;
}
