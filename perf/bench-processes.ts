/**
 * The processes a benchmark starts, watches and stops: the API cluster, the hello-world
 * ceiling, the load generators; and what it reads about them from /proc (memory, CPU pinning).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Output {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; rejects with its output when it fails. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Output> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { ...options, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

export async function commandExists(command: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );
}

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

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
}

async function processTable(): Promise<ProcStat[]> {
  const stats = await Promise.all(
    (await readdir('/proc'))
      .filter((name) => /^\d+$/.test(name))
      .map(async (name) => {
        const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => undefined);
        if (stat === undefined) return undefined;
        // The command name is parenthesised and may itself hold spaces and parentheses.
        const close = stat.lastIndexOf(')');
        const fields = stat.slice(close + 2).split(' ');
        return { pid: Number(name), ppid: Number(fields[1]), comm: stat.slice(stat.indexOf('(') + 1, close) };
      }),
  );
  return stats.filter((stat): stat is ProcStat => stat !== undefined);
}

/** `root` and every process descended from it, optionally only those named `comm`. */
export async function descendants(root: number, comm?: string): Promise<number[]> {
  const table = await processTable();
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const stat of table) {
      if (!tree.has(stat.pid) && tree.has(stat.ppid)) {
        tree.add(stat.pid);
        grew = true;
      }
    }
  }
  return table
    .filter((stat) => tree.has(stat.pid) && (comm === undefined || stat.comm === comm))
    .map((stat) => stat.pid);
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

export interface Service {
  readonly process: ChildProcess;
  /** Everything it printed, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if it is still there after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

function startService(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Service {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const keep = (chunk: Buffer): void => {
    // Only the tail matters for a failure message; a long run logs a lot.
    text = (text + chunk.toString('utf8')).slice(-64 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = once(child, 'exit');
  return {
    process: child,
    output: () => text,
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitUntil(
  service: Service,
  ready: () => Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (service.process.exitCode !== null || service.process.signalCode !== null) {
      throw new Error(`${what} exited before it was ready:\n${service.output()}`);
    }
    if (await ready()) return;
    if (Date.now() > deadline) {
      await service.stop();
      throw new Error(`${what} was not ready within ${timeoutMs} ms:\n${service.output()}`);
    }
    await delay(100);
  }
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
  /** Extra environment (e.g. NODE_OPTIONS=--cpu-prof for a profile). */
  readonly env?: NodeJS.ProcessEnv;
}

/** `npm start`'s entry against an already loaded database; resolves once every worker is ready. */
export async function startCluster(options: ClusterOptions): Promise<Service> {
  const [command, args] = pinned(options.cpus, process.execPath, [path.join(ROOT, 'build/cluster/main.js')]);
  const [wrapped, ...wrappedArgs] = [...(options.wrapper ?? []), command, ...args];
  const service = startService(wrapped!, wrappedArgs, {
    ...process.env,
    ...options.env,
    PORT: String(options.port),
    WORKERS: String(options.workers),
    DATABASE_URL: options.databaseUrl,
    CACHE_MAX_BYTES: String(options.cacheMaxBytes),
    ...(options.cacheTtlMs === undefined ? {} : { CACHE_TTL_MS: String(options.cacheTtlMs) }),
    PG_POOL_SIZE: String(options.poolSize),
    SEED_SCALE: '0',
  });
  await waitUntil(service, async () => service.output().includes('"event":"cluster_ready"'), 'the cluster');
  return service;
}

/** perf/hello-world.ts with the same worker count and port sharing; resolves once it answers. */
export async function startHelloWorld(port: number, workers: number, cpus?: string): Promise<Service> {
  const [command, args] = pinned(cpus, process.execPath, [path.join(ROOT, 'build/perf/hello-world.js')]);
  const service = startService(command, args, { ...process.env, PORT: String(port), WORKERS: String(workers) });
  // Each worker binds on its own; give them all the time to, not just the first.
  await waitUntil(service, async () => (await httpStatus(port, '/')) === 200, 'hello-world');
  await delay(500);
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
