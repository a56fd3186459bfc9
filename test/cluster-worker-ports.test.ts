import http from 'node:http';
import { createServer } from 'node:net';
import t from 'tap';
import { listenPort, loadConfig } from '../lib/config.js';
import { freshDatabase } from './helpers/database.js';
import { freePort } from '../lib/net.js';
import { connectionOwner, isEvent, startCluster, type LogLine } from './helpers/process.js';
import { within } from '../lib/wait.js';

/** A loopback port whose successor was free a moment ago too. */
async function twoFreePorts(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const next = createServer();
    const free = await new Promise<boolean>((resolve) => {
      next.once('error', () => resolve(false));
      next.listen(port + 1, '127.0.0.1', () => resolve(true));
    });
    if (free) {
      await new Promise<void>((resolve) => next.close(() => resolve()));
      return port;
    }
  }
}

/** The pid of the worker answering GET /health on `port`, over a connection kept open while we look. */
async function healthOwner(port: number, pids: readonly number[]): Promise<number | undefined> {
  const agent = new http.Agent({ keepAlive: true });
  try {
    const clientPort = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/health', agent }, (response) => {
          const clientPort = response.socket.localPort ?? 0;
          response.resume();
          response.on('end', () =>
            response.statusCode === 200 ? resolve(clientPort) : reject(new Error(`status ${response.statusCode}`)),
          );
        })
        .on('error', reject);
    });
    return await connectionOwner(port, clientPort, pids);
  } finally {
    agent.destroy();
  }
}

const readyWorker = (line: LogLine): boolean => line.event === 'worker_ready' && line.role === 'primary';

t.test('WORKER_PORTS is validated and picks each worker its port', async (t) => {
  t.throws(
    () => loadConfig({ WORKER_PORTS: 'each' }),
    /WORKER_PORTS must be "shared" or "per-worker"/,
    'an unknown mode is refused',
  );
  t.throws(
    () => loadConfig({ WORKER_PORTS: 'per-worker', PORT: '65535', WORKERS: '2' }),
    /PORT\+WORKERS-1/,
    'ports past 65535 are refused',
  );
  t.throws(
    () => loadConfig({ WORKER_PORTS: 'per-worker', PORT: '0' }),
    /PORT/,
    'a random port per worker cannot be proxied',
  );
  t.throws(() => loadConfig({ WORKERS: '2', WORKER_SLOT: '2' }), /WORKER_SLOT/, 'a slot past the workers is refused');
  const perWorker = loadConfig({ WORKER_PORTS: 'per-worker', PORT: '3000', WORKERS: '4' });
  t.same(
    [0, 1, 2, 3].map((slot) => listenPort(perWorker, slot)),
    [3000, 3001, 3002, 3003],
  );
  t.equal(
    listenPort(loadConfig({ WORKER_PORTS: 'per-worker', PORT: '3000', WORKERS: '4', WORKER_SLOT: '2' })),
    3002,
    'a worker finds its own port',
  );
  const shared = loadConfig({ PORT: '3000', WORKERS: '4', WORKER_SLOT: '2' });
  t.equal(shared.workerPorts, 'shared', 'shared is the default');
  t.equal(listenPort(shared), 3000);
});

t.test('with WORKER_PORTS=per-worker each worker keeps its own port across a respawn and a reload', async (t) => {
  const port = await twoFreePorts();
  const cluster = startCluster(t, {
    DATABASE_URL: await freshDatabase(t),
    SEED_SCALE: '0',
    WORKERS: '2',
    PORT: String(port),
    WORKER_PORTS: 'per-worker',
    DRAIN_TIMEOUT_MS: '2000',
  });
  await cluster.waitFor(isEvent('cluster_ready'), 'the cluster became ready');
  const bySlot = new Map(cluster.lines.filter(readyWorker).map((l) => [Number(l.slot), l]));
  t.same(
    [0, 1].map((slot) => bySlot.get(slot)?.port),
    [port, port + 1],
    'slot i listens on PORT+i',
  );
  const pids = [0, 1].map((slot) => Number(bySlot.get(slot)?.worker));
  t.same(
    [await healthOwner(port, pids), await healthOwner(port + 1, pids)],
    pids,
    'each port is served by its own worker only',
  );

  process.kill(pids[1]!, 'SIGKILL');
  const respawned = await cluster.waitFor(
    (l) => readyWorker(l) && !pids.includes(Number(l.worker)),
    'a replacement became ready',
  );
  t.same([respawned.slot, respawned.port], [1, port + 1], "the replacement took the dead worker's slot and port");
  const afterRespawn = [pids[0]!, Number(respawned.worker)];
  t.equal(await healthOwner(port + 1, afterRespawn), afterRespawn[1], 'and serves it');

  cluster.primary.kill('SIGHUP');
  const done = await cluster.waitFor(isEvent('reload_done'), 'the reload finished');
  const reloaded = String(done.workers).split(',').map(Number);
  const reported = cluster.lines.filter((l) => readyWorker(l) && reloaded.includes(Number(l.worker)));
  t.same(reported.map((l) => l.port).sort(), [port, port + 1], 'the reloaded workers listen on the same two ports');
  const expected = [port, port + 1].map((p) => Number(reported.find((l) => l.port === p)?.worker));
  t.same(
    [await healthOwner(port, reloaded), await healthOwner(port + 1, reloaded)],
    expected,
    'each port served by the worker that reported it',
  );
  cluster.primary.kill('SIGTERM');
  t.same(await within(cluster.exited, 'the primary exited after its drain', { timeoutMs: 30_000 }), {
    code: 0,
    signal: null,
  });
});
