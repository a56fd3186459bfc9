/**
 * A host of the test's own on this machine: a network namespace joined to the host by a veth pair
 * on a /30 of its own in 10.213.0.0/16. Processes started inside listen on `address`, which the
 * host reaches over the link; they reach the host at `hostAddress`. partition() cuts the link so
 * that the host's packets are silently dropped, with no RST and no ICMP error: a connect from the
 * host hangs until its own timeout, as across a real network partition. Linux, as root (`ip`,
 * iproute2).
 */
import { run } from '../../lib/processes.js';

export interface Namespace {
  readonly name: string;
  /** The namespace's end of the link: where the host reaches what runs inside. */
  readonly address: string;
  /** The host's end of the link: where what runs inside reaches the host. */
  readonly hostAddress: string;
  /** The command line that runs `command args` inside the namespace. */
  inside(command: string, args: readonly string[]): [string, string[]];
  /** Cuts the link until heal(): nothing sent from the host arrives, nothing is answered. */
  partition(): Promise<void>;
  heal(): Promise<void>;
  /** Deletes the namespace and its link; what still runs inside must be gone first. */
  remove(): Promise<void>;
}

const PREFIX = 'atelier-';
const RANGE = '10.213.0.0/16';
/** Lowest priority: the route that answers only for addresses no link of ours has. */
const GUARD_METRIC = '4000000000';
let created = 0;

const ip = async (...args: string[]): Promise<string> => (await run('ip', args)).stdout;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Namespaces that a test process which died without its teardown left behind (named after its
 * pid), and the processes still running in them. Their links go with them.
 */
async function removeAbandoned(): Promise<void> {
  for (const line of (await ip('netns', 'list')).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const owner = new RegExp(`^${PREFIX}(\\d+)-\\d+$`).exec(name);
    if (!owner || alive(Number(owner[1]))) continue;
    for (const pid of (await ip('netns', 'pids', name)).split('\n').filter(Boolean)) {
      if (alive(Number(pid))) process.kill(Number(pid), 'SIGKILL');
    }
    await ip('netns', 'del', name).catch(() => undefined);
  }
}

/**
 * Takes a free /30 of the range. A link's own route leaves the routing table when the link goes
 * (or its host end goes down), and the host would then send its addresses out of its default
 * route, to a real network: a connect from a test, or from a service still retrying after the
 * teardown. A blackhole route for the whole range, of the lowest priority, catches them instead
 * (a connect fails at once, EINVAL). It is added once per machine and kept: it is what makes
 * removing a link safe at any moment.
 */
async function claimSubnet(): Promise<string> {
  await ip('route', 'replace', 'blackhole', RANGE, 'metric', GUARD_METRIC);
  const taken = await ip('-4', 'route', 'show');
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = `10.213.${Math.floor(Math.random() * 256)}.${4 * Math.floor(Math.random() * 64)}`;
    if (!taken.includes(`${base}/30`)) return base;
  }
  throw new Error(`no free /30 in ${RANGE} for a network namespace`);
}

const offset = (base: string, n: number): string => {
  const octets = base.split('.').map(Number);
  octets[3]! += n;
  return octets.join('.');
};

/** Creates the namespace and its link (up); `t.teardown(ns.remove)` is the caller's. */
export async function createNamespace(): Promise<Namespace> {
  if (process.getuid?.() !== 0) throw new Error('a network namespace needs root (ip netns add)');
  await removeAbandoned();
  const name = `${PREFIX}${process.pid}-${++created}`;
  // An interface name holds at most 15 characters.
  const hostEnd = `at${process.pid.toString(36)}-${created}h`;
  const innerEnd = `at${process.pid.toString(36)}-${created}n`;
  const base = await claimSubnet();
  const hostAddress = offset(base, 1);
  const address = offset(base, 2);
  const inside = (command: string, args: readonly string[]): [string, string[]] => [
    'ip',
    ['netns', 'exec', name, command, ...args],
  ];
  const inNamespace = (...args: string[]): Promise<unknown> => run(...inside('ip', args));
  const remove = async (): Promise<void> => {
    // Deleting either end of a veth pair deletes both; the namespace's end goes with the namespace.
    await ip('link', 'del', hostEnd).catch(() => undefined);
    await ip('netns', 'del', name).catch(() => undefined);
  };
  try {
    await ip('netns', 'add', name);
    await ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', innerEnd);
    await ip('link', 'set', innerEnd, 'netns', name);
    await ip('addr', 'add', `${hostAddress}/30`, 'dev', hostEnd);
    await ip('link', 'set', hostEnd, 'up');
    await inNamespace('addr', 'add', `${address}/30`, 'dev', innerEnd);
    await inNamespace('link', 'set', 'lo', 'up');
    await inNamespace('link', 'set', innerEnd, 'up');
    // A fixed neighbour: the host's ARP entry for a partitioned peer would otherwise fail after a
    // few seconds, and connects would then fail at once (EHOSTUNREACH) instead of hanging.
    const innerMac = (await run(...inside('cat', [`/sys/class/net/${innerEnd}/address`]))).stdout.trim();
    await ip('neigh', 'replace', address, 'lladdr', innerMac, 'dev', hostEnd, 'nud', 'permanent');
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    name,
    address,
    hostAddress,
    inside,
    // The namespace's end goes down, not the host's: the host's route to the namespace stays
    // (marked linkdown), so the host's packets are handed to the link and dropped there. Inside,
    // the route goes and sends fail locally (the replica inside sees its primary unreachable):
    // nothing ever answers the host.
    partition: async () => {
      await inNamespace('link', 'set', innerEnd, 'down');
    },
    heal: async () => {
      await inNamespace('link', 'set', innerEnd, 'up');
    },
    remove,
  };
}
