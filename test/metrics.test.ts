import http from 'node:http';
import t from 'tap';
import { serveFixture } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { freePort } from '../lib/net.js';
import { parseExposition, total } from '../lib/prometheus-text.js';
import { connectionOwner, isEvent, startCluster, type LogLine } from './helpers/process.js';
import { until } from '../lib/wait.js';

const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const STYLES = '/products/:product_id/styles';

t.test(
  'GET /metrics of a lone server counts its requests by route pattern and status, its cache and its pool',
  async (t) => {
    const api = await serveFixture(
      t,
      `
    INSERT INTO products VALUES (1, 'Camo Onesie', 'Blend in', 'Fatigues', 'Jackets', 140);
    INSERT INTO styles VALUES (1, 1, 'Forest Green & Black', NULL, 140, true);
    INSERT INTO skus VALUES (1, 1, 'XS', 8);`,
    );
    const statuses: number[] = [];
    const request = async (method: string, path: string): Promise<string> => {
      const response = await api.send(method, path);
      statuses.push(response.status);
      return response.text();
    };
    const stylesBody = await request('GET', '/products/1/styles');
    await request('GET', '/products/1/styles');
    await request('GET', '/products/99/styles');
    await request('GET', '/nope');
    await request('GET', '/products?page=0');
    await request('DELETE', '/products/1');
    t.same(statuses, [200, 200, 404, 404, 422, 405], 'the requests answered as expected');

    const scrape = await api.get('/metrics');
    t.equal(scrape.status, 200);
    t.equal(scrape.headers.get('content-type'), PROMETHEUS_TYPE);
    const samples = parseExposition(await scrape.text());
    const requests = (labels: Record<string, string>) => total(samples, 'atelier_http_requests_total', labels);
    t.equal(requests({ route: STYLES, method: 'GET', status: '200' }), 2, 'styles: a miss and a hit, both 200');
    t.equal(requests({ route: STYLES, method: 'GET', status: '404' }), 1, 'styles of an unknown product');
    t.equal(requests({ route: 'unmatched', method: 'GET', status: '404' }), 1, 'a path no route matches');
    t.equal(requests({ route: '/products', method: 'GET', status: '422' }), 1, 'an invalid page');
    t.equal(
      requests({ route: '/products/:product_id', method: 'DELETE', status: '405' }),
      1,
      'a wrong method on a known path',
    );
    t.equal(requests({}), 6, 'nothing else is counted (the scrape itself counts once it is answered)');
    t.equal(
      total(samples, 'atelier_http_request_duration_seconds_count', { route: STYLES, method: 'GET' }),
      3,
      'every styles request is timed',
    );
    t.equal(
      total(samples, 'atelier_http_request_duration_seconds_bucket', { route: STYLES, method: 'GET', le: '+Inf' }),
      3,
    );

    t.equal(total(samples, 'atelier_cache_hits_total'), 1, 'one cache hit');
    t.equal(
      total(samples, 'atelier_cache_misses_total'),
      2,
      'two misses: the first styles read and the unknown product',
    );
    t.equal(total(samples, 'atelier_cache_entries'), 1, 'only the found body is stored');
    t.equal(total(samples, 'atelier_cache_bytes'), Buffer.byteLength(stylesBody), 'the cache holds the styles body');
    t.equal(total(samples, 'atelier_cache_evictions_total'), 0);
    t.equal(total(samples, 'atelier_db_pool_in_use'), 0, 'no connection is checked out between requests');
    t.equal(total(samples, 'atelier_db_pool_waiting'), 0);
    t.ok((total(samples, 'atelier_db_pool_idle') ?? -1) >= 0, 'idle connections are reported');

    const again = parseExposition(await (await api.get('/metrics')).text());
    t.equal(
      total(again, 'atelier_http_requests_total', { route: '/metrics', method: 'GET', status: '200' }),
      1,
      'the next scrape is computed afresh and counts the first one',
    );
  },
);

interface Served {
  readonly status: number;
  readonly body: string;
  /** The worker that accepted the connection. */
  readonly pid: number | undefined;
}

/** One GET on a new connection, kept open until we have found which worker accepted it. */
async function served(port: number, path: string, pids: readonly number[]): Promise<Served> {
  const agent = new http.Agent({ keepAlive: true });
  try {
    const { status, body, clientPort } = await new Promise<{ status: number; body: string; clientPort: number }>(
      (resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path, agent }, (response) => {
            const clientPort = response.socket.localPort ?? 0;
            let body = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => {
              body += chunk;
            });
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body, clientPort }));
            response.on('error', reject);
          })
          .on('error', reject);
      },
    );
    return { status, body, pid: await connectionOwner(port, clientPort, pids) };
  } finally {
    agent.destroy();
  }
}

/** The text of GET /metrics, or undefined if no answer came within `ms` (it reached a stopped worker). */
async function scrapeWithin(port: number, ms: number): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(ms) });
    return await response.text();
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') return undefined;
    throw err;
  }
}

const readyWorker = (line: LogLine): boolean => line.event === 'worker_ready' && line.role === 'primary';

t.test(
  'under the cluster GET /metrics sums every worker, whichever answers it, counts restarts and skips a stuck worker',
  async (t) => {
    const port = await freePort();
    const cluster = startCluster(t, {
      DATABASE_URL: await freshDatabase(t),
      SEED_SCALE: '0',
      WORKERS: '2',
      PORT: String(port),
      DRAIN_TIMEOUT_MS: '2000',
    });
    const ready = await cluster.waitFor(isEvent('cluster_ready'), 'the cluster became ready');
    const pids = String(ready.workers).split(',').map(Number);

    const SENT = 24;
    const sent = [];
    for (let i = 0; i < SENT; i++) sent.push(await served(port, i % 2 === 0 ? '/health' : '/nope', pids));
    t.same(
      sent.map((r) => r.status),
      sent.map((_, i) => (i % 2 === 0 ? 200 : 404)),
      'every request answered',
    );
    t.same([...new Set(sent.map((r) => r.pid))].sort(), [...pids].sort(), 'both workers served some of them');

    // New connections land on either worker; scrape until each has answered at least once.
    const scrapedBy = new Set<number | undefined>();
    const scrapes = [];
    while (scrapedBy.size < 2 && scrapes.length < 40) {
      const { status, body, pid } = await served(port, '/metrics', pids);
      scrapedBy.add(pid);
      const samples = status === 200 ? parseExposition(body) : [];
      scrapes.push({
        status,
        health: total(samples, 'atelier_http_requests_total', { route: '/health', status: '200' }),
        unmatched: total(samples, 'atelier_http_requests_total', { route: 'unmatched', status: '404' }),
        workers: total(samples, 'atelier_workers'),
        restarts: total(samples, 'atelier_worker_restarts_total'),
      });
    }
    t.same([...scrapedBy].sort(), [...pids].sort(), 'both workers answered a scrape');
    t.same(
      scrapes,
      scrapes.map(() => ({ status: 200, health: SENT / 2, unmatched: SENT / 2, workers: 2, restarts: 0 })),
      'every scrape reports all the requests sent, two ready workers and no restart',
    );

    process.kill(pids[0]!, 'SIGKILL');
    await cluster.waitFor((l) => readyWorker(l) && !pids.includes(Number(l.worker)), 'a replacement became ready');
    const afterRestart = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    t.equal(total(afterRestart, 'atelier_worker_restarts_total'), 1, 'the SIGKILLed worker counts as one restart');
    t.equal(total(afterRestart, 'atelier_workers'), 2, 'two workers ready again');

    // The survivor is now the only worker that served /health; stopped, it cannot answer the primary.
    const survivor = pids[1]!;
    process.kill(survivor, 'SIGSTOP');
    let text: string | undefined;
    try {
      // A scrape whose connection the kernel gave to the stopped worker cannot be answered: try another.
      await until(
        async () => {
          text = await scrapeWithin(port, 2500);
          return text !== undefined;
        },
        'a scrape reached a running worker',
        { timeoutMs: 30_000 },
      );
    } finally {
      process.kill(survivor, 'SIGCONT');
    }
    const withoutSurvivor = parseExposition(text!);
    t.equal(
      total(withoutSurvivor, 'atelier_http_requests_total', { route: '/health' }),
      undefined,
      'the stuck worker is left out of the sum',
    );
    t.equal(total(withoutSurvivor, 'atelier_workers'), 2, 'and still counted ready by the primary');
  },
);
