/**
 * The processes a benchmark starts, watches and stops: the API cluster, the hello-world
 * ceiling, the load generators; and what it reads about them from /proc (memory, CPU pinning).
 */
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { run, waitUntil, watch, type Watched } from '../lib/processes.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Only the tail of what a server prints matters for a failure message; a long run logs a lot. */
const OUTPUT_KEPT = 64 * 1024;

/**
 * `taskset -c <cpus>` in front of a command when cpus are given: the process and everything it
 * forks stay on those CPUs.
 */
export function pinned(cpus: string | undefined, command: string, args: readonly string[]): [string, string[]] {
  return cpus === undefined ? [command, [...args]] : ['taskset', ['-c', cpus, command, ...args]];
}

/** Moves running processes (all their threads) onto `cpus`; their future children follow. */
export async function pinProcesses(pids: readonly number[], cpus: string): Promise<void> {
  for (const pid of pids) await run('taskset', ['-a', '-p', '-c', cpus, String(pid)]).catch(() => undefined);
}

/**
 * Proportional set size of the processes, in bytes: shared pages (PostgreSQL's shared buffers,
 * node's code) are split between the processes sharing them instead of counted once per process.
 */
export async function memoryBytes(pids: readonly number[]): Promise<number> {
  const sizes = await Promise.all(
    pids.map(async (pid) => {
      const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
      const pss = /^Pss:\s+(\d+) kB/m.exec(rollup);
      return pss ? Number(pss[1]) * 1024 : 0;
    }),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

/** Peak of `sample()` every `everyMs` until `stop` settles. */
export async function peakWhile(sample: () => Promise<number>, stop: Promise<unknown>, everyMs = 250): Promise<number> {
  let peak = await sample();
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  while (!done) {
    await Promise.race([delay(everyMs), stop.catch(() => undefined)]);
    peak = Math.max(peak, await sample());
  }
  return peak;
}

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const CLOCK_TICKS = 100;

/** User + system CPU seconds of each process so far, from /proc/<pid>/stat. */
export async function cpuSeconds(pids: readonly number[]): Promise<number[]> {
  return Promise.all(
    pids.map(async (pid) => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    }),
  );
}

/** A server the benchmark started (a Watched, or nginx in front of one). */
export interface Service {
  readonly process: ChildProcess;
  /** What it printed last, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if it is still there after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface ClusterOptions {
  readonly port: number;
  readonly workers: number;
  readonly databaseUrl: string;
  readonly cacheMaxBytes: number;
  /** 0: bodies never expire by age (a read-only hot set stays cached for the whole scenario). */
  readonly cacheTtlMs?: number;
  readonly poolSize: number;
  /** CPUs the primary and its workers are confined to (taskset -c), e.g. "0". */
  readonly cpus?: string;
  /** Extra words put in front of the command (e.g. a systemd-run scope). */
  readonly wrapper?: readonly string[];
  /** Extra environment (e.g. WORKER_PORTS). */
  readonly env?: NodeJS.ProcessEnv;
  /** Node's own flags for the primary, which its workers inherit (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  readonly nodeArgs?: readonly string[];
}

/** `npm start`'s entry against an already loaded database; resolves once every worker is ready. */
export async function startCluster(options: ClusterOptions): Promise<Service> {
  const [command, args] = pinned(options.cpus, process.execPath, [
    ...(options.nodeArgs ?? []),
    path.join(ROOT, 'build/cluster/main.js'),
  ]);
  const [wrapped, ...wrappedArgs] = [...(options.wrapper ?? []), command, ...args];
  const service = watch(wrapped!, wrappedArgs, {
    name: 'the cluster',
    cwd: ROOT,
    keepChars: OUTPUT_KEPT,
    env: {
      ...process.env,
      ...options.env,
      PORT: String(options.port),
      WORKERS: String(options.workers),
      DATABASE_URL: options.databaseUrl,
      CACHE_MAX_BYTES: String(options.cacheMaxBytes),
      ...(options.cacheTtlMs === undefined ? {} : { CACHE_TTL_MS: String(options.cacheTtlMs) }),
      PG_POOL_SIZE: String(options.poolSize),
      SEED_SCALE: '0',
    },
  });
  await waitUntil(service, () => service.output().includes('"event":"cluster_ready"'));
  return service;
}

/** One of perf/'s own servers (`script`, built), with PORT and WORKERS, confined to `cpus` if given. */
function perfServer(
  name: string,
  script: string,
  cpus: string | undefined,
  env: Readonly<Record<string, string>>,
): Watched {
  const [command, args] = pinned(cpus, process.execPath, [path.join(ROOT, 'build/perf', script)]);
  return watch(command, args, { name, cwd: ROOT, keepChars: OUTPUT_KEPT, env: { ...process.env, ...env } });
}

/** perf/hello-world.ts with the same worker count and port sharing; resolves once it answers. */
export async function startHelloWorld(port: number, workers: number, cpus?: string): Promise<Service> {
  const service = perfServer('hello-world', 'hello-world.js', cpus, { PORT: String(port), WORKERS: String(workers) });
  // Each worker binds on its own; give them all the time to, not just the first.
  await waitUntil(service, async () => (await httpStatus(port, '/')) === 200);
  await delay(500);
  return service;
}

/** perf/baseline-server.ts, the legacy stack, over the database at `databaseUrl`; resolves once every worker listens. */
export async function startBaseline(
  port: number,
  workers: number,
  databaseUrl: string,
  cpus?: string,
): Promise<Service> {
  const service = perfServer('the baseline', 'baseline-server.js', cpus, {
    PORT: String(port),
    WORKERS: String(workers),
    DATABASE_URL: databaseUrl,
  });
  await waitUntil(service, () => service.output().includes(`baseline: ${workers} workers on port ${port}`));
  return service;
}

/** The status of one GET over a new connection, or 0 when nothing answered. */
export async function httpStatus(port: number, requestPath: string): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${requestPath}`, { signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** The machine's 1, 5 and 15 minute load averages, as a run's report prints them. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}
