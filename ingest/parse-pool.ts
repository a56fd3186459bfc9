/**
 * Worker threads that parse chunks of a CSV file in parallel. csv-parser runs on one core at a
 * few tens of MB/s, slower than PostgreSQL's COPY, so the ingest spreads the parsing over the
 * cores while the main thread only checks ids and feeds COPY, in file order.
 */
import { Worker } from 'node:worker_threads';
import type { ChunkResult } from './chunk-parser.js';

export interface ParseRequest {
  seq: number;
  table: string;
  headers: readonly string[];
  /** Whole lines, each ending with a newline, alone in their ArrayBuffer (it is transferred). */
  chunk: Uint8Array;
}

export type ParseReply = { seq: number; result: ChunkResult } | { seq: number; error: string };

interface Pending {
  resolve(result: ChunkResult): void;
  reject(err: Error): void;
}

const WORKER_URL = new URL('./parse-worker.js', import.meta.url);

export class ParsePool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextSeq = 0;
  private failure: Error | undefined;

  constructor(size: number) {
    this.workers = Array.from({ length: size }, () => {
      // Not the parent's flags: under a test runner they load its instrumentation into every
      // worker, which costs seconds per pool.
      const worker = new Worker(WORKER_URL, { execArgv: [] });
      worker.on('message', (reply: ParseReply) => this.settle(reply));
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => this.fail(new Error(`a parse worker exited with code ${code}`)));
      return worker;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Parses `chunk` on the next worker in turn. The chunk's memory moves to the worker (the
   * caller's view is left empty) and comes back as the result's `input`: copies would cost each
   * thread tens of megabytes of garbage waiting for collection.
   */
  parse(table: string, headers: readonly string[], chunk: Uint8Array): Promise<ChunkResult> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.nextSeq++;
    const request: ParseRequest = { seq, table, headers, chunk };
    return new Promise<ChunkResult>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.workers[seq % this.workers.length]!.postMessage(request, [chunk.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the parse pool is closed');
    for (const worker of this.workers) worker.removeAllListeners('exit');
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private settle(reply: ParseReply): void {
    const pending = this.pending.get(reply.seq);
    if (!pending) return;
    this.pending.delete(reply.seq);
    if ('error' in reply) pending.reject(new Error(`parse worker failed: ${reply.error}`));
    else pending.resolve(reply.result);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
  }
}
