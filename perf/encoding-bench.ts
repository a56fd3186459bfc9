/**
 * Compressed cached bodies measured (docs/benchmarks.md § Compressed bodies): a browser-like
 * client (`Accept-Encoding: gzip, deflate, br`) against a client that sends none, direct and
 * through nginx, on cached routes with bodies past 1 KiB. Before and after in one run, the rounds
 * interleaved so that a drift of the machine weighs on every variant alike:
 *
 * - direct, no Accept-Encoding: what every direct client got before, the body as it is;
 * - direct, browser: the stored brotli body;
 * - nginx as before, browser: nginx.conf with Accept-Encoding withheld from the service
 *   (`proxy_set_header Accept-Encoding ""`), so the service answers identity and nginx gzips
 *   every response again (gzip_comp_level 4), as it did before the service compressed;
 * - nginx, browser: the shipped nginx.conf, the service's brotli body passed through.
 *
 *   npm run build:dev && node build/perf/encoding-bench.js
 *
 * Settings (environment): BENCH_SCALE (0.01: the dataset, generated and ingested on first use
 * into BENCH_DATA_DIR, /tmp/atelier-encoding-bench; DATABASE_URL to use a loaded one instead),
 * WORKERS (2), BENCH_SECONDS (8), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64). Needs wrk and nginx.
 * Each line: req/s, p99, bytes per response as wrk read them (headers included), and CPU µs per
 * request of the workers and of nginx's workers (CPU time holds still when other processes take
 * the cores; req/s does not). The last lines give each variant's median over the rounds.
 */
import http from 'node:http';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { descendants } from '../lib/processes.js';
import { freePort } from '../lib/net.js';
import { loadDataset } from './bench-dataset.js';
import { cpuSeconds, loadAverage, startCluster } from './bench-processes.js';
import { runWrk } from './bench-wrk.js';
import { findNginx, nginxScratchDir, SHIPPED_CONF, startNginx, type RunningNginx } from './nginx-template.js';

const env = process.env;
const number = (name: string, fallback: number): number => Number(env[name] ?? fallback);
const SCALE = number('BENCH_SCALE', 0.01);
const WORKERS = number('WORKERS', 2);
const SECONDS = number('BENCH_SECONDS', 8);
const ROUNDS = number('BENCH_ROUNDS', 3);
const CONNECTIONS = number('BENCH_CONNECTIONS', 64);
const DATA_DIR = env.BENCH_DATA_DIR ?? '/tmp/atelier-encoding-bench';
const BROWSER = 'gzip, deflate, br';

const ROUTES = [
  { label: 'GET /products/:id/styles', path: '/products/{id}/styles' },
  { label: 'GET /reviews count=200', path: '/reviews?product_id={id}&count=200&sort=newest' },
] as const;

interface Variant {
  readonly name: string;
  readonly port: number;
  readonly acceptEncoding: string | undefined;
  readonly proxy: readonly number[];
}

/** The Content-Encoding and length of one response, to show what each variant is sent. */
function probe(port: number, requestPath: string, acceptEncoding: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers = acceptEncoding === undefined ? {} : { 'Accept-Encoding': acceptEncoding };
    http
      .get({ host: '127.0.0.1', port, path: requestPath, headers, agent: false }, (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        response.on('end', () =>
          resolve(`${response.headers['content-encoding'] ?? 'identity'}, ${bytes} B, ETag ${response.headers.etag}`),
        );
      })
      .on('error', reject);
  });
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const nginx = findNginx();
  if (!nginx) throw new Error('nginx is not installed');
  await mkdir(DATA_DIR, { recursive: true });
  const dataset = await loadDataset(SCALE, DATA_DIR, (line) => console.log(line));
  const proxies: RunningNginx[] = [];
  const dirs: string[] = [];
  const clusterPort = await freePort();
  const cluster = await startCluster({
    port: clusterPort,
    workers: WORKERS,
    databaseUrl: dataset.url,
    cacheMaxBytes: 256 * 1024 * 1024,
    cacheTtlMs: 0,
    poolSize: 8,
  });
  try {
    const workers = (await descendants(cluster.process.pid!)).filter((pid) => pid !== cluster.process.pid);
    const front = async (source: string): Promise<{ port: number; workers: number[] }> => {
      const dir = await nginxScratchDir();
      dirs.push(dir);
      const port = await freePort();
      const conf = path.join(dir, 'source.conf');
      await writeFile(conf, source);
      const proxy = await startNginx(nginx, { dir, port, upstreams: [clusterPort] }, conf);
      proxies.push(proxy);
      // The master listens before it forks its workers (worker_processes auto: one per core).
      const deadline = Date.now() + 10_000;
      let workers: number[] = [];
      while (workers.length < os.availableParallelism()) {
        if (Date.now() > deadline) throw new Error(`nginx started ${workers.length} workers within 10 s`);
        await delay(50);
        workers = (await descendants(proxy.process.pid!)).filter((pid) => pid !== proxy.process.pid);
      }
      return { port, workers };
    };
    const shipped = await readFile(SHIPPED_CONF, 'utf8');
    const host = '            proxy_set_header Host $host;\n';
    if (!shipped.includes(host)) throw new Error('nginx.conf: no `proxy_set_header Host $host;` line');
    const before = await front(shipped.replace(host, `${host}            proxy_set_header Accept-Encoding "";\n`));
    const after = await front(shipped);
    const variants: Variant[] = [
      { name: 'direct, no Accept-Encoding', port: clusterPort, acceptEncoding: undefined, proxy: [] },
      { name: 'direct, browser', port: clusterPort, acceptEncoding: BROWSER, proxy: [] },
      { name: 'nginx as before, browser', port: before.port, acceptEncoding: BROWSER, proxy: before.workers },
      { name: 'nginx, browser', port: after.port, acceptEncoding: BROWSER, proxy: after.workers },
    ];
    const wrk = (variant: Variant, route: (typeof ROUTES)[number], seconds: number) =>
      runWrk({
        url: `http://127.0.0.1:${variant.port}`,
        script: 'bench-route.lua',
        env: {
          ROUTE_PATH: route.path,
          FIRST_ID: String(dataset.first),
          LAST_ID: String(dataset.last),
          ...(variant.acceptEncoding === undefined ? {} : { ACCEPT_ENCODING: variant.acceptEncoding }),
        },
        threads: 2,
        connections: CONNECTIONS,
        seconds,
      });
    console.log(
      `scale ${SCALE}, products ${dataset.first}..${dataset.last}, ${WORKERS} workers, wrk -t2 -c${CONNECTIONS} -d${SECONDS}s`,
    );
    for (const route of ROUTES) {
      const sample = route.path.replace('{id}', String(dataset.last));
      // Fills both workers' caches with every id of the range: the measured runs are hits.
      for (let warm = 0; warm < 2; warm++) await wrk(variants[1]!, route, Math.max(4, SECONDS));
      for (const variant of variants) {
        console.log(`${route.label} ${variant.name}: ${await probe(variant.port, sample, variant.acceptEncoding)}`);
      }
      console.log(
        'round | variant                      |   req/s |     p99 | B/response | CPU µs/req: workers, nginx | errors',
      );
      const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
      const sizes = new Map<string, number[]>(variants.map((v) => [v.name, []]));
      for (let round = 1; round <= ROUNDS; round++) {
        for (const variant of variants) {
          const pids = [...workers, ...variant.proxy];
          const cpuBefore = await cpuSeconds(pids);
          const result = await wrk(variant, route, SECONDS);
          const used = (await cpuSeconds(pids)).map((seconds, i) => seconds - cpuBefore[i]!);
          const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);
          const perRequest = (seconds: number): string => ((seconds * 1e6) / result.requests).toFixed(0);
          const size = (result.bytesRead ?? 0) / result.requests;
          rates.get(variant.name)!.push(result.rps);
          sizes.get(variant.name)!.push(size);
          const cpu = `${perRequest(sum(used.slice(0, workers.length)))}, ${perRequest(sum(used.slice(workers.length)))}`;
          console.log(
            `${String(round).padStart(5)} | ${variant.name.padEnd(28)} | ${result.rps.toFixed(0).padStart(7)} | ` +
              `${`${result.latencyMs.p99.toFixed(2)}ms`.padStart(7)} | ${size.toFixed(0).padStart(10)} | ` +
              `${cpu.padStart(26)} | ${result.errors + result.non2xx}`,
          );
        }
      }
      for (const variant of variants) {
        const values = rates.get(variant.name)!;
        console.log(
          `${route.label} ${variant.name.padEnd(28)} median ${median(values).toFixed(0)} req/s ` +
            `(${Math.min(...values).toFixed(0)}..${Math.max(...values).toFixed(0)}), ` +
            `${median(sizes.get(variant.name)!).toFixed(0)} B/response`,
        );
      }
    }
    console.log(`load average: ${loadAverage()}`);
  } finally {
    await Promise.all(proxies.map((proxy) => proxy.stop()));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    await cluster.stop();
    await dataset.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
