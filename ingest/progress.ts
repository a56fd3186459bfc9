/**
 * Progress of an ingest on stderr: one cli-progress bar per file on a terminal (ETA from the
 * bytes read against the file size), otherwise (CI, logs) a plain line every few seconds.
 */
import cliProgress from 'cli-progress';

export interface FileProgress {
  /** Bytes of the file consumed and rows read so far. */
  update(bytes: number, rows: number): void;
  stop(): void;
}

export interface Progress {
  file(name: string, sizeBytes: number): FileProgress;
  /** A one-line note about a phase (dropping indexes, committing…). */
  note(message: string): void;
}

const LINE_EVERY_MS = 5000;

const silentFile: FileProgress = { update: () => undefined, stop: () => undefined };
export const SILENT: Progress = { file: () => silentFile, note: () => undefined };

function rowsPerSecond(rows: number, startedMs: number): number {
  return Math.round(rows / Math.max(0.001, (performance.now() - startedMs) / 1000));
}

function barProgress(name: string, sizeBytes: number): FileProgress {
  const started = performance.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${name.padEnd(27)} [{bar}] {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.max(1, sizeBytes), 0, { rows: 0, rate: 0 });
  let lastRows = 0;
  return {
    update(bytes, rows) {
      lastRows = rows;
      bar.update(bytes, { rows, rate: rowsPerSecond(rows, started) });
    },
    stop() {
      bar.update(Math.max(1, sizeBytes), { rows: lastRows, rate: rowsPerSecond(lastRows, started) });
      bar.stop();
    },
  };
}

function lineProgress(name: string, sizeBytes: number): FileProgress {
  const started = performance.now();
  let lastLine = started;
  return {
    update(bytes, rows) {
      const now = performance.now();
      if (now - lastLine < LINE_EVERY_MS) return;
      lastLine = now;
      const fraction = sizeBytes > 0 ? bytes / sizeBytes : 1;
      const eta = fraction > 0 ? ((now - started) / 1000) * (1 / fraction - 1) : 0;
      process.stderr.write(
        `ingest: ${name} ${(fraction * 100).toFixed(0)}%, ${rows} rows, ${rowsPerSecond(rows, started)} rows/s, ETA ${eta.toFixed(0)}s\n`,
      );
    },
    stop: () => undefined,
  };
}

export function stderrProgress(): Progress {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  return {
    file: (name, sizeBytes) => (tty ? barProgress(name, sizeBytes) : lineProgress(name, sizeBytes)),
    // The elapsed time tells how long each phase took (index builds can take minutes).
    note: (message) =>
      process.stderr.write(`ingest [${((performance.now() - started) / 1000).toFixed(1)}s]: ${message}\n`),
  };
}
