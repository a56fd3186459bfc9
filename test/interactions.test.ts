import http from 'node:http';
import t, { type Test } from 'tap';
import { openSession, type Session } from '../sql/db/admin.js';
import type { RunningServer } from '../server/app.js';
import { request, serve as serveApi } from './helpers/api.js';
import { freshDatabase } from './helpers/database.js';
import { freePort } from '../lib/net.js';
import { isEvent, startCluster } from './helpers/process.js';
import { until, within } from '../lib/wait.js';

const click = (element: string) =>
  JSON.stringify({ element, widget: 'Related Items', time: '2021-03-17T13:28:37.620Z' });

/** One POST /interactions; over `agent`'s connections, or a new one that closes after it. */
const post = (port: number, body: string, agent: http.Agent | false = false, contentType = 'application/json') =>
  request(port, 'POST', '/interactions', body, agent, contentType);

interface Served {
  readonly url: string;
  readonly db: Session;
  readonly server: RunningServer;
}

async function serve(t: Test, env: Record<string, string> = {}): Promise<Served> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-interactions');
  t.teardown(() => db.end());
  const server = await serveApi(t, url, env);
  return { url, db, server };
}

async function storedElements(db: Session): Promise<string[]> {
  return (await db.query<{ element: string }>('SELECT element FROM interactions ORDER BY element COLLATE "C"')).map(
    (row) => row.element,
  );
}

const sorted = (values: Iterable<string>): string[] => [...values].sort();

t.test('POST /interactions answers 201 {} once the row is stored; concurrent clicks share INSERTs', async (t) => {
  const { db, server } = await serve(t);
  const one = await post(server.port, click('#add-to-cart'));
  t.equal(one.status, 201);
  t.equal(one.headers['content-type'], 'application/json; charset=utf-8');
  t.equal(one.body, '{}');
  t.same(
    await db.query('SELECT element, widget, time FROM interactions'),
    [{ element: '#add-to-cart', widget: 'Related Items', time: '2021-03-17T13:28:37.620Z' }],
    'stored before the 201',
  );

  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  t.teardown(() => agent.destroy());
  const elements = Array.from({ length: 300 }, (_, i) => `#card-${String(i).padStart(3, '0')}`);
  const answers = await Promise.all(elements.map((element) => post(server.port, click(element), agent)));
  t.same(
    answers.filter((answer) => answer.status !== 201 || answer.body !== '{}'),
    [],
    'every click answered 201 {}',
  );
  t.same(await storedElements(db), sorted(['#add-to-cart', ...elements]), 'every click stored once');
  const [{ transactions }] = await db.query<{ transactions: number }>(
    "SELECT count(DISTINCT xmin::text)::int AS transactions FROM interactions WHERE element LIKE '#card-%'",
  );
  t.ok(transactions! < elements.length, `300 clicks were stored by ${transactions} INSERTs`);
});

t.test('POST /interactions answers 422 naming the first invalid field, and stores nothing', async (t) => {
  const { db, server } = await serve(t);
  const valid = { element: '#a', widget: 'Overview', time: 'Tue Mar 16 2021 10:00:00 GMT-0700' };
  const cases: [Record<string, unknown>, string, string][] = [
    [{ element: undefined }, 'element', 'a string of 1 to 200 characters'],
    [{ element: '' }, 'element', 'a string of 1 to 200 characters'],
    [{ element: 'e'.repeat(201) }, 'element', 'a string of 1 to 200 characters'],
    [{ element: 5 }, 'element', 'a string of 1 to 200 characters'],
    [{ element: 'a\u0000b' }, 'element', 'text without NUL characters'],
    [{ widget: null }, 'widget', 'a string of 1 to 200 characters'],
    [{ widget: '' }, 'widget', 'a string of 1 to 200 characters'],
    [{ time: undefined }, 'time', 'a string of 1 to 200 characters'],
    [{ time: 1615914000000 }, 'time', 'a string of 1 to 200 characters'],
    [{ time: 't'.repeat(201) }, 'time', 'a string of 1 to 200 characters'],
    [{ element: '', time: '' }, 'element', 'a string of 1 to 200 characters'],
  ];
  for (const [change, field, requirement] of cases) {
    const answer = await post(server.port, JSON.stringify({ ...valid, ...change }));
    t.equal(answer.status, 422, JSON.stringify(change).slice(0, 60));
    t.equal(answer.body, JSON.stringify({ error: `${field} must be ${requirement}.` }));
  }
  for (const [body, status, error, contentType] of [
    ['[]', 422, 'The request body must be a JSON object.', undefined],
    ['{"element":', 400, 'The request body is not valid JSON.', undefined],
    [JSON.stringify(valid), 415, 'The request body must be sent with Content-Type: application/json.', 'text/plain'],
    [
      JSON.stringify({ ...valid, element: 'x'.repeat(70_000) }),
      413,
      'The request body is larger than 64 KiB.',
      undefined,
    ],
  ] as const) {
    const answer = await post(server.port, body, false, contentType);
    t.equal(answer.status, status, error);
    t.equal(answer.body, JSON.stringify({ error }));
  }
  const longest = await post(
    server.port,
    JSON.stringify({ element: `${'e'.repeat(199)}😀`, widget: 'w'.repeat(200), time: 't' }),
  );
  t.equal(longest.status, 201, '200 characters (code points) are accepted');
  t.same(await db.query('SELECT count(*)::int AS n FROM interactions'), [{ n: 1 }], 'only the valid click was stored');
  const wrongMethod = await new Promise<number>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: server.port, path: '/interactions' }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
      .on('error', reject);
  });
  t.equal(wrongMethod, 405);
});

t.test('a batch whose INSERT fails answers 503 to each of its clicks and stores none of them', async (t) => {
  const { db, server, url } = await serve(t, { PG_STATEMENT_TIMEOUT_MS: '300' });
  // The INSERT waits for this lock until its statement timeout cancels it.
  const locker = await openSession(url, 'test-interactions-lock');
  t.teardown(() => locker.end());
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE interactions IN ACCESS EXCLUSIVE MODE');
  const refused = await Promise.all(Array.from({ length: 10 }, (_, i) => post(server.port, click(`#refused-${i}`))));
  await locker.query('ROLLBACK');
  for (const answer of refused) {
    t.equal(answer.status, 503);
    t.equal(answer.headers['retry-after'], '1');
    t.equal(answer.body, '{"error":"The database is unavailable or overloaded; retry later."}');
  }
  const accepted = await post(server.port, click('#accepted'));
  t.equal(accepted.status, 201, 'the next batch goes through');
  t.same(await storedElements(db), ['#accepted'], 'nothing refused was stored');
});

t.test('closing the server stores every click it took, even past the drain deadline', async (t) => {
  // The inserts wait for the lock as long as the test holds it: no lock timeout.
  const { db, server, url } = await serve(t, { DRAIN_TIMEOUT_MS: '100', PG_LOCK_TIMEOUT_MS: '0' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });
  t.teardown(() => agent.destroy());
  const locker = await openSession(url, 'test-interactions-lock');
  t.teardown(() => locker.end());
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE interactions IN ACCESS EXCLUSIVE MODE');
  const blockedInserts = async (count: number): Promise<void> =>
    until(
      async () => {
        const [row] = await db.query<{ waiting: number }>(
          "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        return row!.waiting === count;
      },
      `${count} inserts are blocked on the lock`,
      { timeoutMs: 10_000 },
    );
  const elements = Array.from({ length: 40 }, (_, i) => `#held-${String(i).padStart(2, '0')}`);
  // Every click goes over a connection opened before the close, as a client's would.
  await Promise.all(
    elements.map(
      () =>
        new Promise((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: server.port, path: '/health', agent }, (response) =>
              response.resume().on('end', resolve),
            )
            .on('error', reject);
        }),
    ),
  );
  const send = (element: string) => post(server.port, click(element), agent);
  // One click per flush slot, each INSERT blocked behind the lock; the other clicks wait in the buffer.
  const answers = [send(elements[0]!)];
  await blockedInserts(1);
  answers.push(send(elements[1]!));
  await blockedInserts(2);
  answers.push(...elements.slice(2).map(send));
  const closed = server.close();
  // Let the drain deadline pass with every click still unanswered, then let the INSERTs through.
  await new Promise((resolve) => setTimeout(resolve, 400));
  await locker.query('COMMIT');
  const statuses = (await Promise.all(answers)).map((answer) => answer.status);
  await closed;
  t.same(
    statuses,
    elements.map(() => 201),
    'every click taken before the close was answered 201',
  );
  t.same(await storedElements(db), elements, 'and stored');
});

t.test('clicks acknowledged by a real cluster are all stored after SIGTERM', async (t) => {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-interactions');
  t.teardown(() => db.end());
  // A catalogue, so that the primary does not seed one.
  await db.query(`INSERT INTO products (id, name, slogan, description, category, default_price)
                  VALUES (1, 'Camo Onesie', 'Blend in', 'A onesie', 'Jackets', 140)`);
  const port = await freePort();
  const cluster = startCluster(t, { DATABASE_URL: url, WORKERS: '2', PORT: String(port) });
  await cluster.waitFor(isEvent('cluster_ready'), 'the cluster became ready');

  const acknowledged: string[] = [];
  const send = async (element: string): Promise<void> => {
    const answer = await post(port, click(element)).catch(() => undefined);
    if (answer?.status === 201) acknowledged.push(element);
  };
  const before = Array.from({ length: 200 }, (_, i) => `#before-${i}`);
  await Promise.all(before.map(send));
  t.equal(acknowledged.length, before.length, 'every click before the SIGTERM was acknowledged');
  // More clicks in flight while the cluster stops: the ones acknowledged must be stored too.
  const during = Promise.all(Array.from({ length: 100 }, (_, i) => send(`#during-${i}`)));
  cluster.primary.kill('SIGTERM');
  await during;
  t.same(
    await within(cluster.exited, 'the primary exited after its drain', { timeoutMs: 30_000 }),
    { code: 0, signal: null },
    'the primary exited 0',
  );
  t.same(
    await storedElements(db),
    sorted(acknowledged),
    `exactly the ${acknowledged.length} acknowledged clicks are stored`,
  );
});
