/**
 * One serving process. It reports `ready` to the primary once its server listens, whether or not
 * the database answers (without it, GET /ready and data routes answer 503 until it returns: see
 * server/app.ts), and drains on the primary's `drain` (or on a signal of its own) before exiting.
 * GET /metrics goes through the primary, which sums every worker's metrics. Before it listens it
 * asks the primary whether the database is prepared (cluster/messages.ts); until it is, the
 * worker answers GET /ready and data routes 503.
 */
import type { RunningServer } from '../server/app.js';
import { listenPort, loadConfig } from '../lib/config.js';
import { createLog, errorMessage } from '../lib/log.js';
import { METRICS_ANSWER_TIMEOUT_MS, PendingAnswers, type PrimaryMessage, type WorkerMessage } from './messages.js';

const log = createLog('worker');
const metricsAnswers = new PendingAnswers<string>(METRICS_ANSWER_TIMEOUT_MS);

/** `onError` hears of a message that could not be sent (the primary is gone). */
function tell(message: WorkerMessage, onError: (err: Error) => void): void {
  process.send?.(message, (err: Error | null) => {
    if (err) onError(err);
  });
}

/** The whole instance's metrics text, as the primary sums it. */
async function instanceMetrics(): Promise<string> {
  const { id, answer } = metricsAnswers.open();
  tell({ type: 'metrics_request', id }, () => metricsAnswers.settle(id, undefined));
  const text = await answer;
  if (text === undefined)
    throw new Error(`the primary did not answer with the instance metrics within ${METRICS_ANSWER_TIMEOUT_MS} ms`);
  return text;
}

let answerDatabaseState: (prepared: boolean) => void = () => undefined;
/** The primary's first answer: whether the database was prepared when this worker started. */
const databaseStateAnswered = new Promise<boolean>((resolve) => {
  answerDatabaseState = resolve;
});
let markDatabasePrepared: () => void = () => undefined;
const databasePrepared = new Promise<void>((resolve) => {
  markDatabasePrepared = resolve;
});

function databaseState(prepared: boolean): void {
  answerDatabaseState(prepared);
  if (prepared) markDatabasePrepared();
}

async function start(): Promise<RunningServer> {
  const config = loadConfig();
  // server/uws.ts throws at import time when the native binary is missing; a dynamic import turns
  // that into a logged start-up failure the primary can count, instead of a bare stack trace.
  const { startServer } = await import('../server/app.js');
  // Asked before listening, so that no request reaches a worker of a prepared database as "not prepared".
  const prepared = await databaseStateAnswered;
  return startServer(config, {
    port: listenPort(config),
    instanceMetrics,
    ...(prepared ? {} : { databasePrepared }),
  });
}

const starting = start();
let draining = false;

async function drain(reason: string): Promise<void> {
  if (draining) return;
  draining = true;
  log.info('worker_draining', { reason });
  const server = await starting.catch(() => undefined);
  try {
    await server?.close();
  } catch (err) {
    log.error('worker_drain_failed', { error: errorMessage(err) });
    process.exit(1);
  }
  log.info('worker_drained');
  process.exit(0);
}

async function sendMetricsSnapshot(id: number): Promise<void> {
  const server = await starting;
  tell({ type: 'metrics_snapshot', id, metrics: await server.metricsSnapshot() }, (err) => {
    log.error('metrics_snapshot_unsent', { error: err.message });
  });
}

process.on('message', (message: PrimaryMessage) => {
  switch (message.type) {
    case 'drain':
      return void drain('primary');
    case 'metrics_collect':
      // Unanswered, this worker is left out of the sum once the primary stops waiting for it.
      return void sendMetricsSnapshot(message.id).catch((err: unknown) => {
        log.error('metrics_snapshot_failed', { error: errorMessage(err) });
      });
    case 'metrics_text':
      return metricsAnswers.settle(message.id, message.text);
    case 'database_state':
      return databaseState(message.prepared);
  }
});
// Without the primary's answer the worker cannot start: the primary kills it when it is not ready in time.
tell({ type: 'database_state_request' }, (err) => {
  log.error('database_state_unasked', { error: err.message });
});
// A terminal's Ctrl-C and systemd's default KillMode signal every process of the group, not
// only the primary: finish in-flight requests rather than dying mid-response.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void drain(signal));

starting.then(
  (server) => {
    if (draining) return;
    log.info('worker_listening', { port: server.port });
    const ready: WorkerMessage = { type: 'ready', port: server.port };
    process.send?.(ready);
  },
  (err: unknown) => {
    log.error('worker_start_failed', { error: errorMessage(err) });
    process.exit(1);
  },
);
