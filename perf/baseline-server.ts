/**
 * The legacy stack, kept beside ours so that every bench run can say how far ahead of it we are
 * (issue 16 item 4). Users compare this API with what they run today: an Express app with one
 * pg.Pool per process, no cache, a few processes under node:cluster. This is that app, written
 * the way those back ends are, on the same database and running the very statements our miss
 * path runs (sql/queries), so that the ratio measures the serving stack and nothing else: not a
 * schema, an index or a query that a user could fix in an afternoon.
 *
 * What it deliberately lacks, since the legacy back ends lack it: a response cache, ETag of its
 * own (Express computes its weak one per response), admission control or a bound on the pool's
 * wait queue, timeouts, uWS, SO_REUSEPORT (node:cluster's primary accepts every connection and
 * hands it to a worker round-robin), validation beyond what the statements need, and the write
 * routes: the bench runs the storefront mix against it reads only.
 *
 *   npm run build:dev && PORT=3002 WORKERS=2 DATABASE_URL=postgres://… node build/perf/baseline-server.js
 */
import cluster from 'node:cluster';
import express, { type NextFunction, type Request, type Response } from 'express';
import { loadConfig } from '../lib/config.js';
import { DEFAULT_COUNT, DEFAULT_PAGE, MAX_COUNT } from '../server/limits.js';
import { createPool, type Pool } from '../sql/db/pool.js';
import { productDetail, productList, productRelated, productStyles } from '../sql/queries/products.js';
import { answerList, questionList } from '../sql/queries/qa.js';
import { relevanceClock, reviewList, reviewMeta, type ReviewSort } from '../sql/queries/reviews.js';

/** pg.Pool's own defaults: 10 connections, idle ones closed after 10 s, no timeouts. */
const PG_DEFAULTS = { max: 10, idleTimeoutMillis: 10_000, connectionTimeoutMillis: 0 } as const;

/** A route's body for the request, or undefined when what it names does not exist. */
type Handler = (req: Request, paging: Paging) => Promise<string | undefined>;

interface Paging {
  readonly page: number;
  readonly count: number;
}

function paging(req: Request): Paging {
  return {
    page: Number(req.query.page ?? DEFAULT_PAGE),
    count: Math.min(Number(req.query.count ?? DEFAULT_COUNT), MAX_COUNT),
  };
}

const productId = (req: Request): number => Number(req.query.product_id);

/** Every read route of docs/api.md, answered straight from the database through `pool`. */
function baselineApp(pool: Pool): express.Express {
  const app = express();
  // Express 4 does not catch a rejected handler: it must be handed to next().
  const route =
    (handler: Handler) =>
    (req: Request, res: Response, next: NextFunction): void => {
      handler(req, paging(req)).then((body) => {
        if (body === undefined) res.status(404).json({ error: 'not found' });
        else res.type('json').send(body);
      }, next);
    };
  const id = (req: Request): number => Number(req.params.id);
  app.get(
    '/products',
    route((_req, { page, count }) => productList(pool, page, count)),
  );
  app.get(
    '/products/:id',
    route((req) => productDetail(pool, id(req))),
  );
  app.get(
    '/products/:id/styles',
    route((req) => productStyles(pool, id(req))),
  );
  app.get(
    '/products/:id/related',
    route((req) => productRelated(pool, id(req))),
  );
  app.get(
    '/reviews',
    route((req, { page, count }) => {
      const sort = (req.query.sort ?? 'relevant') as ReviewSort;
      return reviewList(pool, productId(req), sort, page, count, relevanceClock(new Date()));
    }),
  );
  app.get(
    '/reviews/meta',
    route((req) => reviewMeta(pool, productId(req))),
  );
  app.get(
    '/qa/questions',
    route((req, { page, count }) => questionList(pool, productId(req), page, count)),
  );
  app.get(
    '/qa/questions/:id/answers',
    route(async (req, { page, count }) => (await answerList(pool, id(req), page, count))?.body),
  );
  return app;
}

const config = loadConfig();

if (cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', () => {
    // The bench waits for this line: every worker accepts connections from here on.
    if (++listening === config.workers) console.log(`baseline: ${config.workers} workers on port ${config.port}`);
  });
  cluster.on('exit', (worker, code, signal) => {
    console.error(`baseline: worker ${worker.process.pid} exited (code ${code}, signal ${signal})`);
  });
  for (let i = 0; i < config.workers; i++) cluster.fork();
} else {
  if (config.databaseUrl === undefined) throw new Error('baseline: DATABASE_URL is required');
  // Without the primary nobody stops this worker, so it leaves with it.
  process.on('disconnect', () => process.exit(0));
  const pool = createPool({
    connectionString: config.databaseUrl,
    ...PG_DEFAULTS,
    statementTimeoutMillis: 0,
    queryTimeoutMillis: 0,
    applicationName: 'atelier-baseline',
    onIdleError: (err) => console.error(`baseline: idle client error: ${err.message}`),
  });
  baselineApp(pool).listen(config.port, config.listenAddress);
}
