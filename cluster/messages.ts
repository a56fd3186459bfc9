/**
 * The IPC protocol between the primary and its workers.
 *
 * GET /metrics answers for the whole instance: the worker that receives it sends
 * `metrics_request`; the primary sends `metrics_collect` to every ready worker, sums their
 * `metrics_snapshot`s with its own metrics and answers `metrics_text` to the asking worker.
 *
 * A worker starting asks `database_state` before it listens; the primary answers whether the
 * database is prepared (migrated, and seeded on a first start). A worker told `prepared: false`
 * answers GET /ready and every data route 503 until a later `database_state` says it is: the
 * primary sends that to every worker that has asked, once its preparation in the background
 * succeeds. One channel delivers in order, so no worker misses the change.
 */
import type { MetricsSnapshot } from '../server/metrics.js';

export type WorkerMessage =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'database_state_request' }
  | { readonly type: 'metrics_request'; readonly id: number }
  | { readonly type: 'metrics_snapshot'; readonly id: number; readonly metrics: MetricsSnapshot };

export type PrimaryMessage =
  | { readonly type: 'drain' }
  | { readonly type: 'database_state'; readonly prepared: boolean }
  | { readonly type: 'metrics_collect'; readonly id: number }
  | { readonly type: 'metrics_text'; readonly id: number; readonly text: string };

/** How long the primary waits for a worker's snapshot; one that is late is left out of the sum. */
export const METRICS_COLLECT_TIMEOUT_MS = 1000;

/** How long a worker waits for the primary's sum: the collection, plus room for the summing. */
export const METRICS_ANSWER_TIMEOUT_MS = 2 * METRICS_COLLECT_TIMEOUT_MS;

/** Questions sent over IPC whose answers are matched to them by id. */
export class PendingAnswers<Answer> {
  private lastId = 0;
  private readonly waiting = new Map<number, (answer: Answer | undefined) => void>();

  constructor(private readonly timeoutMs: number) {}

  /** A new id to send the question under, and its answer: undefined if none came in time. */
  open(): { readonly id: number; readonly answer: Promise<Answer | undefined> } {
    const id = ++this.lastId;
    const answer = new Promise<Answer | undefined>((resolve) => {
      const timer = setTimeout(() => this.settle(id, undefined), this.timeoutMs);
      this.waiting.set(id, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
    return { id, answer };
  }

  /** Answers question `id`; a late or unknown id is ignored. */
  settle(id: number, answer: Answer | undefined): void {
    const resolve = this.waiting.get(id);
    this.waiting.delete(id);
    resolve?.(answer);
  }
}
