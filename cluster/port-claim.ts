/**
 * One instance per port. Workers listen with SO_REUSEPORT (that is how one instance's workers
 * share its port), so a second instance on the same port would join the group without an error
 * and the kernel would split the traffic between two servers. Before forking, the primary
 * therefore claims every port its workers will listen on, and a port already served stops it.
 *
 * Two checks, because neither suffices alone:
 * - a lock, the Linux abstract unix socket `\0atelier-port-<port>`, held by the primary for its
 *   lifetime: of two instances started at the same instant, exactly one gets it. The kernel
 *   releases it when the process dies, however it dies, so no stale lock survives a kill -9;
 * - a test bind of the port without SO_REUSEPORT (node:net never sets it), which fails whenever
 *   anything listens on the port, on LISTEN_ADDRESS or on the wildcard address: another instance
 *   of this service that is not ours to lock against, or any other server. It is closed at once,
 *   before the workers bind.
 */
import net from 'node:net';
import { listenPort, type Config } from '../lib/config.js';

export class PortInUseError extends Error {}

function listen(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function isAddressInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
}

async function claim(host: string, port: number): Promise<void> {
  const lock = net.createServer();
  try {
    await listen(lock, { path: `\0atelier-port-${port}` });
  } catch (err) {
    if (!isAddressInUse(err)) throw err;
    throw new PortInUseError(`port ${port} is already served by another instance of atelier-api`);
  }
  // Held until the process exits, without keeping it alive.
  lock.unref();
  const probe = net.createServer();
  try {
    await listen(probe, { host, port, exclusive: true });
  } catch (err) {
    if (!isAddressInUse(err)) throw err;
    throw new PortInUseError(`port ${port} is already served by another process (on ${host} or all addresses)`);
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/**
 * Claims every port the workers will listen on (PORT, or PORT..PORT+WORKERS-1 per worker);
 * rejects with a PortInUseError naming the first one served already. PORT=0 lets each worker
 * pick a port of its own, which nothing else can hold.
 */
export async function claimListenPorts(config: Config): Promise<void> {
  if (config.port === 0) return;
  const slots = config.workerPorts === 'per-worker' ? config.workers : 1;
  for (let slot = 0; slot < slots; slot++) await claim(config.listenAddress, listenPort(config, slot));
}
