/**
 * Checks one parsed CSV row against its table and appends it to a binary COPY buffer.
 * Everything PostgreSQL could refuse is refused here first, with a reason, so a COPY never
 * fails on data: a refused value would abort the whole load.
 */
import { isUtf8 } from 'node:buffer';
import type { TupleBuffer } from './copy-binary.js';
import { keyColumns, type Column, type TableSpec } from './tables.js';

/**
 * What csv-parser hands over with `raw: true`: cells keyed by header, extra cells as `_<index>`,
 * each a view of the chunk's bytes with its quotes unescaped. Bytes rather than strings: decoding
 * every cell and encoding the text ones back to UTF-8 for COPY took a sixth of a parse worker's
 * time, so cells are decoded only where a string is needed (dates other than epoch
 * milliseconds, prices, unusual spellings and the reasons of refused values).
 */
export type CsvRow = Readonly<Record<string, Buffer | undefined>>;

/** A value the column refuses; `reason` says why. Thrown only on the slow path. */
class Refused {
  constructor(readonly reason: string) {}
}

function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

const SPACE = 0x20;
const MINUS = 0x2d;
const ZERO = 0x30;

function equalsAscii(cell: Buffer, ascii: string): boolean {
  if (cell.length !== ascii.length) return false;
  for (let index = 0; index < ascii.length; index++) {
    if (cell[index] !== ascii.charCodeAt(index)) return false;
  }
  return true;
}

/** Legacy dumps spell "no value" as a bare `null`; the older variant leaves the field empty. */
function isMissing(cell: Buffer): boolean {
  return cell.length === 0 || equalsAscii(cell, 'null');
}

/** The value of the bytes from `start` on if they are at most `maxDigits` ASCII digits, or NaN. */
function parseDigits(bytes: Buffer, start: number, maxDigits: number): number {
  const length = bytes.length - start;
  if (length <= 0 || length > maxDigits) return NaN;
  let result = 0;
  for (let index = start; index < bytes.length; index++) {
    const digit = bytes[index]! - ZERO;
    if (digit < 0 || digit > 9) return NaN;
    result = result * 10 + digit;
  }
  return result;
}

/**
 * The cell without the white space String.prototype.trim removes (which reaches beyond ASCII),
 * as UTF-8.
 */
function trimmed(cell: Buffer): Buffer {
  return Buffer.from(cell.toString().trim());
}

/** The integer an all-digits cell (optionally signed, surrounding spaces allowed) holds, or NaN. */
export function parseInteger(cell: Buffer): number {
  const value = cell.length > 0 && (cell[0] === SPACE || cell[cell.length - 1] === SPACE) ? trimmed(cell) : cell;
  return value[0] === MINUS ? -parseDigits(value, 1, 10) : parseDigits(value, 0, 10);
}

const INT32_MAX = 2_147_483_647;
const INT32_MIN = -2_147_483_648;
const PRICE_PATTERN = /^\d{1,20}(\.\d{1,10})?$/;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$/;
/** Epoch milliseconds have 13 digits until the year 2286; 15 reach past 9999. */
const EPOCH_MAX_DIGITS = 15;
/** Dates stop at 9999, where four-digit years do. */
const LAST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Epoch milliseconds of a date column: epoch ms, YYYY-MM-DD (midnight UTC) or ISO 8601. */
function epochMs(column: Column, cell: Buffer): number {
  const ms = parseDigits(cell, 0, EPOCH_MAX_DIGITS);
  if (ms <= LAST_MS) return ms;
  const raw = cell.toString();
  const value = raw.trim();
  const day = DAY.exec(value);
  if (day) {
    const midnight = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    // Date.UTC rolls 2019-02-30 over to March (and years below 100 to the 1900s); a real day
    // survives the round trip.
    if (new Date(midnight).toISOString().startsWith(value)) return midnight;
  } else if (DATE_TIME.test(value)) {
    const parsed = Date.parse(value.replace(' ', 'T'));
    if (parsed >= 0 && parsed <= LAST_MS) return parsed;
  } else if (value !== raw) {
    const trimmedMs = parseDigits(Buffer.from(value), 0, EPOCH_MAX_DIGITS);
    if (trimmedMs <= LAST_MS) return trimmedMs;
  }
  throw new Refused(`${column.header} ${quoted(raw)} is not a date (epoch milliseconds or YYYY-MM-DD)`);
}

/**
 * `cleanUtf8`: the whole chunk is valid UTF-8 without NUL, and so is each of its cells (they
 * split it at ASCII bytes and unescaping drops only ASCII quotes), which spares a check per cell.
 */
function writeText(out: TupleBuffer, column: Column, cell: Buffer, nullable: boolean, cleanUtf8: boolean): void {
  if (nullable && isMissing(cell)) {
    out.null();
    return;
  }
  if (cleanUtf8) {
    out.text(cell);
    return;
  }
  // PostgreSQL text cannot hold NUL; every other character goes through as is.
  if (cell.includes(0)) throw new Refused(`${column.header} contains a NUL character`);
  // Invalid UTF-8 would abort the whole COPY; decoding turns each bad sequence into U+FFFD.
  out.text(isUtf8(cell) ? cell : Buffer.from(cell.toString()));
}

function bool(column: Column, cell: Buffer): boolean {
  // The export's own spellings skip decoding the cell.
  if (equalsAscii(cell, 'true') || equalsAscii(cell, '1')) return true;
  if (equalsAscii(cell, 'false') || equalsAscii(cell, '0')) return false;
  switch (cell.toString().trim().toLowerCase()) {
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
      return false;
    default:
      throw new Refused(`${column.header} ${quoted(cell.toString())} is not a boolean (true/false or 1/0)`);
  }
}

function writePrice(out: TupleBuffer, column: Column, cell: Buffer, nullable: boolean): void {
  if (isMissing(cell)) {
    if (nullable) {
      out.null();
      return;
    }
    throw new Refused(`${column.header} is missing`);
  }
  const raw = cell.toString();
  const value = raw.trim();
  if (!PRICE_PATTERN.test(value)) throw new Refused(`${column.header} ${quoted(raw)} is not a price`);
  out.numeric(value);
}

/** Ids and refs: positive int32. */
function key(column: Column, cell: Buffer): number {
  const value = parseInteger(cell);
  if (value >= 1 && value <= INT32_MAX) return value;
  if (value === 0) throw new Refused(`${column.header} is 0`);
  if (isMissing(cell)) throw new Refused(`${column.header} is missing`);
  throw new Refused(`${column.header} ${quoted(cell.toString())} is not a positive integer`);
}

function integer(column: Column, cell: Buffer, min: number, max: number): number {
  const value = parseInteger(cell);
  if (value >= min && value <= max) return value;
  if (isMissing(cell)) throw new Refused(`${column.header} is missing`);
  if (Number.isNaN(value)) throw new Refused(`${column.header} ${quoted(cell.toString())} is not an integer`);
  throw new Refused(`${column.header} ${value} is outside ${min}–${max}`);
}

const KEY = 0;
const TEXT = 1;
const OPTIONAL_TEXT = 2;
const INT = 3;
const RATING = 4;
const PRICE = 5;
const OPTIONAL_PRICE = 6;
const BOOL = 7;
const TIMESTAMP = 8;

/**
 * A column flattened to one object shape, so the per-field loop reads the same hidden class
 * every time (the ColumnKind variants have several shapes, which made those reads megamorphic).
 */
class Field {
  constructor(
    readonly column: Column,
    readonly code: number,
    readonly keySlot: number,
  ) {}

  static of(column: Column, keySlot: number): Field {
    switch (column.kind.type) {
      case 'id':
      case 'ref':
        return new Field(column, KEY, keySlot);
      case 'text':
        return new Field(column, column.kind.nullable ? OPTIONAL_TEXT : TEXT, -1);
      case 'int':
        return new Field(column, INT, -1);
      case 'rating':
        return new Field(column, RATING, -1);
      case 'price':
        return new Field(column, column.kind.nullable ? OPTIONAL_PRICE : PRICE, -1);
      case 'bool':
        return new Field(column, BOOL, -1);
      case 'timestamp':
        return new Field(column, TIMESTAMP, -1);
    }
  }
}

/**
 * One table's row encoder for one file's header order (the headers csv-parser was given).
 * `encode` appends the row as a tuple and fills its key slots and returns true, or leaves the
 * buffer as it was, puts the reason in `reason` and returns false.
 */
export class RowEncoder {
  /** Number of key slots per row: the id, then each ref (tables.ts keyColumns). */
  readonly keyCount: number;
  reason = '';
  private cleanUtf8 = false;
  private readonly fields: readonly Field[];
  private readonly lastHeader: string;
  private readonly firstExtra: string;

  constructor(spec: TableSpec, fileHeaders: readonly string[]) {
    const keys = keyColumns(spec);
    this.keyCount = keys.length;
    this.fields = spec.columns.map((c) => Field.of(c, keys.indexOf(c)));
    this.lastHeader = fileHeaders.at(-1)!;
    this.firstExtra = `_${fileHeaders.length}`;
  }

  /** Called with each chunk before its rows, so that clean chunks skip the per-cell checks. */
  startChunk(input: Buffer): void {
    this.cleanUtf8 = !input.includes(0) && isUtf8(input);
  }

  encode(row: CsvRow, out: TupleBuffer, keys: Int32Array, keyOffset: number): boolean {
    if (row[this.lastHeader] === undefined || row[this.firstExtra] !== undefined) {
      this.reason = `expected ${this.fields.length} fields, found ${Object.keys(row).length}`;
      return false;
    }
    const start = out.length;
    try {
      out.startTuple(this.fields.length);
      for (let i = 0; i < this.fields.length; i++) {
        const field = this.fields[i]!;
        const column = field.column;
        const cell = row[column.header]!;
        switch (field.code) {
          case KEY: {
            const value = key(column, cell);
            keys[keyOffset + field.keySlot] = value;
            out.int4(value);
            break;
          }
          case TEXT:
            writeText(out, column, cell, false, this.cleanUtf8);
            break;
          case OPTIONAL_TEXT:
            writeText(out, column, cell, true, this.cleanUtf8);
            break;
          case INT:
            out.int4(integer(column, cell, INT32_MIN, INT32_MAX));
            break;
          case RATING:
            out.int2(integer(column, cell, 1, 5));
            break;
          case PRICE:
            writePrice(out, column, cell, false);
            break;
          case OPTIONAL_PRICE:
            writePrice(out, column, cell, true);
            break;
          case BOOL:
            out.bool(bool(column, cell));
            break;
          default:
            out.timestamp(epochMs(column, cell));
            break;
        }
      }
      return true;
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      out.length = start;
      this.reason = err.reason;
      return false;
    }
  }
}
