/**
 * Turns a run of whole CSV lines into binary COPY tuples: repairs lines with an unclosed quote,
 * parses with csv-parser, checks and encodes each row. Runs in the parse workers; everything here
 * depends only on the chunk, so chunks of one file can be parsed in parallel.
 */
import csv from 'csv-parser';
import { TupleBuffer } from './copy-binary.js';
import type { RowEncoder, CsvRow } from './row-encoder.js';

/** Per-line outcome in ChunkResult.status. */
export const LINE_ENCODED = 0;
export const LINE_REFUSED = 1;
export const LINE_BLANK = 2;

export interface ChunkResult {
  /** The chunk parsed, handed back: rejected lines are read from it. */
  readonly input: Uint8Array;
  readonly lines: number;
  /** Byte offset of each line in the input chunk, plus one past the last line's newline. */
  readonly lineStarts: Int32Array;
  readonly status: Uint8Array;
  /** 1 where the line lacked a closing quote and got one. */
  readonly repaired: Uint8Array;
  /** `keyCount` slots per line (id, then refs), valid where status is LINE_ENCODED. */
  readonly keys: Int32Array;
  /** The reason of each LINE_REFUSED line, in line order. */
  readonly reasons: string[];
  /** Binary COPY tuples of the LINE_ENCODED lines, in line order. */
  readonly copy: Uint8Array;
  /** Where each tuple of `copy` ends. */
  readonly tupleEnds: Int32Array;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const QUOTE = 0x22;
/**
 * csv-parser queues every row of a write before emitting them; slices of a few thousand rows
 * keep those rows young enough for the scavenger instead of promoting them to the old space.
 */
const PARSER_SLICE = 64 * 1024;

interface Lines {
  count: number;
  starts: Int32Array;
  repaired: Uint8Array;
}

/**
 * Splits on newlines and flags lines with an odd number of quotes. The legacy export writes one
 * record per physical line, so an odd count means a field left open at the end of the line
 * (photos.csv's known dirt), never a newline inside a field: closing it at the end of the line
 * keeps the parser from swallowing the lines that follow.
 */
function scanLines(chunk: Buffer): Lines {
  let starts = new Int32Array(Math.max(64, chunk.length >>> 5));
  let repaired = new Uint8Array(starts.length);
  let count = 0;
  starts[0] = 0;
  // Buffer's indexOf (memchr) leaps from quote to quote and newline to newline, several times
  // faster than visiting every byte in JavaScript.
  let quote = chunk.indexOf(QUOTE);
  for (let newline = chunk.indexOf(NEWLINE); newline !== -1; newline = chunk.indexOf(NEWLINE, newline + 1)) {
    let quotes = 0;
    while (quote !== -1 && quote < newline) {
      quotes++;
      quote = chunk.indexOf(QUOTE, quote + 1);
    }
    if ((quotes & 1) === 1) {
      repaired[count] = 1;
    }
    count++;
    if (count + 1 >= starts.length) {
      const grownStarts = new Int32Array(starts.length * 2);
      grownStarts.set(starts);
      starts = grownStarts;
      const grownRepaired = new Uint8Array(starts.length);
      grownRepaired.set(repaired);
      repaired = grownRepaired;
    }
    starts[count] = newline + 1;
  }
  if (starts[count] !== chunk.length) throw new Error('a parse chunk must end with a newline');
  return { count, starts: starts.slice(0, count + 1), repaired: repaired.slice(0, count) };
}

function isBlank(chunk: Buffer, start: number, next: number): boolean {
  const length = next - start - 1;
  return length === 0 || (length === 1 && chunk[start] === CARRIAGE_RETURN);
}

/**
 * Parses the chunks sent to one worker. csv-parser unescapes quotes in place in the bytes it is
 * given, and the chunk goes back to the main thread, which reads rejected lines from it; so
 * csv-parser gets a copy, in a scratch buffer reused from chunk to chunk (a fresh buffer per
 * chunk piles up faster than a worker's garbage collector hands the memory back).
 */
export class ChunkParser {
  private scratch = Buffer.allocUnsafeSlow(0);

  async parse(bytes: Uint8Array, encoder: RowEncoder, headers: readonly string[]): Promise<ChunkResult> {
    const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const lines = scanLines(chunk);
    const input = this.copyRepaired(chunk, lines);
    const status = new Uint8Array(lines.count);
    const keys = new Int32Array(lines.count * encoder.keyCount);
    const reasons: string[] = [];
    const copy = new TupleBuffer(input.length * 2);
    const tupleEnds = new Int32Array(lines.count);
    let tuples = 0;
    let line = 0;

    encoder.startChunk(input);
    // Cells as views of `input` (row-encoder.ts CsvRow): they are read before this call returns.
    const parser = csv({ headers: [...headers], raw: true });
    parser.on('data', (row: CsvRow) => {
      if (isBlank(chunk, lines.starts[line]!, lines.starts[line + 1]!)) {
        status[line] = LINE_BLANK;
      } else if (encoder.encode(row, copy, keys, line * encoder.keyCount)) {
        tupleEnds[tuples++] = copy.length;
      } else {
        status[line] = LINE_REFUSED;
        reasons.push(encoder.reason);
      }
      line++;
    });
    const done = new Promise<void>((resolve, reject) => {
      parser.once('end', resolve);
      parser.once('error', reject);
    });
    for (let from = 0; from < input.length; ) {
      const to = Math.min(input.length, input.indexOf(NEWLINE, from + PARSER_SLICE) + 1 || input.length);
      parser.write(input.subarray(from, to));
      from = to;
    }
    parser.end();
    await done;
    // Every line ends balanced, so csv-parser must see exactly one row per line; if it did not,
    // line numbers and raw lines in the rejects file would be wrong.
    if (line !== lines.count) throw new Error(`csv-parser returned ${line} rows for ${lines.count} lines`);
    return {
      input: bytes,
      lines: lines.count,
      lineStarts: lines.starts,
      status,
      repaired: lines.repaired,
      keys,
      reasons,
      copy: copy.take(),
      tupleEnds: tupleEnds.slice(0, tuples),
    };
  }

  /** The chunk in the scratch buffer, a closing quote inserted at the end of each repaired line. */
  private copyRepaired(chunk: Buffer, lines: Lines): Buffer {
    let repairs = 0;
    for (let line = 0; line < lines.count; line++) repairs += lines.repaired[line]!;
    const length = chunk.length + repairs;
    if (this.scratch.length < length) this.scratch = Buffer.allocUnsafeSlow(Math.max(length, this.scratch.length * 2));
    if (repairs === 0) {
      this.scratch.set(chunk);
      return this.scratch.subarray(0, length);
    }
    let from = 0;
    let to = 0;
    for (let line = 0; line < lines.count; line++) {
      if (lines.repaired[line] === 0) continue;
      let end = lines.starts[line + 1]! - 1;
      if (end > lines.starts[line]! && chunk[end - 1] === CARRIAGE_RETURN) end--;
      this.scratch.set(chunk.subarray(from, end), to);
      to += end - from;
      this.scratch[to++] = QUOTE;
      from = end;
    }
    this.scratch.set(chunk.subarray(from), to);
    return this.scratch.subarray(0, length);
  }
}
