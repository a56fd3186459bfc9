import { createServer, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { freePort } from '../lib/net.js';
import { Client, Pool } from '../sql/db/driver.js';
import { isDatabaseUnavailable, isPoolSaturated, isStatementTimeout } from '../sql/db/errors.js';
import { PoolSaturatedError } from '../sql/db/pool.js';

function coded(code: string, message = 'some failure'): Error {
  return Object.assign(new Error(message), { code });
}

const UNAVAILABLE_SQLSTATES = [
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '3D000',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
];
const UNAVAILABLE_ERRNOS = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH'];
const UNAVAILABLE_MESSAGES = [
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
  'Connection terminated unexpectedly',
  'Connection terminated',
  'timeout expired',
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
];

t.test('an unavailable database is recognised by SQLSTATE, by errno and by pg’s own code-less messages', async (t) => {
  for (const code of UNAVAILABLE_SQLSTATES) t.ok(isDatabaseUnavailable(coded(code)), `SQLSTATE ${code}`);
  for (const errno of UNAVAILABLE_ERRNOS) t.ok(isDatabaseUnavailable(coded(errno)), `errno ${errno}`);
  for (const message of UNAVAILABLE_MESSAGES) t.ok(isDatabaseUnavailable(new Error(message)), message);
});

t.test('other errors are not an unavailable database', async (t) => {
  for (const code of ['23505', '42P01', '57014', '40001', 'ENOENT', 'ERR_INVALID_ARG_TYPE']) {
    t.notOk(isDatabaseUnavailable(coded(code)), `code ${code}`);
  }
  t.notOk(isDatabaseUnavailable(coded('23505', 'Connection terminated')), 'a code decides, whatever the message');
  t.notOk(isDatabaseUnavailable(new Error('Client was closed and is not queryable')), 'a client this process closed');
  t.notOk(isDatabaseUnavailable(new Error('connection terminated')), 'messages match exactly, case included');
  t.notOk(isDatabaseUnavailable(new Error('Connection terminated by the user')), 'messages match whole');
  t.notOk(isDatabaseUnavailable(new Error('boom')), 'a plain error');
  for (const value of [undefined, null, 'ECONNREFUSED', 'Connection terminated', { code: '57P01' }]) {
    t.notOk(isDatabaseUnavailable(value), `the non-Error ${JSON.stringify(value)}`);
  }
});

t.test('a statement timeout is SQLSTATE 57014 (query_canceled) on an Error', async (t) => {
  t.ok(isStatementTimeout(coded('57014', 'canceling statement due to statement timeout')));
  t.notOk(isStatementTimeout(coded('57P01')));
  t.notOk(isStatementTimeout(new Error('Query read timeout')), 'the client-side read timeout is an outage instead');
  t.notOk(isStatementTimeout({ code: '57014' }), 'not an Error');
});

t.test('a saturated pool is a PoolSaturatedError and nothing else', async (t) => {
  t.ok(isPoolSaturated(new PoolSaturatedError(3)));
  t.notOk(isPoolSaturated(Object.assign(new Error('busy'), { name: 'PoolSaturatedError' })));
  t.notOk(isPoolSaturated(coded('53300')));
  t.notOk(isDatabaseUnavailable(new PoolSaturatedError(3)), 'shedding is told apart from an outage');
});

/**
 * A TCP server that speaks just enough of the PostgreSQL protocol: with `handshake` it answers
 * the startup message with AuthenticationOk and ReadyForQuery, then never answers a query;
 * without, it accepts and stays silent. So pg's own failures can be produced without a database.
 */
async function fakeServer(t: Test, handshake: boolean): Promise<{ url: string; drop(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (!handshake) return;
    socket.once('data', () => {
      socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]));
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `postgres://test@127.0.0.1:${port}/test?sslmode=disable`,
    drop: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

function expectUnavailable(t: Test, err: Error, message: string): void {
  t.equal(err.message, message, 'pg still throws this message');
  t.ok(isDatabaseUnavailable(err), `"${message}" is an unavailable database`);
}

t.test('pg’s real failures are each recognised', async (t) => {
  t.test('a refused connection carries its errno', async (t) => {
    const client = new Client({ connectionString: `postgres://test@127.0.0.1:${await freePort()}/test` });
    const err = await failure(client.connect());
    t.equal((err as { code?: unknown }).code, 'ECONNREFUSED');
    t.ok(isDatabaseUnavailable(err));
  });

  t.test('a server that never completes the handshake: the client’s connect timeout', async (t) => {
    const server = await fakeServer(t, false);
    const client = new Client({ connectionString: server.url, connectionTimeoutMillis: 100 });
    expectUnavailable(t, await failure(client.connect()), 'timeout expired');
  });

  t.test('a server that never completes the handshake: the pool’s two connect timeouts', async (t) => {
    const server = await fakeServer(t, false);
    const pool = new Pool({ connectionString: server.url, max: 1, connectionTimeoutMillis: 100 });
    t.teardown(() => pool.end());
    const [connecting, queued] = await Promise.all([failure(pool.connect()), failure(pool.connect())]);
    expectUnavailable(t, connecting, 'Connection terminated due to connection timeout');
    expectUnavailable(t, queued, 'timeout exceeded when trying to connect');
  });

  t.test('a connected server that stops answering, then drops the connection', async (t) => {
    const server = await fakeServer(t, true);
    const client = new Client({ connectionString: server.url, query_timeout: 100 });
    await client.connect();
    const lost = new Promise<Error>((resolve) => client.on('error', resolve));
    expectUnavailable(t, await failure(client.query('SELECT 1')), 'Query read timeout');
    server.drop();
    expectUnavailable(t, await lost, 'Connection terminated unexpectedly');
    expectUnavailable(
      t,
      await failure(client.query('SELECT 1')),
      'Client has encountered a connection error and is not queryable',
    );
  });

  t.test('a query still waiting when the client ends', async (t) => {
    const server = await fakeServer(t, true);
    const client = new Client({ connectionString: server.url });
    await client.connect();
    const pending = failure(client.query('SELECT 1'));
    await client.end();
    expectUnavailable(t, await pending, 'Connection terminated');
  });
});
