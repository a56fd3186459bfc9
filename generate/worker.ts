/**
 * A worker thread of `generate()`: writes the files the main thread sends it, one at a time,
 * reporting its row count while it writes and the file's stats when done. `null` means no
 * more files.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CsvWriter, emptyStats, type Generation } from './files.js';
import type { FileName } from './shape.js';

export type WorkerMessage =
  | { readonly file: FileName; readonly rows: number }
  | { readonly file: FileName; readonly stats: { rows: number; dirt: Record<string, number> } };

const ROWS_REPORT_MS = 250;

const port = parentPort!;
const writer = new CsvWriter(workerData as Generation);

port.on('message', async (file: FileName | null) => {
  if (file === null) {
    port.close();
    return;
  }
  const stats = emptyStats(file);
  const reportRows = (): void => port.postMessage({ file, rows: stats.rows } satisfies WorkerMessage);
  const report = setInterval(reportRows, ROWS_REPORT_MS);
  try {
    await writer.write(file, stats);
  } finally {
    clearInterval(report);
  }
  port.postMessage({ file, stats } satisfies WorkerMessage);
});
