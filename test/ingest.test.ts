import csv from 'csv-parser';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { ingest, IngestError, type FileReport, type IngestReport } from '../ingest/ingest.js';
import { openSession, type Session } from '../sql/db/admin.js';
import { freshDatabase } from './helpers/database.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'build/ingest/cli.js');
const sample = path.resolve(root, '../shared/atelier-sample');

const CATALOGUE = [
  'products',
  'features',
  'styles',
  'photos',
  'skus',
  'related',
  'reviews',
  'reviews_photos',
  'characteristics',
  'characteristic_reviews',
  'questions',
  'answers',
  'answers_photos',
  'cart',
];

/**
 * Every kind of dirt of atelier-data.md, a few rows each. Line numbers in the comments of
 * EXPECTED_REJECTS count the header as line 1. photos.csv ends without a final newline and
 * with an unclosed quote; product.csv holds a blank line.
 */
const DIRTY: Record<string, string> = {
  'product.csv': `${[
    'id,name,slogan,description,category,default_price',
    '1,"Camo Onesie","Blend in","Fits ""well"", they say","Jackets",140',
    '2,"Tabbed\tShades","Back\\slash","Line one","Accessories",69.5',
    '3,"Joggers","Run","Soft","Pants",abc',
    'x4,"Bad id","s","d","c",10',
    '2,"Duplicate ""quoted""","s","d","c",10',
    '',
    '5,"Five","s","d","c"',
    '7,"Seven","s","d","c",10',
  ].join('\n')}\n`,
  'features.csv':
    ['id,product_id,feature,value', '1,1,"Fabric","Canvas"', '2,1,"Buttons",null', '3,9,"Lenses","Glass"'].join('\n') +
    '\n',
  'styles.csv': `${[
    'id,productId,name,sale_price,original_price,default_style',
    '1,1,"Forest Green",null,140,1',
    '2,1,"Desert Brown",100,140,0',
    '3,2,"Black",null,69,true',
    '4,3,"Orphan",null,40,1',
    '5,2,"Bad bool",null,69,yes',
  ].join('\n')}\n`,
  'photos.csv': [
    'id,styleId,url,thumbnail_url',
    '1,1,"https://a/1.jpg","https://a/1t.jpg"',
    '3,1,"https://a/3.jpg","https://a/3t.jpg',
    '2,1,"https://a/2.jpg","https://a/2t.jpg"',
    '4,2,"https://a/4.jpg",null',
    '5,9,"https://a/5.jpg","https://a/5t.jpg',
    '6,2,"https://a/6.jpg","https://a/6t.jpg',
  ].join('\n'),
  'skus.csv': `${['id,styleId,size,quantity', '1,1,"XS",8', '2,1,"7.5",16', '3,3,"One Size",null'].join('\n')}\n`,
  'related.csv': `${[
    'id,current_product_id,related_product_id',
    '1,1,2',
    '2,1,0',
    '3,1,8',
    '4,2,2',
    '5,2,1',
    '6,1,2',
    '7,1,7',
  ].join('\n')}\n`,
  'reviews.csv': `${[
    'id,product_id,rating,date,summary,body,recommend,reported,reviewer_name,reviewer_email,response,helpfulness',
    '1,1,5,1596080481467,"Great","Loved it",true,false,"funtime","f@x.com",null,8',
    '2,1,4,1610178433963,"Ok","Multi, comma",false,true,"meh","m@x.com","Thanks!",2',
    '3,2,7,1609325851021,"Bad rating","x",true,false,"a","a@x.com",null,0',
    '4,2,3,yesterday,"Bad date","x",true,false,"a","a@x.com",null,0',
    '5,2,3,1609325851021,"Few fields"',
    '6,2,2,1609325851021,"Fine","x",0,0,"b","b@x.com",null,1',
  ].join('\n')}\n`,
  'reviews_photos.csv': `${['id,review_id,url', '1,1,"https://r/1.jpg"', '2,3,"https://r/2.jpg"'].join('\n')}\n`,
  'characteristics.csv': `${['id,product_id,name', '1,1,"Fit"', '2,1,"Length"'].join('\n')}\n`,
  'characteristic_reviews.csv': `${['id,characteristic_id,review_id,value', '1,1,1,4', '2,2,1,0', '3,2,2,3'].join('\n')}\n`,
  'questions.csv': `${[
    'id,product_id,body,date_written,asker_name,asker_email,reported,helpful',
    '1,1,"What fabric?",1595884714409,"q","q@x.com",0,1',
    '2,2,"Reported one",1613888219613,"r","r@x.com",1,4',
  ].join('\n')}\n`,
  'answers.csv': `${[
    'id,question_id,body,date_written,answerer_name,answerer_email,reported,helpful',
    '1,1,"Canvas",1599958385988,"s","s@x.com",0,1',
    '2,36,"Orphan",1599958385988,"s","s@x.com",0,1',
  ].join('\n')}\n`,
  'answers_photos.csv': `${['id,answer_id,url', '1,1,"https://q/1.jpg"', '2,2,"https://q/2.jpg"'].join('\n')}\n`,
  'cart.csv': `${['id,user_session,product_id,active', '1,1234,1,1', '2,1234,2,0'].join('\n')}\n`,
};

type Counts = Omit<FileReport, 'seconds'>;
const count = (file: string, read: number, loaded: number, repaired: number, rejected: number): Counts => ({
  file,
  read,
  loaded,
  repaired,
  rejected,
});

const EXPECTED_COUNTS: Counts[] = [
  count('product.csv', 7, 3, 0, 4),
  count('features.csv', 3, 2, 0, 1),
  count('styles.csv', 5, 3, 0, 2),
  count('photos.csv', 6, 5, 2, 1),
  count('skus.csv', 3, 2, 0, 1),
  count('related.csv', 7, 3, 0, 4),
  count('reviews.csv', 6, 3, 0, 3),
  count('reviews_photos.csv', 2, 1, 0, 1),
  count('characteristics.csv', 2, 2, 0, 0),
  count('characteristic_reviews.csv', 3, 2, 0, 1),
  count('questions.csv', 2, 2, 0, 0),
  count('answers.csv', 2, 1, 0, 1),
  count('answers_photos.csv', 2, 1, 0, 1),
  count('cart.csv', 2, 2, 0, 0),
];

interface Reject {
  file: string;
  line: string;
  reason: string;
  raw: string;
}

const EXPECTED_REJECTS: Reject[] = [
  {
    file: 'product.csv',
    line: '4',
    reason: 'default_price "abc" is not a price',
    raw: '3,"Joggers","Run","Soft","Pants",abc',
  },
  { file: 'product.csv', line: '5', reason: 'id "x4" is not a positive integer', raw: 'x4,"Bad id","s","d","c",10' },
  { file: 'product.csv', line: '6', reason: 'duplicate id 2', raw: '2,"Duplicate ""quoted""","s","d","c",10' },
  { file: 'product.csv', line: '8', reason: 'expected 6 fields, found 5', raw: '5,"Five","s","d","c"' },
  { file: 'features.csv', line: '4', reason: 'orphan: product_id 9 is not in products', raw: '3,9,"Lenses","Glass"' },
  { file: 'styles.csv', line: '5', reason: 'orphan: productId 3 is not in products', raw: '4,3,"Orphan",null,40,1' },
  {
    file: 'styles.csv',
    line: '6',
    reason: 'default_style "yes" is not a boolean (true/false or 1/0)',
    raw: '5,2,"Bad bool",null,69,yes',
  },
  {
    file: 'photos.csv',
    line: '6',
    reason: 'orphan: styleId 9 is not in styles (the line also lacked a closing quote)',
    raw: '5,9,"https://a/5.jpg","https://a/5t.jpg',
  },
  { file: 'skus.csv', line: '4', reason: 'quantity is missing', raw: '3,3,"One Size",null' },
  { file: 'related.csv', line: '3', reason: 'related_product_id is 0', raw: '2,1,0' },
  { file: 'related.csv', line: '4', reason: 'orphan: related_product_id 8 is not in products', raw: '3,1,8' },
  { file: 'related.csv', line: '5', reason: 'related_product_id 2 is the product itself', raw: '4,2,2' },
  {
    file: 'related.csv',
    line: '7',
    reason: 'repeats the pair current_product_id 1, related_product_id 2',
    raw: '6,1,2',
  },
  {
    file: 'reviews.csv',
    line: '4',
    reason: 'rating 7 is outside 1–5',
    raw: '3,2,7,1609325851021,"Bad rating","x",true,false,"a","a@x.com",null,0',
  },
  {
    file: 'reviews.csv',
    line: '5',
    reason: 'date "yesterday" is not a date (epoch milliseconds or YYYY-MM-DD)',
    raw: '4,2,3,yesterday,"Bad date","x",true,false,"a","a@x.com",null,0',
  },
  { file: 'reviews.csv', line: '6', reason: 'expected 12 fields, found 5', raw: '5,2,3,1609325851021,"Few fields"' },
  {
    file: 'reviews_photos.csv',
    line: '3',
    reason: 'orphan: review_id 3 is not in reviews',
    raw: '2,3,"https://r/2.jpg"',
  },
  { file: 'characteristic_reviews.csv', line: '3', reason: 'value 0 is outside 1–5', raw: '2,2,1,0' },
  {
    file: 'answers.csv',
    line: '3',
    reason: 'orphan: question_id 36 is not in questions',
    raw: '2,36,"Orphan",1599958385988,"s","s@x.com",0,1',
  },
  {
    file: 'answers_photos.csv',
    line: '3',
    reason: 'orphan: answer_id 2 is not in answers',
    raw: '2,2,"https://q/2.jpg"',
  },
];

async function writeFixture(t: Test, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-ingest-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function session(t: Test, url: string): Promise<Session> {
  const db = await openSession(url, 'test-ingest');
  t.teardown(() => db.end());
  return db;
}

function counts(report: IngestReport): Counts[] {
  return report.files.map(({ seconds: _, ...rest }) => rest);
}

async function readRejects(file: string): Promise<Reject[]> {
  const rows: Reject[] = [];
  for await (const row of createReadStream(file).pipe(csv())) rows.push(row as Reject);
  return rows;
}

/** Every catalogue table's rows as text, in id order: equal snapshots mean equal contents. */
async function snapshot(db: Session): Promise<Record<string, string>> {
  const tables: Record<string, string> = {};
  for (const table of [...CATALOGUE, 'review_stats', 'characteristic_stats']) {
    const key = table.endsWith('_stats') ? (table === 'review_stats' ? 'product_id' : 'characteristic_id') : 'id';
    const [row] = await db.query<{ rows: string | null }>(
      `SELECT string_agg(t::text, E'\\n' ORDER BY ${key}) AS rows FROM ${table} t`,
    );
    tables[table] = row?.rows ?? '';
  }
  return tables;
}

async function load(url: string, dir: string): Promise<IngestReport> {
  return ingest({ databaseUrl: url, dir, rejectsPath: path.join(dir, 'rejects.csv'), progress: false });
}

t.test('every kind of dirt is loaded, repaired or rejected, with exact counts per file', async (t) => {
  const url = await freshDatabase(t);
  const dir = await writeFixture(t, DIRTY);
  const report = await load(url, dir);
  t.same(counts(report), EXPECTED_COUNTS);
  for (const file of report.files) t.equal(file.read, file.loaded + file.rejected, `${file.file} adds up`);

  t.equal(report.rejectsPath, path.join(dir, 'rejects.csv'));
  t.same(
    await readRejects(report.rejectsPath),
    EXPECTED_REJECTS,
    'the rejects file names the file, line, reason and raw line',
  );

  const db = await session(t, url);
  t.same(
    await db.query('SELECT id, name, slogan, description, default_price::text AS price FROM products ORDER BY id'),
    [
      { id: 1, name: 'Camo Onesie', slogan: 'Blend in', description: 'Fits "well", they say', price: '140' },
      { id: 2, name: 'Tabbed\tShades', slogan: 'Back\\slash', description: 'Line one', price: '69.5' },
      { id: 7, name: 'Seven', slogan: 's', description: 'd', price: '10' },
    ],
    'quotes, tabs and backslashes survive COPY; prices keep their text',
  );
  t.same(await db.query('SELECT id, value FROM features ORDER BY id'), [
    { id: 1, value: 'Canvas' },
    { id: 2, value: null },
  ]);
  t.same(
    await db.query('SELECT id, sale_price::text AS sale, default_style FROM styles ORDER BY id'),
    [
      { id: 1, sale: null, default_style: true },
      { id: 2, sale: '100', default_style: false },
      { id: 3, sale: null, default_style: true },
    ],
    'null prices, 1/0 and true/false booleans',
  );
  t.same(
    await db.query('SELECT id, url, thumbnail_url FROM photos ORDER BY id'),
    [
      { id: 1, url: 'https://a/1.jpg', thumbnail_url: 'https://a/1t.jpg' },
      { id: 2, url: 'https://a/2.jpg', thumbnail_url: 'https://a/2t.jpg' },
      { id: 3, url: 'https://a/3.jpg', thumbnail_url: 'https://a/3t.jpg' },
      { id: 4, url: 'https://a/4.jpg', thumbnail_url: null },
      { id: 6, url: 'https://a/6.jpg', thumbnail_url: 'https://a/6t.jpg' },
    ],
    'an unclosed quote is closed at the end of its line and swallows nothing',
  );
  t.same(
    await db.query(
      "SELECT id, to_char(date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') AS date, recommend, reported, response FROM reviews ORDER BY id",
    ),
    [
      { id: 1, date: '2020-07-30T03:41:21.467', recommend: true, reported: false, response: null },
      { id: 2, date: '2021-01-09T07:47:13.963', recommend: false, reported: true, response: 'Thanks!' },
      { id: 6, date: '2020-12-30T10:57:31.021', recommend: false, reported: false, response: null },
    ],
    'epoch milliseconds are the exact instant',
  );
  t.same(await db.query('SELECT related_product_id AS id FROM related WHERE current_product_id = 1 ORDER BY id'), [
    { id: 2 },
    { id: 7 },
  ]);
  t.same(
    await db.query('SELECT product_id, rating_4, rating_5, recommended_true FROM review_stats ORDER BY product_id'),
    [
      { product_id: 1, rating_4: 0, rating_5: 1, recommended_true: 1 },
      { product_id: 2, rating_4: 0, rating_5: 0, recommended_true: 0 },
    ],
    'review statistics are rebuilt from the loaded, unreported reviews',
  );
  t.same(
    await db.query(
      'SELECT characteristic_id, rating_sum::int AS sum, rating_count FROM characteristic_stats ORDER BY 1',
    ),
    [{ characteristic_id: 1, sum: 4, rating_count: 1 }],
    'ratings of reported reviews do not count',
  );
});

t.test('the older variant loads: spaces after header commas, YYYY-MM-DD dates, empty fields', async (t) => {
  const url = await freshDatabase(t);
  const dir = await writeFixture(t, {
    'product.csv': 'id, name, slogan, description, category, default_price\n1,"One","s","d","c",10\n',
    'reviews.csv': `${[
      'id, product_id, rating, date, summary, body, recommend, reported, reviewer_name, reviewer_email, response, helpfulness',
      '1,1,5,"2019-01-01","Great","Loved it",true,false,"funtime","f@x.com",,8',
      '2,1,4,"2019-02-30","Bad day","x",true,false,"a","a@x.com",,0',
      '3,1,3,2020-06-15,"Bare","x",false,false,"b","b@x.com","",1',
    ].join('\n')}\n`,
    'questions.csv': `${[
      'id, product_id, body, date_written, asker_name, asker_email, reported, helpful',
      '1,1,"Why?","2019-01-01","q","q@x.com",0,1',
    ].join('\n')}\n`,
  });
  const report = await load(url, dir);
  t.same(counts(report), [
    count('product.csv', 1, 1, 0, 0),
    count('reviews.csv', 3, 2, 0, 1),
    count('questions.csv', 1, 1, 0, 0),
  ]);
  const db = await session(t, url);
  t.same(
    await db.query(
      "SELECT id, to_char(date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS date, response FROM reviews ORDER BY id",
    ),
    [
      { id: 1, date: '2019-01-01 00:00:00', response: null },
      { id: 3, date: '2020-06-15 00:00:00', response: null },
    ],
    'a date is midnight UTC; an empty response is null',
  );
  t.same(
    await db.query("SELECT to_char(date_written AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS date FROM questions"),
    [{ date: '2019-01-01 00:00' }],
  );
  t.match((await readRejects(report.rejectsPath))[0], {
    line: '3',
    reason: 'date "2019-02-30" is not a date (epoch milliseconds or YYYY-MM-DD)',
  });
});

t.test('values arrive exactly: prices as written, instants to the millisecond, any text', async (t) => {
  const url = await freshDatabase(t);
  const prices = ['0', '0.99', '1000.00', '500000000', '12345678.0001', '007', '10000', '0.0'];
  const dir = await writeFixture(t, {
    'product.csv': `${[
      'id,name,slogan,description,category,default_price',
      ...prices.map((price, i) => `${i + 1},"naïve 日本 🎉","a\\tb","back\\\\slash ""q""","c",${price}`),
    ].join('\n')}\n`,
    'styles.csv': 'id,productId,name,sale_price,original_price,default_style\n1,1,"s",null,1,0\n',
    'skus.csv': 'id,styleId,size,quantity\n1,1,"XS",-5\n2,1,"S",2147483647\n3,1,"M",2147483648\n',
    'reviews.csv': `${[
      'id,product_id,rating,date,summary,body,recommend,reported,reviewer_name,reviewer_email,response,helpfulness',
      ...['0', '946684799999', '946684800000', '253402300799999', '1596080481467'].map(
        (date, i) => `${i + 1},1,${i + 1},${date},"s","b",true,false,"n","e",null,-1`,
      ),
    ].join('\n')}\n`,
  });
  const report = await load(url, dir);
  t.same(
    counts(report).map((c) => c.rejected),
    [0, 0, 1, 0],
    'only the quantity past int32 is refused',
  );
  const db = await session(t, url);
  t.same(
    (await db.query<{ price: string }>('SELECT default_price::text AS price FROM products ORDER BY id')).map(
      (r) => r.price,
    ),
    ['0', '0.99', '1000.00', '500000000', '12345678.0001', '7', '10000', '0.0'],
    'numerics keep their written scale',
  );
  t.same(
    await db.query('SELECT DISTINCT name, slogan, description FROM products'),
    [{ name: 'naïve 日本 🎉', slogan: 'a\\tb', description: 'back\\\\slash "q"' }],
    'UTF-8 and backslashes go through untouched',
  );
  t.same(
    (await db.query<{ quantity: number }>('SELECT quantity FROM skus ORDER BY id')).map((r) => r.quantity),
    [-5, 2147483647],
  );
  t.same(
    await db.query(
      "SELECT to_char(date AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS date, rating, helpfulness FROM reviews ORDER BY id",
    ),
    [
      { date: '1970-01-01 00:00:00.000', rating: 1, helpfulness: -1 },
      { date: '1999-12-31 23:59:59.999', rating: 2, helpfulness: -1 },
      { date: '2000-01-01 00:00:00.000', rating: 3, helpfulness: -1 },
      { date: '9999-12-31 23:59:59.999', rating: 4, helpfulness: -1 },
      { date: '2020-07-30 03:41:21.467', rating: 5, helpfulness: -1 },
    ],
  );
});

t.test('loading the same files twice leaves the same database, sequences above the largest id', async (t) => {
  const url = await freshDatabase(t);
  const dir = await writeFixture(t, DIRTY);
  const first = await load(url, dir);
  const db = await session(t, url);
  const before = await snapshot(db);
  const second = await load(url, dir);
  t.same(counts(second), counts(first), 'same counts');
  t.same(await snapshot(db), before, 'same rows in every table, no duplicates');

  const [product] = await db.query<{ id: number }>(
    "INSERT INTO products (name, slogan, description, category, default_price) VALUES ('n', 's', 'd', 'c', 1) RETURNING id",
  );
  t.equal(product?.id, 8, 'new products get ids above the largest loaded id, 7');
  const [photo] = await db.query<{ id: number }>("INSERT INTO photos (style_id, url) VALUES (1, 'u') RETURNING id");
  t.equal(photo?.id, 7, 'photos: above 6 although rows came out of order');
  const [answer] = await db.query<{ id: number }>(
    "INSERT INTO answers (question_id, body, answerer_name, answerer_email) VALUES (1, 'b', 'n', 'e') RETURNING id",
  );
  t.equal(answer?.id, 2, 'answers: the rejected id 2 was never loaded');
});

t.test('a run that fails at the end rolls back and leaves the previous data intact', async (t) => {
  const url = await freshDatabase(t);
  await load(url, await writeFixture(t, DIRTY));
  const db = await session(t, url);
  await db.query("INSERT INTO interactions (element, widget, time) VALUES ('button', 'overview', 'now')");
  const before = await snapshot(db);

  // Product 2 disappears, but features, styles and reviews (not reloaded) still name it.
  const failing = await writeFixture(t, {
    'product.csv': 'id,name,slogan,description,category,default_price\n1,"One","s","d","c",10\n',
  });
  const error = await load(url, failing).then(
    () => undefined,
    (err: unknown) => err,
  );
  t.type(error, IngestError);
  t.match(
    (error as Error).message,
    /no longer holds after the load: Key \(product_id\)=\(2\) is not present in table "products"/,
  );
  t.same(await snapshot(db), before, 'every table as it was');
  t.same(await db.query('SELECT count(*)::int AS n FROM interactions'), [{ n: 1 }], 'interactions untouched');

  const badHeader = await writeFixture(t, { 'product.csv': 'id,title\n1,"x"\n' });
  await t.rejects(load(url, badHeader), /product\.csv: the header "id,title" does not name the columns/);
  t.same(await snapshot(db), before, 'a bad header fails before touching the database');
});

t.test('only the files present are reloaded; an absent parent file means the rows in the table', async (t) => {
  const url = await freshDatabase(t);
  await load(url, await writeFixture(t, DIRTY));
  const db = await session(t, url);
  const before = await snapshot(db);
  const dir = await writeFixture(t, {
    'photos.csv': 'id,styleId,url,thumbnail_url\n10,3,"https://b/10.jpg",null\n11,4,"https://b/11.jpg",null\n',
  });
  const report = await load(url, dir);
  t.same(counts(report), [count('photos.csv', 2, 1, 0, 1)]);
  t.same(
    await readRejects(report.rejectsPath),
    [
      {
        file: 'photos.csv',
        line: '3',
        reason: 'orphan: styleId 4 is not in styles',
        raw: '11,4,"https://b/11.jpg",null',
      },
    ],
    'style 4 was rejected by the earlier load, so it is not a parent now',
  );
  const after = await snapshot(db);
  t.equal(after.photos, '(10,3,https://b/10.jpg,)', 'photos replaced');
  for (const table of CATALOGUE.filter((name) => name !== 'photos'))
    t.equal(after[table], before[table], `${table} untouched`);
});

function runCli(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A CLI that hangs is killed, and the test fails on its exit code instead of waiting for tap.
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('the CLI prints the per-file table and exits 0, 1 on failure, 2 on bad usage', async (t) => {
  const url = await freshDatabase(t);
  const dir = await writeFixture(t, DIRTY);
  const rejects = path.join(dir, 'cli-rejects.csv');
  const ok = await runCli(['--dir', dir, '--rejects', rejects], { DATABASE_URL: url });
  t.equal(ok.code, 0, 'exits 0');
  if (ok.code !== 0) t.comment(ok.stderr);
  t.match(ok.stdout, /^file +read +loaded +repaired +rejected +seconds$/m);
  t.match(ok.stdout, /^photos\.csv +6 +5 +2 +1 +\d+\.\d$/m);
  t.match(ok.stdout, /^total +52 +32 +2 +20 +\d+\.\d$/m);
  t.match(ok.stdout, `rejected rows: ${rejects}`);
  t.equal((await readRejects(rejects)).length, EXPECTED_REJECTS.length);

  const usage = await runCli([], { DATABASE_URL: url });
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--dir is required\nusage: npm run ingest -- --dir DIR/);
  t.equal((await runCli(['--dir', path.join(dir, 'nope')], { DATABASE_URL: url })).code, 2);
  t.equal((await runCli(['--dir', dir, '--bogus'], { DATABASE_URL: url })).code, 2);

  const failing = await writeFixture(t, { 'styles.csv': 'id,styleId\n' });
  const failed = await runCli(['--dir', failing, '--rejects', rejects], { DATABASE_URL: url });
  t.equal(failed.code, 1);
  t.match(failed.stderr, /ingest failed: styles\.csv: the header/);
});

t.test('without --rejects the CLI writes them into the temporary directory, never the current one', async (t) => {
  const url = await freshDatabase(t);
  const dir = await writeFixture(t, DIRTY);
  const tmp = await writeFixture(t, {});
  const cwd = await writeFixture(t, {});
  const run = await runCli(['--dir', dir], { DATABASE_URL: url, TMPDIR: tmp }, cwd);
  t.equal(run.code, 0, 'exits 0');
  const printed = /^rejected rows: (.+)$/m.exec(run.stdout)?.[1];
  t.match(printed, new RegExp(`^${tmp}/atelier-rejects-\\d{4}-\\d\\d-\\d\\dT[\\d-]+Z\\.csv$`), 'its path is printed');
  t.equal((await readRejects(printed!)).length, EXPECTED_REJECTS.length);
  t.same(await readdir(cwd), [], 'nothing was written into the current directory');
});

t.test(
  'the shared sample of the real files loads, its orphans rejected',
  { skip: !existsSync(sample) && 'no ../shared/atelier-sample' },
  async (t) => {
    const url = await freshDatabase(t);
    const rejectsPath = path.join(await writeFixture(t, {}), 'rejects.csv');
    const report = await ingest({ databaseUrl: url, dir: sample, rejectsPath, progress: false });
    for (const file of report.files) t.equal(file.read, file.loaded + file.rejected, `${file.file} adds up`);
    const rejects = await readRejects(rejectsPath);
    t.ok(rejects.some((r) => r.file === 'answers.csv' && r.reason === 'orphan: question_id 36 is not in questions'));
    t.equal(
      rejects.filter((r) => r.file === 'reviews_photos.csv' && r.reason === 'orphan: review_id 10 is not in reviews')
        .length,
      3,
    );
    const db = await session(t, url);
    t.same(
      await db.query(`SELECT
      (SELECT name FROM products WHERE id = 1) AS name,
      (SELECT count(*)::int FROM features WHERE product_id = 1) AS features,
      (SELECT count(*)::int FROM styles WHERE product_id = 1) AS styles,
      (SELECT count(*)::int FROM photos JOIN styles s ON s.id = style_id WHERE s.product_id = 1) AS photos,
      (SELECT count(*)::int FROM skus JOIN styles s ON s.id = style_id WHERE s.product_id = 1) AS skus`),
      [{ name: 'Camo Onesie', features: 2, styles: 6, photos: 20, skus: 36 }],
    );
    t.same(
      await db.query('SELECT related_product_id FROM related WHERE current_product_id = 1 ORDER BY related.id'),
      [2, 3, 8, 7].map((id) => ({ related_product_id: id })),
      'in related.csv order',
    );
  },
);

t.test(
  'invalid UTF-8 loads as U+FFFD and is quoted so in reasons; NUL, spaces and bool spellings as ever',
  async (t) => {
    const url = await freshDatabase(t);
    const dir = await writeFixture(t, {});
    const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((part) => Buffer.from(part as string)));
    await writeFile(
      path.join(dir, 'product.csv'),
      bytes(
        'id,name,slogan,description,category,default_price\n',
        '1,"caf',
        [0xe9],
        '","',
        [0xe6, 0x97],
        'x","',
        [0xc0, 0xaf],
        '","',
        [0x80],
        '",10\n',
        '2,"naïve 日本","s","d","c",10\n',
        '3,"n","s","d","c",1',
        [0xff],
        '\n',
        '4,"nul',
        [0],
        'here","s","d","c",10\n',
        ' 5 ,"Spaced","s","d","c", 12.50 \n',
      ),
    );
    await writeFile(
      path.join(dir, 'styles.csv'),
      bytes(
        'id,productId,name,sale_price,original_price,default_style\n',
        '1,1,"a",null,10, TRUE \n',
        '2,1,"b",null,10,False\n',
        '3,2,"c",null,10, 0\n',
        '4,2,"d",null,10,maybe',
        [0xff],
        '\n',
      ),
    );
    const report = await load(url, dir);
    t.same(
      counts(report).map((c) => [c.loaded, c.rejected]),
      [
        [3, 2],
        [3, 1],
      ],
    );
    const db = await session(t, url);
    t.same(
      await db.query(
        'SELECT id, name, slogan, description, category, default_price::text AS price FROM products ORDER BY id',
      ),
      [
        { id: 1, name: 'caf\uFFFD', slogan: '\uFFFDx', description: '\uFFFD\uFFFD', category: '\uFFFD', price: '10' },
        { id: 2, name: 'naïve 日本', slogan: 's', description: 'd', category: 'c', price: '10' },
        { id: 5, name: 'Spaced', slogan: 's', description: 'd', category: 'c', price: '12.50' },
      ],
      'each invalid sequence becomes U+FFFD, valid text beside it is untouched, spaces around numbers are trimmed',
    );
    t.same(
      (await db.query<{ on: boolean }>('SELECT default_style AS on FROM styles ORDER BY id')).map((r) => r.on),
      [true, false, false],
    );
    t.same(
      (await readRejects(report.rejectsPath)).map((r) => r.reason),
      [
        'default_price "1\uFFFD" is not a price',
        'name contains a NUL character',
        'default_style "maybe\uFFFD" is not a boolean (true/false or 1/0)',
      ],
    );
  },
);
