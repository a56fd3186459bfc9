/**
 * The capacity model's arithmetic (perf/capacity-model.ts) on fixed costs: the blend of hits,
 * misses and writes, the write left over from a mix run, a box's throughput, a fleet's plan.
 */
import t, { type Test } from 'tap';
import { averageRead, boxRps, type Costs, type Fleet, mixDemand, plan, writeResidual } from '../perf/capacity-model.js';

/** One microsecond, in seconds. */
const US = 1e-6;
const COSTS: Costs = {
  routes: [
    {
      name: 'a',
      hit: { api: 10 * US, database: 0, client: 5 * US, bytes: 1000 },
      miss: { api: 200 * US, database: 300 * US, client: 10 * US, bytes: 1000 },
    },
    {
      name: 'b',
      hit: { api: 30 * US, database: 0, client: 15 * US, bytes: 3000 },
      miss: { api: 400 * US, database: 500 * US, client: 30 * US, bytes: 3000 },
    },
  ],
  write: { api: 100 * US, database: 1000 * US, client: 10 * US, bytes: 100, walBytes: 2000 },
};
const FLEET: Fleet = {
  coresPerInstance: 8,
  coresPerReplica: 8,
  coresPrimary: 8,
  coresPerNginx: 4,
  utilisation: 0.5,
  nginxSeconds: 50 * US,
  primaryFillShare: 0,
};

/** Equal to 1 part in a million: the model's sums are floating point. */
function close(t: Test, found: number, wanted: number, what: string): void {
  t.ok(Math.abs(found - wanted) <= Math.abs(wanted) * 1e-6, `${what}: ${found} ≈ ${wanted}`);
}

t.test(
  'a request of the mix blends the routes’ hits and misses at the hit rate, then the writes at their share',
  async (t) => {
    const demand = mixDemand(COSTS, 0.9, 0.05);
    // reads: api 0.1 × 300 + 0.9 × 20 = 48 µs, PostgreSQL 0.1 × 400 = 40 µs, wrk 11 µs, 2,000 bytes
    close(t, demand.api, 0.95 * 48 * US + 0.05 * 100 * US, 'API');
    close(t, demand.readDatabase, 0.95 * 40 * US, 'PostgreSQL, reads');
    close(t, demand.writeDatabase, 0.05 * 1000 * US, 'PostgreSQL, writes');
    close(t, demand.client, 0.95 * 11 * US + 0.05 * 10 * US, 'load generator');
    close(t, demand.bytes, 0.95 * 2000 + 0.05 * 100, 'bytes');
    close(t, demand.walBytes, 100, 'WAL bytes');
  },
);

t.test('the write left over from a mix run is what its hits and misses do not explain', async (t) => {
  // 900 hits, 100 misses and 50 writes, each at the costs above
  const totals = {
    api: (900 * 20 + 100 * 300 + 50 * 100) * US,
    database: (100 * 400 + 50 * 1000) * US,
    client: (900 * 10 + 100 * 20 + 50 * 10) * US,
    bytes: 1000 * 2000 + 50 * 100,
    walBytes: 100_000,
  };
  const write = writeResidual(averageRead(COSTS.routes), totals, { hits: 900, misses: 100 }, 50);
  for (const key of ['api', 'database', 'client', 'bytes', 'walBytes'] as const)
    close(t, write[key], COSTS.write[key], key);
  const none = writeResidual(averageRead(COSTS.routes), { ...totals, api: 0 }, { hits: 900, misses: 100 }, 50);
  t.equal(none.api, 0, 'a run cheaper than its reads leaves no negative cost');
});

t.test('a box serves what its busiest part allows: one core per worker, all cores for everything', async (t) => {
  const hitsOnly = mixDemand(COSTS, 1, 0); // API 20 µs, wrk 10 µs, no PostgreSQL
  close(
    t,
    boxRps(hitsOnly, { cores: 2, workers: 1, layout: 'shared', others: 0 }),
    1 / (20 * US),
    'one worker: its core',
  );
  close(t, boxRps(hitsOnly, { cores: 2, workers: 2, layout: 'shared', others: 0 }), 2 / (30 * US), 'two: the cores');
  const demand = mixDemand(COSTS, 0.9, 0.05);
  const all = demand.api + demand.readDatabase + demand.writeDatabase + demand.client;
  close(
    t,
    boxRps(demand, { cores: 2, workers: 2, layout: 'shared', others: 0.5 }),
    1.5 / all,
    'others take their share',
  );
  close(
    t,
    boxRps(demand, { cores: 2, workers: 1, layout: 'one-cpu', others: 0.5 }),
    0.75 / (demand.api + demand.readDatabase + demand.writeDatabase),
    'one CPU for the worker and PostgreSQL, less what others took of it',
  );
});

t.test('a plan rounds machines up and finds where the primary caps the mix', async (t) => {
  const demand = mixDemand(COSTS, 0.9, 0.05);
  const p = plan(demand, 1_000_000, FLEET);
  close(t, p.apiCores, 50.6, 'API cores');
  t.equal(p.instances, 13, '50.6 cores in instances of 8 at 50 %');
  close(t, p.replicaCores, 38, 'replica cores');
  t.equal(p.replicas, 10, '38 cores in replicas of 8 at 50 %');
  close(t, p.primaryCores, 50, 'primary cores');
  close(t, p.primaryCapRps, 80_000, 'the primary caps the mix at 4 cores ÷ 50 µs');
  t.equal(p.nginxHosts, 25, '50 nginx cores in hosts of 4 at 50 %');
  close(t, p.responseBitsPerSecond, 1905 * 8e6, 'bits out');
  close(t, p.walBytesPerSecond, 1e8, 'WAL');
  const filled = plan(demand, 1_000_000, { ...FLEET, primaryFillShare: 0.1 });
  t.equal(filled.replicas, 9, 'fills on the primary leave the replicas less');
  close(t, filled.primaryCapRps, 4 / (53.8 * US), 'and lower the primary’s cap');
});
