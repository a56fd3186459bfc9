/**
 * One PostgreSQL server run with Debian's PostgreSQL 15 binaries (package `postgresql`), which
 * have pg_basebackup, unlike the embedded server's: started and stopped with pg_ctl, as the
 * `postgres` OS user (PostgreSQL refuses to run as root), optionally inside a network namespace.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { descendants, run } from '../../lib/processes.js';
import type { Namespace } from './netns.js';
import { until } from '../../lib/wait.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface ServerPlace {
  /** What messages call it: `primary`, `replica delayed`. */
  readonly name: string;
  /** The data directory; its parent must be the postgres user's to write in. */
  readonly dir: string;
  readonly netns?: Namespace;
}

export interface DebianServer extends ServerPlace {
  /** Runs one of PostgreSQL's programs as the postgres user, inside the namespace if any. */
  program(program: string, args: readonly string[]): Promise<string>;
  /** pg_ctl start; resolves once the server accepts connections (a standby: once consistent). */
  start(): Promise<void>;
  /** pg_ctl stop -m fast: sessions are cut, a shutdown checkpoint is written. */
  stop(): Promise<void>;
  /** SIGKILLs the postmaster, as a crash would; resolves once its children have exited too (a restart needs that). */
  kill(): Promise<void>;
  /** SIGKILLs the postmaster and every child at once, if running (teardown: the data goes anyway). */
  destroy(): Promise<void>;
  /** The postmaster's pid, undefined when the server is not running. */
  postmaster(): Promise<number | undefined>;
  /** The server's log so far, for failure messages. */
  log(): Promise<string>;
}

const PG_CTL_TIMEOUT_S = '60';

/**
 * Whether `pid` is still in the process table. A zombie counts: PostgreSQL's lock-file check
 * (kill 0) sees it as a running postmaster, and init here reaps orphans only every 2 s or so.
 */
const present = (pid: number): boolean => existsSync(`/proc/${pid}`);

/** SIGKILLs `victims` and waits until every one of `gone` has exited. */
async function sigkill(victims: readonly number[], gone: readonly number[], what: string): Promise<void> {
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already exited.
    }
  }
  await until(() => gone.every((pid) => !present(pid)), what, { timeoutMs: 15_000 });
}

export function debianServer(place: ServerPlace): DebianServer {
  const logFile = `${place.dir}.log`;
  const program = async (name: string, args: readonly string[]): Promise<string> => {
    const asPostgres: [string, string[]] = ['runuser', ['-u', 'postgres', '--', path.join(PG_BIN, name), ...args]];
    const [command, argv] = place.netns ? place.netns.inside(...asPostgres) : asPostgres;
    // The postgres user may not be able to enter the test's working directory.
    return (await run(command, argv, { cwd: path.dirname(place.dir) })).stdout;
  };
  const postmaster = async (): Promise<number | undefined> => {
    const text = await readFile(path.join(place.dir, 'postmaster.pid'), 'utf8').catch(() => undefined);
    const pid = Number(text?.split('\n')[0]);
    return pid > 0 && present(pid) ? pid : undefined;
  };
  const log = (): Promise<string> => readFile(logFile, 'utf8').catch(() => '');
  const withLog = async (what: string, work: () => Promise<unknown>): Promise<void> => {
    try {
      await work();
    } catch (err) {
      throw new Error(
        `${what} failed: ${(err as Error).message}\n--- ${place.name}'s log ---\n${(await log()).slice(-4000)}`,
      );
    }
  };
  return {
    ...place,
    program,
    postmaster,
    log,
    start: () =>
      withLog(`starting the ${place.name}`, () =>
        program('pg_ctl', ['start', '-w', '-t', PG_CTL_TIMEOUT_S, '-D', place.dir, '-l', logFile]),
      ),
    stop: () =>
      withLog(`stopping the ${place.name}`, () =>
        program('pg_ctl', ['stop', '-w', '-t', PG_CTL_TIMEOUT_S, '-m', 'fast', '-D', place.dir]),
      ),
    async kill() {
      const pid = await postmaster();
      if (pid === undefined) throw new Error(`the ${place.name} is not running: nothing to kill`);
      // A restart needs the old children gone too (they still hold the shared memory), and once
      // the postmaster is dead they are no longer its descendants: list them first.
      await sigkill([pid], await descendants(pid), `the killed ${place.name}'s children exited`);
    },
    async destroy() {
      const pid = await postmaster();
      if (pid === undefined) return;
      const processes = await descendants(pid);
      await sigkill(processes, processes, `every process of the ${place.name} exited`);
    },
  };
}

export const debianPostgresInstalled = (): boolean => existsSync(path.join(PG_BIN, 'pg_basebackup'));
