/**
 * Generates the 14 CSV files of the legacy Atelier export (atelier-data.md) at any scale, with
 * the real formats, a realistic shape and the real dirt at small, counted rates. Scale 1 is the
 * size of the real dataset (~70 M rows). Same seed and scale give byte-identical files.
 *
 * Files are written in parallel by worker threads (one per core), biggest first; each file's
 * content depends only on (seed, scale), never on which worker wrote it or when.
 *
 * DIR/manifest.json, written last, lists every file's rows and dirt counts plus {scale, seed}:
 * what an ingest of DIR must load, repair and reject.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { emptyStats, FILE_NAMES, FILES, type FileStats, type Generation } from './files.js';

export type { FileStats };
import { sampledMeter } from '../lib/progress.js';
import { REAL_ROWS, type FileName } from './shape.js';
import type { WorkerMessage } from './worker.js';

export interface GenerateOptions {
  scale: number;
  out: string;
  seed?: number;
  progress?: boolean;
}

export interface GenerateResult {
  /** Keyed by file name, e.g. 'photos.csv'. */
  files: Record<string, FileStats>;
  seconds: number;
}

export interface Manifest {
  scale: number;
  seed: number;
  files: Record<string, FileStats>;
}

export const DEFAULT_SEED = 20_180_101;
export const MANIFEST_FILE = 'manifest.json';
export { FILE_NAMES };

export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  const { scale, out, seed = DEFAULT_SEED, progress = false } = options;
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`scale must be a positive number, got ${scale}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const started = performance.now();
  await mkdir(out, { recursive: true });
  // A manifest left by an earlier run must not vouch for files this run is about to replace.
  await rm(path.join(out, MANIFEST_FILE), { force: true });

  // In FILE_NAMES order whatever order the workers finish in, so the manifest is deterministic.
  const files: Record<string, FileStats> = Object.fromEntries(FILE_NAMES.map((name) => [name, emptyStats(name)]));
  const rowsSoFar = new Map<FileName, number>();
  const writing = new Set<FileName>();
  const expectedRows = FILE_NAMES.reduce((sum, name) => sum + REAL_ROWS[name] * scale, 0);
  const reporter = progress
    ? sampledMeter('generate', expectedRows, () => {
        const rows = [...rowsSoFar.values()].reduce((sum, rows) => sum + rows, 0);
        return { done: rows, rows, label: [...writing].join(', ') };
      })
    : undefined;
  try {
    await writeInParallel(
      { seed, scale, out },
      {
        start(file) {
          writing.add(file);
        },
        rows(file, rows) {
          rowsSoFar.set(file, rows);
        },
        done(file, stats) {
          writing.delete(file);
          files[file] = stats;
          rowsSoFar.set(file, stats.rows);
        },
      },
    );
  } finally {
    reporter?.stop();
  }

  const manifest: Manifest = { scale, seed, files };
  await writeFile(path.join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return { files, seconds: (performance.now() - started) / 1000 };
}

interface WorkerEvents {
  start(file: FileName): void;
  rows(file: FileName, rows: number): void;
  done(file: FileName, stats: FileStats): void;
}

/** Hands the files out to one worker per core, biggest first; the first failure stops them all. */
function writeInParallel(generation: Generation, events: WorkerEvents): Promise<void> {
  const bytes = (name: FileName): number => REAL_ROWS[name] * FILES[name].bytesPerRow;
  const queue = [...FILE_NAMES].sort((a, b) => bytes(b) - bytes(a));
  const workers: Worker[] = [];
  return new Promise<void>((resolve, reject) => {
    let running = 0;
    let failed = false;
    const fail = (error: Error): void => {
      if (failed) return;
      failed = true;
      for (const worker of workers) void worker.terminate();
      reject(error);
    };
    for (let n = Math.min(os.availableParallelism(), queue.length); n > 0; n--) {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: generation });
      workers.push(worker);
      running++;
      const sendNext = (): void => {
        const file = queue.shift();
        if (file) events.start(file);
        worker.postMessage(file ?? null);
      };
      worker.on('message', (message: WorkerMessage) => {
        if ('stats' in message) {
          events.done(message.file, message.stats);
          sendNext();
        } else {
          events.rows(message.file, message.rows);
        }
      });
      worker.once('error', fail);
      worker.once('exit', (code) => {
        if (code !== 0) fail(new Error(`a generator worker stopped with exit code ${code}`));
        else if (--running === 0 && !failed) resolve();
      });
      sendNext();
    }
  });
}
