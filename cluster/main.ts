/**
 * `npm start`: the primary. Claims its port (one instance per port: cluster/port-claim.ts),
 * resolves the database (DATABASE_URL, or the embedded server under DATA_DIR), migrates it,
 * seeds it on first start, then keeps the workers up until SIGTERM or SIGINT (drain, then stop
 * the database) and replaces them on SIGHUP. A database that is unavailable at start does not
 * stop it: the workers are forked anyway and serve 503s while the migrations and the seed are
 * retried in the background (cluster/prepare.ts).
 */
import { resolveDatabase } from '../sql/bootstrap.js';
import { ConfigError, loadConfig, type Config } from '../lib/config.js';
import { createLog, errorMessage } from '../lib/log.js';
import { claimListenPorts, PortInUseError } from './port-claim.js';
import { CrashLoopError, Supervisor } from './primary.js';
import { enableRequestMigration } from './request-migration.js';
import { prepareWhenAvailable, tryPrepareDatabase } from './prepare.js';

const log = createLog('primary');
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

class StopRequested extends Error {}

async function serve(config: Config): Promise<number> {
  log.info('starting', {
    address: config.listenAddress,
    port: config.port,
    worker_ports: config.workerPorts,
    workers: config.workers,
    cache_max_bytes: config.cacheMaxBytes,
    database: config.databaseUrl === undefined ? `embedded in ${config.dataDir}` : 'DATABASE_URL',
  });
  try {
    await claimListenPorts(config);
  } catch (err) {
    if (!(err instanceof PortInUseError)) throw err;
    log.error('port_in_use', { error: err.message });
    return 1;
  }
  const database = await resolveDatabase(config);

  let supervisor: Supervisor | undefined;
  let stopSignal: string | undefined;
  const stopRequested = new Promise<never>((_, reject) => {
    for (const signal of STOP_SIGNALS) {
      process.on(signal, () => {
        if (stopSignal) return log.info('already_stopping', { signal });
        stopSignal = signal;
        log.info('stopping', { signal });
        reject(new StopRequested(signal));
      });
    }
  });
  stopRequested.catch(() => undefined);
  process.on('SIGHUP', () => {
    if (supervisor) supervisor.reload();
    else log.info('reload_ignored', { reason: 'still starting' });
  });

  const startup = async (): Promise<{ running: Supervisor; prepared: Promise<unknown> }> => {
    const preparedAtStart = await tryPrepareDatabase(config, database.url, log);
    if (stopSignal) throw new StopRequested(stopSignal);
    await enableRequestMigration(log);
    const running = new Supervisor({
      workers: config.workers,
      env: { DATABASE_URL: database.url },
      drainTimeoutMs: config.drainTimeoutMs,
      log,
      databasePrepared: preparedAtStart,
    });
    supervisor = running;
    await running.start();
    log.info('cluster_ready', {
      port: config.port,
      workers: running.readyPids().join(','),
      database: preparedAtStart ? 'prepared' : 'unavailable',
    });
    // Rejects (exit 1) only for a failure that retrying cannot mend, such as a changed migration.
    const prepared = preparedAtStart
      ? Promise.resolve()
      : prepareWhenAvailable(config, database.url, log, () => stopSignal !== undefined).then((done) => {
          if (!done) return;
          running.databasePrepared();
          log.info('database_prepared');
        });
    return { running, prepared };
  };

  try {
    const { running, prepared } = await Promise.race([startup(), stopRequested]);
    await Promise.race([running.failed, prepared.then(() => stopRequested), stopRequested]);
    return 0;
  } catch (err) {
    if (err instanceof StopRequested) return 0;
    log.error(err instanceof CrashLoopError ? 'crash_loop' : 'startup_failed', { error: errorMessage(err) });
    return 1;
  } finally {
    await supervisor?.stop();
    await database.stop();
    log.info('stopped');
  }
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error('config_invalid', { error: err.message });
    return 1;
  }
  return serve(config);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log.error('startup_failed', { error: errorMessage(err) });
    process.exit(1);
  },
);
