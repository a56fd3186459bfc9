/**
 * `npm run capacity`: the capacity model of docs/capacity.md, fed with the costs a benchmark run
 * measured on this machine (perf/results/*.json, written by `npm run bench`, whose runs carry
 * their CPU, cache and WAL costs: perf/bench-costs.ts). Prints, as Markdown tables:
 *
 * 1. the measured costs: each read route's cache hit and miss, and the mix's average write;
 * 2. the check: for every run of the storefront mix in the --check reports, the rps the model
 *    predicts for that box (cores, workers, what other processes took meanwhile) beside the rps
 *    measured, and the CPU per request predicted beside the CPU measured;
 * 3. the plan: instances, replicas, primary and nginx for 10 k, 100 k and 1 M rps of the mix.
 *
 * Usage: npm run capacity -- [--costs FILE.json] [--check FILE.json]... [--hit-rate H]
 *   [--write-share S] [--cores-per-instance N] [--cores-per-replica N] [--cores-primary N]
 *   [--cores-per-nginx N] [--utilisation U] [--nginx-us N] [--primary-fill-share F]
 * Without --costs: the newest report in perf/results with route costs; without --check: every
 * report there with costs of the mix.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  averageRead,
  boxRps,
  type Box,
  type Costs,
  type Fleet,
  mixDemand,
  plan,
  type RequestCost,
  type RouteCosts,
  writeResidual,
} from './capacity-model.js';
import type { RunResult } from './bench-parse.js';
import { ROOT } from './bench-processes.js';
import { median, type BenchReport, type ScenarioResult } from './bench-report.js';
import { READ_ROUTES } from './bench-routes.js';

const RESULTS = path.join(ROOT, 'perf/results');
const TARGETS = [10_000, 100_000, 1_000_000];
/**
 * The mix's runs the check predicts, and how the bench placed their processes. The --replicas
 * runs (mix.cached.primary, mix.cached.replicas-N, and the same cache off; reads only) put the replicas on the
 * same box: they add no cores, so the model predicts both alike, and a replica's replay is
 * PostgreSQL's CPU like any other.
 */
const MIX_RUNS: readonly { readonly id: RegExp; readonly layout: Box['layout'] }[] = [
  { id: /^mix\.cached\.reads$/, layout: 'shared' },
  { id: /^mix\.cached$/, layout: 'shared' },
  { id: /^mix\.(cached|uncached)\.(primary|replicas-\d+)$/, layout: 'shared' },
  { id: /^vcpu\.mix$/, layout: 'one-cpu' },
];

/** The report's scenarios of the mix that `id` matches. */
const mixRuns = (report: BenchReport, id: RegExp): string[] =>
  report.scenarios.map((each) => each.id).filter((each) => id.test(each));
/**
 * nginx's CPU per proxied request, from perf/nginx-bench.ts (docs/benchmarks.md, "nginx in front
 * of the API": 40–56 µs cached, 74–85 µs uncached, on this machine): the bench itself runs without nginx.
 */
const NGINX_US = 50;

interface Totals extends RequestCost {
  readonly requests: number;
  readonly seconds: number;
  readonly hits: number;
  readonly misses: number;
  readonly walBytes: number;
  readonly machine: number;
}

type CostedRun = RunResult & { readonly costs: NonNullable<RunResult['costs']> };

function costedRuns(scenario: ScenarioResult | undefined): CostedRun[] {
  return (scenario?.runs ?? []).filter((run): run is CostedRun => run.costs !== undefined);
}

function sum(runs: readonly CostedRun[]): Totals {
  const add = (pick: (run: CostedRun) => number | undefined): number =>
    runs.reduce((total, run) => total + (pick(run) ?? 0), 0);
  return {
    requests: add((run) => run.requests),
    seconds: add((run) => run.seconds),
    api: add((run) => run.costs.apiCpuSeconds),
    database: add((run) => run.costs.databaseCpuSeconds),
    client: add((run) => run.costs.clientCpuSeconds),
    bytes: add((run) => run.bytesRead),
    hits: add((run) => run.costs.cacheHits),
    misses: add((run) => run.costs.cacheMisses),
    walBytes: add((run) => run.costs.walBytes),
    machine: add((run) => run.costs.machineCpuSeconds),
  };
}

/**
 * CPU seconds per second that processes other than the API, PostgreSQL and wrk took during the
 * run: of the whole machine; for the 1-CPU layout, of CPU 0 (the API's and PostgreSQL's), scaled
 * to the machine's cores as Box.others is. The readings span the run and wrk's start and end
 * (wallSeconds), while the stack idles and the others take what they want: `most` averages
 * over the whole span and so overstates the others during the run, `least` gives them every
 * core of the start and end and only the rest during the run. Reports from before wallSeconds
 * was recorded give the same for both, over wrk's own seconds: too much.
 */
function othersTook(run: CostedRun, layout: Box['layout']): { most: number; least: number } {
  const { costs } = run;
  const wall = costs.wallSeconds ?? run.seconds;
  const stack = costs.apiCpuSeconds + (costs.databaseCpuSeconds ?? 0);
  const cpu0 = costs.cpuBusySeconds?.[0];
  const [busy, cpus, ours] =
    layout === 'one-cpu' && cpu0 !== undefined
      ? [cpu0, 1, stack]
      : [costs.machineCpuSeconds, costs.cpuBusySeconds?.length ?? 1, stack + costs.clientCpuSeconds];
  const scale = layout === 'one-cpu' ? (costs.cpuBusySeconds?.length ?? 1) : 1;
  return {
    most: (Math.max(0, busy - ours) / wall) * scale,
    least: (Math.max(0, busy - ours - cpus * (wall - run.seconds)) / run.seconds) * scale,
  };
}

function perRequest(totals: Totals): RequestCost {
  const n = Math.max(1, totals.requests);
  return { api: totals.api / n, database: totals.database / n, client: totals.client / n, bytes: totals.bytes / n };
}

const scenario = (report: BenchReport, id: string): ScenarioResult | undefined =>
  report.scenarios.find((candidate) => candidate.id === id);

/** Each route's hit and miss costs, and the write left over from the mix with writes; undefined if the report lacks them. */
function costsOf(report: BenchReport): Costs | undefined {
  const routes: RouteCosts[] = [];
  for (const route of READ_ROUTES) {
    const [hit, miss] = [`${route.name}.cached`, `${route.name}.uncached`].map((id) =>
      costedRuns(scenario(report, id)),
    );
    if (hit!.length === 0 || miss!.length === 0) return undefined;
    routes.push({ name: route.name, hit: perRequest(sum(hit!)), miss: perRequest(sum(miss!)) });
  }
  const mix = sum(costedRuns(scenario(report, 'mix.cached')));
  if (mix.requests === 0) return undefined;
  return { routes, write: writeResidual(averageRead(routes), mix, mix, writesOf(mix)) };
}

/** Requests that were not cache lookups: the mix's writes (every GET it issues is a cached route). */
function writesOf(totals: Totals): number {
  return Math.max(0, totals.requests - totals.hits - totals.misses);
}

async function reports(): Promise<{ file: string; report: BenchReport }[]> {
  const files = (await readdir(RESULTS)).filter((name) => name.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (name) => ({
      file: path.join(RESULTS, name),
      report: JSON.parse(await readFile(path.join(RESULTS, name), 'utf8')) as BenchReport,
    })),
  );
}

const us = (seconds: number): string => (seconds * 1e6).toFixed(1);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const row = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
const table = (head: readonly string[], rows: readonly (readonly (string | number)[])[]): string =>
  [row(head), row(head.map((_, i) => (i === 0 ? '---' : '--:'))), ...rows.map(row)].join('\n');

function printCosts(costs: Costs, file: string): void {
  console.log(`## Costs measured (${path.relative(ROOT, file)})\n`);
  console.log(
    table(
      ['route', 'hit: API µs', 'hit: wrk µs', 'hit: bytes', 'miss: API µs', 'miss: PostgreSQL µs', 'miss: wrk µs'],
      costs.routes.map((route) => [
        route.name,
        us(route.hit.api),
        us(route.hit.client),
        int(route.hit.bytes),
        us(route.miss.api),
        us(route.miss.database),
        us(route.miss.client),
      ]),
    ),
  );
  const { write } = costs;
  console.log(
    `\nThe mix's average write (left over once its hits and misses are priced as above): API ${us(write.api)} µs, ` +
      `PostgreSQL ${us(write.database)} µs, wrk ${us(write.client)} µs, ${int(write.walBytes)} WAL bytes.\n`,
  );
}

function printCheck(costs: Costs, costsFile: string, checked: readonly { file: string; report: BenchReport }[]): void {
  console.log('## Check: predicted vs measured on this box\n');
  const rows: string[][] = [];
  for (const { file, report } of checked) {
    for (const { id, layout } of MIX_RUNS.flatMap((run) => mixRuns(report, run.id).map((id) => ({ ...run, id })))) {
      const runs = costedRuns(scenario(report, id));
      if (runs.length === 0) continue;
      const totals = sum(runs);
      const lookups = totals.hits + totals.misses;
      const hitRate = lookups > 0 ? totals.hits / lookups : 0;
      const writeShare = writesOf(totals) / Math.max(1, totals.requests);
      const demand = mixDemand(costs, hitRate, writeShare);
      const took = runs.map((run) => othersTook(run, layout));
      const [most, least] = [median(took.map((t) => t.most)), median(took.map((t) => t.least))];
      const box = {
        cores: report.machine.cores,
        workers: layout === 'one-cpu' ? 1 : Number(report.setup.workers),
        layout,
      };
      const measured = perRequest(totals);
      const fitted = id === 'mix.cached' && file === costsFile ? ' (its write cost fitted on this run)' : '';
      const spread =
        layout === 'one-cpu' && runs.some((run) => run.costs.cpuBusySeconds === undefined)
          ? ' (no per-CPU reading: others assumed spread over every CPU)'
          : '';
      rows.push([
        `${path.basename(file, '.json')} ${id}${fitted}${spread}`,
        `${box.workers} worker${box.workers > 1 ? 's' : ''}, ${layout === 'one-cpu' ? '1 CPU + wrk on the other' : `${box.cores} cores shared`}`,
        hitRate.toFixed(3),
        writeShare.toFixed(3),
        int(boxRps(demand, { ...box, others: 0 })),
        most === least ? most.toFixed(2) : `${most.toFixed(2)}–${least.toFixed(2)}`,
        most === least
          ? int(boxRps(demand, { ...box, others: most }))
          : `${int(boxRps(demand, { ...box, others: most }))}–${int(boxRps(demand, { ...box, others: least }))}`,
        int(median(runs.map((run) => run.rps))),
        `${us(demand.api)} / ${us(measured.api)}`,
        `${us(demand.readDatabase + demand.writeDatabase)} / ${us(measured.database)}`,
        `${us(demand.client)} / ${us(measured.client)}`,
      ]);
    }
  }
  console.log(
    table(
      [
        'run',
        'box',
        'hit rate',
        'write share',
        'predicted rps, idle box',
        'cores others took',
        'predicted rps',
        'measured rps (median)',
        'API µs/req pred. / meas.',
        'PostgreSQL µs/req pred. / meas.',
        'wrk µs/req pred. / meas.',
      ],
      rows,
    ),
  );
  console.log('');
}

function printPlan(costs: Costs, hitRate: number, writeShare: number, fleet: Fleet): void {
  const demand = mixDemand(costs, hitRate, writeShare);
  console.log(
    `## Plan: the storefront mix at hit rate ${hitRate.toFixed(3)}, ${(writeShare * 100).toFixed(1)} % writes\n\n` +
      `Per request: API ${us(demand.api)} µs, PostgreSQL reads ${us(demand.readDatabase)} µs, writes ` +
      `${us(demand.writeDatabase)} µs, nginx ${us(fleet.nginxSeconds)} µs, ${int(demand.bytes)} bytes out, ` +
      `${demand.walBytes.toFixed(1)} WAL bytes. Machines: instances of ${fleet.coresPerInstance} cores, ` +
      `replicas of ${fleet.coresPerReplica}, a primary of ${fleet.coresPrimary}, nginx hosts of ${fleet.coresPerNginx}, ` +
      `each planned ${Math.round(fleet.utilisation * 100)} % busy; ${fleet.primaryFillShare * 100} % of misses filled from the primary.\n`,
  );
  const plans = TARGETS.map((rps) => plan(demand, rps, fleet));
  console.log(
    table(
      [
        'mix rps',
        'API cores',
        'instances',
        'replica cores',
        'replicas',
        'primary cores',
        'primary caps the mix at (rps)',
        'nginx cores',
        'nginx hosts',
        'responses Gbit/s',
        'WAL MB/s (to each replica)',
      ],
      plans.map((p) => [
        int(p.rps),
        p.apiCores.toFixed(1),
        p.instances,
        p.replicaCores.toFixed(1),
        p.replicas,
        p.primaryCores.toFixed(2),
        `${int(p.primaryCapRps)}${p.primaryCapRps < p.rps ? ' **over**' : ''}`,
        p.nginxCores.toFixed(1),
        p.nginxHosts,
        (p.responseBitsPerSecond / 1e9).toFixed(2),
        (p.walBytesPerSecond / 1e6).toFixed(2),
      ]),
    ),
  );
}

function numberFlag(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number ≥ 0, got "${raw}"`);
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      costs: { type: 'string' },
      check: { type: 'string', multiple: true },
      'hit-rate': { type: 'string' },
      'write-share': { type: 'string' },
      'cores-per-instance': { type: 'string' },
      'cores-per-replica': { type: 'string' },
      'cores-primary': { type: 'string' },
      'cores-per-nginx': { type: 'string' },
      utilisation: { type: 'string' },
      'nginx-us': { type: 'string' },
      'primary-fill-share': { type: 'string' },
    },
    strict: true,
  });
  const load = async (file: string): Promise<{ file: string; report: BenchReport }> => ({
    file: path.resolve(file),
    report: JSON.parse(await readFile(file, 'utf8')) as BenchReport,
  });
  const stored = values.costs === undefined || values.check === undefined ? await reports() : [];
  const costed = values.costs
    ? await load(values.costs)
    : stored.filter(({ report }) => costsOf(report) !== undefined).at(-1);
  if (!costed) throw new Error('no benchmark report with route costs: run `npm run bench` (perf/bench-costs.ts) first');
  const costs = costsOf(costed.report);
  if (!costs) throw new Error(`${costed.file} has no costs for every route's cached and uncached runs and the mix`);
  const checked = values.check
    ? await Promise.all(values.check.map(load))
    : stored.filter(({ report }) =>
        MIX_RUNS.some(({ id }) => mixRuns(report, id).some((each) => costedRuns(scenario(report, each)).length > 0)),
      );
  printCosts(costs, costed.file);
  printCheck(costs, costed.file, checked);
  const mix = sum(costedRuns(scenario(costed.report, 'mix.cached')));
  printPlan(
    costs,
    numberFlag(values['hit-rate'], 'hit-rate', mix.hits / Math.max(1, mix.hits + mix.misses)),
    numberFlag(values['write-share'], 'write-share', writesOf(mix) / Math.max(1, mix.requests)),
    {
      coresPerInstance: numberFlag(values['cores-per-instance'], 'cores-per-instance', 8),
      coresPerReplica: numberFlag(values['cores-per-replica'], 'cores-per-replica', 8),
      coresPrimary: numberFlag(values['cores-primary'], 'cores-primary', 8),
      coresPerNginx: numberFlag(values['cores-per-nginx'], 'cores-per-nginx', 4),
      utilisation: numberFlag(values.utilisation, 'utilisation', 0.6),
      nginxSeconds: numberFlag(values['nginx-us'], 'nginx-us', NGINX_US) / 1e6,
      primaryFillShare: numberFlag(values['primary-fill-share'], 'primary-fill-share', 0),
    },
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
