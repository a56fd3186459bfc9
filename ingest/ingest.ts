/**
 * Loads the legacy CSV export (atelier-data.md) into PostgreSQL in one transaction.
 *
 * Semantics:
 * - Only the tables whose file is in the directory are reloaded; the others keep their rows
 *   (their foreign keys to reloaded tables are re-validated) and `interactions` is never touched.
 * - Everything happens in one transaction: drop the reloaded tables' indexes and constraints
 *   and every foreign key that points at them (definitions read from the catalogue first),
 *   TRUNCATE, COPY FREEZE (binary) each file parents first, re-create what was dropped, refresh the
 *   review statistics, move identity sequences past the largest loaded id, notify every running
 *   server's workers to drop their cached bodies (delivered at COMMIT), COMMIT, ANALYZE.
 *   A failed or interrupted run rolls back and leaves the database as it was; the same files
 *   loaded twice give the same database. Until COMMIT, readers of the reloaded tables wait on
 *   the load's lock rather than see a partial load.
 * - Every data row is loaded or written to the rejects file with its file, 1-based physical
 *   line, reason and raw text: malformed values, wrong field counts, duplicate ids, rows whose
 *   parent is missing (from this load, or from the table if its file is absent), and related.csv
 *   rows naming product 0, the product itself or a repeated pair (the first one is kept).
 *
 * Pipeline per file: the main thread reads chunks of whole lines, parse workers repair and parse
 * them with csv-parser and encode binary COPY tuples, and the main thread checks ids against
 * compact id sets in file order and streams the tuples to COPY, waiting on it when it is behind.
 */
import { once } from 'node:events';
import { open, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { openSession, type Session } from '../sql/db/admin.js';
import {
  addConstraint,
  analyze,
  COLUMN_TYPES,
  copyInto,
  DEPENDENT_CONSTRAINTS,
  dropConstraint,
  dropIndex,
  idPage,
  INGEST_LOCK_ID,
  LOAD_SETTINGS,
  lockTables,
  setChangeNotifications,
  NOTIFY_EVERYTHING_CHANGED,
  REFRESH_REVIEW_STATS,
  resetIdentity,
  STANDALONE_INDEXES,
  truncateTables,
  TRY_INGEST_LOCK,
  type ConstraintDefinition,
  type IndexDefinition,
} from '../sql/queries/ingest.js';
import { migrate } from '../sql/migrate.js';
import { LINE_BLANK, LINE_REFUSED, type ChunkResult } from './chunk-parser.js';
import { COPY_BINARY_HEADER, COPY_BINARY_TRAILER } from './copy-binary.js';
import { readHeader, type Header } from './csv-header.js';
import { IdSet, PairSet } from './id-set.js';
import { lineChunks, type LineChunk } from './line-chunks.js';
import { ParsePool } from './parse-pool.js';
import { SILENT, stderrProgress, type Progress } from '../lib/progress.js';
import { defaultRejectsPath, RejectsFile } from './rejects.js';
import { keyColumns, REVIEW_STATS_SOURCES, SQL_TYPES, TABLES, type TableName, type TableSpec } from './tables.js';

export interface FileReport {
  file: string;
  read: number;
  loaded: number;
  repaired: number;
  rejected: number;
  seconds: number;
}
export interface IngestReport {
  files: FileReport[];
  rejectsPath: string;
  seconds: number;
}
export interface IngestOptions {
  databaseUrl: string;
  dir: string;
  rejectsPath?: string;
  progress?: boolean;
}

/** A failure the operator can act on; its message is the whole story (no stack needed). */
export class IngestError extends Error {}

const REVIEW_STATS_TABLES = ['review_stats', 'characteristic_stats'];
const EXISTING_IDS_PAGE = 100_000;
/** Chunks queued per worker, so a worker never waits for the main thread to hand it work. */
const CHUNKS_PER_WORKER = 2;
/** PostgreSQL's COPY runs in one backend: beyond a few parsers it is the bottleneck. */
const MAX_PARSE_WORKERS = 4;

interface FilePlan {
  readonly spec: TableSpec;
  readonly path: string;
  readonly header: Header;
  readonly sizeBytes: number;
}

/** The catalogue files present in `dir`, in load order, their headers checked. */
async function planFiles(dir: string): Promise<FilePlan[]> {
  const plans: FilePlan[] = [];
  for (const spec of TABLES) {
    const filePath = path.join(dir, spec.file);
    const info = await stat(filePath).catch(() => undefined);
    if (!info?.isFile()) continue;
    const handle = await open(filePath);
    try {
      plans.push({ spec, path: filePath, header: await readHeader(handle, spec), sizeBytes: info.size });
    } finally {
      await handle.close();
    }
  }
  if (plans.length === 0) {
    throw new IngestError(`${dir} holds none of the catalogue files (${TABLES.map((spec) => spec.file).join(', ')})`);
  }
  return plans;
}

const PARENT_TABLES: ReadonlySet<TableName> = new Set(
  TABLES.flatMap((spec) => spec.columns.flatMap((column) => (column.kind.type === 'ref' ? [column.kind.parent] : []))),
);

async function existingIds(session: Session, table: TableName): Promise<IdSet> {
  const ids = new IdSet();
  let last = 0;
  for (;;) {
    const page = await session.query<{ id: number }>(idPage(table), [last, EXISTING_IDS_PAGE]);
    for (const row of page) ids.add(row.id);
    if (page.length < EXISTING_IDS_PAGE) return ids;
    last = page[page.length - 1]!.id;
  }
}

/** The rows of one file: counts, id checks, rejects. Fed chunk results in file order. */
class FileLoad {
  read = 0;
  loaded = 0;
  repaired = 0;
  rejected = 0;
  readonly ids = new IdSet();
  private readonly keyCount: number;
  private readonly refs: { header: string; parent: TableName; ids: IdSet }[];
  private readonly pair: { first: number; second: number; headers: [string, string]; seen: PairSet } | undefined;
  private nextLine = 2;

  constructor(
    private readonly spec: TableSpec,
    parents: ReadonlyMap<TableName, IdSet>,
    private readonly rejects: RejectsFile,
  ) {
    const keys = keyColumns(spec);
    this.keyCount = keys.length;
    this.refs = keys.slice(1).map((column) => {
      const parent = (column.kind as { parent: TableName }).parent;
      return { header: column.header, parent, ids: parents.get(parent)! };
    });
    if (spec.distinctPair) {
      const [first, second] = spec.distinctPair;
      this.pair = {
        first: keys.findIndex((c) => c.header === first),
        second: keys.findIndex((c) => c.header === second),
        headers: [first, second],
        seen: new PairSet(),
      };
    }
  }

  /** Why the main thread refuses an encoded row, or undefined to load it. */
  private check(keys: Int32Array, offset: number): string | undefined {
    const id = keys[offset]!;
    if (this.ids.has(id)) return `duplicate id ${id}`;
    for (let i = 0; i < this.refs.length; i++) {
      const ref = this.refs[i]!;
      const value = keys[offset + 1 + i]!;
      if (!ref.ids.has(value)) return `orphan: ${ref.header} ${value} is not in ${ref.parent}`;
    }
    if (this.pair) {
      const first = keys[offset + this.pair.first]!;
      const second = keys[offset + this.pair.second]!;
      if (first === second) return `${this.pair.headers[1]} ${second} is the product itself`;
      if (this.pair.seen.has(first, second))
        return `repeats the pair ${this.pair.headers[0]} ${first}, ${this.pair.headers[1]} ${second}`;
    }
    return undefined;
  }

  private accept(keys: Int32Array, offset: number): void {
    this.ids.add(keys[offset]!);
    this.pair?.seen.add(keys[offset + this.pair.first]!, keys[offset + this.pair.second]!);
  }

  /** Applies one parsed chunk; returns the COPY tuples of its loaded rows. */
  async apply(result: ChunkResult): Promise<Uint8Array> {
    let refusedIndex = 0;
    let encodedIndex = 0;
    let dropped: Set<number> | undefined;
    const refusals: { line: number; reason: string }[] = [];
    for (let line = 0; line < result.lines; line++) {
      const status = result.status[line]!;
      if (status === LINE_BLANK) continue;
      this.read++;
      let reason =
        status === LINE_REFUSED ? result.reasons[refusedIndex++]! : this.check(result.keys, line * this.keyCount);
      if (reason === undefined) {
        this.accept(result.keys, line * this.keyCount);
        this.loaded++;
        if (result.repaired[line] === 1) this.repaired++;
      } else {
        if (result.repaired[line] === 1) reason += ' (the line also lacked a closing quote)';
        refusals.push({ line, reason });
        if (status !== LINE_REFUSED) {
          dropped ??= new Set();
          dropped.add(encodedIndex);
        }
      }
      if (status !== LINE_REFUSED) encodedIndex++;
    }
    for (const { line, reason } of refusals) {
      this.rejected++;
      await this.rejects.write(this.spec.file, this.nextLine + line, reason, rawLine(result, line));
    }
    this.nextLine += result.lines;
    return dropped ? withoutTuples(result, dropped) : result.copy;
  }
}

function rawLine(result: ChunkResult, line: number): string {
  const { input } = result;
  const start = result.lineStarts[line]!;
  let end = result.lineStarts[line + 1]! - 1;
  if (end > start && input[end - 1] === 0x0d) end--;
  return Buffer.from(input.buffer, input.byteOffset + start, end - start).toString('utf8');
}

/** The chunk's tuples without the dropped ones (0-based tuple indexes). */
function withoutTuples(result: ChunkResult, dropped: ReadonlySet<number>): Uint8Array {
  const kept: Uint8Array[] = [];
  let start = 0;
  for (let tuple = 0; tuple < result.tupleEnds.length; tuple++) {
    const end = result.tupleEnds[tuple]!;
    if (!dropped.has(tuple)) kept.push(result.copy.subarray(start, end));
    start = end;
  }
  return Buffer.concat(kept);
}

interface InTransaction {
  readonly session: Session;
  readonly pool: ParsePool;
  readonly rejects: RejectsFile;
  readonly progress: Progress;
}

async function loadFile(
  plan: FilePlan,
  parents: ReadonlyMap<TableName, IdSet>,
  context: InTransaction,
): Promise<{
  report: FileReport;
  ids: IdSet;
}> {
  const { spec } = plan;
  const { session, pool, rejects, progress } = context;
  const started = performance.now();
  const load = new FileLoad(spec, parents, rejects);
  const copy = session.copyFrom(
    copyInto(
      spec.table,
      spec.columns.map((column) => column.name),
    ),
  );
  // Checked before each wait on the stream. (Racing every wait against one long-lived "failed"
  // promise would make that promise retain every chunk's result until the file ends.)
  let copyError: Error | undefined;
  copy.on('error', (err: Error) => {
    copyError = err;
  });
  const fileProgress = progress.file(spec.file, plan.sizeBytes);
  const handle = await open(plan.path);
  try {
    const chunks = lineChunks(handle, spec.file, plan.header.bytes);
    const inFlight: { chunk: LineChunk; result: Promise<ChunkResult> }[] = [];
    let exhausted = false;
    const keepWorkersBusy = async (): Promise<void> => {
      while (!exhausted && inFlight.length < pool.size * CHUNKS_PER_WORKER) {
        const next = await chunks.next();
        if (next.done) {
          exhausted = true;
        } else {
          const result = pool.parse(spec.table, plan.header.names, next.value.bytes);
          result.catch(() => undefined);
          inFlight.push({ chunk: next.value, result });
        }
      }
    };
    await keepWorkersBusy();
    copy.write(COPY_BINARY_HEADER);
    while (inFlight.length > 0) {
      const { chunk, result } = inFlight.shift()!;
      const parsed = await result;
      await keepWorkersBusy();
      const data = await load.apply(parsed);
      if (copyError) throw copyError;
      // once() rejects if the stream errors while we wait.
      if (data.length > 0 && !copy.write(data)) await once(copy, 'drain');
      fileProgress.update(chunk.endOffset - plan.header.bytes, load.read);
    }
    if (copyError) throw copyError;
    copy.end(COPY_BINARY_TRAILER);
    await finished(copy);
  } catch (err) {
    // Sends CopyFail, so the session leaves COPY mode and the caller can roll back.
    copy.destroy(err as Error);
    throw err;
  } finally {
    fileProgress.stop();
    await handle.close();
  }
  if (load.read !== load.loaded + load.rejected) {
    throw new Error(`${spec.file}: ${load.read} rows read but ${load.loaded} loaded and ${load.rejected} rejected`);
  }
  return {
    report: {
      file: spec.file,
      read: load.read,
      loaded: load.loaded,
      repaired: load.repaired,
      rejected: load.rejected,
      seconds: (performance.now() - started) / 1000,
    },
    ids: load.ids,
  };
}

/**
 * Binary COPY sends each value in its exact type, so a schema that drifted from the table specs
 * would fail the COPY with an opaque message; this names the column instead.
 */
async function checkColumnTypes(session: Session, specs: readonly TableSpec[]): Promise<void> {
  const rows = await session.query<{ table_name: string; column_name: string; data_type: string }>(COLUMN_TYPES, [
    specs.map((spec) => spec.table),
  ]);
  const actual = new Map(rows.map((row) => [`${row.table_name}.${row.column_name}`, row.data_type]));
  for (const spec of specs) {
    for (const column of spec.columns) {
      const expected = SQL_TYPES[column.kind.type];
      const found = actual.get(`${spec.table}.${column.name}`);
      if (found !== expected) {
        throw new IngestError(
          `${spec.table}.${column.name} is ${found ?? 'missing'} in the database; the ingest writes ${expected}`,
        );
      }
    }
  }
}

/** Rephrases a foreign key that no longer holds after the load. */
function constraintFailure(constraint: ConstraintDefinition, err: unknown): unknown {
  const { code, detail } = err as { code?: string; detail?: string };
  if (code !== '23503') return err;
  return new IngestError(
    `${constraint.table_name}: ${constraint.name} (${constraint.definition}) no longer holds after the load: ${detail ?? (err as Error).message} ` +
      `Load the files of both tables together, or fix the data.`,
  );
}

async function loadAll(plans: readonly FilePlan[], context: InTransaction): Promise<FileReport[]> {
  const { session, progress } = context;
  const tables = plans.map((plan) => plan.spec.table);
  const [lock] = await session.query<{ locked: boolean }>(TRY_INGEST_LOCK, [INGEST_LOCK_ID]);
  if (!lock?.locked) throw new IngestError('another ingest is running on this database');
  for (const setting of LOAD_SETTINGS) await session.query(setting);
  await session.query(lockTables(tables));
  // The tables' change notifications (one per 700 products per statement) would describe every
  // loaded row; the load notifies EVERYTHING_CHANGED instead. Disabled in this transaction only.
  for (const table of tables) await session.query(setChangeNotifications(table, false));
  await checkColumnTypes(
    session,
    plans.map((plan) => plan.spec),
  );

  const constraints = await session.query<ConstraintDefinition>(DEPENDENT_CONSTRAINTS, [tables]);
  const indexes = await session.query<IndexDefinition>(STANDALONE_INDEXES, [tables]);
  const foreignKeys = constraints.filter((constraint) => constraint.kind === 'f');
  const ownKeys = constraints.filter((constraint) => constraint.kind !== 'f');
  progress.note(
    `reloading ${tables.join(', ')}: dropping ${indexes.length} indexes and ${constraints.length} constraints`,
  );
  for (const constraint of [...foreignKeys, ...ownKeys]) await session.query(dropConstraint(constraint));
  for (const index of indexes) await session.query(dropIndex(index));
  await session.query(truncateTables(tables));

  const idSets = new Map<TableName, IdSet>();
  const reports: FileReport[] = [];
  for (const plan of plans) {
    for (const column of keyColumns(plan.spec)) {
      if (column.kind.type !== 'ref' || idSets.has(column.kind.parent)) continue;
      // The parent's file is not part of this load: its rows stay, so they are the parents.
      idSets.set(column.kind.parent, await existingIds(session, column.kind.parent));
    }
    const { report, ids } = await loadFile(plan, idSets, context);
    if (PARENT_TABLES.has(plan.spec.table)) idSets.set(plan.spec.table, ids);
    reports.push(report);
  }

  progress.note(`re-creating ${ownKeys.length} keys and ${indexes.length} indexes`);
  for (const constraint of ownKeys) await session.query(addConstraint(constraint));
  for (const index of indexes) await session.query(index.definition);
  if (tables.some((table) => REVIEW_STATS_SOURCES.has(table))) {
    progress.note('refreshing review statistics');
    await session.query(REFRESH_REVIEW_STATS);
  }
  progress.note(`re-validating ${foreignKeys.length} foreign keys`);
  for (const constraint of foreignKeys) {
    await session.query(addConstraint(constraint)).catch((err: unknown) => {
      throw constraintFailure(constraint, err);
    });
  }
  for (const table of tables) await session.query(resetIdentity(table), [table]);
  for (const table of tables) await session.query(setChangeNotifications(table, true));
  return reports;
}

export async function ingest(options: IngestOptions): Promise<IngestReport> {
  const started = performance.now();
  const progress = options.progress === false ? SILENT : stderrProgress('ingest');
  const plans = await planFiles(options.dir);
  await migrate(options.databaseUrl);
  const rejects = await RejectsFile.create(options.rejectsPath ?? defaultRejectsPath());
  const session = await openSession(options.databaseUrl, 'atelier-ingest');
  try {
    const pool = new ParsePool(Math.max(1, Math.min(MAX_PARSE_WORKERS, os.availableParallelism())));
    let files: FileReport[];
    try {
      await session.query('BEGIN');
      files = await loadAll(plans, { session, pool, rejects, progress });
      await session.query(NOTIFY_EVERYTHING_CHANGED);
      progress.note('committing');
      await session.query('COMMIT');
    } catch (err) {
      await session.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await pool.close();
      await rejects.close();
    }
    const tables: string[] = plans.map((plan) => plan.spec.table);
    if (plans.some((plan) => REVIEW_STATS_SOURCES.has(plan.spec.table))) tables.push(...REVIEW_STATS_TABLES);
    progress.note('analyzing');
    await session.query(analyze(tables));
    return { files, rejectsPath: rejects.path, seconds: (performance.now() - started) / 1000 };
  } finally {
    await session.end();
  }
}
