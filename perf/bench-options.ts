/** The command line of `npm run bench`. */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

export const SCENARIO_GROUPS = [
  'hello',
  'uncached',
  'cached',
  'encoding',
  'interactions',
  'mix',
  'overload',
  'vcpu',
  'baseline',
] as const;
export type ScenarioGroup = (typeof SCENARIO_GROUPS)[number];

export interface BenchOptions {
  readonly quick: boolean;
  readonly scale: number;
  readonly seconds: number;
  readonly runs: number;
  /** Seconds of each unmeasured warm-up round before a scenario's runs. */
  readonly warmSeconds: number;
  /** Warm-up rounds: at least min, then until throughput stops rising, at most max. */
  readonly warmRounds: { readonly min: number; readonly max: number };
  readonly connections: number;
  readonly threads: number;
  readonly workers: number;
  readonly poolSize: number;
  readonly overloadConnections: number;
  readonly overloadSeconds: number;
  readonly groups: ReadonlySet<ScenarioGroup>;
  readonly dataDir: string;
  /** Where the run's JSON, Markdown and SVG go: perf/results for a full run, outside the tree for --quick. */
  readonly outDir: string;
  /** Rewrite the results section of docs/benchmarks.md (RESULTS_PAGE). */
  readonly docs: boolean;
  readonly nginx: boolean;
  /**
   * Streaming replicas to build beside a primary (Debian's PostgreSQL 15, perf/replication/set.ts)
   * for the dataset and the storefront mix measured on the primary alone and with them; 0: none.
   */
  readonly replicas: number;
  /** A stored run's JSON whose outputs are written again instead of measuring. */
  readonly render: string | undefined;
  /** Where the cluster's processes write a V8 CPU profile each (node --cpu-prof), if anywhere. */
  readonly cpuProfileDir: string | undefined;
  /** Load pg_stat_statements into the embedded server and print each phase's costliest statements. */
  readonly statementStats: boolean;
}

/** A smoke run's results are nobody's record: they stay out of the repository. */
export const QUICK_OUT_DIR = path.join(os.tmpdir(), 'atelier-bench-quick');

export const USAGE = `npm run bench -- [options]

  --quick                   scale 0.01, one 2 s run per scenario: a smoke run in under 3 minutes
  --scale N                 dataset scale, generated and ingested if not loaded yet (default 0.1)
  --duration S              seconds per measured run (default 8)
  --runs N                  measured runs per scenario; medians are quoted (default 3)
  --connections N           wrk connections (default 64)
  --threads N               wrk threads (default: cores)
  --workers N               API workers, and hello-world workers (default: cores)
  --pool-size N             PG_POOL_SIZE per worker (default 8)
  --overload-connections N  connections of the overload run (default 16 x connections)
  --scenarios a,b,...       groups to run, of: ${SCENARIO_GROUPS.join(', ')} (default: all)
  --data-dir DIR            where each scale's dataset lives, DIR/scale-N (default /tmp/bench-atelier);
                            with DATABASE_URL set, that database is used instead of an embedded one
  --out DIR                 results directory (default perf/results; for --quick, ${QUICK_OUT_DIR})
  --no-docs                 do not write docs/benchmarks.md's results section (a full run writes it)
  --docs                    write it even for a --quick run
  --nginx                   put nginx (nginx.conf) in front of the cluster
  --replicas N              load the dataset into a Debian PostgreSQL 15 primary with N streaming
                            replicas on this machine (root), and measure the storefront mix on the
                            primary alone and with the replicas, interleaved (default 0: the
                            embedded PostgreSQL, no replicas)
  --render FILE.json        measure nothing: write the Markdown, the SVG (and the docs section)
                            of a stored run again, e.g. after a change to the report's format
  --cpu-prof DIR            every cluster process (primary and workers) writes a V8 CPU profile
                            into DIR when it stops (node --cpu-prof; open it in Chrome DevTools)
  --statement-stats         load pg_stat_statements into the embedded PostgreSQL and print, after
                            each phase, the statements that took most of its executor time
  --help`;

export class UsageError extends Error {}

function number(raw: string | undefined, name: string, fallback: number, integer = true, min = 1): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} of at least ${min}, got "${raw}"`);
  }
  return value;
}

/** The command line's flags; a malformed one is a UsageError. */
function flags(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean' },
        scale: { type: 'string' },
        duration: { type: 'string' },
        runs: { type: 'string' },
        connections: { type: 'string' },
        threads: { type: 'string' },
        workers: { type: 'string' },
        'pool-size': { type: 'string' },
        'overload-connections': { type: 'string' },
        scenarios: { type: 'string' },
        'data-dir': { type: 'string' },
        out: { type: 'string' },
        docs: { type: 'boolean' },
        'no-docs': { type: 'boolean' },
        nginx: { type: 'boolean' },
        replicas: { type: 'string' },
        render: { type: 'string' },
        'cpu-prof': { type: 'string' },
        'statement-stats': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function parseOptions(argv: readonly string[], root: string): BenchOptions {
  const values = flags(argv);
  if (values.help) throw new UsageError(USAGE);
  const quick = values.quick === true;
  const cores = os.availableParallelism();
  const seconds = number(values.duration, 'duration', quick ? 2 : 8);
  const connections = number(values.connections, 'connections', 64);
  const groups =
    values.scenarios === undefined ? [...SCENARIO_GROUPS] : values.scenarios.split(',').map((name) => name.trim());
  const unknown = groups.filter((name) => !(SCENARIO_GROUPS as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new UsageError(`unknown scenario group(s) ${unknown.join(', ')}; known: ${SCENARIO_GROUPS.join(', ')}`);
  return {
    quick,
    scale: number(values.scale, 'scale', quick ? 0.01 : 0.1, false, 0.0001),
    seconds,
    runs: number(values.runs, 'runs', quick ? 1 : 3),
    warmSeconds: quick ? 1 : Math.max(2, Math.round(seconds / 3)),
    warmRounds: quick ? { min: 1, max: 2 } : { min: 2, max: 8 },
    connections,
    threads: number(values.threads, 'threads', cores),
    workers: number(values.workers, 'workers', cores),
    poolSize: number(values['pool-size'], 'pool-size', 8),
    overloadConnections: number(values['overload-connections'], 'overload-connections', 16 * connections),
    overloadSeconds: Math.max(seconds, 3),
    groups: new Set(groups as ScenarioGroup[]),
    dataDir: path.resolve(values['data-dir'] ?? '/tmp/bench-atelier'),
    outDir:
      values.out !== undefined
        ? path.resolve(root, values.out)
        : quick
          ? QUICK_OUT_DIR
          : path.join(root, 'perf/results'),
    docs: values['no-docs'] ? false : values.docs === true || !quick,
    nginx: values.nginx === true,
    replicas: number(values.replicas, 'replicas', 0, true, 0),
    render: values.render === undefined ? undefined : path.resolve(values.render),
    cpuProfileDir: values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']),
    statementStats: values['statement-stats'] === true,
  };
}
