/**
 * Progress of a long job (generating or loading the catalogue) on stderr: a cli-progress bar on a
 * terminal, otherwise (CI, logs, the journal) a plain line every few seconds. stdout stays free
 * for the job's result.
 */
import cliProgress from 'cli-progress';

/** One task measured in units of its own (bytes read, rows written) that also counts rows. */
export interface Meter {
  /** `done` of the task's total units so far, `rows` rows, `label` what is being worked on. */
  update(done: number, rows: number, label?: string): void;
  stop(): void;
}

const BAR_REFRESH_MS = 250;
const LINE_EVERY_MS = 5000;

function rowsPerSecond(rows: number, startedMs: number): number {
  return Math.round(rows / Math.max(0.001, (performance.now() - startedMs) / 1000));
}

function barMeter(title: string, total: number): Meter {
  const started = performance.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${title} [{bar}] {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted}{label}`,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rows: 0, rate: 0, label: '' });
  let lastRows = 0;
  return {
    update(done, rows, label) {
      lastRows = rows;
      // A total that was only an estimate may be passed: never let the bar overflow.
      bar.update(Math.min(done, total), {
        rows,
        rate: rowsPerSecond(rows, started),
        label: label ? ` | ${label}` : '',
      });
    },
    stop() {
      bar.update(total, { rows: lastRows, rate: rowsPerSecond(lastRows, started), label: '' });
      bar.stop();
    },
  };
}

function lineMeter(title: string, total: number): Meter {
  const started = performance.now();
  let lastLine = started;
  return {
    update(done, rows, label) {
      const now = performance.now();
      if (now - lastLine < LINE_EVERY_MS) return;
      lastLine = now;
      const fraction = Math.min(1, done / total);
      const eta = fraction > 0 ? ((now - started) / 1000) * (1 / fraction - 1) : 0;
      process.stderr.write(
        `${title} ${(fraction * 100).toFixed(0)}%, ${rows} rows, ${rowsPerSecond(rows, started)} rows/s, ` +
          `ETA ${eta.toFixed(0)}s${label ? `, ${label}` : ''}\n`,
      );
    },
    stop: () => undefined,
  };
}

/** A meter on stderr for a task of `total` units (at least 1, so that percentages stay defined). */
export function stderrMeter(title: string, total: number): Meter {
  const units = Math.max(1, Math.round(total));
  return process.stderr.isTTY === true ? barMeter(title, units) : lineMeter(title, units);
}

export interface Sample {
  readonly done: number;
  readonly rows: number;
  readonly label: string;
}

/**
 * A meter fed by sampling counters the caller keeps (e.g. from worker threads) every 250 ms, so
 * that the workers never wait on it. stop() records a last sample.
 */
export function sampledMeter(title: string, total: number, sample: () => Sample): { stop(): void } {
  const meter = stderrMeter(title, total);
  const record = (): void => {
    const { done, rows, label } = sample();
    meter.update(done, rows, label);
  };
  const timer = setInterval(record, BAR_REFRESH_MS);
  return {
    stop() {
      clearInterval(timer);
      record();
      meter.stop();
    },
  };
}

/** A job of several files, each with its own meter, and notes about the phases between them. */
export interface Progress {
  file(name: string, sizeBytes: number): Meter;
  /** A one-line note about a phase (dropping indexes, committing…). */
  note(message: string): void;
}

const silentMeter: Meter = { update: () => undefined, stop: () => undefined };
export const SILENT: Progress = { file: () => silentMeter, note: () => undefined };

/** `job` names the lines: `ingest: reviews.csv 42%, …`, `ingest [12.3s]: committing`. */
export function stderrProgress(job: string): Progress {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  return {
    // File names line up under each other on a terminal.
    file: (name, sizeBytes) => stderrMeter(tty ? name.padEnd(27) : `${job}: ${name}`, sizeBytes),
    // The elapsed time tells how long each phase took (index builds can take minutes).
    note: (message) =>
      process.stderr.write(`${job} [${((performance.now() - started) / 1000).toFixed(1)}s]: ${message}\n`),
  };
}
