import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

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

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningCluster {
  readonly primary: ChildProcess;
  /** Every log line so far, stdout and stderr interleaved in arrival order. */
  readonly lines: readonly LogLine[];
  /** Everything printed so far, for failure messages (includes lines that are not JSON). */
  output(): string;
  /** The first line (already seen or still to come) matching `match`; rejects if the primary exits first. */
  waitFor(match: (line: LogLine) => boolean, what: string): Promise<LogLine>;
  readonly exited: Promise<Exit>;
}

/**
 * Spawns `node build/cluster/main.js` (what `npm start` runs) with `env` over the test's own
 * environment. The primary is killed at teardown if the test left it running; its workers then
 * exit on their own when their IPC channel closes.
 */
export function startCluster(t: Test, env: Readonly<Record<string, string>>): RunningCluster {
  const primary = spawn(process.execPath, [MAIN], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<(line: LogLine) => void>();
  let text = '';
  const collect = (stream: NodeJS.ReadableStream): void => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) {
        let line: LogLine;
        try {
          line = JSON.parse(part) as LogLine;
        } catch {
          continue;
        }
        lines.push(line);
        for (const waiter of waiters) waiter(line);
      }
    });
  };
  collect(primary.stdout!);
  collect(primary.stderr!);
  const exited = new Promise<Exit>((resolve) => {
    primary.on('exit', (code, signal) => resolve({ code, signal }));
  });
  t.teardown(async () => {
    if (primary.exitCode === null && primary.signalCode === null) {
      primary.kill('SIGKILL');
      await exited;
    }
  });

  return {
    primary,
    lines,
    output: () => text,
    exited,
    waitFor(match, what) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        const waiter = (line: LogLine): void => {
          if (!match(line)) return;
          waiters.delete(waiter);
          resolve(line);
        };
        waiters.add(waiter);
        void exited.then(({ code, signal }) => {
          if (!waiters.delete(waiter)) return;
          reject(new Error(`the cluster exited (code ${code}, signal ${signal}) before ${what}:\n${text}`));
        });
      });
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
