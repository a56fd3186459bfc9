/** The load generators, wrk for HTTP and pgbench for SQL: found, installed if missing, and run. */
import path from 'node:path';
import { parseWrk, type RunResult } from './bench-parse.js';
import { commandExists, run } from '../lib/processes.js';
import { pinned, ROOT } from './bench-processes.js';

/** Debian's packages for the tools the benchmark runs. */
const PACKAGES: Record<string, string> = { wrk: 'wrk', pgbench: 'postgresql-contrib', taskset: 'util-linux' };

/** Installs what is missing with apt-get when running as root; otherwise says what to install. */
export async function ensureTools(tools: readonly string[], log: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const tool of tools) if (!(await commandExists(tool))) missing.push(tool);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((tool) => PACKAGES[tool] ?? tool))];
  if (process.getuid?.() !== 0 || !(await commandExists('apt-get'))) {
    throw new Error(
      `the benchmark needs ${missing.join(', ')}: install them (Debian: apt-get install -y ${packages.join(' ')})`,
    );
  }
  log(`installing ${packages.join(', ')} with apt-get`);
  await run('apt-get', ['update']);
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

export interface WrkRun {
  readonly url: string;
  /** A Lua script under perf/. */
  readonly script: string;
  /** Read by the script through os.getenv. */
  readonly env: Readonly<Record<string, string>>;
  readonly threads: number;
  readonly connections: number;
  readonly seconds: number;
  /** Slower answers count as timeouts and leave the latency histogram: overload runs raise it. */
  readonly timeoutSeconds?: number;
  /** CPUs wrk is confined to (taskset -c). */
  readonly cpus?: string;
}

export async function runWrk(options: WrkRun): Promise<RunResult & { output: string }> {
  const [command, args] = pinned(options.cpus, 'wrk', [
    `--threads=${options.threads}`,
    `--connections=${options.connections}`,
    `--duration=${options.seconds}s`,
    `--timeout=${options.timeoutSeconds ?? 2}s`,
    '--latency',
    `--script=${path.join(ROOT, 'perf', options.script)}`,
    options.url,
  ]);
  const { stdout, stderr } = await run(command, args, { env: { ...process.env, ...options.env } });
  return { ...parseWrk(stdout), output: `${stdout}${stderr}` };
}
