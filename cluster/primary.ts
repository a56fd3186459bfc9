/**
 * Keeps `workers` serving processes up: forks them, respawns the ones that die (with backoff),
 * gives up on a crash loop, drains them all on stop and replaces them one by one on reload.
 *
 * Workers do not share a listening handle through node:cluster: each uWS app binds the port
 * itself with SO_REUSEPORT (uSockets sets it on every listening socket on Linux), and the kernel
 * spreads new connections over the sockets of the group.
 *
 * Each worker holds a slot, 0..workers-1, passed to it as WORKER_SLOT; a respawned or reloaded
 * worker takes the slot of the one it replaces. With WORKER_PORTS=per-worker the slot picks the
 * worker's port, so a proxy's list of upstream ports stays valid across respawns and reloads.
 *
 * It also answers the workers' GET /metrics with the sum of every ready worker's metrics and its
 * own (worker restarts, ready workers).
 */
import cluster, { type Worker } from 'node:cluster';
import { EventEmitter, once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { aggregate, PrimaryMetrics, type MetricsSnapshot } from '../server/metrics.js';
import { Backoff, type BackoffOptions } from '../lib/backoff.js';
import { errorMessage, type Log } from '../lib/log.js';
import { METRICS_COLLECT_TIMEOUT_MS, PendingAnswers, type PrimaryMessage, type WorkerMessage } from './messages.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./worker.js', import.meta.url));

export interface SupervisorPolicy {
  /** A worker that has not reported ready by then is killed; with no worker ready at all, we give up. */
  readonly readyTimeoutMs: number;
  /**
   * More than maxDeathsInWindow unexpected deaths within crashWindowMs, none ready since, and no
   * worker serving: give up. A database outage kills no worker (a worker serves 503s without it
   * and recovers by itself), so it never counts here; a worker that cannot listen, crashes or is
   * killed does.
   */
  readonly crashWindowMs: number;
  readonly maxDeathsInWindow: number;
  /** A worker that dies after serving this long was healthy: its death restarts the backoff. */
  readonly stableAfterMs: number;
  readonly backoff: BackoffOptions;
  /** Added to the drain timeout for the worker to end its pool and exit before it is killed. */
  readonly exitMarginMs: number;
}

export const DEFAULT_POLICY: SupervisorPolicy = {
  readyTimeoutMs: 30_000,
  crashWindowMs: 30_000,
  maxDeathsInWindow: 5,
  stableAfterMs: 30_000,
  backoff: { initialMs: 100, maxMs: 10_000, jitter: 0.2 },
  exitMarginMs: 2_000,
};

export interface SupervisorOptions {
  readonly workers: number;
  /** Added to each worker's environment (the resolved DATABASE_URL). */
  readonly env: Readonly<Record<string, string>>;
  readonly drainTimeoutMs: number;
  readonly log: Log;
  readonly policy?: SupervisorPolicy;
  /** False when the workers start before the database is migrated (see databasePrepared()). */
  readonly databasePrepared: boolean;
}

export class CrashLoopError extends Error {}

interface Member {
  readonly worker: Worker;
  readonly pid: number;
  readonly slot: number;
  state: 'starting' | 'ready' | 'draining';
  readyAt?: number;
  /** It asked for the database's state, so it hears when that changes. */
  asked: boolean;
  /** Settles when the worker reports ready; rejects if it exits or is killed first. */
  readonly ready: Promise<void>;
  readonly exited: Promise<unknown>;
}

export class Supervisor {
  private readonly members = new Map<Worker, Member>();
  /** Pending respawns, each with the slot it will fill. */
  private readonly respawnTimers = new Map<NodeJS.Timeout, number>();
  private readonly events = new EventEmitter();
  private readonly backoff: Backoff;
  private readonly policy: SupervisorPolicy;
  private deathsSinceReady: number[] = [];
  private stopping: Promise<void> | undefined;
  private reloading: Promise<void> | undefined;
  private reloadRequested = false;
  private fail: (err: Error) => void = () => undefined;
  private prepared: boolean;
  private readonly metrics = new PrimaryMetrics(() => this.count('ready'));
  private readonly snapshots = new PendingAnswers<MetricsSnapshot>(METRICS_COLLECT_TIMEOUT_MS);
  /** Rejects with a CrashLoopError when the cluster cannot be kept up; never resolves. */
  readonly failed: Promise<never>;

  constructor(private readonly options: SupervisorOptions) {
    this.policy = options.policy ?? DEFAULT_POLICY;
    this.prepared = options.databasePrepared;
    this.backoff = new Backoff(this.policy.backoff);
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    this.failed.catch(() => undefined);
    cluster.setupPrimary({ exec: WORKER_SCRIPT });
  }

  /** Forks the workers; resolves once all of them are ready, rejects on a crash loop. */
  async start(): Promise<void> {
    for (let slot = 0; slot < this.options.workers; slot++) this.fork(slot);
    const allReady = new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.count('ready') < this.options.workers) return;
        this.events.off('worker_ready', check);
        resolve();
      };
      this.events.on('worker_ready', check);
    });
    await Promise.race([allReady, this.failed]);
  }

  /** Replaces every worker, one at a time, each only after its replacement is ready. */
  reload(): void {
    if (this.stopping) return;
    if (this.reloading) {
      this.reloadRequested = true;
      this.options.log.info('reload_queued');
      return;
    }
    this.reloading = this.replaceAll().finally(() => {
      this.reloading = undefined;
      if (this.reloadRequested) {
        this.reloadRequested = false;
        this.reload();
      }
    });
  }

  /** Drains every worker (killing those that overrun the deadline) and resolves when all exited. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const timer of this.respawnTimers.keys()) clearTimeout(timer);
      this.respawnTimers.clear();
      await Promise.all([...this.members.values()].map((member) => this.drain(member)));
    })();
    return this.stopping;
  }

  /** The database is migrated (and seeded) now: every worker may report ready and serve data. */
  databasePrepared(): void {
    this.prepared = true;
    for (const member of this.members.values()) if (member.asked) this.tellDatabaseState(member);
  }

  /** Pids of the workers currently serving, for logs and tests. */
  readyPids(): number[] {
    return [...this.members.values()].filter((m) => m.state === 'ready').map((m) => m.pid);
  }

  private count(state: Member['state']): number {
    return [...this.members.values()].filter((m) => m.state === state).length;
  }

  private fork(slot: number): Member {
    const { log } = this.options;
    const worker = cluster.fork({ ...this.options.env, WORKER_SLOT: String(slot) });
    const pid = worker.process.pid ?? 0;
    let markReady = (): void => undefined;
    let markFailed = (_err: Error): void => undefined;
    const member: Member = {
      worker,
      pid,
      slot,
      state: 'starting',
      asked: false,
      ready: new Promise<void>((resolve, reject) => {
        markReady = resolve;
        markFailed = reject;
      }),
      exited: once(worker, 'exit'),
    };
    member.ready.catch(() => undefined);
    this.members.set(worker, member);
    log.info('worker_forked', { worker: pid, slot });

    const readyTimer = setTimeout(() => {
      const error = `worker ${pid} did not become ready within ${this.policy.readyTimeoutMs} ms`;
      if (this.count('ready') === 0) this.fail(new CrashLoopError(error));
      else log.error('worker_ready_timeout', { worker: pid, error });
      worker.process.kill('SIGKILL');
    }, this.policy.readyTimeoutMs);

    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'metrics_request') return this.answerMetrics(member, message.id);
      if (message.type === 'metrics_snapshot') return this.snapshots.settle(message.id, message.metrics);
      if (message.type === 'database_state_request') {
        member.asked = true;
        return this.tellDatabaseState(member);
      }
      if (member.state !== 'starting') return;
      clearTimeout(readyTimer);
      member.state = 'ready';
      member.readyAt = Date.now();
      this.deathsSinceReady = [];
      log.info('worker_ready', { worker: pid, slot, port: message.port });
      markReady();
      this.events.emit('worker_ready');
    });
    worker.on('exit', (code: number | null, signal: string | null) => {
      clearTimeout(readyTimer);
      markFailed(new Error(`worker ${pid} exited before it was ready (code ${code}, signal ${signal})`));
      this.onExit(member, code, signal);
    });
    return member;
  }

  private onExit(member: Member, code: number | null, signal: string | null): void {
    const { log } = this.options;
    this.members.delete(member.worker);
    if (this.stopping || member.state === 'draining') {
      log.info('worker_exited', { worker: member.pid, code, signal });
    } else {
      const now = Date.now();
      log.error('worker_died', { worker: member.pid, code, signal, error: 'exited without being asked to' });
      if (member.readyAt !== undefined && now - member.readyAt >= this.policy.stableAfterMs) this.backoff.reset();
      this.deathsSinceReady = [...this.deathsSinceReady.filter((t) => now - t < this.policy.crashWindowMs), now];
      // While another worker serves, giving up would stop it too, and a restarted instance would
      // meet the same trouble: the backoff alone bounds what the failing slot costs.
      if (this.deathsSinceReady.length > this.policy.maxDeathsInWindow && this.count('ready') === 0) {
        this.fail(
          new CrashLoopError(
            `${this.deathsSinceReady.length} workers died within ${this.policy.crashWindowMs} ms without one ` +
              `becoming ready (last: code ${code}, signal ${signal})`,
          ),
        );
        return;
      }
      this.metrics.workerRestarts.inc();
    }
    if (!this.stopping) this.replenish();
  }

  /** Schedules a respawn for every slot that no worker alive or on its way fills. */
  private replenish(): void {
    const filled = new Set([
      ...[...this.members.values()].filter((m) => m.state !== 'draining').map((m) => m.slot),
      ...this.respawnTimers.values(),
    ]);
    for (let slot = 0; slot < this.options.workers; slot++) {
      if (filled.has(slot)) continue;
      const delayMs = this.backoff.next();
      this.options.log.info('worker_respawn_scheduled', { slot, in_ms: delayMs });
      const timer = setTimeout(() => {
        this.respawnTimers.delete(timer);
        if (!this.stopping) this.fork(slot);
      }, delayMs);
      this.respawnTimers.set(timer, slot);
    }
  }

  private async drain(member: Member): Promise<void> {
    const { log } = this.options;
    member.state = 'draining';
    if (!member.worker.isDead()) {
      log.info('worker_drain', { worker: member.pid });
      // A worker whose IPC channel is already gone cannot be asked; the deadline below kills it.
      this.tell(member, { type: 'drain' }, (err) => {
        log.error('worker_drain_unsent', { worker: member.pid, error: err.message });
      });
    }
    const deadlineMs = this.options.drainTimeoutMs + this.policy.exitMarginMs;
    const deadline = setTimeout(() => {
      log.error('worker_killed', { worker: member.pid, error: `still running ${deadlineMs} ms after drain` });
      member.worker.process.kill('SIGKILL');
    }, deadlineMs);
    await member.exited;
    clearTimeout(deadline);
  }

  /** Sends unless the worker's IPC channel is gone; `onError` hears of a send that failed. */
  private tell(member: Member, message: PrimaryMessage, onError: (err: Error) => void): void {
    if (!member.worker.isConnected()) return;
    member.worker.send(message, (err: Error | null) => {
      if (err) onError(err);
    });
  }

  private tellDatabaseState(member: Member): void {
    this.tell(member, { type: 'database_state', prepared: this.prepared }, (err) => {
      this.options.log.error('database_state_unsent', { worker: member.pid, error: err.message });
    });
  }

  private answerMetrics(asking: Member, id: number): void {
    this.instanceMetrics().then(
      (text) =>
        this.tell(asking, { type: 'metrics_text', id, text }, (err) => {
          this.options.log.error('metrics_unsent', { worker: asking.pid, error: err.message });
        }),
      (err: unknown) => this.options.log.error('metrics_failed', { error: errorMessage(err) }),
    );
  }

  /** This process's metrics and every ready worker's, summed; a worker that does not answer in time is left out. */
  private async instanceMetrics(): Promise<string> {
    const ready = [...this.members.values()].filter((m) => m.state === 'ready');
    const snapshots = await Promise.all([this.metrics.snapshot(), ...ready.map((member) => this.snapshotOf(member))]);
    return aggregate(snapshots.filter((snapshot) => snapshot !== undefined));
  }

  private snapshotOf(member: Member): Promise<MetricsSnapshot | undefined> {
    const { id, answer } = this.snapshots.open();
    this.tell(member, { type: 'metrics_collect', id }, () => this.snapshots.settle(id, undefined));
    return answer;
  }

  private async replaceAll(): Promise<void> {
    const { log } = this.options;
    const old = [...this.members.values()].filter((m) => m.state !== 'draining');
    log.info('reload_start', { workers: old.length });
    for (const member of old) {
      // One that died meanwhile was replaced by a respawn, which already runs the new code.
      if (this.stopping || !this.members.has(member.worker)) continue;
      const replacement = this.fork(member.slot);
      try {
        await replacement.ready;
      } catch (err) {
        log.error('reload_failed', { error: (err as Error).message, kept: member.pid });
        return;
      }
      if (this.stopping) return;
      await this.drain(member);
    }
    log.info('reload_done', { workers: this.readyPids().join(',') });
  }
}
