/**
 * How far a replica must have replayed before it may fill a given scope's body: read-your-write
 * through replicas (docs/operations.md § Read replicas), GitLab's "sticking by WAL location"
 * kept per scope.
 *
 * Each acknowledgement this worker's listener commits (server/invalidation.ts) also reads the
 * primary's WAL insert position L, which is past the commit of every change whose invalidation the
 * listener had received when it sent it. So a scope whose last invalidation went out with that
 * acknowledgement needs a replica at L or later; a scope invalidated since (not yet acknowledged)
 * needs the newest data, the primary; a scope not invalidated since the listener connected needs
 * only the position of the first acknowledgement (`floor`), which is past everything committed
 * before the listener began receiving. A writer answers only after this worker acknowledged its
 * write, so by then the scope carries a position that holds the write.
 *
 * Keeping a position per scope, rather than one "latest" for all, is what lets a lagging replica
 * serve the scopes nobody wrote lately: GitLab's bug was the opposite, one location for every read.
 */
import type { WalPosition } from '../sql/db/wal.js';

/** The scopes invalidated since the last acknowledgement was sent, as that acknowledgement carries them. */
export interface Sent {
  readonly scopes: readonly string[];
  readonly everything: boolean;
}

/** Scopes remembered with their own position; older ones fold into the floor. */
const REMEMBERED_SCOPES = 100_000;

export class ReadPositions {
  /** Past every change committed before the listener connected; undefined until the first acknowledgement. */
  private floor: WalPosition | undefined;
  /** The position the last acknowledgement read. */
  private latest: WalPosition | undefined;
  /** Scope → the position its last acknowledged invalidation needs, oldest first. */
  private readonly positions = new Map<string, WalPosition>();
  private unsent = new Set<string>();
  private everythingUnsent = false;
  /** Scope → acknowledgements carrying it not yet committed (unsent counts as one). */
  private readonly pending = new Map<string, number>();
  private everythingPending = 0;

  constructor(private readonly remembered = REMEMBERED_SCOPES) {}

  /** A new stream: nothing is known until the first acknowledgement is committed. */
  reset(): void {
    this.floor = undefined;
    this.latest = undefined;
    this.positions.clear();
    this.unsent.clear();
    this.everythingUnsent = false;
    this.pending.clear();
    this.everythingPending = 0;
  }

  /** An invalidation of `scope` was received (or made by this worker's own write). */
  changed(scope: string): void {
    if (this.unsent.has(scope)) return;
    this.unsent.add(scope);
    this.pending.set(scope, (this.pending.get(scope) ?? 0) + 1);
  }

  /** Any scope may have changed (a re-ingest). */
  everythingChanged(): void {
    if (this.everythingUnsent) return;
    this.everythingUnsent = true;
    this.everythingPending += 1;
  }

  /** An acknowledgement is being sent: it carries what was invalidated since the previous one. */
  sending(): Sent {
    const sent = { scopes: [...this.unsent], everything: this.everythingUnsent };
    this.unsent = new Set();
    this.everythingUnsent = false;
    return sent;
  }

  /** The acknowledgement carrying `sent` was committed; the primary's insert position was `position`. */
  committed(sent: Sent, position: WalPosition): void {
    this.latest = position;
    this.floor ??= position;
    if (sent.everything) {
      this.everythingPending -= 1;
      this.positions.clear();
      this.floor = position;
    }
    for (const scope of sent.scopes) {
      const count = this.pending.get(scope)! - 1;
      if (count === 0) this.pending.delete(scope);
      else this.pending.set(scope, count);
      // Deleted first so that the map stays in ascending order of position.
      this.positions.delete(scope);
      this.positions.set(scope, position);
    }
    while (this.positions.size > this.remembered) {
      const [oldest, at] = this.positions.entries().next().value!;
      this.positions.delete(oldest);
      this.floor = Math.max(this.floor, at);
    }
  }

  /**
   * The position a replica must have replayed to fill `scope`; undefined when only the primary
   * will do. A body whose scope is not known before it is read (undefined) needs everything
   * acknowledged so far, and the primary while anything is unacknowledged.
   */
  position(scope: string | undefined): WalPosition | undefined {
    if (this.floor === undefined || this.everythingPending > 0) return undefined;
    if (scope === undefined) return this.pending.size > 0 ? undefined : this.latest;
    if (this.pending.has(scope)) return undefined;
    return this.positions.get(scope) ?? this.floor;
  }
}
