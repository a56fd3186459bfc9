/**
 * Who has seen which invalidation: the bookkeeping that lets a writer answer only once no worker
 * of any instance can still serve a body its write changed (server/invalidation.ts does the I/O).
 *
 * Every listener receives the database's notifications in one order, the commit order, so a
 * position in this worker's own stream names a point in everyone's. Each listener acknowledges,
 * on the ack channel, the token of the last invalidation it has applied: after every burst of
 * invalidations and every heartbeat. A peer is live while its last acknowledgement is younger
 * than the lease. A write whose invalidation sits at position p is visible everywhere once every
 * live peer has acknowledged a token at p or later — or has stopped being live, which a peer that
 * stops acknowledging (dead, frozen, cut off) does within the lease.
 *
 * The other half of the bargain is the peer's: it serves bodies that writes change from its cache
 * only while it holds a lease of its own, renewed by each acknowledgement it gets committed and
 * ending LEASE_MARGIN_MS before a writer's view of it does (a writer counts from receipt, later
 * than the peer's sending). A peer whose lease ran out reads from the database until its next
 * acknowledgement, by which time it has applied every invalidation committed before it.
 *
 * A writer can only count peers it has heard from: for one lease after its listener connects it
 * has not heard from every live one, so its writes wait until then.
 */

export interface AckClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

const REAL_CLOCK: AckClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** How long an acknowledgement vouches for its sender. */
export const LEASE_MS = 1000;
/** A listener's own lease ends this much before writers stop counting it: room for clock drift. */
export const LEASE_MARGIN_MS = 100;
/** How often a listener acknowledges when nothing happens: a lease is renewed four times over. */
export const ACK_HEARTBEAT_MS = 250;
/**
 * How long a write may wait at most. Only a peer that keeps acknowledging without ever reaching
 * the write could hold it this long (it reads the stream in order, so it cannot for long).
 */
export const WAIT_CAP_MS = 5 * LEASE_MS;
/** Tokens whose position is kept: acknowledgements name tokens applied milliseconds ago. */
const REMEMBERED_TOKENS = 8192;

interface Peer {
  /** The highest position of this worker's stream the peer has acknowledged. */
  acked: number;
  /** When, by this worker's clock, the peer stops counting as live. */
  liveUntil: number;
}

interface Waiter {
  readonly token: string;
  readonly resolve: (complete: boolean) => void;
  timer: unknown;
  readonly giveUpAt: number;
}

export class Acknowledgements {
  private position = 0;
  private readonly positions = new Map<string, number>();
  private readonly peers = new Map<string, Peer>();
  private lastToken: string | undefined;
  /** Until then this worker may not have heard from every live peer. */
  private membershipKnownAt: number;
  private leaseUntil = Number.NEGATIVE_INFINITY;
  private readonly waiters = new Set<Waiter>();

  constructor(
    readonly selfId: string,
    private readonly clock: AckClock = REAL_CLOCK,
  ) {
    this.membershipKnownAt = clock.now() + LEASE_MS;
  }

  /** A new stream (the listener connected): positions and peers start over, and so does membership. */
  restart(): void {
    this.position = 0;
    this.positions.clear();
    this.peers.clear();
    this.lastToken = undefined;
    this.leaseUntil = Number.NEGATIVE_INFINITY;
    this.membershipKnownAt = this.clock.now() + LEASE_MS;
    this.check();
  }

  /** This worker applied the invalidation carrying `token`. */
  applied(token: string): void {
    this.position += 1;
    this.positions.set(token, this.position);
    if (this.positions.size > REMEMBERED_TOKENS) this.positions.delete(this.positions.keys().next().value!);
    this.lastToken = token;
    this.check();
  }

  /** What this worker's next acknowledgement says: the last token it applied ('-' for none yet). */
  acknowledgement(): string {
    return `${this.selfId} ${this.lastToken ?? '-'}`;
  }

  /** An acknowledgement sent `issuedAt` was committed: this worker's lease runs from then. */
  acknowledged(issuedAt: number): void {
    this.leaseUntil = Math.max(this.leaseUntil, issuedAt + LEASE_MS - LEASE_MARGIN_MS);
  }

  /** Whether this worker may serve bodies that writes change from its cache. */
  holdsLease(): boolean {
    return this.clock.now() < this.leaseUntil;
  }

  /** A peer's acknowledgement arrived on the stream (`payload` as made by acknowledgement()). */
  peerAcknowledged(payload: string): boolean {
    const match = /^(\S+) (\S+)$/.exec(payload);
    if (!match) return false;
    const [, id, token] = match as unknown as [string, string, string];
    if (id === this.selfId) return true;
    const peer = this.peers.get(id) ?? { acked: 0, liveUntil: 0 };
    peer.acked = Math.max(peer.acked, this.positions.get(token) ?? 0);
    peer.liveUntil = this.clock.now() + LEASE_MS;
    this.peers.set(id, peer);
    this.check();
    return true;
  }

  /** The peers counted as live now. */
  livePeers(): number {
    const now = this.clock.now();
    let live = 0;
    for (const peer of this.peers.values()) if (peer.liveUntil > now) live += 1;
    return live;
  }

  /**
   * Resolves once the invalidation carrying `token` has reached this worker and every live peer
   * (true), or after WAIT_CAP_MS (false).
   */
  reached(token: string): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter: Waiter = { token, resolve, timer: undefined, giveUpAt: this.clock.now() + WAIT_CAP_MS };
      this.waiters.add(waiter);
      this.check();
    });
  }

  /** Resolves every waiter at once (false): the stream ended, nothing more can arrive. */
  releaseAll(): void {
    for (const waiter of this.waiters) this.settle(waiter, false);
  }

  private check(): void {
    for (const waiter of this.waiters) this.checkOne(waiter);
  }

  private checkOne(waiter: Waiter): void {
    const now = this.clock.now();
    if (now >= waiter.giveUpAt) {
      this.settle(waiter, false);
      return;
    }
    const target = this.positions.get(waiter.token);
    // The next moment something can change without a message: a blocking peer's lease ends, or
    // membership becomes known. Messages call check() themselves.
    let wakeAt = waiter.giveUpAt;
    let blocked = target === undefined;
    if (now < this.membershipKnownAt) {
      blocked = true;
      wakeAt = Math.min(wakeAt, this.membershipKnownAt);
    }
    if (target !== undefined) {
      for (const peer of this.peers.values()) {
        if (peer.liveUntil > now && peer.acked < target) {
          blocked = true;
          wakeAt = Math.min(wakeAt, peer.liveUntil);
        }
      }
    }
    if (!blocked) {
      this.settle(waiter, true);
      return;
    }
    this.clock.clearTimeout(waiter.timer);
    waiter.timer = this.clock.setTimeout(() => this.checkOne(waiter), Math.max(1, wakeAt - now));
  }

  private settle(waiter: Waiter, complete: boolean): void {
    this.clock.clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
    waiter.resolve(complete);
  }
}
