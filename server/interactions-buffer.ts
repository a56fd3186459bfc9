/**
 * Batches one worker's POST /interactions rows into multi-row INSERTs: a batch leaves when it
 * holds `maxRows` rows or when its first row has waited `maxDelayMs`, whichever comes first,
 * with at most `maxConcurrentFlushes` INSERTs running so the rest of the pool stays free for
 * reads. Rows that arrive while every flush slot is busy leave as soon as one frees up.
 *
 * Durability: add() resolves only once the row's batch has COMMITTED, and the route answers 201
 * only then, so "201" literally means "stored": a crash after it loses nothing, a clean
 * shutdown has nothing acknowledged left to save. The price is a few milliseconds of latency on
 * a fire-and-forget beacon. A batch that fails rejects every row in it (the route answers 503),
 * so nothing that was acknowledged is missing and nothing that was refused is stored.
 * close() stops taking rows and resolves once every row already taken is committed or refused;
 * the server calls it after draining requests and before ending the pool.
 */
import type { Interaction } from '../sql/queries/interactions.js';

export interface InteractionsBufferOptions {
  readonly maxRows: number;
  readonly maxDelayMs: number;
  readonly maxConcurrentFlushes: number;
}

export const DEFAULT_BUFFER_OPTIONS: InteractionsBufferOptions = Object.freeze({
  maxRows: 500,
  maxDelayMs: 5,
  maxConcurrentFlushes: 2,
});

/** Stores a batch in one transaction, or rejects having stored none of it. */
export type InsertBatch = (rows: readonly Interaction[]) => Promise<void>;

interface Pending {
  readonly row: Interaction;
  readonly stored: () => void;
  readonly failed: (err: unknown) => void;
}

export class InteractionsBuffer {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing = 0;
  private closed = false;
  private onIdle: (() => void) | undefined;

  constructor(
    private readonly insert: InsertBatch,
    private readonly options: InteractionsBufferOptions = DEFAULT_BUFFER_OPTIONS,
  ) {}

  /** False once close() was called: a route must refuse the row instead of adding it. */
  get accepting(): boolean {
    return !this.closed;
  }

  /** Resolves once the row is committed; rejects with the batch's error if its INSERT failed. */
  add(row: Interaction): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the interactions buffer is closed'));
    return new Promise<void>((stored, failed) => {
      this.pending.push({ row, stored, failed });
      if (this.pending.length >= this.options.maxRows) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxDelayMs);
    });
  }

  /** Stops taking rows; resolves when every row taken so far is committed or refused. */
  close(): Promise<void> {
    this.closed = true;
    this.flush();
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      this.onIdle = resolve;
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.pending.length > 0 && this.flushing < this.options.maxConcurrentFlushes) {
      const batch = this.pending.splice(0, this.options.maxRows);
      this.flushing += 1;
      this.insert(batch.map((entry) => entry.row))
        .then(
          () => batch.forEach((entry) => entry.stored()),
          (err: unknown) => batch.forEach((entry) => entry.failed(err)),
        )
        .finally(() => {
          this.flushing -= 1;
          // Whatever waits goes now rather than at its timer: rows that found every slot busy
          // have already waited a whole INSERT.
          if (this.pending.length > 0) this.flush();
          else if (this.isIdle()) this.onIdle?.();
        });
    }
  }

  private isIdle(): boolean {
    return this.pending.length === 0 && this.flushing === 0;
  }
}
