/**
 * The capacity model's arithmetic (docs/capacity.md): what one request of the storefront mix
 * costs, from the costs of each route's cache hits and misses and of a write; how many requests
 * a box of a few cores serves with it (to check the model against what the bench measured); and
 * how many instances, replicas and nginx hosts a target rate needs, and where the primary caps
 * it. Pure functions over numbers: perf/capacity.ts feeds them measured costs, the tests fixed ones.
 */

/** What one request costs, in CPU seconds by who spends them, and the bytes its client reads. */
export interface RequestCost {
  /** The API's workers (and their primary). */
  readonly api: number;
  /** PostgreSQL. */
  readonly database: number;
  /** The load generator: only on the benchmark's box, where it competes for the same cores. */
  readonly client: number;
  /** The response as read, headers included. */
  readonly bytes: number;
}

export interface RouteCosts {
  readonly name: string;
  readonly hit: RequestCost;
  readonly miss: RequestCost;
}

export interface WriteCost extends RequestCost {
  readonly walBytes: number;
}

export interface Costs {
  /** The mix's reads: one request of each route per product page view, so each weighs the same. */
  readonly routes: readonly RouteCosts[];
  /** The mix's average write (its blend of clicks, helpful votes and reviews). */
  readonly write: WriteCost;
}

/** One request of the mix, averaged, with its database time split by the server it lands on. */
export interface MixDemand {
  readonly api: number;
  readonly client: number;
  readonly bytes: number;
  /** PostgreSQL time of the read misses: replicas, or the one database without them. */
  readonly readDatabase: number;
  /** PostgreSQL time of the writes: always the primary. */
  readonly writeDatabase: number;
  readonly walBytes: number;
}

const ZERO: RequestCost = { api: 0, database: 0, client: 0, bytes: 0 };

function blend(a: RequestCost, b: RequestCost, shareOfB: number): RequestCost {
  const mix = (x: number, y: number): number => x * (1 - shareOfB) + y * shareOfB;
  return {
    api: mix(a.api, b.api),
    database: mix(a.database, b.database),
    client: mix(a.client, b.client),
    bytes: mix(a.bytes, b.bytes),
  };
}

function mean(costs: readonly RequestCost[]): RequestCost {
  const sum = costs.reduce(
    (total, cost) => ({
      api: total.api + cost.api,
      database: total.database + cost.database,
      client: total.client + cost.client,
      bytes: total.bytes + cost.bytes,
    }),
    ZERO,
  );
  const n = Math.max(1, costs.length);
  return { api: sum.api / n, database: sum.database / n, client: sum.client / n, bytes: sum.bytes / n };
}

/** The routes' average cache hit and average miss. */
export function averageRead(routes: readonly RouteCosts[]): { readonly hit: RequestCost; readonly miss: RequestCost } {
  return { hit: mean(routes.map((route) => route.hit)), miss: mean(routes.map((route) => route.miss)) };
}

/**
 * A request of the mix at cache hit rate `hitRate` (of its reads) with a share `writeShare` of
 * writes. Every route is assumed to hit the cache at the same rate.
 */
export function mixDemand(costs: Costs, hitRate: number, writeShare: number): MixDemand {
  const { hit, miss } = averageRead(costs.routes);
  const read = blend(miss, hit, hitRate);
  const readShare = 1 - writeShare;
  return {
    api: read.api * readShare + costs.write.api * writeShare,
    client: read.client * readShare + costs.write.client * writeShare,
    bytes: read.bytes * readShare + costs.write.bytes * writeShare,
    // A hit's share is PostgreSQL's background work during the cached runs: near 0.
    readDatabase: readShare * read.database,
    writeDatabase: writeShare * costs.write.database,
    walBytes: writeShare * costs.write.walBytes,
  };
}

/**
 * The write's own cost, left over from a measured run of the mix with writes once its hits and
 * misses are priced at the routes' averages: `totals` are the run's sums (CPU seconds, bytes),
 * `writes` its requests that were not cache lookups. What the writes' invalidations cost beyond
 * an average miss (a popular product's long review list rebuilt) is counted here too.
 */
export function writeResidual(
  read: { readonly hit: RequestCost; readonly miss: RequestCost },
  totals: RequestCost & { readonly walBytes: number },
  lookups: { readonly hits: number; readonly misses: number },
  writes: number,
): WriteCost {
  const left = (key: keyof RequestCost): number =>
    Math.max(0, (totals[key] - lookups.hits * read.hit[key] - lookups.misses * read.miss[key]) / Math.max(1, writes));
  return {
    api: left('api'),
    database: left('database'),
    client: left('client'),
    bytes: left('bytes'),
    walBytes: totals.walBytes / Math.max(1, writes),
  };
}

/** The benchmark's box: its cores, the API's workers, and how its processes were placed. */
export interface Box {
  readonly cores: number;
  readonly workers: number;
  /**
   * shared: the workers, PostgreSQL and the load generator float over every core;
   * one-cpu: one worker and PostgreSQL share CPU 0, the load generator (one thread) has CPU 1.
   */
  readonly layout: 'shared' | 'one-cpu';
  /** CPU seconds per second other processes of the machine took meanwhile (0: a quiet box). */
  readonly others: number;
}

/**
 * Requests per second the box serves: a worker runs on one core at most (one JavaScript thread),
 * and everything together fits in the cores the other processes leave.
 */
export function boxRps(demand: MixDemand, box: Box): number {
  const database = demand.readDatabase + demand.writeDatabase;
  if (box.layout === 'one-cpu') {
    // Other processes are assumed spread over both CPUs evenly.
    const stackCpu = Math.max(0, 1 - box.others / box.cores);
    return Math.min(stackCpu / (demand.api + database), 1 / demand.client);
  }
  const free = Math.max(0, box.cores - box.others);
  return Math.min(box.workers / demand.api, free / (demand.api + database + demand.client));
}

/** The machines of a deployment (docs/operations.md: one primary, K replicas, N instances, nginx). */
export interface Fleet {
  readonly coresPerInstance: number;
  readonly coresPerReplica: number;
  readonly coresPrimary: number;
  readonly coresPerNginx: number;
  /** The share of each machine's cores planned busy at the target rate (headroom for peaks, a lost machine). */
  readonly utilisation: number;
  /** nginx CPU seconds per request proxied. */
  readonly nginxSeconds: number;
  /**
   * The share of read misses that must read the primary: a fill right after a write, before any
   * replica has replayed it.
   */
  readonly primaryFillShare: number;
}

export interface Plan {
  readonly rps: number;
  readonly apiCores: number;
  readonly instances: number;
  readonly replicaCores: number;
  readonly replicas: number;
  readonly primaryCores: number;
  /** The mix's rate at which the primary's cores (at `utilisation`) are full. */
  readonly primaryCapRps: number;
  readonly nginxCores: number;
  readonly nginxHosts: number;
  /** Responses out of nginx, bits per second. */
  readonly responseBitsPerSecond: number;
  /** WAL the primary writes, bytes per second; each replica receives all of it. */
  readonly walBytesPerSecond: number;
}

export function plan(demand: MixDemand, rps: number, fleet: Fleet): Plan {
  const machines = (cores: number, perMachine: number): number =>
    Math.ceil(cores / (perMachine * fleet.utilisation) - 1e-9);
  const apiCores = rps * demand.api;
  const readCores = rps * demand.readDatabase;
  const replicaCores = readCores * (1 - fleet.primaryFillShare);
  const primaryPerRequest = demand.writeDatabase + demand.readDatabase * fleet.primaryFillShare;
  const nginxCores = rps * fleet.nginxSeconds;
  return {
    rps,
    apiCores,
    instances: machines(apiCores, fleet.coresPerInstance),
    replicaCores,
    replicas: machines(replicaCores, fleet.coresPerReplica),
    primaryCores: rps * primaryPerRequest,
    primaryCapRps: primaryPerRequest > 0 ? (fleet.coresPrimary * fleet.utilisation) / primaryPerRequest : Infinity,
    nginxCores,
    nginxHosts: machines(nginxCores, fleet.coresPerNginx),
    responseBitsPerSecond: rps * demand.bytes * 8,
    walBytesPerSecond: rps * demand.walBytes,
  };
}
