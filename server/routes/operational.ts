/**
 * GET /health (the process is up), GET /ready (this worker reaches the database, or at least a
 * replica that serves its reads), GET /metrics
 * (Prometheus text), and the API's own description: GET /openapi.json and GET /docs.
 */
import type { Pool } from '../../sql/db/pool.js';
import { ping } from '../../sql/queries/ping.js';
import { mount, type Exchanges } from '../http.js';
import { METRICS_CONTENT_TYPE } from '../metrics.js';
import { ok } from '../reply.js';
import type { TemplatedApp } from '../uws.js';
import { mountDocsRoutes } from './docs.js';

const UP = ok(Buffer.from('{"status":"up"}'));
const READY = ok(Buffer.from('{"status":"ready"}'));
/** Reads are served (cache and replicas) but writes answer 503: the primary is unreachable. */
const DEGRADED = ok(Buffer.from('{"status":"degraded","reads":"replicas","writes":"unavailable"}'));

/** `metricsText` gives the whole instance's metrics (or this worker's, when it runs alone). */
export function mountOperationalRoutes(
  app: TemplatedApp,
  exchanges: Exchanges,
  pool: Pool,
  replicaServesReads: () => boolean,
  metricsText: () => Promise<string>,
): void {
  mount(app, exchanges, '/health', { get: () => UP });
  // Any failure means "not ready" here, including ones a data route would report as a 500
  // (a dropped database, a rejected password): a load balancer only needs the yes or no. A worker
  // whose reads a replica still serves stays in the balancer (200): it answers every read.
  mount(app, exchanges, '/ready', {
    get: () =>
      ping(pool).then(
        () => READY,
        () => (replicaServesReads() ? DEGRADED : exchanges.unavailableReply),
      ),
  });
  // A failure to gather them is a logged 500, which the scraper records as a failed scrape.
  mount(app, exchanges, '/metrics', {
    get: async () => ({ ...ok(await metricsText()), contentType: METRICS_CONTENT_TYPE }),
  });
  mountDocsRoutes(app, exchanges);
}
