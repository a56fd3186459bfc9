/**
 * Rows in PostgreSQL's binary COPY format (COPY … WITH (FORMAT binary), "Binary Format" in the
 * COPY documentation). The backend then skips parsing text into integers, timestamps and
 * numerics, its largest cost per row; the parse workers, the ingest's bottleneck, write binary
 * no slower than they would write escaped text.
 */

/** Signature, flags (none), header extension length (0). Sent once before the first tuple. */
export const COPY_BINARY_HEADER = Buffer.concat([
  Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]),
]);
/** A tuple field count of -1 ends the data. */
export const COPY_BINARY_TRAILER = Buffer.from([0xff, 0xff]);

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const TWO_32 = 2 ** 32;
const NUMERIC_POSITIVE = 0x0000;

/** Tuples appended to one growing buffer. */
export class TupleBuffer {
  private bytes: Buffer;
  private view: DataView;
  length = 0;

  constructor(capacity: number) {
    this.bytes = Buffer.allocUnsafeSlow(Math.max(1024, capacity));
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** The tuples written so far (a view: take it once the buffer is done). */
  take(): Uint8Array {
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset, this.length);
  }

  startTuple(fields: number): void {
    this.ensure(2);
    this.view.setInt16(this.length, fields);
    this.length += 2;
  }

  null(): void {
    this.ensure(4);
    this.view.setInt32(this.length, -1);
    this.length += 4;
  }

  int2(value: number): void {
    this.ensure(6);
    this.view.setInt32(this.length, 2);
    this.view.setInt16(this.length + 4, value);
    this.length += 6;
  }

  int4(value: number): void {
    this.ensure(8);
    this.view.setInt32(this.length, 4);
    this.view.setInt32(this.length + 4, value);
    this.length += 8;
  }

  bool(value: boolean): void {
    this.ensure(5);
    this.view.setInt32(this.length, 1);
    this.bytes[this.length + 4] = value ? 1 : 0;
    this.length += 5;
  }

  /** `utf8` must be valid UTF-8 without NUL: the whole COPY fails on anything else. */
  text(utf8: Uint8Array): void {
    this.ensure(4 + utf8.length);
    this.view.setInt32(this.length, utf8.length);
    this.bytes.set(utf8, this.length + 4);
    this.length += 4 + utf8.length;
  }

  /**
   * timestamptz: int64 microseconds since 2000-01-01 UTC, computed in 32-bit halves because
   * milliseconds × 1000 passes 2^53 for far dates.
   */
  timestamp(epochMs: number): void {
    this.ensure(12);
    const delta = epochMs - PG_EPOCH_MS;
    const high = Math.floor(delta / TWO_32);
    const lowMicros = (delta - high * TWO_32) * 1000;
    const carry = Math.floor(lowMicros / TWO_32);
    this.view.setInt32(this.length, 8);
    this.view.setInt32(this.length + 4, high * 1000 + carry);
    this.view.setUint32(this.length + 8, lowMicros - carry * TWO_32);
    this.length += 12;
  }

  /**
   * numeric from a non-negative decimal written `digits[.digits]`: base-10000 digits around
   * the point, and the written number of decimals as display scale, so "69.50" stays "69.50".
   */
  numeric(decimal: string): void {
    const point = decimal.indexOf('.');
    const integer = (point < 0 ? decimal : decimal.slice(0, point)).replace(/^0+/, '');
    const fraction = point < 0 ? '' : decimal.slice(point + 1);
    const padded =
      '0'.repeat((4 - (integer.length % 4)) % 4) + integer + fraction + '0'.repeat((4 - (fraction.length % 4)) % 4);
    let first = 0;
    let last = padded.length / 4;
    let weight = (padded.length - fraction.length - ((4 - (fraction.length % 4)) % 4)) / 4 - 1;
    while (first < last && padded.startsWith('0000', first * 4)) {
      first++;
      weight--;
    }
    while (last > first && padded.startsWith('0000', (last - 1) * 4)) last--;
    const count = last - first;
    this.ensure(4 + 8 + count * 2);
    this.view.setInt32(this.length, 8 + count * 2);
    this.view.setInt16(this.length + 4, count);
    this.view.setInt16(this.length + 6, count === 0 ? 0 : weight);
    this.view.setInt16(this.length + 8, NUMERIC_POSITIVE);
    this.view.setInt16(this.length + 10, fraction.length);
    for (let i = 0; i < count; i++) {
      this.view.setInt16(this.length + 12 + i * 2, Number(padded.slice((first + i) * 4, (first + i) * 4 + 4)));
    }
    this.length += 12 + count * 2;
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.length + extra, this.bytes.length * 2));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }
}
