/**
 * Where a read runs: on a streaming replica that has replayed far enough, or on the primary
 * (docs/operations.md § Read replicas). Writes, LISTEN and everything that must see the newest
 * data use the primary pool directly; reads go through `readPool(position)`.
 *
 * Each node is probed every `probeIntervalMs` on a dedicated connection: the primary for its WAL
 * insert position, each replica for its replay position. A replica serves a read that must see
 * everything up to position p only if a probe answered before the read started has shown it
 * replayed p. Replay only moves forward, and a replica that restarts (the one way its replay
 * position can move back, to where its crash recovery becomes consistent) closes the probe's
 * connection as it goes down, which takes the replica out of rotation at once, long before it
 * accepts connections again; it is put back by a fresh probe.
 *
 * A replica is in rotation while its probes answer within `timeoutMs` and it is at most
 * `maxLagMs` behind the primary (measured against the primary's probed positions, so an idle
 * primary shows no lag). A partitioned host (packets silently dropped) is found by that timeout,
 * not by an error. A read sent to a replica that fails or does not answer within `timeoutMs` is
 * run again on the primary, so a replica's failure costs a client latency, never a failed request.
 *
 * While the primary does not answer (down, restarting, cut off), reads that wanted the newest
 * data go to a replica that has replayed the last position the primary was seen at, which holds
 * every change this worker was told of; once the primary has been gone for `maxLagMs`, the most
 * advanced replica in rotation serves them (what the primary wrote but never sent is lost to
 * every replica; writes answer 503 meanwhile).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Client } from './driver.js';
import { isDatabaseUnavailable } from './errors.js';
import { createPool, type ConnectionPool, type Pool, type PoolOptions } from './pool.js';
import { parseWalPosition, type WalPosition } from './wal.js';

export interface ReplicaOptions {
  readonly urls: readonly string[];
  /** Each replica's pool: the primary's settings, less what a replica never needs. */
  readonly pool: Omit<PoolOptions, 'connectionString' | 'lockTimeoutMillis' | 'queryTimeoutMillis'>;
  readonly maxLagMs: number;
  readonly probeIntervalMs: number;
  /** A probe, connection or read that takes longer takes the replica out of rotation. */
  readonly timeoutMs: number;
  readonly onChange: (change: RotationChange) => void;
}

export interface RotationChange {
  /** host:port of the replica, or "primary". */
  readonly node: string;
  readonly inRotation: boolean;
  readonly reason: string;
}

export interface ReplicaStats {
  readonly node: string;
  readonly inRotation: boolean;
  readonly lagMs: number;
  readonly inFlight: number;
  /** Reads it answered, and reads sent to it that were run again on the primary, since start. */
  readonly reads: number;
  readonly retried: number;
}

const PRIMARY_POSITION = { name: 'probe-primary', text: 'SELECT pg_current_wal_insert_lsn()::text AS position' };
const REPLAY_POSITION = {
  name: 'probe-replica',
  text: 'SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS position',
};

/** The primary's probed positions kept to measure lag against: enough to span the lag bound. */
const SAMPLES = 256;

type Query = (...args: unknown[]) => Promise<unknown>;

/** A dedicated connection asked one question every interval; reconnected after any failure. */
class Probe {
  private client: Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly statement: { name: string; text: string },
    private readonly options: Pick<ReplicaOptions, 'probeIntervalMs' | 'timeoutMs'> & { applicationName: string },
    private readonly onAnswer: (row: Record<string, unknown>) => void,
    private readonly onFailure: (reason: string) => void,
  ) {}

  start(): void {
    void this.round();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.drop();
  }

  private async round(): Promise<void> {
    try {
      this.client ??= await this.connect();
      const result = await this.client.query<Record<string, unknown>>(this.statement);
      if (!this.closed) this.onAnswer(result.rows[0]!);
    } catch (err) {
      this.drop();
      if (!this.closed) this.onFailure((err as Error).message);
    }
    if (!this.closed) this.timer = setTimeout(() => void this.round(), this.options.probeIntervalMs).unref();
  }

  private async connect(): Promise<Client> {
    const client = new Client({
      connectionString: this.url,
      application_name: this.options.applicationName,
      connectionTimeoutMillis: this.options.timeoutMs,
      query_timeout: this.options.timeoutMs,
      keepAlive: true,
    });
    // The server going down closes this connection first: the node leaves rotation at once.
    const lost = (err?: Error): void => {
      if (this.client !== client) return;
      this.drop();
      if (!this.closed) this.onFailure(err?.message ?? 'the probe connection was closed');
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    return client;
  }

  private drop(): void {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    client.removeAllListeners('end');
    client.on('error', () => undefined);
    client.connection.stream.destroy();
  }
}

class Replica {
  /** Replay position shown by the last probe; 0 while out of rotation. */
  replayed: WalPosition = 0;
  healthy = false;
  lagMs = 0;
  inFlight = 0;
  reads = 0;
  retried = 0;
  readonly pool: ConnectionPool;
  readonly query: Query;

  constructor(
    readonly node: string,
    url: string,
    options: ReplicaOptions,
  ) {
    // A partitioned replica never answers: its reads fail by these timeouts and run on the primary.
    this.pool = createPool({
      ...options.pool,
      connectionString: url,
      connectionTimeoutMillis: Math.min(options.pool.connectionTimeoutMillis, options.timeoutMs),
      queryTimeoutMillis: options.timeoutMs,
    });
    this.query = this.pool.query.bind(this.pool) as Query;
  }
}

function nodeName(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}`;
}

/** Reads balanced over the replicas (least in flight) under the read-your-write rule above. */
export class ReadRouter {
  private readonly replicas: Replica[];
  private readonly probes: Probe[] = [];
  private readonly primaryQuery: Query;
  private primaryUp = true;
  private primaryDownSince = 0;
  /** The primary's probed insert positions, oldest first, with when they were read. */
  private readonly samples: { at: number; position: WalPosition }[] = [];

  constructor(
    private readonly primary: ConnectionPool,
    primaryUrl: string,
    private readonly options: ReplicaOptions,
  ) {
    this.primaryQuery = primary.query.bind(primary) as Query;
    this.replicas = options.urls.map((url) => new Replica(nodeName(url), url, options));
    if (this.replicas.length === 0) return;
    const probeOptions = {
      probeIntervalMs: options.probeIntervalMs,
      timeoutMs: options.timeoutMs,
      applicationName: `${options.pool.applicationName}-probe`,
    };
    this.probes.push(
      new Probe(
        primaryUrl,
        PRIMARY_POSITION,
        probeOptions,
        (row) => this.primaryAnswered(parseWalPosition(row.position as string)),
        (reason) => this.primaryFailed(reason),
      ),
    );
    options.urls.forEach((url, i) => {
      const replica = this.replicas[i]!;
      this.probes.push(
        new Probe(
          url,
          REPLAY_POSITION,
          probeOptions,
          (row) =>
            row.in_recovery === true && typeof row.position === 'string'
              ? this.replicaAnswered(replica, parseWalPosition(row.position))
              : this.replicaFailed(replica, 'the server is not a replica in recovery'),
          (reason) => this.replicaFailed(replica, reason),
        ),
      );
    });
    for (const probe of this.probes) probe.start();
  }

  get hasReplicas(): boolean {
    return this.replicas.length > 0;
  }

  /** Whether the primary answered its last probe (always true without replicas: it is not probed). */
  get primaryReachable(): boolean {
    return this.primaryUp;
  }

  /** Some replica can serve reads now. */
  get replicaInRotation(): boolean {
    return this.replicas.some((replica) => this.inRotation(replica));
  }

  /**
   * The pool a read runs on that must see every change committed up to `position`, or the newest
   * data when undefined. Without replicas it is the primary's pool itself.
   */
  readPool(position: WalPosition | undefined): Pool {
    if (this.replicas.length === 0) return this.primary;
    return { query: ((...args: unknown[]) => this.read(position, args)) as Pool['query'] };
  }

  stats(): ReplicaStats[] {
    return this.replicas.map((replica) => ({
      node: replica.node,
      inRotation: this.inRotation(replica),
      lagMs: replica.lagMs,
      inFlight: replica.inFlight,
      reads: replica.reads,
      retried: replica.retried,
    }));
  }

  async close(): Promise<void> {
    for (const probe of this.probes) probe.close();
    await Promise.all(this.replicas.map((replica) => replica.pool.end()));
  }

  private async read(position: WalPosition | undefined, args: unknown[]): Promise<unknown> {
    const replica = this.pick(position);
    if (replica !== undefined) {
      replica.inFlight += 1;
      try {
        const result = await replica.query(...args);
        replica.reads += 1;
        return result;
      } catch (err) {
        replica.retried += 1;
        if (isDatabaseUnavailable(err)) this.replicaFailed(replica, (err as Error).message);
      } finally {
        replica.inFlight -= 1;
      }
    }
    try {
      return await this.primaryQuery(...args);
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      this.primaryFailed((err as Error).message);
      const standIn = await this.standIn();
      if (standIn === undefined) throw err;
      return standIn.query(...args);
    }
  }

  /**
   * A replica to read from while the primary is down: one that has everything this worker saw
   * the primary at, waited for (probe by probe) until the lag bound lets any replica in rotation do.
   */
  private async standIn(): Promise<Replica | undefined> {
    for (;;) {
      const replica = this.pick(undefined);
      if (replica !== undefined || this.primaryUp || !this.replicaInRotation) return replica;
      await delay(this.options.probeIntervalMs);
    }
  }

  /** The replica (least reads in flight) that may serve a read needing `position`, if any. */
  private pick(position: WalPosition | undefined): Replica | undefined {
    const needed = position ?? this.newestKnownWithoutPrimary();
    if (needed === undefined) return undefined;
    let best: Replica | undefined;
    for (const replica of this.replicas) {
      if (!this.inRotation(replica) || replica.replayed < needed) continue;
      if (best === undefined || replica.inFlight < best.inFlight) best = replica;
    }
    return best;
  }

  /**
   * What a read of the newest data needs of a replica: nothing a replica can give while the
   * primary answers (it goes there); the primary's last seen position while it does not; and,
   * once it has been gone for the lag bound, whatever the replicas have.
   */
  private newestKnownWithoutPrimary(): WalPosition | undefined {
    if (this.primaryUp) return undefined;
    if (performance.now() - this.primaryDownSince > this.options.maxLagMs) return 0;
    return this.samples.at(-1)?.position ?? 0;
  }

  private inRotation(replica: Replica): boolean {
    return replica.healthy && (replica.lagMs <= this.options.maxLagMs || !this.primaryUp);
  }

  private primaryAnswered(position: WalPosition): void {
    if (!this.primaryUp) this.options.onChange({ node: 'primary', inRotation: true, reason: 'the probe answered' });
    this.primaryUp = true;
    this.samples.push({ at: performance.now(), position });
    if (this.samples.length > SAMPLES) this.samples.shift();
  }

  private primaryFailed(reason: string): void {
    if (!this.primaryUp) return;
    this.primaryUp = false;
    this.primaryDownSince = performance.now();
    this.options.onChange({ node: 'primary', inRotation: false, reason });
  }

  private replicaAnswered(replica: Replica, replayed: WalPosition): void {
    const wasInRotation = this.inRotation(replica);
    replica.replayed = Math.max(replica.replayed, replayed);
    replica.healthy = true;
    replica.lagMs = this.lagOf(replayed);
    const inRotation = this.inRotation(replica);
    if (inRotation !== wasInRotation) {
      this.options.onChange({
        node: replica.node,
        inRotation,
        reason: inRotation ? 'the probe answered' : `${Math.round(replica.lagMs)} ms behind the primary`,
      });
    }
  }

  private replicaFailed(replica: Replica, reason: string): void {
    const wasInRotation = this.inRotation(replica);
    replica.healthy = false;
    // A restarted replica may come back consistent at an earlier position than it had replayed.
    replica.replayed = 0;
    if (wasInRotation) this.options.onChange({ node: replica.node, inRotation: false, reason });
  }

  /** How long ago the primary was first seen past `replayed` (0 when the replica has caught up). */
  private lagOf(replayed: WalPosition): number {
    for (const sample of this.samples) {
      if (sample.position > replayed) return performance.now() - sample.at;
    }
    return 0;
  }
}
