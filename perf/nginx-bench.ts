/**
 * GET /products/:id/styles through the shipped nginx.conf against the same cluster without it,
 * and WORKER_PORTS=shared against per-worker, in one run: two clusters (one per mode) and two
 * nginx (one in front of each) run side by side, and the rounds interleave so that a drift of
 * the machine (cache warm-up, another process) weighs on every variant alike.
 *
 *   npm run build
 *   DATABASE_URL=postgres://… FIRST_ID=1 LAST_ID=10000 node build/perf/nginx-bench.js
 *
 * Settings (environment): DATABASE_URL (required, holding a catalogue), FIRST_ID/LAST_ID (the ids
 * perf/styles-bench.lua draws from), WORKERS (2), BENCH_SECONDS (15), BENCH_ROUNDS (3),
 * BENCH_CONNECTIONS (64), BENCH_PORT (41000: shared cluster there, per-worker from +10, nginx at
 * +100 and +101). Every other variable (CACHE_MAX_BYTES, PG_POOL_SIZE…) reaches the clusters.
 * Needs wrk and nginx. Besides wrk's figures, each line shows how the workers shared the work:
 * the CPU seconds each worker process used during the round, then the CPU time per request of
 * the workers and of nginx's workers; the last lines give each variant's median over the rounds.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, loadAverage } from './bench-processes.js';
import { findNginx, nginxScratchDir, startNginx, type RunningNginx } from './nginx-template.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const env = process.env;
const number = (name: string, fallback: number): number => Number(env[name] ?? fallback);
const WORKERS = number('WORKERS', 2);
const SECONDS = number('BENCH_SECONDS', 15);
const ROUNDS = number('BENCH_ROUNDS', 3);
const CONNECTIONS = number('BENCH_CONNECTIONS', 64);
const BASE_PORT = number('BENCH_PORT', 41000);

interface Instance {
  readonly primary: ChildProcess;
  readonly workers: number[];
}

/** `npm start`'s entry with WORKER_PORTS=`mode` on `port`, resolved once every worker is ready. */
function startCluster(mode: 'shared' | 'per-worker', port: number): Promise<Instance> {
  const primary = spawn(process.execPath, [path.join(root, 'build/cluster/main.js')], {
    env: { ...env, PORT: String(port), WORKERS: String(WORKERS), WORKER_PORTS: mode, SEED_SCALE: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    primary.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const ready = /"event":"cluster_ready"[^\n]*"workers":"([\d,]+)"/.exec(output);
      if (ready) resolve({ primary, workers: ready[1]!.split(',').map(Number) });
    });
    primary.once('exit', (code) => reject(new Error(`the ${mode} cluster exited with ${code}:\n${output}`)));
  });
}

/** The pids of nginx's workers (the master's children). */
async function nginxWorkers(proxy: RunningNginx): Promise<number[]> {
  const master = proxy.process.pid!;
  return (await readFile(`/proc/${master}/task/${master}/children`, 'utf8')).trim().split(/\s+/).map(Number);
}

interface Result {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50: string;
  readonly p99: string;
  readonly problems: string;
}

function wrk(url: string, seconds: number): Result {
  const run = spawnSync(
    'wrk',
    ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', path.join(root, 'perf/styles-bench.lua'), url],
    { encoding: 'utf8', env },
  );
  if (run.status !== 0) throw new Error(`wrk failed: ${run.error?.message ?? run.stderr}`);
  const out = run.stdout;
  const problems = [/Socket errors:[^\n]*/, /Non-2xx or 3xx responses: \d+/]
    .map((p) => p.exec(out)?.[0])
    .filter(Boolean)
    .join('; ');
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: /^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '?',
    p99: /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '?',
    problems: problems || 'none',
  };
}

async function main(): Promise<void> {
  const nginx = findNginx();
  if (!nginx) throw new Error('nginx is not installed');
  if (!env.DATABASE_URL) throw new Error('set DATABASE_URL to a database holding a catalogue');
  const perWorkerPort = BASE_PORT + 10;
  const clusters = {
    shared: await startCluster('shared', BASE_PORT),
    perWorker: await startCluster('per-worker', perWorkerPort),
  };
  const dirs: string[] = [];
  const proxies: RunningNginx[] = [];
  try {
    const proxy = async (port: number, upstreams: number[]): Promise<void> => {
      const dir = await nginxScratchDir();
      dirs.push(dir);
      proxies.push(await startNginx(nginx, { dir, port, upstreams }));
    };
    await proxy(BASE_PORT + 100, [BASE_PORT]);
    await proxy(
      BASE_PORT + 101,
      Array.from({ length: WORKERS }, (_, i) => perWorkerPort + i),
    );

    const variants = [
      {
        name: 'direct, shared port',
        url: `http://127.0.0.1:${BASE_PORT}`,
        workers: clusters.shared.workers,
        proxy: [],
      },
      {
        name: 'nginx, shared port',
        url: `http://127.0.0.1:${BASE_PORT + 100}`,
        workers: clusters.shared.workers,
        proxy: await nginxWorkers(proxies[0]!),
      },
      {
        name: 'nginx, per-worker ports',
        url: `http://127.0.0.1:${BASE_PORT + 101}`,
        workers: clusters.perWorker.workers,
        proxy: await nginxWorkers(proxies[1]!),
      },
    ];
    console.log(`warming up both clusters' caches (${SECONDS} s each)`);
    for (const variant of variants.slice(1)) wrk(variant.url, SECONDS);
    console.log(
      `wrk -t2 -c${CONNECTIONS} -d${SECONDS}s, ${WORKERS} workers, ids ${env.FIRST_ID ?? 1}..${env.LAST_ID ?? 1000}`,
    );
    // CPU time per request holds still when other processes take the cores; req/s does not.
    console.log(
      'round | variant                  |   req/s |    p50 |    p99 | CPU s per worker | CPU µs/req: workers, nginx | errors',
    );
    const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const variant of variants) {
        const pids = [...variant.workers, ...variant.proxy];
        const before = await cpuSeconds(pids);
        const result = wrk(variant.url, SECONDS);
        rates.get(variant.name)!.push(result.requestsPerSecond);
        const used = (await cpuSeconds(pids)).map((seconds, i) => seconds - before[i]!);
        const workerCpu = used.slice(0, variant.workers.length);
        const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);
        const perRequest = (seconds: number): string => ((seconds * 1e6) / result.requests).toFixed(0);
        const cpu = workerCpu.map((seconds) => seconds.toFixed(1)).join(' / ');
        const cpuPerRequest = `${perRequest(sum(workerCpu))}, ${perRequest(sum(used.slice(variant.workers.length)))}`;
        console.log(
          `${String(round).padStart(5)} | ${variant.name.padEnd(24)} | ${result.requestsPerSecond.toFixed(0).padStart(7)} | ` +
            `${result.p50.padStart(6)} | ${result.p99.padStart(6)} | ${cpu.padEnd(16)} | ${cpuPerRequest.padStart(26)} | ${result.problems}`,
        );
      }
    }
    // Another process on the machine skews single rounds: the median of each variant is the figure to compare.
    for (const [name, values] of rates) {
      const sorted = [...values].sort((a, b) => a - b);
      console.log(
        `${name.padEnd(24)} median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} req/s (${sorted[0]!.toFixed(0)}..${sorted.at(-1)!.toFixed(0)})`,
      );
    }
    console.log(`load average: ${loadAverage()}`);
  } finally {
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    for (const cluster of Object.values(clusters)) {
      cluster.primary.kill('SIGTERM');
      await new Promise((resolve) => cluster.primary.once('exit', resolve));
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
