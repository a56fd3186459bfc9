/**
 * Reads a file as chunks of whole lines, for the parse workers: each chunk ends with a newline
 * (one is added after a last line that lacks it), and only a partial last line is carried over
 * to the next read, so memory stays at a chunk or two whatever the file size.
 */
import type { FileHandle } from 'node:fs/promises';

const NEWLINE = 0x0a;
/** Big enough to amortise a worker round trip, small enough to keep a few in flight. */
export const CHUNK_BYTES = 1 << 20;
/** A "line" this long is not CSV: refuse it instead of buffering the file. */
export const MAX_LINE_BYTES = 64 << 20;

export interface LineChunk {
  readonly bytes: Uint8Array;
  /** Offset in the file just past this chunk (without the added newline). */
  readonly endOffset: number;
}

export class LineTooLongError extends Error {}

/**
 * `name` labels errors. Each chunk is alone in its ArrayBuffer, so it can be transferred to a
 * worker: the partial line after it is copied out before the chunk is handed over.
 */
export async function* lineChunks(file: FileHandle, name: string, startOffset: number): AsyncGenerator<LineChunk> {
  let buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  let carried = 0;
  let position = startOffset;
  for (;;) {
    const { bytesRead } = await file.read(buffer, carried, buffer.length - carried, position);
    position += bytesRead;
    const filled = carried + bytesRead;
    if (bytesRead === 0) {
      if (carried > 0) {
        buffer[carried] = NEWLINE;
        yield { bytes: buffer.subarray(0, carried + 1), endOffset: position };
      }
      return;
    }
    const lastNewline = buffer.subarray(0, filled).lastIndexOf(NEWLINE);
    if (lastNewline < 0) {
      if (filled > MAX_LINE_BYTES) {
        throw new LineTooLongError(
          `${name}: the line starting at byte ${position - filled} is longer than ${MAX_LINE_BYTES} bytes`,
        );
      }
      const grown = Buffer.allocUnsafeSlow(filled + CHUNK_BYTES);
      buffer.copy(grown, 0, 0, filled);
      buffer = grown;
      carried = filled;
      continue;
    }
    carried = filled - (lastNewline + 1);
    const next = Buffer.allocUnsafeSlow(carried + CHUNK_BYTES);
    buffer.copy(next, 0, lastNewline + 1, filled);
    yield { bytes: buffer.subarray(0, lastNewline + 1), endOffset: position - carried };
    buffer = next;
  }
}
