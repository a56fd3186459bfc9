/**
 * A re-ingest under running servers: its commit reaches every server's response cache at once,
 * catalogue bodies included (the ingest notifies EVERYTHING_CHANGED from inside its transaction),
 * and an ingest that fails reaches none.
 *
 * The servers cache for 10 minutes, so a body that changes during a test changed because of a
 * notification, never by age.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ingest, type IngestReport } from '../ingest/ingest.js';
import { startServer, type RunningServer } from '../server/app.js';
import { loadConfig } from '../lib/config.js';
import { openSession } from '../sql/db/admin.js';
import { EVERYTHING_CHANGED, INVALIDATION_CHANNEL, parseInvalidation } from '../sql/queries/invalidation.js';
import { collectNotifications, freshDatabase, silentSession } from './helpers/database.js';
import { until } from '../lib/wait.js';

const PRODUCTS_HEADER = 'id,name,slogan,description,category,default_price';
const STYLES_HEADER = 'id,productId,name,sale_price,original_price,default_style';

const FIRST_LOAD = {
  'product.csv': `${PRODUCTS_HEADER}\n1,"Camo Onesie","Blend in","A onesie","Jackets",140\n2,"Shades","Wear shades","Dark","Accessories",69\n`,
  'styles.csv': `${STYLES_HEADER}\n1,1,"Forest Green",null,140,1\n2,2,"Black",null,69,1\n`,
};

/** The same products and styles, every one of the cached bodies changed. */
const SECOND_LOAD = {
  'product.csv': `${PRODUCTS_HEADER}\n1,"Camo Onesie II","Blend in","A onesie","Jackets",150\n2,"Shades","Wear shades","Dark","Accessories",69\n`,
  'styles.csv': `${STYLES_HEADER}\n1,1,"Olive",120,150,1\n2,2,"Black",null,69,1\n`,
};

/** Fails at its end, after the reload: product 1 goes, but its style (not reloaded) still names it. */
const FAILING_LOAD = {
  'product.csv': `${PRODUCTS_HEADER}\n2,"Shades","Wear shades","Dark","Accessories",69\n`,
};

/** Catalogue bodies, which no API write ever invalidates. */
const READS = ['/products/1', '/products/1/styles', '/products'];

async function writeFiles(t: Test, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-ingest-invalidation-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function load(t: Test, url: string, files: Record<string, string>): Promise<IngestReport> {
  const dir = await writeFiles(t, files);
  return ingest({ databaseUrl: url, dir, rejectsPath: path.join(dir, 'rejects.csv'), progress: false });
}

async function serve(
  t: Test,
  url: string,
  env: Record<string, string> = { CACHE_TTL_MS: '600000' },
): Promise<RunningServer> {
  const server = await startServer(loadConfig({ DATABASE_URL: url, DRAIN_LINGER_MS: '0', ...env }), { port: 0 });
  t.teardown(() => server.close());
  return server;
}

async function bodies(server: RunningServer): Promise<string[]> {
  const answers = [];
  for (const read of READS) answers.push(await (await fetch(`http://127.0.0.1:${server.port}${read}`)).text());
  return answers;
}

/** Reads READS and returns how many of them the server answered from its cache. */
async function hitsOf(server: RunningServer, read: () => Promise<unknown>): Promise<number> {
  const before = server.cacheStats().hits;
  await read();
  return server.cacheStats().hits - before;
}

/**
 * Returns once `server` has received every notification committed before the call. PostgreSQL
 * delivers a listener's notifications in commit order, and a write is answered only once the
 * writer's listener has received the write's own notification (server/invalidation.ts). The
 * question invalidates only product 1's Q&A bodies, none of READS.
 */
async function receivedAllNotifications(t: Test, server: RunningServer): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${server.port}/qa/questions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ product_id: 1, body: 'Does it fade?', name: 'barrier', email: 'b@example.com' }),
  });
  t.equal(response.status, 201, 'the write that proves the notifications before it arrived');
}

t.test('the all payload parses apart from a product invalidation; malformed payloads do not parse', async (t) => {
  t.equal(parseInvalidation(EVERYTHING_CHANGED), EVERYTHING_CHANGED);
  t.same(parseInvalidation('123 review-lists,review-meta 7'), {
    productIds: [7],
    kinds: ['review-lists', 'review-meta'],
    token: '123',
  });
  t.same(parseInvalidation('9 styles 1,20,300'), { productIds: [1, 20, 300], kinds: ['styles'], token: '9' });
  for (const payload of [
    '',
    'al',
    'ALL',
    'all ',
    ' all',
    'all 1',
    '123 7',
    'x qa 7',
    '1 qa 0',
    '1 catalogue 7',
    '1 qa 7,',
    '1 qa 7,,8',
    '7 123 qa',
  ]) {
    t.equal(parseInvalidation(payload), undefined, JSON.stringify(payload));
  }
});

t.test('a re-ingest that commits is served at once by every running server, catalogue bodies included', async (t) => {
  const url = await freshDatabase(t);
  await load(t, url, FIRST_LOAD);
  const servers = [await serve(t, url), await serve(t, url)];
  const reference = await serve(t, url, { CACHE_MAX_BYTES: '0' });

  const before = await bodies(reference);
  for (const server of servers) {
    t.same(await bodies(server), before, 'first read');
    t.equal(await hitsOf(server, () => bodies(server)), READS.length, 'then every body is answered from the cache');
  }

  await load(t, url, SECOND_LOAD);
  const after = await bodies(reference);
  for (const [i, read] of READS.entries()) t.not(after[i], before[i], `the load changed ${read}`);
  for (const [index, server] of servers.entries()) {
    await receivedAllNotifications(t, server);
    t.same(await bodies(server), after, `server ${index + 1} reads the new catalogue at once`);
    t.equal(await hitsOf(server, () => bodies(server)), READS.length, `and server ${index + 1} caches it again`);
  }
});

t.test(
  "a re-ingest sends one all and no per-product notification: its tables' triggers are off for the load only",
  async (t) => {
    const url = await freshDatabase(t);
    await load(t, url, FIRST_LOAD);
    const payloads = await collectNotifications(t, url);
    await load(t, url, SECOND_LOAD);
    await until(() => payloads.length > 0, 'the load notified', { timeoutMs: 5000 });
    const db = await openSession(url, 'test-ingest-triggers');
    t.teardown(() => db.end());
    await db.query("UPDATE products SET name = 'After the load' WHERE id = 1");
    await until(() => payloads.length > 1, 'a change after the load notified', { timeoutMs: 5000 });
    t.equal(payloads[0], EVERYTHING_CHANGED, 'the load: all');
    t.match(payloads[1], /^[0-9]+ product 1$/, 'then the triggers notify again');
    t.equal(payloads.length, 2, 'nothing else');
  },
);

t.test('an ingest that fails notifies nobody, and an unparseable notification is ignored', async (t) => {
  const url = await freshDatabase(t);
  await load(t, url, FIRST_LOAD);
  const server = await serve(t, url);
  const cached = await bodies(server);
  // Changed with SQL that notifies nobody: only a cleared cache would show it.
  const db = await silentSession(t, url, 'test-ingest-invalidation');
  await db.query("UPDATE products SET name = 'Renamed quietly' WHERE id = 1");

  await t.rejects(load(t, url, FAILING_LOAD), /styles_product_id_fkey .* no longer holds after the load/);
  await db.query('SELECT pg_notify($1, $2)', [INVALIDATION_CHANNEL, 'everything']);
  await receivedAllNotifications(t, server);
  let after: string[] = [];
  t.equal(
    await hitsOf(server, async () => {
      after = await bodies(server);
    }),
    READS.length,
    'every body is still answered from the cache',
  );
  t.same(after, cached, 'unchanged');
});

t.test('a re-ingest that gives a question id to another product: later answers to it show at once', async (t) => {
  const QUESTIONS_HEADER = 'id,product_id,body,date_written,asker_name,asker_email,reported,helpful';
  const ANSWERS_HEADER = 'id,question_id,body,date_written,answerer_name,answerer_email,reported,helpful';
  const url = await freshDatabase(t);
  await load(t, url, {
    ...FIRST_LOAD,
    'questions.csv': `${QUESTIONS_HEADER}\n1,1,"Does it fade?",1595884714409,"asker","a@example.com",0,0\n`,
    'answers.csv': `${ANSWERS_HEADER}\n1,1,"Not after ten washes",1599958385988,"owner","o@example.com",0,0\n`,
  });
  const server = await serve(t, url);
  const answers = async (): Promise<string[]> => {
    const body = (await (await fetch(`http://127.0.0.1:${server.port}/qa/questions/1/answers`)).json()) as {
      results: { body: string }[];
    };
    return body.results.map((answer) => answer.body);
  };
  t.same(await answers(), ['Not after ten washes'], "the first read learns the question's product");
  await answers();
  t.equal(await hitsOf(server, answers), 1, 'the list is then cached under product 1');

  await load(t, url, {
    'questions.csv': `${QUESTIONS_HEADER}\n1,2,"Are they polarised?",1595884714409,"asker","a@example.com",0,0\n`,
    'answers.csv': `${ANSWERS_HEADER}\n1,1,"Yes",1599958385988,"owner","o@example.com",0,0\n`,
  });
  await receivedAllNotifications(t, server);
  t.same(await answers(), ['Yes'], "the reloaded question, now product 2's");
  const posted = await fetch(`http://127.0.0.1:${server.port}/qa/questions/1/answers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ body: 'Polarised, and they fold', name: 'fan', email: 'f@example.com' }),
  });
  t.equal(posted.status, 201);
  t.same(
    (await answers()).sort(),
    ['Polarised, and they fold', 'Yes'],
    'the answer (which invalidates product 2) shows: the list is no longer kept under product 1',
  );
});
