/**
 * Progress of a generation on stderr: a cli-progress bar on a terminal, otherwise (CI, logs) a
 * plain line every few seconds. It samples the row counters the file writers update, so the
 * writers themselves never wait on it.
 */
import cliProgress from 'cli-progress';

export interface ProgressReporter {
  /** The writer moved on to `name`; `stats.rows` grows as it writes. */
  file(name: string, stats: { rows: number }): void;
  stop(): void;
}

const BAR_REFRESH_MS = 250;
const LINE_EVERY_MS = 5000;

export function startProgress(expectedRows: number): ProgressReporter {
  const started = performance.now();
  let finishedRows = 0;
  let currentName = '';
  let current: { rows: number } = { rows: 0 };
  const done = (): number => finishedRows + current.rows;
  const rate = (): number => Math.round(done() / Math.max(0.001, (performance.now() - started) / 1000));

  const total = Math.max(1, Math.round(expectedRows));
  let render: () => void;
  let finish: () => void;
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: 'generate [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted} | {file}',
      hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { rate: 0, file: '' });
    // The real total differs from the expected one by a little: never let the bar overflow.
    render = () => bar.update(Math.min(done(), total), { rate: rate(), file: currentName });
    finish = () => {
      bar.update(total, { rate: rate(), file: 'done' });
      bar.stop();
    };
  } else {
    let lastLine = started;
    render = () => {
      const now = performance.now();
      if (now - lastLine < LINE_EVERY_MS) return;
      lastLine = now;
      const percent = Math.min(100, (100 * done()) / total).toFixed(0);
      process.stderr.write(`generate: ${done()} of ~${total} rows (${percent}%), ${rate()} rows/s, writing ${currentName}\n`);
    };
    finish = () => undefined;
  }
  const timer = setInterval(render, BAR_REFRESH_MS);
  return {
    file(name, stats) {
      finishedRows += current.rows;
      currentName = name;
      current = stats;
      render();
    },
    stop() {
      clearInterval(timer);
      finish();
    },
  };
}
