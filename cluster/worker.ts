/**
 * One serving process. It reports `ready` to the primary once its server listens and reached
 * the database, and drains on the primary's `drain` (or on a signal of its own) before exiting.
 */
import type { RunningServer } from '../server/app.js';
import { listenPort, loadConfig } from '../server/config.js';
import { createLog, errorMessage } from './log.js';
import type { PrimaryMessage, WorkerMessage } from './messages.js';

const log = createLog('worker');

async function start(): Promise<RunningServer> {
  const config = loadConfig();
  // server/uws.ts throws at import time when the native binary is missing; a dynamic import turns
  // that into a logged start-up failure the primary can count, instead of a bare stack trace.
  const { startServer } = await import('../server/app.js');
  return startServer(config, { port: listenPort(config) });
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

process.on('message', (message: PrimaryMessage) => {
  if (message.type === 'drain') void drain('primary');
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
