/**
 * The dataset a benchmark runs on: loaded once per scale (generated and ingested the way a first
 * `npm start` seeds an empty database), then probed for the ids the scenarios draw from.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Log } from '../lib/log.js';
import { seedIfEmpty } from '../cluster/seed.js';
import { resolveDatabase } from '../sql/bootstrap.js';
import { REAL_ROWS } from '../generate/shape.js';
import { loadConfig } from '../lib/config.js';
import { errorMessage } from '../lib/log.js';
import { dropDatabase, ensureDatabase, withDatabase } from '../sql/db/admin.js';
import { type ConnectionPool, createPool } from '../sql/db/pool.js';
import { migrate } from '../sql/migrate.js';
import { freePort } from '../lib/net.js';
import { productSpan, visibleQuestions, visibleReviews } from './bench-queries.js';

export interface Dataset {
  readonly scale: number;
  /**
   * The database the benchmarks run on: a copy of the loaded one, remade by reset(), so the rows
   * one run (or one scenario) writes do not slow down the next. Runs on a popular product's
   * reviews otherwise pile up, and every later read of its reviews sorts them all.
   */
  readonly url: string;
  /** Why the benchmarks run on the loaded database itself, when no copy could be made. */
  readonly copyUnavailable: string | undefined;
  /** True when this process started the database (an embedded server it can pin to a CPU). */
  readonly embedded: boolean;
  /** A small pool of the benchmark's own, on `url`, for probes and checks. */
  readonly pool: ConnectionPool;
  readonly products: number;
  /** The newest 10 % of the products, the range every scenario draws from. */
  readonly first: number;
  readonly last: number;
  /** Per product of the range: up to 20 visible question ids, and up to 20 visible review ids. */
  readonly questions: ReadonlyMap<number, readonly number[]>;
  readonly reviews: ReadonlyMap<number, readonly number[]>;
  /** Remakes the copy as loaded; nothing but `pool` may be connected to it. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** A Log (cluster/log.ts) printing plain lines, for the seeding code the benchmark reuses. */
export function plainLog(print: (line: string) => void): Log {
  const line = (event: string, fields: object = {}): void => {
    const details = Object.entries(fields)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(' ');
    print(`${event}${details ? ` ${details}` : ''}`);
  };
  return { info: line, warn: line, error: line };
}

export async function loadDataset(
  scale: number,
  dataRoot: string,
  print: (line: string) => void,
  /** The server to load it into, instead of DATABASE_URL or an embedded one. */
  databaseUrl?: string,
  /** More `-c` settings for an embedded server. */
  settings: readonly string[] = [],
): Promise<Dataset> {
  const config = loadConfig({
    ...process.env,
    ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
    DATA_DIR: path.join(dataRoot, `scale-${scale}`),
    EMBEDDED_PG_PORT: String(await freePort()),
    SEED_SCALE: String(scale),
  });
  print(
    config.databaseUrl === undefined
      ? `database: embedded PostgreSQL in ${config.dataDir}/pg`
      : 'database: DATABASE_URL',
  );
  const database = await resolveDatabase(config, settings);
  const poolOn = (url: string): ConnectionPool =>
    createPool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: config.pgConnectTimeoutMs,
      statementTimeoutMillis: 60_000,
      idleTimeoutMillis: config.pgIdleTimeoutMs,
      applicationName: 'atelier-bench',
      onIdleError: () => undefined,
    });
  let pool: ConnectionPool | undefined;
  try {
    await migrate(database.url);
    await seedIfEmpty(config, database.url, plainLog(print));
    const copy = await WorkingCopy.make(database.url);
    if (copy.unavailable !== undefined) print(`warning: ${copy.unavailable}`);
    pool = poolOn(copy.url);
    const span = await productSpan(pool);
    const expected = Math.round(REAL_ROWS['product.csv'] * scale);
    if (Math.abs(span.count - expected) > expected * 0.05) {
      print(`warning: the database holds ${span.count} products, a scale-${scale} dataset about ${expected}`);
    }
    const first = Math.floor(span.maxId * 0.9) + 1;
    const [questions, reviews] = await Promise.all([
      visibleQuestions(pool, first, span.maxId),
      visibleReviews(pool, first, span.maxId),
    ]);
    let current = pool;
    return {
      scale,
      url: copy.url,
      copyUnavailable: copy.unavailable,
      products: span.count,
      first,
      last: span.maxId,
      questions,
      reviews,
      embedded: config.databaseUrl === undefined,
      get pool() {
        return current;
      },
      async reset() {
        if (copy.unavailable !== undefined) return;
        await current.end();
        await copy.remake();
        current = poolOn(copy.url);
      },
      async close() {
        await current.end();
        await database.stop();
      },
    };
  } catch (err) {
    await pool?.end();
    await database.stop();
    throw err;
  }
}

/**
 * `<database>_bench`, made from the loaded database as a template (a file copy: seconds for
 * scale 0.1). It needs the CREATEDB privilege and no other session on the loaded database, which
 * a shared DATABASE_URL server may not allow: then there is no copy and the runs write to the
 * loaded database itself.
 */
class WorkingCopy {
  private constructor(
    private readonly adminUrl: string,
    private readonly source: string,
    readonly url: string,
    readonly unavailable: string | undefined,
  ) {}

  static async make(sourceUrl: string): Promise<WorkingCopy> {
    const source = decodeURIComponent(new URL(sourceUrl).pathname.slice(1));
    const name = `${source}_bench`;
    const copy = new WorkingCopy(withDatabase(sourceUrl, 'postgres'), source, withDatabase(sourceUrl, name), undefined);
    try {
      await copy.remake();
      return copy;
    } catch (err) {
      const reason =
        `no copy of database ${source} to benchmark on (${errorMessage(err)}): ` +
        'the runs write to it, and rows written by earlier runs stay in it';
      return new WorkingCopy(copy.adminUrl, source, sourceUrl, reason);
    }
  }

  async remake(): Promise<void> {
    const name = decodeURIComponent(new URL(this.url).pathname.slice(1));
    await dropDatabase(this.adminUrl, name);
    await ensureDatabase(this.adminUrl, name, this.source);
  }
}

/** Deterministic, so that two runs skew popularity onto the same products. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const result = [...items];
  let state = seed >>> 0;
  const random = (): number => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [result[i], result[j]] = [result[j]!, result[i]!];
  }
  return result;
}

/** The questions the answers route is measured on: the first visible question of each product of the range. */
export function answerQuestionIds(dataset: Dataset): number[] {
  return [...dataset.questions.values()].map((ids) => ids[0]!);
}

/**
 * Writes the id files the wrk scripts read: `questions.txt` (bench-route.lua's IDS_FILE) and
 * `products.txt` (bench-storefront.lua's PRODUCTS_FILE, most popular product first).
 */
export async function writeIdFiles(dataset: Dataset, dir: string): Promise<{ questions: string; products: string }> {
  const questions = path.join(dir, 'questions.txt');
  const products = path.join(dir, 'products.txt');
  await writeFile(questions, `${answerQuestionIds(dataset).join('\n')}\n`);
  const ids = Array.from({ length: dataset.last - dataset.first + 1 }, (_, i) => dataset.first + i);
  const list = (values: readonly number[] | undefined): string =>
    values && values.length > 0 ? values.join(',') : '-';
  const lines = shuffled(ids, 1).map(
    (id) => `${id} ${list(dataset.questions.get(id))} ${list(dataset.reviews.get(id))}`,
  );
  await writeFile(products, `${lines.join('\n')}\n`);
  return { questions, products };
}
