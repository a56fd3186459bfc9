import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Every setting the project reads from the environment, read once, validated and frozen.
 * A bad value stops the process at start-up with a message naming the variable, instead of
 * surfacing later as a confusing runtime failure.
 */
export interface Config {
  readonly port: number;
  /** The address the workers listen on: 0.0.0.0 (every interface), or 127.0.0.1 behind a proxy on the same host. */
  readonly listenAddress: string;
  /**
   * The origins whose pages may call the API from a browser (CORS): '*' for any, or the exact
   * origins (`https://shop.example.com`), each echoed back only to itself.
   */
  readonly corsOrigins: CorsOrigins;
  readonly workers: number;
  /**
   * 'shared': every worker listens on PORT and the kernel spreads new connections over them
   * (SO_REUSEPORT). 'per-worker': worker i listens on PORT+i, so that a proxy in front balances
   * requests over the workers instead of the kernel balancing its few long-lived connections.
   */
  readonly workerPorts: WorkerPorts;
  /** Which of the WORKERS a worker process is, 0-based: set by the primary (WORKER_SLOT), 0 elsewhere. */
  readonly workerSlot: number;
  /** Unset means "start the embedded PostgreSQL under dataDir". */
  readonly databaseUrl: string | undefined;
  /**
   * Streaming replicas of that database that may serve reads (docs/operations.md § Read
   * replicas); none means every read goes to DATABASE_URL.
   */
  readonly replicaUrls: readonly string[];
  /** A replica further behind the primary leaves rotation until it catches up. */
  readonly replicaMaxLagMs: number;
  /** How often each replica's (and the primary's) WAL position is probed. */
  readonly replicaProbeIntervalMs: number;
  /** A replica whose probe, connection or read takes longer leaves rotation; the read is run on the primary. */
  readonly replicaTimeoutMs: number;
  readonly dataDir: string;
  readonly embeddedPgPort: number;
  readonly seedScale: number;
  readonly poolSize: number;
  /** Requests a worker lets wait for a pooled connection; beyond that it answers 503 at once. */
  readonly pgMaxWaiting: number;
  readonly pgConnectTimeoutMs: number;
  readonly pgStatementTimeoutMs: number;
  /** How long a statement waits for a lock before it fails (503) and frees its connection; 0 waits up to the statement timeout. */
  readonly pgLockTimeoutMs: number;
  /** Statements of one domain (server/admission.ts) in a worker's pool at once: at most PG_POOL_SIZE. */
  readonly admissionLimit: number;
  /** Statements of one domain that may wait for a slot; the next is refused with 503 at once. */
  readonly admissionMaxQueued: number;
  /** The longest a statement waits for its domain's slot; one that could not start by then is refused. */
  readonly admissionQueueDeadlineMs: number;
  readonly pgIdleTimeoutMs: number;
  /** Bytes of bodies each worker's response cache keeps; by default its share of a quarter of the memory (defaultCacheBytes). */
  readonly cacheMaxBytes: number;
  readonly cacheTtlMs: number;
  readonly drainTimeoutMs: number;
  /** How long a draining worker keeps answering (with Connection: close) after it stops listening. */
  readonly drainLingerMs: number;
  readonly retryAfterSeconds: number;
  /**
   * The least severe log line written, in pino's level names. lib/log.ts reads the same value
   * through logLevel() itself, as loggers exist before the Config does.
   */
  readonly logLevel: LogLevel;
}

export type WorkerPorts = 'shared' | 'per-worker';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type CorsOrigins = '*' | readonly string[];

export class ConfigError extends Error {}

type Env = Readonly<Record<string, string | undefined>>;

/** What the defaults that depend on the machine are sized from. */
export interface Machine {
  readonly cores: number;
  /** The memory this process may use: the machine's, or its cgroup's limit when lower (the unit's MemoryMax). */
  readonly memoryBytes: number;
}

export function thisMachine(): Machine {
  // undefined or 0 when unknown, and about 2^64 under a cgroup without a limit.
  const limit = process.constrainedMemory() ?? 0;
  return { cores: os.availableParallelism(), memoryBytes: Math.min(os.totalmem(), limit > 0 ? limit : Infinity) };
}

const MIB = 1024 * 1024;
const MAX_CACHE_BYTES = 64 * 1024 * MIB;

/**
 * CACHE_MAX_BYTES when unset: the workers share a quarter of the memory, as docs/operations.md
 * § Sizing advises, in whole MiB. A fixed default fits one machine only: 64 MiB per worker, the
 * default before, held 0.93 of the storefront mix's reads on a 2-core, 24 GiB machine, and a cache
 * that holds them all doubled the mix's throughput (docs/benchmarks.md § The cache's default size).
 */
export function defaultCacheBytes(workers: number, machine: Machine): number {
  return Math.min(MAX_CACHE_BYTES, Math.floor(machine.memoryBytes / 4 / workers / MIB) * MIB);
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function decimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.trim());
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a number between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function postgresUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL like postgres://user:pass@host:5432/db, got "${raw}"`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`${name} must use postgres:// or postgresql://, got ${url.protocol}//`);
  }
  return raw;
}

function databaseUrl(env: Env): string | undefined {
  const raw = env.DATABASE_URL?.trim();
  return raw ? postgresUrl('DATABASE_URL', raw) : undefined;
}

/** A comma list of replica URLs; empty or unset is none. */
function replicaUrls(env: Env): readonly string[] {
  const raw = env.DATABASE_REPLICA_URLS?.trim();
  if (!raw) return Object.freeze([]);
  const urls = raw.split(',').map((url) => postgresUrl('DATABASE_REPLICA_URLS', url.trim()));
  if (new Set(urls).size !== urls.length) throw new ConfigError('DATABASE_REPLICA_URLS lists a replica twice');
  return Object.freeze(urls);
}

function workerPorts(env: Env): WorkerPorts {
  const raw = env.WORKER_PORTS?.trim() || 'shared';
  if (raw !== 'shared' && raw !== 'per-worker') {
    throw new ConfigError(`WORKER_PORTS must be "shared" or "per-worker", got "${raw}"`);
  }
  return raw;
}

/**
 * LOG_LEVEL alone, for lib/log.ts: loggers are made when a module loads, before loadConfig runs
 * (so that a bad setting can itself be logged), and cannot wait for the Config to be passed down.
 */
export function logLevel(env: Env = process.env): LogLevel {
  const raw = env.LOG_LEVEL?.trim() || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  }
  return raw as LogLevel;
}

function listenAddress(env: Env): string {
  const raw = env.LISTEN_ADDRESS?.trim() || '0.0.0.0';
  if (net.isIP(raw) === 0)
    throw new ConfigError(`LISTEN_ADDRESS must be an IP address like 0.0.0.0 or 127.0.0.1, got "${raw}"`);
  return raw;
}

/** `*` (the default), or a comma list of origins, each exactly as a browser sends it in Origin. */
function corsOrigins(env: Env): CorsOrigins {
  const raw = env.CORS_ORIGINS?.trim() || '*';
  if (raw === '*') return '*';
  const origins = raw.split(',').map((origin) => origin.trim());
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    // A browser sends scheme://host[:port], lower case, with no path: anything else never matches.
    if (parsed?.origin !== origin) {
      throw new ConfigError(
        `CORS_ORIGINS must be * or a comma list of origins like https://shop.example.com, got "${origin}"`,
      );
    }
  }
  return Object.freeze(origins);
}

export function loadConfig(env: Env = process.env, machine: Machine = thisMachine()): Config {
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const workers = integer(env, 'WORKERS', machine.cores, 1, 256);
  const ports = workerPorts(env);
  if (ports === 'per-worker' && (port === 0 || port + workers - 1 > 65535)) {
    throw new ConfigError(
      `PORT must leave room for one port per worker with WORKER_PORTS=per-worker (PORT..PORT+WORKERS-1 ` +
        `within 1..65535), got PORT=${port} and WORKERS=${workers}`,
    );
  }
  const poolSize = integer(env, 'PG_POOL_SIZE', 8, 1, 1000);
  return Object.freeze({
    port,
    listenAddress: listenAddress(env),
    corsOrigins: corsOrigins(env),
    workers,
    workerPorts: ports,
    workerSlot: integer(env, 'WORKER_SLOT', 0, 0, workers - 1),
    databaseUrl: databaseUrl(env),
    replicaUrls: replicaUrls(env),
    replicaMaxLagMs: integer(env, 'REPLICA_MAX_LAG_MS', 1000, 0, 3_600_000),
    replicaProbeIntervalMs: integer(env, 'REPLICA_PROBE_INTERVAL_MS', 100, 10, 60_000),
    replicaTimeoutMs: integer(env, 'REPLICA_TIMEOUT_MS', 1000, 50, 600_000),
    dataDir: path.resolve(env.DATA_DIR || '.data'),
    embeddedPgPort: integer(env, 'EMBEDDED_PG_PORT', 54329, 1, 65535),
    seedScale: decimal(env, 'SEED_SCALE', 0.01, 0, 10),
    poolSize,
    pgMaxWaiting: integer(env, 'PG_MAX_WAITING', 64, 0, 100_000),
    pgConnectTimeoutMs: integer(env, 'PG_CONNECT_TIMEOUT_MS', 3000, 100, 600_000),
    pgStatementTimeoutMs: integer(env, 'PG_STATEMENT_TIMEOUT_MS', 5000, 100, 3_600_000),
    pgLockTimeoutMs: integer(env, 'PG_LOCK_TIMEOUT_MS', 1000, 0, 3_600_000),
    // Half the pool by default: a stuck domain leaves the other half to the rest.
    admissionLimit: integer(env, 'ADMISSION_LIMIT', Math.ceil(poolSize / 2), 1, poolSize),
    admissionMaxQueued: integer(env, 'ADMISSION_MAX_QUEUED', 1024, 0, 100_000),
    admissionQueueDeadlineMs: integer(env, 'ADMISSION_QUEUE_DEADLINE_MS', 1000, 1, 600_000),
    pgIdleTimeoutMs: integer(env, 'PG_IDLE_TIMEOUT_MS', 30_000, 1000, 3_600_000),
    cacheMaxBytes: integer(env, 'CACHE_MAX_BYTES', defaultCacheBytes(workers, machine), 0, MAX_CACHE_BYTES),
    cacheTtlMs: integer(env, 'CACHE_TTL_MS', 600_000, 0, 86_400_000),
    drainTimeoutMs: integer(env, 'DRAIN_TIMEOUT_MS', 10_000, 100, 600_000),
    drainLingerMs: integer(env, 'DRAIN_LINGER_MS', 500, 0, 600_000),
    retryAfterSeconds: integer(env, 'RETRY_AFTER_SECONDS', 1, 1, 3600),
    logLevel: logLevel(env),
  });
}

/** The port worker `slot` listens on (by default, this process's own). */
export function listenPort(config: Config, slot: number = config.workerSlot): number {
  return config.workerPorts === 'per-worker' ? config.port + slot : config.port;
}
