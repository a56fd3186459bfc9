import type { ChildProcess } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { freePort } from '../../lib/net.js';
import { type Exit, nextLine, watch } from '../../lib/processes.js';
import { type Deadline, within } from '../../lib/wait.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = path.join(root, 'build/cluster/main.js');

/** One structured log line of the primary or a worker (lib/log.ts). */
export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly role: 'primary' | 'worker';
  readonly pid: number;
  readonly event: string;
  readonly [field: string]: unknown;
}

export interface RunningCluster {
  readonly primary: ChildProcess;
  /** Every log line so far, stdout and stderr interleaved in arrival order. */
  readonly lines: readonly LogLine[];
  /** Everything printed so far, for failure messages (includes lines that are not JSON). */
  output(): string;
  /**
   * The first line (already seen or still to come) matching `match`; rejects if the primary exits
   * first or the deadline (default 60 s: a cold start on a loaded 2-core machine) passes.
   */
  waitFor(match: (line: LogLine) => boolean, what: string, deadline?: Deadline): Promise<LogLine>;
  readonly exited: Promise<Exit>;
}

function logLine(text: string): LogLine | undefined {
  try {
    return JSON.parse(text) as LogLine;
  } catch {
    return undefined;
  }
}

/**
 * Spawns `node build/cluster/main.js` (what `npm start` runs) with `env` over the test's own
 * environment. The primary is killed at teardown if the test left it running; its workers then
 * exit on their own when their IPC channel closes.
 */
export function startCluster(t: Test, env: Readonly<Record<string, string>>): RunningCluster {
  const cluster = watch(process.execPath, [MAIN], { name: 'the cluster', cwd: root, env: { ...process.env, ...env } });
  const lines: LogLine[] = [];
  cluster.onLine((text) => {
    const line = logLine(text);
    if (line !== undefined) lines.push(line);
  });
  t.teardown(async () => {
    if (!cluster.hasExited()) {
      cluster.process.kill('SIGKILL');
      await within(cluster.exited, 'the killed primary exited', { timeoutMs: 10_000 });
    }
  });

  return {
    primary: cluster.process,
    lines,
    output: cluster.output,
    exited: cluster.exited,
    async waitFor(match, what, deadline = { timeoutMs: 60_000 }) {
      const seen = lines.find(match);
      if (seen) return seen;
      const matching = (text: string): boolean => {
        const line = logLine(text);
        return line !== undefined && match(line);
      };
      return JSON.parse(await within(nextLine(cluster, matching, what), what, deadline)) as LogLine;
    },
  };
}

export const isEvent =
  (event: string) =>
  (line: LogLine): boolean =>
    line.event === event;

/**
 * The pid, among `pids`, owning the server end of the loopback TCP connection from `clientPort`
 * to `serverPort`, read from /proc (Linux): tells which worker accepted a connection without
 * the server having to say so.
 */
export async function connectionOwner(
  serverPort: number,
  clientPort: number,
  pids: readonly number[],
): Promise<number | undefined> {
  const hexPort = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
  let inode: string | undefined;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hexPort(serverPort)}`) && fields[2]?.endsWith(`:${hexPort(clientPort)}`))
        inode = fields[9];
    }
  }
  if (inode === undefined) return undefined;
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === `socket:[${inode}]`) return pid;
    }
  }
  return undefined;
}

/** Whether `port` can be bound on every address right now (as the primary's port claim binds it). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '0.0.0.0', () => probe.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive ports that were all free a moment ago, for WORKER_PORTS=per-worker:
 * freePort vouches for one port only, and the next one is often some connection's local port.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await freePort();
    let free = first + count - 1 <= 65535;
    for (let port = first + 1; free && port < first + count; port++) free = await bindable(port);
    if (free) return first;
  }
  throw new Error(`found no ${count} consecutive free ports in 20 attempts`);
}
