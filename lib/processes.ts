/**
 * Child processes that the tests and the benchmarks start and watch: spawn one keeping what it
 * prints, wait for a line, a condition (a port answering) or its exit, stop it; run a command to
 * completion; list a process's descendants (Linux /proc).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface WatchOptions {
  /** What failure messages call it ("the cluster"); by default the command. */
  readonly name?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Characters of output kept for failure messages, the last ones (a long run prints a lot); default all. */
  readonly keepChars?: number;
}

export interface Watched {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<Exit>;
  hasExited(): boolean;
  /** What it printed so far, stdout and stderr interleaved in arrival order. */
  output(): string;
  /**
   * Calls `listener` with each complete line it prints from now on, on stdout or stderr, until
   * the function returned is called.
   */
  onLine(listener: (line: string) => void): () => void;
  /** SIGTERM, then SIGKILL if it is still there after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

export function watch(command: string, args: readonly string[], options: WatchOptions = {}): Watched {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keepChars = options.keepChars ?? Number.POSITIVE_INFINITY;
  const listeners = new Set<(line: string) => void>();
  let text = '';
  const collect = (stream: NodeJS.ReadableStream): void => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > keepChars) text = text.slice(-keepChars);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) for (const listener of listeners) listener(line);
    });
  };
  collect(child.stdout!);
  collect(child.stderr!);
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    name: options.name ?? command,
    process: child,
    exited,
    hasExited,
    output: () => text,
    onLine(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop(graceMs = 20_000) {
      if (hasExited()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The next line `watched` prints that `match`es; rejects with its output if it exits first. */
export function nextLine(watched: Watched, match: (line: string) => boolean, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let found = false;
    const unsubscribe = watched.onLine((line) => {
      if (found || !match(line)) return;
      found = true;
      unsubscribe();
      resolve(line);
    });
    void watched.exited.then(({ code, signal }) => {
      if (found) return;
      unsubscribe();
      reject(new Error(`${watched.name} exited (code ${code}, signal ${signal}) before ${what}:\n${watched.output()}`));
    });
  });
}

/**
 * Resolves once `ready()` holds, asking every 100 ms. Throws with the output if the process exits
 * first, or if `timeoutMs` passes (stopping it then).
 */
export async function waitUntil(
  watched: Watched,
  ready: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (watched.hasExited()) throw new Error(`${watched.name} exited before it was ready:\n${watched.output()}`);
    if (await ready()) return;
    if (Date.now() > deadline) {
      await watched.stop();
      throw new Error(`${watched.name} was not ready within ${timeoutMs} ms:\n${watched.output()}`);
    }
    await delay(100);
  }
}

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
