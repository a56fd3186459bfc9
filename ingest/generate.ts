/**
 * Generates the 14 CSV files of the legacy Atelier export (atelier-data.md) at any scale, with
 * the real formats, a realistic shape and the real dirt at small, counted rates. Scale 1 is the
 * size of the real dataset (~70 M rows). Same seed and scale give byte-identical files.
 *
 * DIR/manifest.json, written last, lists every file's rows and dirt counts plus {scale, seed}:
 * what an ingest of DIR must load, repair and reject.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FILES } from './generator-files.js';
import { startProgress } from './generator-progress.js';
import { Rng } from './generator-random.js';
import { REAL_ROWS, Shape, type FileName } from './generator-shape.js';
import { TextSource } from './generator-text.js';

export interface GenerateOptions {
  scale: number;
  out: string;
  seed?: number;
  progress?: boolean;
}

export interface FileStats {
  rows: number;
  dirt: Record<string, number>;
}

export interface GenerateResult {
  /** Keyed by file name, e.g. 'photos.csv'. */
  files: Record<string, FileStats>;
  seconds: number;
}

export interface Manifest {
  scale: number;
  seed: number;
  files: Record<string, FileStats>;
}

export const DEFAULT_SEED = 20_180_101;
export const MANIFEST_FILE = 'manifest.json';
export const FILE_NAMES = Object.keys(FILES) as FileName[];

/** Salts of the sequential streams: one for the vocabulary, then one per file. */
const TEXT_SALT = 1000;
const FILE_SALT = 2000;

export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  const { scale, out, seed = DEFAULT_SEED, progress = false } = options;
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`scale must be a positive number, got ${scale}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const started = performance.now();
  await mkdir(out, { recursive: true });
  // A manifest left by an earlier run must not vouch for files this run is about to replace.
  await rm(path.join(out, MANIFEST_FILE), { force: true });

  const shape = new Shape(seed, scale);
  const text = new TextSource(seed, TEXT_SALT);
  const files: Record<string, FileStats> = {};
  for (const name of FILE_NAMES) {
    files[name] = { rows: 0, dirt: Object.fromEntries(FILES[name].dirt.map((kind) => [kind, 0])) };
  }
  const expectedRows = FILE_NAMES.reduce((sum, name) => sum + REAL_ROWS[name] * scale, 0);
  const reporter = progress ? startProgress(expectedRows) : undefined;
  try {
    for (const [index, name] of FILE_NAMES.entries()) {
      reporter?.file(name, files[name]!);
      const spec = FILES[name];
      const context = { shape, text, rng: new Rng(seed, FILE_SALT + index) };
      const stats = files[name]!;
      function* chunks(): Generator<string> {
        yield spec.header + '\n';
        yield* spec.rows(context, stats);
      }
      await pipeline(Readable.from(chunks()), createWriteStream(path.join(out, name), { highWaterMark: 1 << 20 }));
    }
  } finally {
    reporter?.stop();
  }

  const manifest: Manifest = { scale, seed, files };
  await writeFile(path.join(out, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  return { files, seconds: (performance.now() - started) / 1000 };
}
