/**
 * Checks one parsed CSV row against its table and writes it as a line of COPY text format.
 * Everything PostgreSQL could refuse is refused here first, with a reason, so a COPY never
 * fails on data: a refused value would abort the whole load.
 */
import { keyColumns, type Column, type TableSpec } from './tables.js';

/** What csv-parser hands over: cells keyed by header, extra cells as `_<index>`. */
export type CsvRow = Readonly<Record<string, string | undefined>>;

const NULL = '\\N';
const COPY_SPECIAL = /[\\\t\n\r\0]/;
const COPY_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value the column refuses; `reason` says why. Thrown only on the slow path. */
class Refused {
  constructor(readonly reason: string) {}
}

function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** Legacy dumps spell "no value" as a bare `null`; the older variant leaves the field empty. */
function isMissing(value: string): boolean {
  return value === '' || value === 'null';
}

/** The integer an all-digits string (optionally signed, surrounding spaces allowed) holds, or NaN. */
export function parseInteger(value: string): number {
  const text = value.length > 0 && (value.charCodeAt(0) === 32 || value.charCodeAt(value.length - 1) === 32)
    ? value.trim() : value;
  const length = text.length;
  if (length === 0 || length > 11) return NaN;
  let index = text.charCodeAt(0) === 45 ? 1 : 0;
  if (index === length) return NaN;
  let result = 0;
  for (; index < length; index++) {
    const digit = text.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) return NaN;
    result = result * 10 + digit;
  }
  return text.charCodeAt(0) === 45 ? -result : result;
}

const INT32_MAX = 2_147_483_647;
const PRICE_PATTERN = /^\d{1,20}(\.\d{1,10})?$/;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$/;
/** Epoch milliseconds have 13 digits until the year 2286; 15 reach past 9999. */
const EPOCH_MAX_DIGITS = 15;
/** toISOString() writes years past 9999 with a sign PostgreSQL does not read. */
const LAST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const MS_PER_DAY = 86_400_000;

/** The value of an all-digits string of at most `maxDigits` digits, or NaN. */
function parseDigits(value: string, maxDigits: number): number {
  const length = value.length;
  if (length === 0 || length > maxDigits) return NaN;
  let result = 0;
  for (let index = 0; index < length; index++) {
    const digit = value.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) return NaN;
    result = result * 10 + digit;
  }
  return result;
}

const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;
const pad3 = (n: number): string => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

/**
 * "YYYY-MM-DD " of each day seen. Date#toISOString costs microseconds, a lot at 15 M dates;
 * the dates of a file span a few thousand days, so the calendar work is done once per day.
 */
const dayTexts = new Map<number, string>();
const DAY_CACHE_LIMIT = 100_000;

/** An epoch-milliseconds instant (0 … LAST_MS) as timestamptz text, UTC. */
export function timestampText(ms: number): string {
  const day = Math.floor(ms / MS_PER_DAY);
  let dayText = dayTexts.get(day);
  if (dayText === undefined) {
    if (dayTexts.size >= DAY_CACHE_LIMIT) dayTexts.clear();
    dayText = new Date(day * MS_PER_DAY).toISOString().slice(0, 11).replace('T', ' ');
    dayTexts.set(day, dayText);
  }
  const msOfDay = ms - day * MS_PER_DAY;
  const hours = Math.floor(msOfDay / 3_600_000);
  const minutes = Math.floor(msOfDay / 60_000) % 60;
  const seconds = Math.floor(msOfDay / 1000) % 60;
  return dayText + pad2(hours) + ':' + pad2(minutes) + ':' + pad2(seconds) + '.' + pad3(msOfDay % 1000) + '+00';
}

function encodeTimestamp(column: Column, raw: string): string {
  const epochMs = parseDigits(raw, EPOCH_MAX_DIGITS);
  if (epochMs <= LAST_MS) return timestampText(epochMs);
  const value = raw.trim();
  const day = DAY.exec(value);
  if (day) {
    const date = new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])));
    // Date.UTC rolls 2019-02-30 over to March; a real day survives the round trip.
    if (date.toISOString().startsWith(value) && Number(day[1]) >= 1) return `${value} 00:00:00+00`;
  } else if (DATE_TIME.test(value)) {
    const ms = Date.parse(value.replace(' ', 'T'));
    if (ms >= 0 && ms <= LAST_MS) return timestampText(ms);
  } else if (value !== raw) {
    const ms = parseDigits(value, EPOCH_MAX_DIGITS);
    if (ms <= LAST_MS) return timestampText(ms);
  }
  throw new Refused(`${column.header} ${quoted(raw)} is not a date (epoch milliseconds or YYYY-MM-DD)`);
}

function encodeText(column: Column, value: string, nullable: boolean): string {
  if (nullable && isMissing(value)) return NULL;
  if (!COPY_SPECIAL.test(value)) return value;
  if (value.includes('\0')) throw new Refused(`${column.header} contains a NUL character`);
  return value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!);
}

function encodeBool(column: Column, raw: string): string {
  switch (raw.trim().toLowerCase()) {
    case 'true': case '1': return 't';
    case 'false': case '0': return 'f';
    default: throw new Refused(`${column.header} ${quoted(raw)} is not a boolean (true/false or 1/0)`);
  }
}

function encodePrice(column: Column, raw: string, nullable: boolean): string {
  if (isMissing(raw)) {
    if (nullable) return NULL;
    throw new Refused(`${column.header} is missing`);
  }
  const value = raw.trim();
  if (!PRICE_PATTERN.test(value)) throw new Refused(`${column.header} ${quoted(raw)} is not a price`);
  return value;
}

/** Ids and refs: positive int32. */
function encodeKey(column: Column, raw: string): number {
  const value = parseInteger(raw);
  if (value >= 1 && value <= INT32_MAX) return value;
  if (value === 0) throw new Refused(`${column.header} is 0`);
  if (isMissing(raw)) throw new Refused(`${column.header} is missing`);
  throw new Refused(`${column.header} ${quoted(raw)} is not a positive integer`);
}

function encodeInt(column: Column, raw: string, min: number, max: number): string {
  const value = parseInteger(raw);
  if (value >= min && value <= max) return canonical(raw, value);
  if (isMissing(raw)) throw new Refused(`${column.header} is missing`);
  if (Number.isNaN(value)) throw new Refused(`${column.header} ${quoted(raw)} is not an integer`);
  throw new Refused(`${column.header} ${value} is outside ${min}–${max}`);
}

const KEY = 0;
const TEXT = 1;
const OPTIONAL_TEXT = 2;
const INT = 3;
const PRICE = 4;
const OPTIONAL_PRICE = 5;
const BOOL = 6;
const TIMESTAMP = 7;

/**
 * A column flattened to one object shape, so the per-field loop reads the same hidden class
 * every time (the ColumnKind variants have four shapes, which made those reads megamorphic).
 */
class Field {
  constructor(
    readonly column: Column,
    readonly code: number,
    readonly min: number,
    readonly max: number,
    readonly keySlot: number,
  ) {}

  static of(column: Column, keySlot: number): Field {
    const kind = column.kind;
    switch (kind.type) {
      case 'id': case 'ref': return new Field(column, KEY, 1, INT32_MAX, keySlot);
      case 'text': return new Field(column, kind.nullable ? OPTIONAL_TEXT : TEXT, 0, 0, -1);
      case 'int': return new Field(column, INT, kind.min, kind.max, -1);
      case 'price': return new Field(column, kind.nullable ? OPTIONAL_PRICE : PRICE, 0, 0, -1);
      case 'bool': return new Field(column, BOOL, 0, 0, -1);
      case 'timestamp': return new Field(column, TIMESTAMP, 0, 0, -1);
    }
  }
}

/** `raw` when it already is the decimal form of `value` (the common case), else a fresh string. */
function canonical(raw: string, value: number): string {
  return raw.length <= 10 && raw.charCodeAt(0) !== 48 && raw.charCodeAt(raw.length - 1) !== 32 && raw.charCodeAt(0) !== 32
    && raw.charCodeAt(0) !== 43 ? raw : String(value);
}

/**
 * One table's row encoder for one file's header order (the headers csv-parser was given).
 * `encode` returns the COPY line (ending in a newline) and fills the row's key slots, or returns
 * undefined and leaves the reason in `reason`.
 */
export class RowEncoder {
  /** Number of key slots per row: the id, then each ref (tables.ts keyColumns). */
  readonly keyCount: number;
  reason = '';
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

  encode(row: CsvRow, keys: Int32Array, keyOffset: number): string | undefined {
    if (row[this.lastHeader] === undefined || row[this.firstExtra] !== undefined) {
      this.reason = `expected ${this.fields.length} fields, found ${Object.keys(row).length}`;
      return undefined;
    }
    try {
      let line = '';
      for (let i = 0; i < this.fields.length; i++) {
        const field = this.fields[i]!;
        const column = field.column;
        const raw = row[column.header]!;
        let text: string;
        switch (field.code) {
          case KEY: {
            const key = encodeKey(column, raw);
            keys[keyOffset + field.keySlot] = key;
            text = canonical(raw, key);
            break;
          }
          case TEXT: text = encodeText(column, raw, false); break;
          case OPTIONAL_TEXT: text = encodeText(column, raw, true); break;
          case INT: text = encodeInt(column, raw, field.min, field.max); break;
          case PRICE: text = encodePrice(column, raw, false); break;
          case OPTIONAL_PRICE: text = encodePrice(column, raw, true); break;
          case BOOL: text = encodeBool(column, raw); break;
          default: text = encodeTimestamp(column, raw); break;
        }
        line = i === 0 ? text : line + '\t' + text;
      }
      return line + '\n';
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      this.reason = err.reason;
      return undefined;
    }
  }
}
