/**
 * A real PostgreSQL streaming-replication topology on this machine, for the tests and the bench,
 * built with PostgreSQL's own tools (Debian's PostgreSQL 15: initdb, pg_basebackup -R, pg_ctl;
 * perf/replication/debian-postgres.ts):
 *
 *   primary         127.0.0.1:<port> (and the namespace's host address, if a replica has its own
 *                   host); the `atelier` database, migrated (sql/migrate.ts) and seeded by `seed`
 *   each replica    a hot standby on 127.0.0.1; one with `applyDelayMs` applies each commit that
 *                   late, so that its lag is certain; one with `ownHost` runs inside a network
 *                   namespace of its own (perf/replication/netns.ts), at its namespace address:
 *                   partition() drops every packet the host sends it
 *
 * Each replica streams through a physical replication slot named after it, so a replica that was
 * killed, partitioned or left behind by a stopped primary catches up from where it was. Timeouts
 * are short (`walTimeoutMs`: a dead walsender or walreceiver is noticed within 2 s) and a replica
 * retries its primary every 250 ms. Everything is stopped and deleted by close(), and at once when the start fails.
 *
 *   const set = await startReplicationSet({ replicas: [{ name: 'delayed', applyDelayMs: 300 }, …], seed });
 *   await writeOn(set.primary.url);
 *   await set.waitCaughtUp('delayed', { timeoutMs: 10_000 });
 *   await set.partition('partitionable'); … await set.heal('partitionable');
 *
 * Linux, as root (network namespaces; the servers run as the `postgres` OS user).
 */
import { existsSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../lib/net.js';
import { descendants, run } from '../../lib/processes.js';
import { ensureDatabase, openSession, withDatabase } from '../../sql/db/admin.js';
import { migrate } from '../../sql/migrate.js';
import { debianPostgresInstalled, debianServer, PG_BIN, type DebianServer } from './debian-postgres.js';
import { createNamespace, type Namespace } from './netns.js';
import { type Deadline, until } from '../../lib/wait.js';

export type ReplicaName = string;
export type ServerName = 'primary' | ReplicaName;

export interface ReplicaSpec {
  /** Its replication slot's name too: lower case letters. */
  readonly name: ReplicaName;
  /** recovery_min_apply_delay, in ms. */
  readonly applyDelayMs?: number;
  /** Runs in a network namespace of its own, which partition() cuts off (one replica at most). */
  readonly ownHost?: boolean;
}

/** Where a server answers: `url` names the `atelier` database, as the superuser `postgres` (trust, no password). */
export interface Endpoint {
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

export interface ReplicationOptions {
  readonly replicas: readonly ReplicaSpec[];
  /**
   * wal_sender_timeout (primary, set once the replicas are copied) and wal_receiver_timeout
   * (replicas), in ms: how soon either end drops a silent peer; default 2000.
   */
  readonly walTimeoutMs?: number;
  /** Fills the migrated database on the primary, before the replicas are copied. */
  readonly seed: (primaryUrl: string) => Promise<void>;
  /** More postgresql.conf settings for every server, e.g. `{ log_min_duration_statement: '0' }`. */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface ReplicationSet {
  /** The directory holding every data directory and log (`primary.log`, `delayed.log`, …). */
  readonly dir: string;
  /** The network namespace the `ownHost` replica runs in (`ip netns exec <it> …`), if any. */
  readonly namespace: string | undefined;
  readonly primary: Endpoint;
  readonly replicas: Readonly<Record<ReplicaName, Endpoint>>;
  /** The replicas' URLs, in the order of the options: what DATABASE_REPLICA_URLS lists, comma-joined. */
  readonly replicaUrls: readonly string[];
  /** pg_ctl stop -m fast; waits for the walsenders, so up to `walTimeoutMs` longer with a replica partitioned. */
  stopPrimary(): Promise<void>;
  /** pg_ctl start; the replicas reconnect by themselves within about 250 ms. */
  startPrimary(): Promise<void>;
  /** SIGKILLs the replica's postmaster (a crash); resolves once all its processes are gone. */
  killReplica(name: ReplicaName): Promise<void>;
  /** Starts a killed replica again; resolves once it accepts connections (it may still be catching up). */
  startReplica(name: ReplicaName): Promise<void>;
  /** Cuts the link of the `ownHost` replica: packets from the host are silently dropped. */
  partition(name: ReplicaName): Promise<void>;
  heal(name: ReplicaName): Promise<void>;
  /** The primary's current WAL write position, as PostgreSQL prints a pg_lsn ('0/3000148'). */
  primaryLsn(): Promise<string>;
  /** The replica's last replayed position (pg_last_wal_replay_lsn()); rejects if it does not answer within 2 s. */
  replayLsn(name: ReplicaName): Promise<string>;
  /** Resolves once the replica has replayed up to `lsn`. */
  waitReplayed(name: ReplicaName, lsn: string, deadline: Deadline): Promise<void>;
  /** Resolves once the replica has replayed everything the primary had written when called. */
  waitCaughtUp(name: ReplicaName, deadline: Deadline): Promise<void>;
  /** Resolves once the replica's walreceiver is streaming from the primary (pg_stat_wal_receiver). */
  waitStreaming(name: ReplicaName, deadline: Deadline): Promise<void>;
  /** The server's log so far, for failure messages. */
  log(name: ServerName): Promise<string>;
  /** Every process of every server running now (postmasters and their children): for CPU readings. */
  processes(): Promise<number[]>;
  /** Stops every server and removes the namespace, its link and every file. */
  close(): Promise<void>;
}

const DATABASE = 'atelier';
const DIR_PREFIX = 'atelier-replication-';
/** How long one probe query of the harness may take: a partitioned replica never answers. */
const PROBE_MS = 2000;

/** One query on a fresh connection, bounded by `PROBE_MS` whatever the network does. */
async function ask<Row>(url: string, sql: string, params: readonly unknown[] = []): Promise<Row[]> {
  const session = await openSession(url, 'replication-harness', PROBE_MS);
  let timer: NodeJS.Timeout | undefined;
  try {
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${url} did not answer within ${PROBE_MS} ms`)), PROBE_MS);
    });
    return await Promise.race([session.query<Row>(sql, params), expired]);
  } finally {
    clearTimeout(timer);
    // With the query still running, end() destroys the socket instead of waiting for the server.
    await session.end().catch(() => undefined);
  }
}

/**
 * Stops the servers and deletes the directories that a test process which died without its
 * teardown left behind (named after its pid); its namespace is netns.ts's to remove.
 */
async function removeAbandoned(): Promise<void> {
  // A replica's directory is named after it: every directory but the primary's is one.
  for (const entry of await readdir(os.tmpdir())) {
    const owner = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(entry);
    if (!owner || existsSync(`/proc/${owner[1]}`)) continue;
    const root = path.join(os.tmpdir(), entry);
    for (const name of await readdir(root).catch(() => [])) {
      await debianServer({ name, dir: path.join(root, name) }).destroy();
    }
    await rm(root, { recursive: true, force: true });
  }
}

/** postgresql.conf lines, appended: a later line of a setting wins over an earlier one. */
const conf = (settings: Readonly<Record<string, string>>): string =>
  `\n${Object.entries(settings)
    .map(([key, value]) => `${key} = '${value}'`)
    .join('\n')}\n`;

const endpoint = (host: string, port: number): Endpoint => ({
  host,
  port,
  url: `postgres://postgres@${host}:${port}/${DATABASE}`,
});

/** Ports that were free a moment ago, all different. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Builds the primary and the replicas, migrated and seeded, the replicas caught up. A start that
 * fails removes what it made before it rejects.
 */
export async function startReplicationSet(options: ReplicationOptions): Promise<ReplicationSet> {
  if (process.getuid?.() !== 0)
    throw new Error('the replication set needs root (network namespaces, the postgres user)');
  if (options.replicas.filter((replica) => replica.ownHost).length > 1) {
    throw new Error('at most one replica runs on a host of its own');
  }
  if (!debianPostgresInstalled()) {
    throw new Error(`no pg_basebackup in ${PG_BIN}: install Debian's postgresql package (.ci/run does)`);
  }
  const walTimeoutMs = options.walTimeoutMs ?? 2000;
  await removeAbandoned();
  const root = await mkdtemp(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const servers = new Map<ServerName, DebianServer>();
  let netns: Namespace | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const failures: unknown[] = [];
      const attempt = async (work: () => Promise<unknown>): Promise<void> => {
        await work().catch((err: unknown) => failures.push(err));
      };
      // Healed first, so that connections the test still holds to the replica in the namespace
      // are closed by its kernel when it dies, instead of hanging on a link that drops everything.
      if (netns) await attempt(netns.heal);
      await Promise.all([...servers.values()].map((server) => attempt(server.destroy)));
      if (netns) await attempt(netns.remove);
      await attempt(() => rm(root, { recursive: true, force: true }));
      if (failures.length > 0) throw new AggregateError(failures, 'the replication set was not fully removed');
    })();
    return closing;
  };

  const build = async (): Promise<ReplicationSet> => {
    const [uid, gid] = await Promise.all(
      ['-u', '-g'].map(async (flag) => Number((await run('id', [flag, 'postgres'])).stdout)),
    );
    await chown(root, uid!, gid!);
    const ownHost = options.replicas.find((replica) => replica.ownHost)?.name;
    if (ownHost !== undefined) netns = await createNamespace();
    const ns = netns;
    const [primaryPort, ...replicaPorts] = await freePorts(1 + options.replicas.length);
    const primary = endpoint('127.0.0.1', primaryPort!);
    const replicas: Record<ReplicaName, Endpoint> = Object.fromEntries(
      options.replicas.map((replica, i) => [
        replica.name,
        endpoint(replica.name === ownHost ? ns!.address : '127.0.0.1', replicaPorts[i]!),
      ]),
    );
    const place = (name: ServerName): { name: string; dir: string; netns?: Namespace } => ({
      name: name === 'primary' ? 'primary' : `replica ${name}`,
      dir: path.join(root, name),
      ...(name === ownHost ? { netns: ns! } : {}),
    });
    const own = (name: ServerName, at: Endpoint, listen: string, extra: Record<string, string> = {}): string =>
      conf({
        port: String(at.port),
        listen_addresses: listen,
        unix_socket_directories: root,
        cluster_name: name,
        ...extra,
      });

    const main = debianServer(place('primary'));
    servers.set('primary', main);
    await main.program('initdb', ['-D', main.dir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '-N']);
    await appendFile(
      path.join(main.dir, 'postgresql.conf'),
      conf({
        wal_level: 'replica',
        max_wal_senders: '10',
        max_replication_slots: '10',
        hot_standby: 'on',
        hot_standby_feedback: 'on',
        wal_receiver_timeout: `${walTimeoutMs}ms`,
        wal_receiver_status_interval: '1s',
        wal_retrieve_retry_interval: '250ms',
        max_connections: '200',
        // Only processes are killed here, never the machine: what the OS has is safe without fsync.
        fsync: 'off',
        ...options.settings,
      }) + own('primary', primary, ns ? `127.0.0.1,${ns.hostAddress}` : '127.0.0.1'),
    );
    if (ns) {
      // initdb's trust lines cover loopback (databases and replication); these add the link's two ends.
      const linkEnds = [ns.address, ns.hostAddress].flatMap((address) => [
        `host all all ${address}/32 trust`,
        `host replication all ${address}/32 trust`,
      ]);
      await appendFile(path.join(main.dir, 'pg_hba.conf'), `${linkEnds.join('\n')}\n`);
    }
    await main.start();
    const adminUrl = withDatabase(primary.url, 'postgres');
    await ensureDatabase(adminUrl, DATABASE);
    await migrate(primary.url);
    await options.seed(primary.url);

    for (const { name, applyDelayMs } of options.replicas) {
      const replica = debianServer(place(name));
      // The copy's primary_conninfo (-R) names the host and port used here: the namespace's replica
      // copies from inside, through the link, so that it streams through the link afterwards too.
      const from = name === ownHost ? ns!.hostAddress : primary.host;
      await replica.program('pg_basebackup', [
        ...['-D', replica.dir, '-h', from, '-p', String(primary.port), '-U', 'postgres'],
        ...['-X', 'stream', '-c', 'fast', '-N', '-R', '-C', '-S', name],
      ]);
      const delay: Record<string, string> =
        applyDelayMs === undefined ? {} : { recovery_min_apply_delay: `${applyDelayMs}ms` };
      await appendFile(
        path.join(replica.dir, 'postgresql.conf'),
        own(name, replicas[name], replicas[name].host, delay),
      );
      servers.set(name, replica);
      await replica.start();
    }

    // Only now: a copy's WAL stream (pg_basebackup -X stream) can go quiet for seconds on a busy
    // machine, and a short timeout then kills the copy (seen with two sets built at once).
    await ask(primary.url, `ALTER SYSTEM SET wal_sender_timeout = '${walTimeoutMs}ms'`);
    await ask(primary.url, 'SELECT pg_reload_conf()');

    const server = (name: ServerName): DebianServer => servers.get(name)!;
    const primaryLsn = async (): Promise<string> =>
      (await ask<{ lsn: string }>(primary.url, 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
    const replayLsn = async (name: ReplicaName): Promise<string> =>
      (await ask<{ lsn: string }>(replicas[name].url, 'SELECT pg_last_wal_replay_lsn()::text AS lsn'))[0]!.lsn;
    const waitReplayed = async (name: ReplicaName, lsn: string, deadline: Deadline): Promise<void> => {
      let last = 'no answer yet';
      const replayed = async (): Promise<boolean> => {
        try {
          const [row] = await ask<{ lsn: string; done: boolean }>(
            replicas[name].url,
            'SELECT pg_last_wal_replay_lsn()::text AS lsn, pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
            [lsn],
          );
          last = row!.lsn;
          return row!.done;
        } catch (err) {
          last = (err as Error).message;
          return false;
        }
      };
      try {
        await until(replayed, `the ${name} replica replayed the primary's WAL up to ${lsn}`, deadline);
      } catch (err) {
        throw new Error(`${(err as Error).message} (its replay position: ${last})`);
      }
    };
    const namespaced = (name: ReplicaName): Namespace => {
      if (name !== ownHost) throw new Error(`the ${name} replica runs on the host: only ${ownHost} can be partitioned`);
      return ns!;
    };

    const set: ReplicationSet = {
      dir: root,
      namespace: ns?.name,
      primary,
      replicas,
      replicaUrls: options.replicas.map(({ name }) => replicas[name]!.url),
      stopPrimary: () => main.stop(),
      startPrimary: () => main.start(),
      killReplica: (name) => server(name).kill(),
      startReplica: (name) => server(name).start(),
      partition: (name) => namespaced(name).partition(),
      heal: (name) => namespaced(name).heal(),
      primaryLsn,
      replayLsn,
      waitReplayed,
      waitCaughtUp: async (name, deadline) => waitReplayed(name, await primaryLsn(), deadline),
      async waitStreaming(name, deadline) {
        await until(
          async () => {
            const rows = await ask<{ status: string }>(
              replicas[name].url,
              'SELECT status FROM pg_stat_wal_receiver',
            ).catch(() => []);
            return rows[0]?.status === 'streaming';
          },
          `the ${name} replica streamed from the primary`,
          deadline,
        );
      },
      log: (name) => server(name).log(),
      async processes() {
        const pids: number[] = [];
        for (const each of servers.values()) {
          const postmaster = await each.postmaster();
          if (postmaster !== undefined) pids.push(postmaster, ...(await descendants(postmaster)));
        }
        return pids;
      },
      close,
    };
    for (const { name } of options.replicas) await set.waitCaughtUp(name, { timeoutMs: 30_000 });
    return set;
  };
  try {
    return await build();
  } catch (err) {
    // Removed at once: a test file whose top-level await rejects may never run its teardown.
    await close().catch(() => undefined);
    throw err;
  }
}
