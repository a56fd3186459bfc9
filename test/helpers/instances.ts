/** An instance of the service whose workers each listen on a port of their own, so every request names its worker. */
import type { Test } from 'tap';
import { request } from './api.js';
import { freePortRange, isEvent, type RunningCluster, startCluster } from './process.js';

export interface Worker {
  readonly port: number;
  readonly pid: number;
}

export interface Instance {
  readonly cluster: RunningCluster;
  readonly workers: readonly Worker[];
}

/** Two workers (WORKER_PORTS=per-worker) started with `env`, ready. */
export async function perWorkerInstance(t: Test, env: Readonly<Record<string, string>>): Promise<Instance> {
  const port = await freePortRange(2);
  const cluster = startCluster(t, {
    SEED_SCALE: '0',
    CACHE_TTL_MS: '600000',
    DRAIN_LINGER_MS: '0',
    ...env,
    WORKERS: '2',
    WORKER_PORTS: 'per-worker',
    PORT: String(port),
  });
  await cluster.waitFor(isEvent('cluster_ready'), 'the instance became ready');
  const workers = cluster.lines
    .filter(isEvent('worker_forked'))
    .map((line) => ({ port: port + (line.slot as number), pid: line.worker as number }));
  return { cluster, workers };
}

/** A per-replica metric of the instance behind `port` (atelier_replica_…), by replica host:port. */
export async function replicaMetric(port: number, metric: string): Promise<Map<string, number>> {
  const text = (await request(port, 'GET', '/metrics')).body;
  const values = new Map<string, number>();
  for (const match of text.matchAll(new RegExp(`^${metric}\\{replica="([^"]+)"\\} (\\d+)`, 'gm'))) {
    values.set(match[1]!, Number(match[2]));
  }
  return values;
}
