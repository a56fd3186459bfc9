/**
 * One instance per port (cluster/port-claim.ts): a second `npm start` on a port already served
 * exits 1 naming the port, and the first keeps serving with all its workers.
 */
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import t, { type Test } from 'tap';
import { freePort } from '../lib/net.js';
import { openSession } from '../sql/db/admin.js';
import { freshDatabase } from './helpers/database.js';
import type { Exit } from '../lib/processes.js';
import { isEvent, startCluster, type RunningCluster } from './helpers/process.js';

const START_TIMEOUT_MS = 60_000;

/** Settles with `promise`, or rejects after `ms` naming `what`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A migrated database with a product, so that no instance seeds. */
async function catalogue(t: Test): Promise<string> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'single-instance-test');
  await db.query("INSERT INTO products VALUES (1, 'Camo Onesie', 'Blend in', 'Fatigues', 'Jackets', 140)");
  await db.end();
  return url;
}

function health(port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host, port, path: '/health', agent: false, timeout: 5000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('timeout', () => request.destroy(new Error(`GET /health on ${host}:${port} timed out`)));
    request.on('error', reject);
  });
}

async function started(cluster: RunningCluster, what: string): Promise<void> {
  await within(cluster.waitFor(isEvent('cluster_ready'), `${what} ready`), START_TIMEOUT_MS, `${what} ready`);
}

async function refused(t: Test, cluster: RunningCluster, port: number): Promise<void> {
  const exit: Exit = await within(cluster.exited, START_TIMEOUT_MS, 'the second instance exiting');
  t.equal(exit.code, 1, `exits 1:\n${cluster.output()}`);
  const line = cluster.lines.find(isEvent('port_in_use'));
  t.match(line?.error, new RegExp(`port ${port}\\b`), 'the message names the port');
  t.notOk(cluster.lines.some(isEvent('worker_forked')), 'no worker was started');
}

t.test('a second instance on a served port exits 1 naming it; the first keeps serving', async (t) => {
  const url = await catalogue(t);
  const port = await freePort();
  const env = { PORT: String(port), WORKERS: '2', DATABASE_URL: url };
  const first = startCluster(t, env);
  await started(first, 'the first instance');

  const second = startCluster(t, env);
  await refused(t, second, port);

  const pids = new Set<number>();
  for (let i = 0; i < 10; i++) t.equal(await health(port), 200, `the first instance still answers (${i})`);
  for (const line of first.lines.filter(isEvent('worker_ready'))) pids.add(Number(line.worker));
  t.equal(pids.size, 2, 'both of its workers share the port');
  t.equal(first.primary.exitCode, null, 'the first instance is still running');
});

t.test('two instances started at the same instant: exactly one serves', async (t) => {
  const url = await catalogue(t);
  const port = await freePort();
  const env = { PORT: String(port), WORKERS: '1', DATABASE_URL: url };
  const clusters = [startCluster(t, env), startCluster(t, env)];
  const outcome = await within(
    Promise.race(clusters.map((cluster, i) => cluster.exited.then((exit) => ({ i, exit })))),
    START_TIMEOUT_MS,
    'one of the two instances exiting',
  );
  t.equal(outcome.exit.code, 1, 'the loser exits 1');
  const winner = clusters[1 - outcome.i]!;
  await started(winner, 'the winner');
  t.equal(await health(port), 200, 'the winner serves');
});

t.test('a port held by another program stops the instance too', async (t) => {
  const url = await catalogue(t);
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const port = (holder.address() as net.AddressInfo).port;
  // The other program listens on loopback only; this instance asks for every address.
  await refused(t, startCluster(t, { PORT: String(port), WORKERS: '1', DATABASE_URL: url }), port);
});

t.test('LISTEN_ADDRESS: the workers listen there only', async (t) => {
  const url = await catalogue(t);
  const port = await freePort();
  const cluster = startCluster(t, { PORT: String(port), WORKERS: '1', DATABASE_URL: url, LISTEN_ADDRESS: '127.0.0.1' });
  await started(cluster, 'the loopback instance');
  t.equal(await health(port), 200, 'answers on 127.0.0.1');
  const other = Object.values(os.networkInterfaces())
    .flat()
    .find((address) => address?.family === 'IPv4' && !address.internal)?.address;
  if (other === undefined) return t.comment('no non-loopback IPv4 address to check the other side on');
  await t.rejects(health(port, other), { code: 'ECONNREFUSED' }, `refused on ${other}`);
});
