/**
 * Progress of a generation on stderr: a cli-progress bar on a terminal, otherwise (CI, logs) a
 * plain line every few seconds. It samples counters kept by the caller, so writers never wait
 * on it.
 */
import cliProgress from 'cli-progress';

export interface ProgressSample {
  /** Rows written so far, all files together. */
  readonly rows: number;
  /** What is being written now. */
  readonly label: string;
}

export interface ProgressReporter {
  stop(): void;
}

const BAR_REFRESH_MS = 250;
const LINE_EVERY_MS = 5000;

export function startProgress(expectedRows: number, sample: () => ProgressSample): ProgressReporter {
  const started = performance.now();
  const total = Math.max(1, Math.round(expectedRows));
  const rate = (rows: number): number => Math.round(rows / Math.max(0.001, (performance.now() - started) / 1000));

  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: 'generate [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted} | {label}',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: 0, label: '' });
    const timer = setInterval(() => {
      const { rows, label } = sample();
      // The real total differs a little from the expected one: never let the bar overflow.
      bar.update(Math.min(rows, total), { rate: rate(rows), label });
    }, BAR_REFRESH_MS);
    return {
      stop() {
        clearInterval(timer);
        bar.update(total, { rate: rate(sample().rows), label: 'done' });
        bar.stop();
      },
    };
  }

  const timer = setInterval(() => {
    const { rows, label } = sample();
    const percent = Math.min(100, (100 * rows) / total).toFixed(0);
    process.stderr.write(`generate: ${rows} of ~${total} rows (${percent}%), ${rate(rows)} rows/s, writing ${label}\n`);
  }, LINE_EVERY_MS);
  return {
    stop() {
      clearInterval(timer);
    },
  };
}
