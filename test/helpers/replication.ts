/**
 * The replica tests' topology (perf/replication/set.ts): a primary seeded with products 1–3 by
 * default, and two replicas, `delayed` applying each commit 300 ms late so that its lag is
 * certain, and `partitionable` on a host (network namespace) of its own that a test can cut off.
 * The set is removed at the test's teardown.
 */
import type { Test } from 'tap';
import {
  startReplicationSet as start,
  type ReplicaSpec,
  type ReplicationOptions,
  type ReplicationSet,
} from '../../perf/replication/set.js';
import { seedProducts } from './own-database.js';

export type { ReplicationSet } from '../../perf/replication/set.js';

const TOPOLOGY = [
  { name: 'delayed', applyDelayMs: 300 },
  { name: 'partitionable', ownHost: true },
] as const satisfies readonly ReplicaSpec[];

export type ReplicaName = (typeof TOPOLOGY)[number]['name'];
export const REPLICAS: readonly ReplicaName[] = TOPOLOGY.map((replica) => replica.name);

export async function startReplicationSet(
  t: Test,
  options: Partial<Omit<ReplicationOptions, 'replicas'>> = {},
): Promise<ReplicationSet> {
  const set = await start({ replicas: TOPOLOGY, seed: seedProducts, ...options });
  t.teardown(() => set.close());
  return set;
}
