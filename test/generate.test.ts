import csv from 'csv-parser';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { generate, MANIFEST_FILE, type GenerateResult, type Manifest } from '../generate/generate.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const samples = path.resolve(root, '../shared/atelier-sample');
const cli = path.join(root, 'build/generate/cli.js');

/** The headers of atelier-data.md, written out here so the test does not trust the generator's own table. */
const HEADERS: Record<string, string> = {
  'product.csv': 'id,name,slogan,description,category,default_price',
  'features.csv': 'id,product_id,feature,value',
  'styles.csv': 'id,productId,name,sale_price,original_price,default_style',
  'photos.csv': 'id,styleId,url,thumbnail_url',
  'skus.csv': 'id,styleId,size,quantity',
  'related.csv': 'id,current_product_id,related_product_id',
  'reviews.csv':
    'id,product_id,rating,date,summary,body,recommend,reported,reviewer_name,reviewer_email,response,helpfulness',
  'reviews_photos.csv': 'id,review_id,url',
  'characteristics.csv': 'id,product_id,name',
  'characteristic_reviews.csv': 'id,characteristic_id,review_id,value',
  'questions.csv': 'id,product_id,body,date_written,asker_name,asker_email,reported,helpful',
  'answers.csv': 'id,question_id,body,date_written,answerer_name,answerer_email,reported,helpful',
  'answers_photos.csv': 'id,answer_id,url',
  'cart.csv': 'id,user_session,product_id,active',
};
const NAMES = Object.keys(HEADERS);

/** How each column is written in the real files: quoted text, bare integer, 1/0, true/false, bare null. */
const TOKEN = {
  text: /^"(?:[^"]|"")*"$/,
  int: /^\d+$/,
  bit: /^[01]$/,
  bool: /^(?:true|false)$/,
  null: /^null$/,
};
type Kind = keyof typeof TOKEN;
const COLUMN_KINDS: Record<string, Kind[][]> = {
  'product.csv': [['int'], ['text'], ['text'], ['text'], ['text'], ['int']],
  'features.csv': [['int'], ['int'], ['text'], ['text', 'null']],
  'styles.csv': [['int'], ['int'], ['text'], ['int', 'null'], ['int'], ['bit']],
  'photos.csv': [['int'], ['int'], ['text'], ['text']],
  'skus.csv': [['int'], ['int'], ['text'], ['int']],
  'related.csv': [['int'], ['int'], ['int']],
  'reviews.csv': [
    ['int'],
    ['int'],
    ['int'],
    ['int'],
    ['text'],
    ['text'],
    ['bool'],
    ['bool'],
    ['text'],
    ['text'],
    ['text', 'null'],
    ['int'],
  ],
  'reviews_photos.csv': [['int'], ['int'], ['text']],
  'characteristics.csv': [['int'], ['int'], ['text']],
  'characteristic_reviews.csv': [['int'], ['int'], ['int'], ['int']],
  'questions.csv': [['int'], ['int'], ['text'], ['int'], ['text'], ['text'], ['bit'], ['int']],
  'answers.csv': [['int'], ['int'], ['text'], ['int'], ['text'], ['text'], ['bit'], ['int']],
  'answers_photos.csv': [['int'], ['int'], ['text']],
  'cart.csv': [['int'], ['int'], ['int'], ['bit']],
};

/** Splits a physical line into raw fields, quotes kept, so the test sees how each field is written. */
function rawFields(line: string): string[] {
  const fields: string[] = [];
  let at = 0;
  for (;;) {
    let end: number;
    if (line[at] === '"') {
      end = at + 1;
      for (;;) {
        end = line.indexOf('"', end);
        if (end < 0) return [...fields, line.slice(at)];
        if (line[end + 1] === '"') end += 2;
        else break;
      }
      end++;
    } else {
      end = line.indexOf(',', at);
      if (end < 0) end = line.length;
    }
    fields.push(line.slice(at, end));
    if (end >= line.length) return fields;
    at = end + 1;
  }
}

/** A photos line that lacks the closing quote of its last field has an odd number of quotes. */
function isUnterminated(line: string): boolean {
  let quotes = 0;
  for (let at = line.indexOf('"'); at >= 0; at = line.indexOf('"', at + 1)) quotes++;
  return quotes % 2 === 1;
}

/** The lines of `name` whose fields do not match COLUMN_KINDS (unterminated photo lines aside). */
function miswritten(name: string, lines: readonly string[]): string[] {
  const kinds = COLUMN_KINDS[name]!;
  return lines.filter((line) => {
    if (name === 'photos.csv' && isUnterminated(line)) return false;
    const fields = rawFields(line);
    return (
      fields.length !== kinds.length ||
      fields.some((field, column) => !kinds[column]!.some((kind) => TOKEN[kind].test(field)))
    );
  });
}

// HEADERS and COLUMN_KINDS are this test's own reading of atelier-data.md; the real rows check that reading.
t.test('the header and column tables match the real sample files', async (t) => {
  if (!existsSync(samples)) {
    t.fail(
      `${samples} is missing: the real sample files of the shared contract (atelier-sample/) must sit in ../shared beside this repository`,
    );
    return;
  }
  for (const name of NAMES) {
    const [header, ...lines] = (await readFile(path.join(samples, name), 'utf8')).split('\n');
    t.equal(header, HEADERS[name], `${name} header is the real one`);
    t.same(
      miswritten(name, lines.filter(Boolean)).slice(0, 3),
      [],
      `sample ${name}: every field quoted, bare or null as the format says`,
    );
  }
});

interface Dataset {
  dir: string;
  manifest: Manifest;
  result: GenerateResult;
  /** Data lines of each file (header excluded), as written. */
  lines: Record<string, string[]>;
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-generate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function generated(t: Test, scale: number, seed?: number): Promise<Dataset> {
  const dir = await tempDir(t);
  const result = await generate({ scale, out: dir, ...(seed === undefined ? {} : { seed }) });
  const manifest = JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
  const lines: Record<string, string[]> = {};
  for (const name of NAMES) {
    const text = await readFile(path.join(dir, name), 'utf8');
    lines[name] = text.split('\n').slice(1, -1);
  }
  return { dir, manifest, result, lines };
}

/** Rows as csv-parser reads them (strict: a wrong field count is an error), minus unterminated photo lines. */
async function parsed(dataset: Dataset, name: string): Promise<Record<string, string>[]> {
  const lines = dataset.lines[name]!.filter((line) => name !== 'photos.csv' || !isUnterminated(line));
  const rows: Record<string, string>[] = [];
  const parser = Readable.from([`${HEADERS[name]}\n${lines.join('\n')}\n`]).pipe(csv({ strict: true }));
  for await (const row of parser) rows.push(row as Record<string, string>);
  return rows;
}

function ids(rows: Record<string, string>[], column = 'id'): Set<number> {
  return new Set(rows.map((row) => Number(row[column])));
}

t.test('a generated dataset', async (t) => {
  const scale = 0.001;
  const data = await generated(t, scale);
  const rows: Record<string, Record<string, string>[]> = {};
  for (const name of NAMES) rows[name] = await parsed(data, name);

  t.test('has the 14 files with the exact headers, LF line ends, no BOM', async (t) => {
    const written = (await readdir(data.dir)).sort();
    t.same(written, [...NAMES, MANIFEST_FILE].sort());
    for (const name of NAMES) {
      const text = await readFile(path.join(data.dir, name), 'utf8');
      t.equal(text.slice(0, text.indexOf('\n')), HEADERS[name], `${name} header`);
      t.notOk(text.includes('\r') || text.startsWith('\uFEFF'), `${name} has no CR and no BOM`);
      t.ok(text.endsWith('\n'), `${name} ends with a newline`);
    }
  });

  t.test('writes every column the way the real files do', async (t) => {
    for (const name of NAMES) {
      t.same(
        miswritten(name, data.lines[name]!).slice(0, 3),
        [],
        `generated ${name}: every field quoted, bare or null as the format says`,
      );
    }
  });

  t.test('counts its rows in the manifest, near the real proportions', async (t) => {
    t.same(data.manifest.files, data.result.files, 'manifest matches the returned stats');
    t.same({ scale: data.manifest.scale, seed: data.manifest.seed }, { scale, seed: 20_180_101 });
    t.equal(data.manifest.files['product.csv']!.rows, 1000, 'scale 0.001 is 1,000 products');
    const real: Record<string, number> = {
      'features.csv': 2_219_279,
      'styles.csv': 1_958_102,
      'photos.csv': 5_655_656,
      'skus.csv': 11_323_917,
      'related.csv': 4_508_263,
      'reviews.csv': 5_774_952,
      'reviews_photos.csv': 2_742_540,
      'characteristics.csv': 3_347_679,
      'characteristic_reviews.csv': 19_327_575,
      'questions.csv': 3_518_963,
      'answers.csv': 6_879_306,
      'answers_photos.csv': 2_063_759,
    };
    for (const name of NAMES) {
      t.equal(data.lines[name]!.length, data.manifest.files[name]!.rows, `${name}: lines = manifest rows`);
      if (real[name]) {
        const ratio = data.manifest.files[name]!.rows / (real[name] * scale);
        t.ok(
          ratio > 0.85 && ratio < 1.15,
          `${name}: ${data.manifest.files[name]!.rows} rows, ${ratio.toFixed(3)} of the real share`,
        );
      }
    }
  });

  t.test('grows its row counts in proportion to the scale', async (t) => {
    const twice = await generated(t, 2 * scale);
    for (const name of NAMES) {
      const ratio = twice.manifest.files[name]!.rows / data.manifest.files[name]!.rows;
      t.ok(ratio > 1.8 && ratio < 2.2, `${name}: ${ratio.toFixed(3)}x rows at twice the scale`);
    }
  });

  t.test('parses with csv-parser into as many fields as the header, but for the counted photo lines', async (t) => {
    for (const name of NAMES) {
      const expected = data.manifest.files[name]!.rows - (data.manifest.files[name]!.dirt.unterminated_quote ?? 0);
      t.equal(rows[name]!.length, expected, `${name}: every counted row parses`);
    }
  });

  t.test('holds every kind of dirt, each counted exactly', async (t) => {
    const counted: Record<string, Record<string, number>> = {};
    for (const name of NAMES) {
      const dirt: Record<string, number> = {};
      const add = (kind: string): void => {
        dirt[kind] = (dirt[kind] ?? 0) + 1;
      };
      let previousId = 0;
      for (const line of data.lines[name]!) {
        const fields = rawFields(line);
        const id = Number(fields[0]);
        if (id < previousId) add('out_of_order');
        previousId = id;
        if (name === 'photos.csv' && isUnterminated(line)) add('unterminated_quote');
        if (name === 'features.csv' && fields[3] === 'null') add('null_value');
        if (name === 'styles.csv' && fields[3] === 'null') add('null_sale_price');
        if (name === 'reviews.csv' && fields[10] === 'null') add('null_response');
      }
      counted[name] = dirt;
    }
    const related = counted['related.csv']!;
    const pairs = new Set<string>();
    for (const row of rows['related.csv']!) {
      const current = Number(row.current_product_id);
      const other = Number(row.related_product_id);
      if (other === 0) related.related_zero = (related.related_zero ?? 0) + 1;
      else if (other > rows['product.csv']!.length) related.related_unknown = (related.related_unknown ?? 0) + 1;
      else if (other === current) related.related_self = (related.related_self ?? 0) + 1;
      else if (pairs.has(`${current},${other}`)) related.related_duplicate = (related.related_duplicate ?? 0) + 1;
      else pairs.add(`${current},${other}`);
    }
    const kinds = new Set<string>();
    for (const name of NAMES) {
      const manifest = Object.fromEntries(Object.entries(data.manifest.files[name]!.dirt).filter(([, n]) => n > 0));
      t.same(counted[name], manifest, `${name}: dirt in the file = dirt in the manifest`);
      for (const kind of Object.keys(manifest)) kinds.add(kind);
    }
    t.same(
      [...kinds].sort(),
      [
        'null_response',
        'null_sale_price',
        'null_value',
        'out_of_order',
        'related_duplicate',
        'related_self',
        'related_unknown',
        'related_zero',
        'unterminated_quote',
      ],
      'every kind of dirt occurs',
    );
  });

  t.test('names only parents that exist, with unique ids', async (t) => {
    const parents: Record<string, Set<number>> = {};
    for (const name of NAMES) {
      parents[name] = ids(rows[name]!);
      // Unterminated photo lines are left out of the parsed rows, so only the rest can be counted.
      t.equal(parents[name]!.size, rows[name]!.length, `${name}: ids are unique`);
    }
    const links: Array<[child: string, column: string, parent: string]> = [
      ['features.csv', 'product_id', 'product.csv'],
      ['styles.csv', 'productId', 'product.csv'],
      ['photos.csv', 'styleId', 'styles.csv'],
      ['skus.csv', 'styleId', 'styles.csv'],
      ['related.csv', 'current_product_id', 'product.csv'],
      ['reviews.csv', 'product_id', 'product.csv'],
      ['reviews_photos.csv', 'review_id', 'reviews.csv'],
      ['characteristics.csv', 'product_id', 'product.csv'],
      ['characteristic_reviews.csv', 'characteristic_id', 'characteristics.csv'],
      ['characteristic_reviews.csv', 'review_id', 'reviews.csv'],
      ['questions.csv', 'product_id', 'product.csv'],
      ['answers.csv', 'question_id', 'questions.csv'],
      ['answers_photos.csv', 'answer_id', 'answers.csv'],
      ['cart.csv', 'product_id', 'product.csv'],
    ];
    for (const [child, column, parent] of links) {
      const orphans = rows[child]!.filter((row) => !parents[parent]!.has(Number(row[column])));
      t.same(orphans.slice(0, 3), [], `${child}.${column} names existing ${parent} rows`);
    }
    const dirty = data.manifest.files['related.csv']!.dirt;
    const unknownRelated = rows['related.csv']!.filter(
      (row) => !parents['product.csv']!.has(Number(row.related_product_id)),
    );
    t.equal(
      unknownRelated.length,
      dirty.related_zero! + dirty.related_unknown!,
      'only the counted related ids are unknown',
    );
  });

  t.test('has each review rate every characteristic of its product exactly once', async (t) => {
    const productOfCharacteristic = new Map(rows['characteristics.csv']!.map((row) => [row.id, row.product_id]));
    const characteristicsOfProduct = new Map<string, string[]>();
    for (const row of rows['characteristics.csv']!) {
      characteristicsOfProduct.set(row.product_id!, [
        ...(characteristicsOfProduct.get(row.product_id!) ?? []),
        row.id!,
      ]);
    }
    const rated = new Map<string, string[]>();
    for (const row of rows['characteristic_reviews.csv']!) {
      rated.set(row.review_id!, [...(rated.get(row.review_id!) ?? []), row.characteristic_id!]);
      if (!/^[1-5]$/.test(row.value!)) t.fail(`characteristic value ${row.value}`);
    }
    const wrong = rows['reviews.csv']!.filter(
      (review) =>
        JSON.stringify((rated.get(review.id!) ?? []).sort()) !==
        JSON.stringify((characteristicsOfProduct.get(review.product_id!) ?? []).sort()),
    );
    t.same(wrong.slice(0, 3), [], 'ratings cover exactly the product characteristics');
    t.ok([...productOfCharacteristic.values()].length > 0);
    const names = rows['characteristics.csv']!.map((row) => row.name);
    t.same([...new Set(names)].sort(), ['Comfort', 'Fit', 'Length', 'Quality', 'Size', 'Width']);
    const perProduct = rows['characteristics.csv']!.length / 1000;
    t.ok(perProduct > 3.1 && perProduct < 3.6, `${perProduct} characteristics per product`);
  });

  t.test('dates its reviews, questions and answers in 2018-2021, answers after questions', async (t) => {
    const first = Date.UTC(2018, 0, 1);
    const end = Date.UTC(2022, 0, 1);
    const outside = (dates: number[]): number[] => dates.filter((date) => !(date >= first && date < end));
    t.same(outside(rows['reviews.csv']!.map((row) => Number(row.date))), []);
    t.same(outside(rows['questions.csv']!.map((row) => Number(row.date_written))), []);
    t.same(outside(rows['answers.csv']!.map((row) => Number(row.date_written))), []);
    const asked = new Map(rows['questions.csv']!.map((row) => [row.id, Number(row.date_written)]));
    t.same(rows['answers.csv']!.filter((row) => Number(row.date_written) < asked.get(row.question_id)!).length, 0);
  });

  t.test('has the shape of the real data', async (t) => {
    const childCounts = (name: string, column: string): Map<string, number> => {
      const counts = new Map<string, number>();
      for (const row of rows[name]!) counts.set(row[column]!, (counts.get(row[column]!) ?? 0) + 1);
      return counts;
    };
    const products = rows['product.csv']!.length;
    for (const [name, column] of [
      ['styles.csv', 'productId'],
      ['features.csv', 'product_id'],
      ['reviews.csv', 'product_id'],
      ['questions.csv', 'product_id'],
    ] as const) {
      const withSome = childCounts(name, column).size;
      t.ok(withSome < products, `some products have no ${name} rows (${products - withSome})`);
    }
    const styles = rows['styles.csv']!.length;
    t.ok(childCounts('photos.csv', 'styleId').size < styles, 'some styles have no photos');
    t.ok(childCounts('skus.csv', 'styleId').size < styles, 'some styles have no skus');
    const reviewsPerProduct = [...childCounts('reviews.csv', 'product_id').values()];
    t.ok(products - reviewsPerProduct.length > 0.2 * products, 'many products have no review');
    t.ok(Math.max(...reviewsPerProduct) >= 50, `a few have many (${Math.max(...reviewsPerProduct)})`);
    const reviews = rows['reviews.csv']!.length;
    const withPhotos = childCounts('reviews_photos.csv', 'review_id').size / reviews;
    t.ok(withPhotos > 0.35 && withPhotos < 0.5, `${withPhotos.toFixed(2)} of the reviews have photos`);
    for (const [name, column, reported] of [
      ['reviews.csv', 'reported', 'true'],
      ['questions.csv', 'reported', '1'],
      ['answers.csv', 'reported', '1'],
    ] as const) {
      const share = rows[name]!.filter((row) => row[column] === reported).length / rows[name]!.length;
      t.ok(share > 0.03 && share < 0.07, `${share.toFixed(3)} of ${name} reported`);
    }
    const answers = rows['answers.csv']!;
    const maxAnswerId = Math.max(...answers.map((row) => Number(row.id)));
    t.ok(
      maxAnswerId > 1.6 * answers.length && maxAnswerId < 2 * answers.length,
      `answer ids sparse (max ${maxAnswerId})`,
    );
    const bodies = rows['reviews.csv']!.map((row) => [...row.body!].length);
    t.ok(
      Math.min(...bodies) >= 50 && Math.max(...bodies) <= 1000,
      `review bodies ${Math.min(...bodies)}-${Math.max(...bodies)} chars`,
    );
    t.ok(
      rows['reviews.csv']!.every((row) => [...row.summary!].length <= 60),
      'summaries at most 60 chars',
    );
    const text = rows['reviews.csv']!.map((row) => row.body).join('\n');
    t.match(text, /\P{ASCII}/u, 'some text is not ASCII');
    t.match(text, /"/, 'some text holds quotes');
    t.match(text, /,/, 'some text holds commas');
    const sizes = new Set(rows['skus.csv']!.map((row) => row.size));
    for (const size of ['XS', 'M', 'XXL', '7.5', 'One Size']) t.ok(sizes.has(size), `size ${size}`);
    const photo = rows['photos.csv']![0]!;
    t.match(photo.url, /^https:\/\/images\.unsplash\.com\/photo-.*&w=\d+&q=80$/);
    t.match(photo.thumbnail_url, /&w=300&q=80$/);
  });
});

t.test('the same seed and scale give identical bytes, another seed other bytes', async (t) => {
  const [first, again, other] = await Promise.all([
    generated(t, 0.0005, 7),
    generated(t, 0.0005, 7),
    generated(t, 0.0005, 8),
  ]);
  for (const name of [...NAMES, MANIFEST_FILE]) {
    const bytes = await readFile(path.join(first.dir, name));
    t.ok(bytes.equals(await readFile(path.join(again.dir, name))), `${name} identical for seed 7`);
    t.notOk(bytes.equals(await readFile(path.join(other.dir, name))), `${name} differs for seed 8`);
  }
});

t.test('the CLI', async (t) => {
  const run = (...args: string[]) => {
    const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
    // A hung CLI fails here, naming its arguments, instead of at tap's timeout for the whole file.
    if (result.error) throw new Error(`generate ${args.join(' ')} did not finish: ${result.error.message}`);
    return result;
  };

  t.test('rejects bad arguments with a message, the usage and exit code 2', async (t) => {
    for (const args of [
      [],
      ['--out', '/tmp/x'],
      ['--scale', '0', '--out', '/tmp/x'],
      ['--scale', '-1', '--out', '/tmp/x'],
      ['--scale', 'lots', '--out', '/tmp/x'],
      ['--scale', '0.001'],
      ['--scale', '0.001', '--out', '/tmp/x', '--seed', '1.5'],
      ['--scale', '0.001', '--out', '/tmp/x', '--frobnicate'],
      ['--scale', '0.001', '--out', '/tmp/x', 'extra'],
    ]) {
      const result = run(...args);
      t.equal(result.status, 2, `exit 2 for ${JSON.stringify(args)}`);
      t.match(result.stderr, /^generate: [\s\S]+\n\nusage: npm run generate/, 'names the problem, then the usage');
    }
  });

  t.test('writes the files and prints a table of rows per file', async (t) => {
    const dir = await tempDir(t);
    const result = run('--scale', '0.0005', '--out', dir, '--seed', '3');
    t.equal(result.status, 0, result.stderr);
    const manifest = JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
    t.equal(manifest.seed, 3);
    for (const name of NAMES) {
      t.match(
        result.stdout,
        new RegExp(`^${name.replace('.', '\\.')} +${manifest.files[name]!.rows.toLocaleString('en-US')}\\b`, 'm'),
      );
    }
    t.match(result.stdout, /^total +[\d,]+$/m);
  });

  t.test('fails with exit code 1 when it cannot write', async (t) => {
    const result = run('--scale', '0.0005', '--out', cli, '--quiet');
    t.equal(result.status, 1);
    t.match(result.stderr, /^generate failed: /);
  });
});
