/**
 * The rejects file: one CSV line per data row the ingest did not load, with the file, the
 * 1-based physical line number, the reason and the raw line as it stands in the file.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';

export const REJECTS_HEADER = 'file,line,reason,raw';

/**
 * `atelier-rejects-<time>.csv` in the system's temporary directory (TMPDIR): the input directory
 * may well be read-only, the current one is often the repository, and DATA_DIR belongs to the
 * embedded database, which an ingest into DATABASE_URL does not use. The CLI prints the path, and
 * the file is a report to read after the run, not data to keep (`--rejects` keeps it elsewhere).
 */
export function defaultRejectsPath(now: Date = new Date()): string {
  return path.join(os.tmpdir(), `atelier-rejects-${now.toISOString().replace(/[:.]/g, '-')}.csv`);
}

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
