/**
 * Group commit for one worker's small, frequent writes (clicks, helpful votes, new reviews, questions
 * and answers): items become one statement, one transaction and one WAL flush per batch instead of
 * one each. That matters most for writes that NOTIFY, because PostgreSQL serialises every notifying
 * commit, WAL flush included, on one database-wide lock: one vote per commit caps the whole
 * database at one vote per flush.
 *
 * A batch leaves when it holds `maxItems` items or when its first item has waited `maxDelayMs`
 * (0: at the end of the current event-loop turn, so only items that arrived together share it),
 * with at most `maxConcurrentFlushes` statements running so the rest of the pool stays free for
 * reads. Items that arrive while every flush slot is busy leave as soon as one frees up, so under
 * load batches grow by themselves and add no delay of their own.
 *
 * Durability: add() resolves only once the item's batch has COMMITTED, so a 201/204 sent then
 * means stored: a crash after it loses nothing. A batch that fails rejects every item in it, so
 * nothing acknowledged is missing and nothing refused is stored. close() stops taking items and
 * resolves once every item already taken is committed or refused; the server calls it after
 * draining requests and before ending the pool.
 *
 * The same queue, undelayed, batches concurrent cache misses of a route (server/miss-batcher.ts).
 */

export interface WriteBatcherOptions {
  readonly maxItems: number;
  readonly maxDelayMs: number;
  readonly maxConcurrentFlushes: number;
}

/** A click waits up to 5 ms for company: nobody waits on a beacon's answer. */
export const CLICK_BATCHING: WriteBatcherOptions = Object.freeze({
  maxItems: 500,
  maxDelayMs: 5,
  maxConcurrentFlushes: 2,
});

/**
 * A vote waits for no one when the database is idle; one statement at a time, because notifying
 * commits are serialised by PostgreSQL anyway.
 */
export const VOTE_BATCHING: WriteBatcherOptions = Object.freeze({
  maxItems: 500,
  maxDelayMs: 0,
  maxConcurrentFlushes: 1,
});

/**
 * A question or answer is waited on by its poster, so it too waits for no one when the database
 * is idle, and one statement at a time for the same reason as votes. At most 100 per statement:
 * an answer can carry 5 photo URLs of 2 KiB, so 100 keep the statement's parameter near 1 MiB
 * and its transaction short, while 100 posts per commit already take the commit lock off the
 * critical path (at 1 ms a flush, 100,000 posts/s).
 */
export const QA_CREATE_BATCHING: WriteBatcherOptions = Object.freeze({
  maxItems: 100,
  maxDelayMs: 0,
  maxConcurrentFlushes: 1,
});

/**
 * A new review is batched as a question is, for the same reasons. A review is the heaviest post
 * (5 photo URLs of 2 KiB, a 1,000-character body, its ratings), so 100 keep the parameter under
 * 1.5 MiB; each review still sends its own notification with its patch (up to 7,000 bytes), so a
 * full batch notifies at most about 700 KB, which every listener reads in one go.
 */
export const REVIEW_CREATE_BATCHING: WriteBatcherOptions = Object.freeze({
  maxItems: 100,
  maxDelayMs: 0,
  maxConcurrentFlushes: 1,
});

/**
 * Writes a batch in one transaction and returns one result per item, in the items' order, or
 * rejects having written none of it.
 */
export type WriteBatch<Item, Result> = (items: readonly Item[]) => Promise<readonly Result[]>;

/** The server answers it 503, like a database that is down: the item was not taken. */
export class WriteBatcherClosed extends Error {
  override readonly name = 'WriteBatcherClosed';

  constructor() {
    super('the write batcher is closed');
  }
}

interface Pending<Item, Result> {
  readonly item: Item;
  readonly done: (result: Result) => void;
  readonly failed: (err: unknown) => void;
}

export class WriteBatcher<Item, Result> {
  private pending: Pending<Item, Result>[] = [];
  private scheduled: { cancel(): void } | undefined;
  private flushing = 0;
  private closed = false;
  private onIdle: (() => void) | undefined;

  constructor(
    private readonly write: WriteBatch<Item, Result>,
    private readonly options: WriteBatcherOptions,
  ) {}

  /**
   * Resolves with the item's result once its batch is committed; rejects with the batch's error,
   * or with WriteBatcherClosed once close() was called (a request that outlived the drain).
   */
  add(item: Item): Promise<Result> {
    if (this.closed) return Promise.reject(new WriteBatcherClosed());
    return new Promise<Result>((done, failed) => {
      this.pending.push({ item, done, failed });
      if (this.pending.length >= this.options.maxItems) this.flush();
      else this.scheduled ??= this.schedule();
    });
  }

  /** Stops taking items; resolves when every item taken so far is committed or refused. */
  close(): Promise<void> {
    this.closed = true;
    this.flush();
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      this.onIdle = resolve;
    });
  }

  private schedule(): { cancel(): void } {
    if (this.options.maxDelayMs > 0) {
      const timer = setTimeout(() => this.flush(), this.options.maxDelayMs);
      return { cancel: () => clearTimeout(timer) };
    }
    const immediate = setImmediate(() => this.flush());
    return { cancel: () => clearImmediate(immediate) };
  }

  private flush(): void {
    this.scheduled?.cancel();
    this.scheduled = undefined;
    while (this.pending.length > 0 && this.flushing < this.options.maxConcurrentFlushes) {
      const batch = this.pending.splice(0, this.options.maxItems);
      this.flushing += 1;
      this.write(batch.map((entry) => entry.item))
        .then(
          (results) => {
            for (let index = 0; index < batch.length; index++) batch[index]!.done(results[index]!);
          },
          (err: unknown) => {
            for (const entry of batch) entry.failed(err);
          },
        )
        .finally(() => {
          this.flushing -= 1;
          // Whatever waits goes now rather than at its timer: items that found every slot busy
          // have already waited a whole statement.
          if (this.pending.length > 0) this.flush();
          else if (this.isIdle()) this.onIdle?.();
        });
    }
  }

  private isIdle(): boolean {
    return this.pending.length === 0 && this.flushing === 0;
  }
}
