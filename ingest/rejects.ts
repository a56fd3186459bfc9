/**
 * The rejects file: one CSV line per data row the ingest did not load, with the file, the
 * 1-based physical line number, the reason and the raw line as it stands in the file.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';

export const REJECTS_HEADER = 'file,line,reason,raw';

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export class RejectsFile {
  private constructor(
    readonly path: string,
    private readonly stream: WriteStream,
  ) {}

  static async create(filePath: string): Promise<RejectsFile> {
    await mkdir(path.dirname(filePath), { recursive: true });
    const stream = createWriteStream(filePath);
    await once(stream, 'open');
    stream.write(`${REJECTS_HEADER}\n`);
    return new RejectsFile(filePath, stream);
  }

  /** Resolves at once unless the disk is behind, so a file of rejects cannot fill memory. */
  async write(file: string, line: number, reason: string, raw: string): Promise<void> {
    const ok = this.stream.write(`${csvField(file)},${line},${csvField(reason)},${csvField(raw)}\n`);
    if (!ok) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (this.stream.closed) return;
    this.stream.end();
    await once(this.stream, 'close');
  }
}
