/**
 * The replication harness (test/helpers/replication.ts) that issue 15's acceptance tests stand
 * on: what it builds really streams, the delayed replica really lags, a partition really hangs
 * connects rather than refusing them, and every fault it injects is recovered from.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import t from 'tap';
import { run } from '../lib/processes.js';
import { openSession } from '../sql/db/admin.js';
import { MIGRATIONS_DIR } from '../sql/migrate.js';
import { REPLICAS, startReplicationSet, type ReplicaName } from './helpers/replication.js';
import { until } from '../lib/wait.js';

const CATCH_UP = { timeoutMs: 30_000 };
const set = await startReplicationSet(t);
let nextId = 100;

/** Adds a product on the primary; returns its id and the WAL position its commit reached. */
async function addProduct(): Promise<{ id: number; lsn: string }> {
  const id = nextId++;
  const db = await openSession(set.primary.url, 'harness-test', 5000);
  try {
    await db.query(
      `INSERT INTO products (id, name, slogan, description, category, default_price)
       VALUES ($1, $2, 's', 'd', 'c', 1)`,
      [id, `Harness ${id}`],
    );
    const [row] = await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return { id, lsn: row!.lsn };
  } finally {
    await db.end();
  }
}

async function hasProduct(url: string, id: number): Promise<boolean> {
  const db = await openSession(url, 'harness-test', 2000);
  try {
    return (await db.query('SELECT 1 FROM products WHERE id = $1', [id])).length === 1;
  } finally {
    await db.end();
  }
}

/** What a TCP connect to `host:port` does within `waitMs`: `connected`, an error code, or `hung`. */
function connectOutcome(host: string, port: number, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('hung');
    }, waitMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

t.test('every migration applies on PostgreSQL 15, and the replicas have the schema', async (t) => {
  const files = (await readdir(MIGRATIONS_DIR)).filter((file) => file.endsWith('.sql'));
  for (const { url } of [set.primary, ...Object.values(set.replicas)]) {
    const db = await openSession(url, 'harness-test', 2000);
    try {
      const [row] = await db.query<{ applied: number; version: string }>(
        "SELECT count(*)::int AS applied, current_setting('server_version_num') AS version FROM schema_migrations",
      );
      t.equal(row!.applied, files.length, `every migration recorded on ${url}`);
      t.match(row!.version, /^15/, 'PostgreSQL 15');
      const [timeouts] = await db.query<{ sender: string; receiver: string }>(
        "SELECT current_setting('wal_sender_timeout') AS sender, current_setting('wal_receiver_timeout') AS receiver",
      );
      t.same(timeouts, { sender: url === set.primary.url ? '2s' : '1min', receiver: '2s' }, 'short WAL timeouts');
    } finally {
      await db.end();
    }
  }
});

t.test('a row written on the primary reaches both replicas, the delayed one no sooner than its delay', async (t) => {
  const started = performance.now();
  const { id } = await addProduct();
  const seenAfter = async (name: ReplicaName): Promise<number> => {
    await until(() => hasProduct(set.replicas[name].url, id), `product ${id} was on the ${name} replica`, CATCH_UP);
    return performance.now() - started;
  };
  const [delayed, partitionable] = await Promise.all(REPLICAS.map(seenAfter));
  t.comment(`seen after ${Math.round(delayed!)} ms (delayed), ${Math.round(partitionable!)} ms (partitionable)`);
  // The replica applies a commit once its commit time (taken after `started`) is 300 ms old.
  t.ok(delayed! >= 290, `the delayed replica showed it after ${Math.round(delayed!)} ms, not before 300 ms`);
  t.equal(await hasProduct(set.primary.url, id), true);
});

t.test('a replica partitioned: a connect to it hangs; healed, it streams and catches up', async (t) => {
  const { host, port } = set.replicas.partitionable;
  t.equal(await connectOutcome(host, port, 5000), 'connected', 'reachable before the partition');
  await set.partition('partitionable');
  t.equal(await connectOutcome(host, port, 1500), 'hung', 'no answer, no refusal, during the partition');
  const { id, lsn } = await addProduct();
  await set.heal('partitionable');
  await set.waitStreaming('partitionable', CATCH_UP);
  await set.waitReplayed('partitionable', lsn, CATCH_UP);
  t.equal(await hasProduct(set.replicas.partitionable.url, id), true, 'the write made during the partition arrived');
});

t.test('a SIGKILLed replica refuses connections, starts again and catches up', async (t) => {
  for (const name of REPLICAS) {
    const { host, port, url } = set.replicas[name];
    await set.killReplica(name);
    t.equal(await connectOutcome(host, port, 5000), 'ECONNREFUSED', `the killed ${name} replica refuses`);
    const { id, lsn } = await addProduct();
    await set.startReplica(name);
    await set.waitReplayed(name, lsn, CATCH_UP);
    t.equal(await hasProduct(url, id), true, `the ${name} replica caught up after its restart`);
  }
});

t.test('the primary stopped, the replicas still answer; started again, they stream from it', async (t) => {
  const before = await addProduct();
  for (const name of REPLICAS) await set.waitReplayed(name, before.lsn, CATCH_UP);
  await set.stopPrimary();
  t.equal(await connectOutcome(set.primary.host, set.primary.port, 5000), 'ECONNREFUSED', 'the primary is down');
  for (const name of REPLICAS) {
    t.equal(await hasProduct(set.replicas[name].url, before.id), true, `the ${name} replica reads without it`);
  }
  await set.startPrimary();
  const after = await addProduct();
  for (const name of REPLICAS) {
    await set.waitStreaming(name, CATCH_UP);
    await set.waitReplayed(name, after.lsn, CATCH_UP);
    t.equal(await hasProduct(set.replicas[name].url, after.id), true, `the ${name} replica streams again`);
  }
});

t.test('close() removes the servers, the namespace and every file', async (t) => {
  const namespace = set.namespace!;
  await set.close();
  t.notOk((await run('ip', ['netns', 'list'])).stdout.includes(namespace), 'the namespace is gone');
  t.notOk(existsSync(set.dir), 'the data directories are gone');
  t.equal(await connectOutcome(set.primary.host, set.primary.port, 5000), 'ECONNREFUSED', 'the primary is gone');
  await set.close();
});
