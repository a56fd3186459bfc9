import { setTimeout as delay } from 'node:timers/promises';
import { createLog, errorMessage } from '../lib/log.js';
import { Admission } from './admission.js';
import { createPool, type ConnectionPool } from '../sql/db/pool.js';
import { ReadRouter } from '../sql/db/replicas.js';
import { ping } from '../sql/queries/ping.js';
import { ResponseCache, type CacheStats } from './cache.js';
import type { Config } from '../lib/config.js';
import { CorsPolicy } from './cors.js';
import { ERRORS } from './errors.js';
import { Exchanges } from './http.js';
import { CacheCoherence } from './invalidation.js';
import { UNMATCHED_ROUTE, WorkerMetrics, type MetricsSnapshot } from './metrics.js';
import { mountInteractionRoutes } from './routes/interactions.js';
import { mountOperationalRoutes } from './routes/operational.js';
import { mountProductRoutes } from './routes/products.js';
import { mountCartRoutes } from './routes/cart.js';
import { mountQaRoutes } from './routes/qa.js';
import { mountReviewRoutes } from './routes/reviews.js';
import { CachedReads, type ReadSource } from './reads.js';
import { uws, type us_listen_socket } from './uws.js';
import { createWrites, type Writes } from './writes.js';

export interface RunningServer {
  /** The port actually bound (useful when the config asked for port 0). */
  readonly port: number;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to the drain deadline),
   * releases the database pool. Resolves when nothing is left running.
   */
  close(): Promise<void>;
  /** This worker's response cache counters (for tests and metrics). */
  cacheStats(): CacheStats;
  /** This worker's metrics, for the primary to sum with the other workers'. */
  metricsSnapshot(): Promise<MetricsSnapshot>;
}

export interface StartOptions {
  /** Overrides config.port (tests). */
  readonly port?: number;
  /** The whole instance's metrics text (a worker asks its primary); GET /metrics shows this worker's own without it. */
  readonly instanceMetrics?: () => Promise<string>;
  /**
   * Settles once the primary has migrated (and seeded) the database; until then GET /ready and
   * every data route answer 503, as when the database is down. Absent: it is prepared already.
   */
  readonly databasePrepared?: Promise<void>;
}

/**
 * Makes every checkout from `pool` fail until `prepared` settles, with the SQLSTATE PostgreSQL
 * itself gives a server that is not ready for connections (57P03, cannot_connect_now): every
 * query path (/ready, reads, batched writes) then answers 503 with Retry-After, as in an outage,
 * rather than 500 for a missing table or 200 for a catalogue not yet seeded. The gate is an own
 * property shadowing the pool's connect(), which deleting it restores.
 */
function refuseUntil(pool: ConnectionPool, prepared: Promise<void>): void {
  const notPrepared = (): Error =>
    Object.assign(new Error('the database is not migrated yet (the primary is preparing it)'), { code: '57P03' });
  const refuse = (callback?: (err: Error) => void): Promise<never> | undefined => {
    if (callback === undefined) return Promise.reject(notPrepared());
    callback(notPrepared());
    return undefined;
  };
  Object.defineProperty(pool, 'connect', { value: refuse, configurable: true, writable: true });
  void prepared.then(() => Reflect.deleteProperty(pool, 'connect'));
}

/**
 * Starts one uWebSockets.js app with its own database pool and response cache. Resolves once the
 * app listens, which is what a worker reports to the primary as "ready"; rejects (having released
 * everything) if it cannot. The database need not answer: an outage must not kill workers (the
 * primary would count their deaths as a crash loop and stop the instance), so a worker started
 * without it listens, answers GET /ready and every query with 503, and recovers by itself when
 * the database returns (the pool connects per checkout; the LISTEN session reconnects with backoff).
 */
export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  if (!config.databaseUrl) {
    throw new Error('startServer needs config.databaseUrl (the primary sets DATABASE_URL for its workers)');
  }
  const log = createLog('worker');
  const poolOptions = {
    max: config.poolSize,
    maxWaiting: config.pgMaxWaiting,
    connectionTimeoutMillis: config.pgConnectTimeoutMs,
    statementTimeoutMillis: config.pgStatementTimeoutMs,
    idleTimeoutMillis: config.pgIdleTimeoutMs,
    applicationName: `atelier-api-${process.pid}`,
    onIdleError: (err: Error) => log.error('database_idle_client_error', { error: errorMessage(err) }),
  };
  const pool = createPool({
    ...poolOptions,
    connectionString: config.databaseUrl,
    ...(config.pgLockTimeoutMs > 0 ? { lockTimeoutMillis: config.pgLockTimeoutMs } : {}),
  });
  if (options.databasePrepared !== undefined) refuseUntil(pool, options.databasePrepared);
  const router = new ReadRouter(pool, config.databaseUrl, {
    urls: config.replicaUrls,
    pool: poolOptions,
    maxLagMs: config.replicaMaxLagMs,
    probeIntervalMs: config.replicaProbeIntervalMs,
    timeoutMs: config.replicaTimeoutMs,
    onChange: ({ node, inRotation, reason }) =>
      log.warn(inRotation ? 'database_node_back' : 'database_node_out', { node, reason }),
  });

  let listenSocket: us_listen_socket;
  let coherence: CacheCoherence | undefined;
  let writes: Writes;
  const cache = new ResponseCache({ maxBytes: config.cacheMaxBytes, ttlMs: config.cacheTtlMs });
  const admission = new Admission(pool, {
    limit: config.admissionLimit,
    maxQueued: config.admissionMaxQueued,
    queueDeadlineMs: config.admissionQueueDeadlineMs,
  });
  const metrics = new WorkerMetrics(
    () => cache.stats(),
    pool,
    () => admission.stats(),
    () => router.stats(),
  );
  // Without replicas every read takes its domain's view of the worker's own pool.
  const source: ReadSource = router.hasReplicas
    ? (domain, position) => admission.gated(domain, router.readPool(position))
    : (domain) => admission.pools[domain];
  const exchanges = new Exchanges(config.retryAfterSeconds, log, metrics.requests, new CorsPolicy(config.corsOrigins));
  try {
    // Both attempts end (answered, refused or timed out) within pgConnectTimeoutMs; a failure only
    // means this worker starts without the database. The ping leaves a pooled connection open.
    const warmed = ping(pool).catch((err: unknown) =>
      log.error('database_unavailable_at_start', { error: errorMessage(err) }),
    );
    coherence = await CacheCoherence.start(
      cache,
      {
        databaseUrl: config.databaseUrl,
        applicationName: `atelier-api-listen-${process.pid}`,
        connectTimeoutMs: config.pgConnectTimeoutMs,
      },
      log,
    );
    await warmed;
    // The one read path and the one write path every data route goes through.
    writes = createWrites(admission.pools, coherence);
    const routes = { exchanges, pools: admission.pools, reads: new CachedReads(cache, coherence, source), writes };
    const app = uws.App();
    mountOperationalRoutes(
      app,
      exchanges,
      pool,
      () => router.replicaInRotation,
      options.instanceMetrics ?? (() => metrics.text()),
    );
    mountProductRoutes(app, routes);
    mountReviewRoutes(app, routes);
    mountQaRoutes(app, routes);
    mountCartRoutes(app, routes);
    mountInteractionRoutes(app, routes);
    app.any(
      '/*',
      exchanges.handle(() => ERRORS.unknownRoute, UNMATCHED_ROUTE),
    );
    const port = options.port ?? config.port;
    listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      app.listen(config.listenAddress, port, (socket) =>
        socket ? resolve(socket) : reject(new Error(`cannot listen on ${config.listenAddress}:${port}`)),
      );
    });
  } catch (err) {
    await coherence?.close();
    await router.close();
    await pool.end();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    port: uws.us_socket_local_port(listenSocket as never),
    close() {
      closing ??= (async () => {
        uws.us_listen_socket_close(listenSocket);
        exchanges.beginDrain();
        // Keep-alive clients keep sending here for a moment after the socket stops listening;
        // each gets its answer with Connection: close and reconnects to a worker that listens.
        // Exiting at once would reset those connections mid-request.
        await delay(Math.min(config.drainLingerMs, config.drainTimeoutMs));
        await exchanges.drain(config.drainTimeoutMs);
        // Writes taken by requests that outlived the drain deadline still get their statement.
        await writes.close();
        await coherence?.close();
        // Ending says goodbye on each idle connection and waits for the server to close it, which a
        // frozen or partitioned server never does; the process exits (or the test ends) right after
        // this anyway.
        await Promise.race([
          Promise.all([router.close(), pool.end()]),
          new Promise((resolve) => setTimeout(resolve, config.pgConnectTimeoutMs).unref()),
        ]);
      })();
      return closing;
    },
    cacheStats: () => cache.stats(),
    metricsSnapshot: () => metrics.snapshot(),
  };
}
