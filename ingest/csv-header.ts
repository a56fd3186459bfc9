/**
 * Reads and checks the header line of a legacy CSV file. Both variants of the export are
 * accepted: exact headers and the older one with a space after each comma. Columns are matched
 * by name, so a file whose columns come in another order still loads correctly.
 */
import type { FileHandle } from 'node:fs/promises';
import type { TableSpec } from './tables.js';

const HEADER_MAX_BYTES = 64 * 1024;
const BOM = '\ufeff';

export class HeaderError extends Error {}

export interface Header {
  /** Column names in file order, as csv-parser should key the rows. */
  readonly names: readonly string[];
  /** Bytes up to and including the header's newline: where the data starts. */
  readonly bytes: number;
}

export function parseHeader(spec: TableSpec, line: string): readonly string[] {
  const names = line
    .replace(BOM, '')
    .replace(/\r$/, '')
    .split(',')
    .map((name) => name.trim().replace(/^"(.*)"$/, '$1'));
  const expected = spec.columns.map((column) => column.header);
  const sameSet =
    names.length === expected.length &&
    new Set(names).size === names.length &&
    expected.every((name) => names.includes(name));
  if (!sameSet) {
    throw new HeaderError(`${spec.file}: the header "${line.trim()}" does not name the columns ${expected.join(',')}`);
  }
  return names;
}

export async function readHeader(file: FileHandle, spec: TableSpec): Promise<Header> {
  const buffer = Buffer.alloc(HEADER_MAX_BYTES);
  const { bytesRead } = await file.read(buffer, 0, HEADER_MAX_BYTES, 0);
  if (bytesRead === 0) throw new HeaderError(`${spec.file} is empty: it needs at least a header line`);
  const newline = buffer.subarray(0, bytesRead).indexOf(0x0a);
  if (newline < 0 && bytesRead === HEADER_MAX_BYTES) {
    throw new HeaderError(`${spec.file}: no header line in its first ${HEADER_MAX_BYTES} bytes`);
  }
  const end = newline < 0 ? bytesRead : newline;
  return { names: parseHeader(spec, buffer.toString('utf8', 0, end)), bytes: newline < 0 ? bytesRead : newline + 1 };
}
