/**
 * What one measured run cost this machine, read just before and just after it: CPU seconds of
 * the API's processes, of PostgreSQL and of the load generator (from /proc), the response cache's
 * lookups (GET /metrics) and the WAL PostgreSQL wrote. perf/capacity.ts divides them by the
 * run's requests: CPU time per request is what carries over to other machines, and on a shared
 * machine it moves far less than requests/s do.
 */
import { readFile } from 'node:fs/promises';
import { descendants } from '../lib/processes.js';
import { parseExposition, total } from '../lib/prometheus-text.js';

export interface RunCosts {
  /** CPU seconds (user + system) of the primary and its workers over the run. */
  readonly apiCpuSeconds: number;
  /** Of every PostgreSQL process; absent when the run's database is not one this process started. */
  readonly databaseCpuSeconds?: number;
  /** Of the load generator (wrk or pgbench): the CPU of this process's children that exited during the run. */
  readonly clientCpuSeconds: number;
  /** Response cache lookups over the run, every worker summed; absent for a server without them. */
  readonly cacheHits?: number;
  readonly cacheMisses?: number;
  /** WAL bytes PostgreSQL wrote over the run. */
  readonly walBytes?: number;
  /**
   * CPU seconds every process of the machine used over the run (/proc/stat, all CPUs, not idle
   * or waiting for I/O; interrupts included, so the kernel's loopback networking too). Minus the
   * above: what everything else took meanwhile, this benchmark's own process (benchCpuSeconds)
   * included.
   */
  readonly machineCpuSeconds: number;
  /** The same, CPU by CPU (cpu0, cpu1, …): for runs whose processes were pinned to CPUs. */
  readonly cpuBusySeconds?: readonly number[];
  /** Wall-clock seconds between the two readings: the run, plus the load generator's start and end. */
  readonly wallSeconds?: number;
  /** This benchmark process's own CPU seconds (its metrics reads and memory sampling). */
  readonly benchCpuSeconds: number;
}

export interface CacheLookups {
  readonly hits: number;
  readonly misses: number;
}

/** The instance's cache lookups so far; undefined from a server that counts none (hello-world). */
export async function cacheLookups(port: number): Promise<CacheLookups | undefined> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const samples = parseExposition(await response.text());
  const [hits, misses] = [total(samples, 'atelier_cache_hits_total'), total(samples, 'atelier_cache_misses_total')];
  return hits === undefined && misses === undefined ? undefined : { hits: hits ?? 0, misses: misses ?? 0 };
}

/** Linux's USER_HZ: /proc reports CPU time in these ticks, 100 a second on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** utime, stime, cutime, cstime of a /proc/<pid>/stat line, in ticks. */
function cpuTicks(stat: string): [number, number, number, number] {
  // The command name is parenthesised and may hold spaces; field 14 (utime) is the 12th after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]), Number(fields[12]), Number(fields[13]), Number(fields[14])];
}

/** CPU seconds each of `pids` has used so far; a process gone meanwhile is left out. */
async function cpuByPid(pids: readonly number[]): Promise<Map<number, number>> {
  const seconds = new Map<number, number>();
  await Promise.all(
    pids.map(async (pid) => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
      if (stat === undefined) return;
      const [utime, stime] = cpuTicks(stat);
      seconds.set(pid, (utime + stime) / TICKS_PER_SECOND);
    }),
  );
  return seconds;
}

/** CPU seconds of this process's children that have exited and been waited for. */
async function reapedChildrenCpu(): Promise<number> {
  const [, , cutime, cstime] = cpuTicks(await readFile('/proc/self/stat', 'utf8'));
  return (cutime + cstime) / TICKS_PER_SECOND;
}

/**
 * Busy CPU seconds so far, of each CPU ("cpuN" lines of /proc/stat) and all together ("cpu"),
 * without idle and iowait.
 */
async function machineCpu(): Promise<{ readonly all: number; readonly byCpu: number[] }> {
  const busy = (line: string): number => {
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND;
  };
  const lines = (await readFile('/proc/stat', 'utf8')).split('\n');
  return {
    all: busy(lines[0]!),
    byCpu: lines.filter((line) => /^cpu\d+ /.test(line)).map(busy),
  };
}

/** CPU used between two readings: processes started during the run count from 0, those that exited are lost. */
function used(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, seconds] of after) sum += seconds - (before.get(pid) ?? 0);
  return sum;
}

export interface CostSources {
  /** The API's primary process (its workers are found as its descendants). */
  readonly apiPid: number;
  /** Where GET /metrics answers. */
  readonly port: number;
  /** PostgreSQL's processes, when they can be read (an embedded server, the --replicas set). */
  readonly databasePids: (() => Promise<number[]>) | undefined;
  /** The WAL position in bytes, or undefined when it cannot be read. */
  readonly walPosition: () => Promise<number | undefined>;
}

interface Reading {
  readonly api: Map<number, number>;
  readonly database: Map<number, number> | undefined;
  readonly client: number;
  readonly lookups: { readonly hits: number; readonly misses: number } | undefined;
  readonly wal: number | undefined;
  readonly machine: { readonly all: number; readonly byCpu: number[] };
  readonly bench: number;
  readonly at: number;
}

async function read(sources: CostSources): Promise<Reading> {
  const [api, database, lookups, wal] = await Promise.all([
    descendants(sources.apiPid).then(cpuByPid),
    sources.databasePids?.().then(cpuByPid),
    cacheLookups(sources.port).catch(() => undefined),
    sources.walPosition().catch(() => undefined),
  ]);
  const { user, system } = process.cpuUsage();
  return {
    api,
    database,
    client: await reapedChildrenCpu(),
    lookups,
    wal,
    machine: await machineCpu(),
    bench: (user + system) / 1e6,
    at: performance.now(),
  };
}

/** `measure()`, with what it cost added as `costs`. */
export async function withCosts<T extends object>(
  sources: CostSources,
  measure: () => Promise<T>,
): Promise<T & { costs: RunCosts }> {
  const before = await read(sources);
  const result = await measure();
  const after = await read(sources);
  const costs: RunCosts = {
    apiCpuSeconds: used(before.api, after.api),
    ...(before.database && after.database ? { databaseCpuSeconds: used(before.database, after.database) } : {}),
    clientCpuSeconds: after.client - before.client,
    ...(before.lookups && after.lookups
      ? {
          cacheHits: after.lookups.hits - before.lookups.hits,
          cacheMisses: after.lookups.misses - before.lookups.misses,
        }
      : {}),
    ...(before.wal !== undefined && after.wal !== undefined ? { walBytes: after.wal - before.wal } : {}),
    machineCpuSeconds: after.machine.all - before.machine.all,
    cpuBusySeconds: after.machine.byCpu.map((seconds, cpu) => seconds - (before.machine.byCpu[cpu] ?? 0)),
    wallSeconds: (after.at - before.at) / 1000,
    benchCpuSeconds: after.bench - before.bench,
  };
  return { ...result, costs };
}
