/**
 * One benchmark run's state and tools: the servers it started (each a Target with its own port),
 * how a scenario is warmed and measured, and what it recorded.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { defaultCacheBytes, thisMachine } from '../lib/config.js';
import { freePort } from '../lib/net.js';
import { withCosts } from './bench-costs.js';
import type { Dataset } from './bench-dataset.js';
import type { BenchOptions } from './bench-options.js';
import type { RunResult } from './bench-parse.js';
import { descendants } from '../lib/processes.js';
import {
  pinProcesses,
  startBaseline,
  startCluster,
  startHelloWorld,
  type ClusterOptions,
  type Service,
} from './bench-processes.js';
import { ms, thousands, type Check, type ScenarioResult } from './bench-report.js';
import { walPosition } from './bench-queries.js';
import type { ReadRoute } from './bench-routes.js';
import { runWrk, type WrkRun } from './bench-wrk.js';
import { findNginx, startNginx, type RunningNginx } from './nginx-template.js';

/** A server under test and where its clients connect (nginx's port with --nginx). */
export interface Target {
  readonly service: Service;
  readonly port: number;
}

export type Measurement = RunResult & { readonly output: string };

export interface Measured {
  readonly definition: Omit<ScenarioResult, 'runs'>;
  readonly measure: () => Promise<Measurement>;
}

/**
 * Warm-up rounds (unmeasured) continue while throughput still rises by more than this share:
 * caches filling on every worker, statements being prepared on every pooled connection.
 */
const WARM_RISE = 0.05;
/** The share of the storefront mix's requests that write (perf/bench-storefront.lua WRITE_SHARE). */
export const MIX_WRITE_SHARE = 0.05;
/**
 * What one of the mix's writes costs beyond the read it replaces, from the cost per request of the
 * mix with its writes and of the same mix reads only (CPU, bytes: any per-request cost).
 */
export function costPerWrite(withWrites: number, readsOnly: number): number {
  return (withWrites - (1 - MIX_WRITE_SHARE) * readsOnly) / MIX_WRITE_SHARE;
}
const WALK_CONNECTIONS = 32;

/** The GETs of one product page, as bench-storefront.lua's view() issues them, with the answers of `questions`. */
function productPage(id: number, questions: readonly number[]): string[] {
  return [
    `/products/${id}`,
    `/products/${id}/styles`,
    `/products/${id}/related`,
    `/reviews?product_id=${id}&count=200&sort=relevant`,
    `/reviews/meta?product_id=${id}`,
    `/qa/questions?product_id=${id}&count=100`,
    ...questions.map((question) => `/qa/questions/${question}/answers`),
  ];
}

/** The status of a GET whose body is read and dropped. */
function get(port: number, requestPath: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: requestPath, agent }, (response) => {
        response
          .resume()
          .on('end', () => resolve(response.statusCode ?? 0))
          .on('error', reject);
      })
      .on('error', reject);
  });
}

export class Session {
  readonly scenarios: ScenarioResult[] = [];
  readonly checks: Check[] = [];
  readonly notes: string[] = [];
  private readonly targets = new Set<Target>();
  private readonly ports = new Set<number>();
  /**
   * PostgreSQL's processes when this run started them: the embedded server's are its children;
   * a server it did not start (DATABASE_URL) is not read. main() sets it for the --replicas set.
   */
  databasePids: (() => Promise<number[]>) | undefined;
  /** Each worker's cache when it is on: CACHE_MAX_BYTES's default for this machine and the run's workers. */
  readonly cacheBytes: number;

  constructor(
    readonly options: BenchOptions,
    readonly dataset: Dataset,
    readonly runDir: string,
    readonly files: { readonly questions: string; readonly products: string },
    readonly print: (line: string) => void,
  ) {
    this.databasePids = dataset.embedded ? () => descendants(process.pid, 'postgres') : undefined;
    this.cacheBytes = defaultCacheBytes(options.workers, thisMachine());
  }

  /** One measured run, printed as it completes. */
  async run(id: string, measure: () => Promise<Measurement>): Promise<RunResult> {
    const { output, ...result } = await measure();
    this.print(
      `${id}: ${thousands(result.rps)} rps, p50 ${ms(result.latencyMs.p50)} ms, p99 ${ms(result.latencyMs.p99)} ms, ` +
        `max ${ms(result.latencyMs.max)} ms, errors ${result.errors}, non-2xx ${result.non2xx}`,
    );
    if (result.requests === 0) this.print(`${id}: no request completed:\n${output}`);
    return result;
  }

  record(definition: Omit<ScenarioResult, 'runs'>, runs: readonly RunResult[], first = false): ScenarioResult {
    const scenario = { ...definition, runs };
    if (first) this.scenarios.unshift(scenario);
    else this.scenarios.push(scenario);
    return scenario;
  }

  /**
   * Measures the scenarios round-robin, one run of each per round, so that the machine's drift
   * (other processes, a checkpoint) weighs on a scenario and on the ceiling it is compared with
   * alike; then records them in the order given, each whose ceiling was among them as paired with it.
   */
  async interleave(items: readonly Measured[], rounds = this.options.runs): Promise<ScenarioResult[]> {
    const runs = items.map((): RunResult[] => []);
    for (let round = 1; round <= rounds; round++) {
      for (const [index, item] of items.entries()) {
        runs[index]!.push(await this.run(`${item.definition.id} ${round}/${rounds}`, item.measure));
      }
    }
    const ids = new Set(items.map((item) => item.definition.id));
    return items.map(({ definition }, index) =>
      this.record(
        definition.ceiling !== undefined && ids.has(definition.ceiling) ? { ...definition, paired: true } : definition,
        runs[index]!,
      ),
    );
  }

  measure(
    definition: Omit<ScenarioResult, 'runs'>,
    measure: () => Promise<Measurement>,
    runs = this.options.runs,
  ): Promise<ScenarioResult> {
    return this.interleave([{ definition, measure }], runs).then(([scenario]) => scenario!);
  }

  /**
   * Views every product page of the measured range, as bench-storefront.lua's view() does (with
   * the answers of each question it can draw), `passes` times over new connections. A storefront
   * that has been up longer than the cache TTL has its long tail cached; the mix's runs last
   * seconds, and without this they would measure a cache still filling. The kernel spreads each
   * pass's connections over the workers, whose caches are their own: pass once per worker.
   */
  async viewEveryProduct(target: Target, passes: number): Promise<void> {
    const { dataset } = this;
    const paths: string[] = [];
    for (let id = dataset.first; id <= dataset.last; id++)
      paths.push(...productPage(id, dataset.questions.get(id) ?? []));
    // A worker caches a question's answers from its second read on (the first learns the
    // question's product, server/routes/qa.ts): read them all again, once the first reads are done.
    paths.push(...paths.filter((requestPath) => requestPath.endsWith('/answers')));
    const started = Date.now();
    let failed = 0;
    for (let pass = 0; pass < passes; pass++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: WALK_CONNECTIONS });
      let next = 0;
      try {
        await Promise.all(
          Array.from({ length: WALK_CONNECTIONS }, async () => {
            while (next < paths.length) {
              if ((await get(target.port, paths[next++]!, agent)) >= 300) failed += 1;
            }
          }),
        );
      } finally {
        agent.destroy();
      }
    }
    this.print(
      `  viewed every product page ${passes}×: ${thousands(paths.length * passes)} requests in ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s${failed > 0 ? `, ${failed} not 2xx` : ''}`,
    );
  }

  /** Unmeasured rounds of the same load until its throughput stops rising. */
  async warm(
    target: Target,
    script: string,
    env: Record<string, string>,
    overrides: Partial<WrkRun> = {},
  ): Promise<void> {
    const seen: number[] = [];
    const { min, max } = this.options.warmRounds;
    for (let round = 1; round <= max; round++) {
      const { rps } = await this.wrk(target, script, env, { ...overrides, seconds: this.options.warmSeconds });
      seen.push(rps);
      if (round >= min && rps < seen[seen.length - 2]! * (1 + WARM_RISE)) break;
    }
    this.print(`  warm-up: ${seen.map(thousands).join(' → ')} rps`);
  }

  async wrk(
    target: Target,
    script: string,
    env: Record<string, string>,
    overrides: Partial<WrkRun> = {},
  ): Promise<Measurement> {
    const sources = {
      apiPid: target.service.process.pid!,
      port: target.port,
      databasePids: this.databasePids,
      walPosition: () => walPosition(this.dataset.pool),
    };
    try {
      return await withCosts(sources, () =>
        runWrk({
          url: `http://127.0.0.1:${target.port}`,
          script,
          env,
          threads: this.options.threads,
          connections: this.options.connections,
          seconds: this.options.seconds,
          ...overrides,
        }),
      );
    } catch (err) {
      const { exitCode, signalCode } = target.service.process;
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}\nthe server under test ` +
          `(${exitCode === null && signalCode === null ? 'still running' : `exited: code ${exitCode}, signal ${signalCode}`}) ` +
          `printed last:\n${target.service.output().slice(-4000)}`,
      );
    }
  }

  /** A free port, never one this run already handed out (the OS may offer the same one twice). */
  private async port(): Promise<number> {
    for (;;) {
      const port = await freePort();
      if (this.ports.has(port)) continue;
      this.ports.add(port);
      return port;
    }
  }

  routeEnv(route: ReadRoute): Record<string, string> {
    return route.ids === 'question'
      ? { ROUTE_PATH: route.path, IDS_FILE: this.files.questions }
      : { ROUTE_PATH: route.path, FIRST_ID: String(this.dataset.first), LAST_ID: String(this.dataset.last) };
  }

  /** bench-storefront.lua's settings: its products, where it lists the products written to, its share of writes. */
  mixEnv(options: { writtenFile?: string; writeShare?: number } = {}): Record<string, string> {
    return {
      PRODUCTS_FILE: this.files.products,
      ...(options.writtenFile ? { WRITTEN_FILE: options.writtenFile } : {}),
      WRITE_SHARE: String(options.writeShare ?? MIX_WRITE_SHARE),
    };
  }

  /** The API cluster on the loaded dataset (and nginx in front with --nginx). */
  async cluster(options: Partial<ClusterOptions> & Pick<ClusterOptions, 'cacheMaxBytes'>): Promise<Target> {
    const workers = options.workers ?? this.options.workers;
    const backendPort = await this.port();
    const cluster = await startCluster({
      port: backendPort,
      workers,
      databaseUrl: this.dataset.url,
      poolSize: this.options.poolSize,
      // Behind nginx, each worker listens on a port of its own so that nginx balances over the workers.
      ...(this.options.nginx ? { env: { WORKER_PORTS: 'per-worker' } } : {}),
      ...(this.options.cpuProfileDir === undefined
        ? {}
        : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${this.options.cpuProfileDir}`] }),
      ...options,
    });
    return this.fronted(
      cluster,
      backendPort,
      Array.from({ length: workers }, (_, i) => backendPort + i),
      options.cpus,
    );
  }

  /** perf/hello-world.ts with `workers` workers (and nginx in front with --nginx). */
  async helloWorld(workers: number, cpus?: string): Promise<Target> {
    const backendPort = await this.port();
    return this.fronted(await startHelloWorld(backendPort, workers, cpus), backendPort, [backendPort], cpus);
  }

  /** perf/baseline-server.ts, the legacy stack, with the API's worker count on the loaded dataset (and nginx in front with --nginx). */
  async baseline(): Promise<Target> {
    const port = await this.port();
    return this.fronted(await startBaseline(port, this.options.workers, this.dataset.url), port, [port]);
  }

  /** With --nginx, the shipped nginx.conf on a port of its own in front of `backend`. */
  private async fronted(
    backend: Service,
    backendPort: number,
    upstreams: readonly number[],
    cpus?: string,
  ): Promise<Target> {
    if (!this.options.nginx) return this.track({ service: backend, port: backendPort });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-nginx-'));
    // nginx's workers run as nobody, who must reach their temporary directories in here.
    await chmod(dir, 0o755);
    const port = await this.port();
    let nginx: RunningNginx;
    try {
      nginx = await startNginx(findNginx()!, { dir, port, upstreams });
      if (cpus !== undefined) await pinProcesses(await descendants(nginx.process.pid!), cpus);
    } catch (err) {
      await backend.stop();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const service: Service = {
      process: backend.process,
      output: backend.output,
      async stop(graceMs) {
        await nginx.stop();
        await backend.stop(graceMs);
        await rm(dir, { recursive: true, force: true });
      },
    };
    return this.track({ service, port });
  }

  private track(target: Target): Target {
    this.targets.add(target);
    return target;
  }

  async stop(...targets: Target[]): Promise<void> {
    await Promise.all(
      targets.map(async (target) => {
        await target.service.stop();
        this.targets.delete(target);
      }),
    );
  }

  stopAll(): Promise<void> {
    return this.stop(...this.targets);
  }

  /** The processes serving the API: the cluster's, and PostgreSQL's when this run started it. */
  async stackPids(target: Target): Promise<number[]> {
    const database = (await this.databasePids?.()) ?? [];
    return [...(await descendants(target.service.process.pid!)), ...database];
  }
}
