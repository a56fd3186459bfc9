/**
 * Bytes and CPU of each gzip level and brotli quality on real bodies, the measurement behind
 * GZIP_LEVEL and BROTLI_QUALITY (server/compression.ts; docs/benchmarks.md § Compressed bodies).
 * Each argument is a URL, fetched without Accept-Encoding, or a file holding a body:
 *
 *   npm run build:dev
 *   node build/perf/compression-levels.js 'http://127.0.0.1:3000/reviews?product_id=9&count=200' \
 *     http://127.0.0.1:3000/products/9/styles
 *
 * CPU is this process's user + system time per compression (synchronous zlib, so all of it is
 * the compression's), over LEVEL_REPEATS (200) runs; qualities 10 and 11 run a tenth as often.
 */
import { readFile } from 'node:fs/promises';
import zlib from 'node:zlib';

const REPEATS = Number(process.env.LEVEL_REPEATS ?? 200);

type Compress = (body: Buffer) => Buffer;

const gzip =
  (level: number): Compress =>
  (body) =>
    zlib.gzipSync(body, { level });
const brotli =
  (quality: number): Compress =>
  (body) =>
    zlib.brotliCompressSync(body, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: quality,
        [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    });

const CODINGS: readonly (readonly [name: string, compress: Compress, repeats: number])[] = [
  ...[1, 4, 6, 9].map((level) => [`gzip ${level}`, gzip(level), REPEATS] as const),
  ...[4, 5, 6, 7, 8, 9, 10, 11].map(
    (quality) => [`br ${quality}`, brotli(quality), quality >= 10 ? Math.ceil(REPEATS / 10) : REPEATS] as const,
  ),
];

async function body(source: string): Promise<Buffer> {
  if (!/^https?:/.test(source)) return readFile(source);
  const response = await fetch(source, { headers: { 'accept-encoding': 'identity' } });
  if (!response.ok) throw new Error(`${source}: ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

/** Blocks each coding's repeats are split into; the least loaded block is quoted. */
const BLOCKS = 5;

/**
 * CPU µs of one run of `compress` on `input`: the mean over the cheapest of BLOCKS blocks of
 * repeats, after a few unmeasured. Other processes inflate CPU time too (shared caches, the
 * other hyperthread), never deflate it, so the cheapest block is the closest to the cost.
 */
function cpuMicros(compress: Compress, input: Buffer, repeats: number): number {
  for (let i = 0; i < 3; i++) compress(input);
  const perBlock = Math.max(1, Math.round(repeats / BLOCKS));
  let cheapest = Number.POSITIVE_INFINITY;
  for (let block = 0; block < BLOCKS; block++) {
    const start = process.cpuUsage();
    for (let i = 0; i < perBlock; i++) compress(input);
    const used = process.cpuUsage(start);
    cheapest = Math.min(cheapest, (used.user + used.system) / perBlock);
  }
  return cheapest;
}

async function main(): Promise<void> {
  const sources = process.argv.slice(2);
  if (sources.length === 0) throw new Error('usage: node build/perf/compression-levels.js URL|FILE...');
  for (const source of sources) {
    const input = await body(source);
    console.log(`${source}: ${input.length} B`);
    console.log('  coding  |   bytes | of identity | CPU µs');
    for (const [name, compress, repeats] of CODINGS) {
      const output = compress(input);
      const micros = cpuMicros(compress, input, repeats);
      console.log(
        `  ${name.padEnd(7)} | ${String(output.length).padStart(7)} | ${`${((100 * output.length) / input.length).toFixed(1)} %`.padStart(11)} | ${micros.toFixed(0).padStart(6)}`,
      );
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
