/**
 * `npm run generate -- --scale S --out DIR [--seed N]`: writes the 14 legacy-format CSV files
 * and DIR/manifest.json (see ingest/generate.ts). Exit codes: 0 done, 1 failed, 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { textTable } from '../lib/table.js';
import { DEFAULT_SEED, FILE_NAMES, generate, type GenerateOptions, type GenerateResult } from './generate.js';

const USAGE = `usage: npm run generate -- --scale S --out DIR [--seed N] [--quiet]

  --scale S   size relative to the real export: 1 is ~70 M rows (~7 GB), 0.001 ~1,000 products
  --out DIR   directory to write the CSV files and manifest.json into (created if missing)
  --seed N    integer seed; the same seed and scale give identical files (default ${DEFAULT_SEED})
  --quiet     no progress on stderr
`;

class UsageError extends Error {}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;
const INTEGER = /^-?\d+$/;

function parseOptions(argv: string[]): GenerateOptions {
  let values: { scale?: string; out?: string; seed?: string; quiet: boolean; help: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        scale: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (values.scale === undefined) throw new UsageError('--scale is required');
  const scale = Number(values.scale);
  if (!DECIMAL.test(values.scale) || !(scale > 0) || !Number.isFinite(scale)) {
    throw new UsageError(`--scale must be a positive number, got "${values.scale}"`);
  }
  if (values.out === undefined || values.out.trim() === '') throw new UsageError('--out is required');
  let seed = DEFAULT_SEED;
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    if (!INTEGER.test(values.seed) || !Number.isSafeInteger(seed)) {
      throw new UsageError(`--seed must be an integer, got "${values.seed}"`);
    }
  }
  return { scale, out: values.out, seed, progress: !values.quiet };
}

function formatTable(result: GenerateResult): string {
  const rows = FILE_NAMES.map((name) => {
    const stats = result.files[name]!;
    const dirt = Object.entries(stats.dirt)
      .map(([kind, count]) => `${kind}=${count}`)
      .join(' ');
    return [name, stats.rows.toLocaleString('en-US'), dirt];
  });
  const total = FILE_NAMES.reduce((sum, name) => sum + result.files[name]!.rows, 0);
  rows.push(['total', total.toLocaleString('en-US'), '']);
  const lines = textTable(rows, ['left', 'right', 'left']);
  lines.push(`${result.seconds.toFixed(1)} s, ${Math.round(total / result.seconds).toLocaleString('en-US')} rows/s`);
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  let options: GenerateOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`generate: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  const result = await generate(options);
  process.stdout.write(formatTable(result));
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`generate failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
