/** GET /health (the process is up) and GET /ready (this worker reaches the database). */
import type { Pool } from '../../sql/db.js';
import { ping } from '../../sql/queries/ping.js';
import { mount, type Exchanges } from '../http.js';
import { ok } from '../reply.js';
import type { TemplatedApp } from '../uws.js';

const UP = ok(Buffer.from('{"status":"up"}'));
const READY = ok(Buffer.from('{"status":"ready"}'));

export function mountOperationalRoutes(app: TemplatedApp, exchanges: Exchanges, pool: Pool): void {
  mount(app, exchanges, '/health', { get: () => UP });
  // Any failure means "not ready" here, including ones a data route would report as a 500
  // (a dropped database, a rejected password): a load balancer only needs the yes or no.
  mount(app, exchanges, '/ready', {
    get: () => ping(pool).then(() => READY, () => exchanges.unavailableReply),
  });
}
