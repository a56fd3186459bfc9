import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseOptions, QUICK_OUT_DIR } from '../perf/bench-options.js';
import { ParseError, parsePgbench, parseWrk, pgbenchLatenciesUs, type RunResult } from '../perf/bench-parse.js';
import { captureStatement, pgbenchScript, protectLiterals } from '../perf/bench-pgbench.js';
import {
  markdown,
  RESULTS_PAGE,
  SECTION_END,
  SECTION_START,
  spliceSection,
  summarize,
  svgChart,
  verdict,
  type BenchReport,
  type ScenarioResult,
} from '../perf/bench-report.js';
import { READ_ROUTES, relevanceClock } from '../perf/bench-routes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Output recorded from real wrk and pgbench runs against this API (perf/bench.ts's own commands). */
const fixture = (name: string): string => readFileSync(path.join(root, 'test/fixtures/bench', name), 'utf8');
const PGBENCH_LOGS = ['pgbench-reviews.log.0', 'pgbench-reviews.log.1'].map(fixture);

t.test('wrk --latency reports become rps, percentiles in ms, errors and non-2xx', async (t) => {
  const styles = parseWrk(fixture('wrk-styles.txt'));
  t.same(styles, {
    requests: 4910,
    seconds: 3.07,
    rps: 1600.39,
    latencyMs: { p50: 29.73, p90: 190.16, p99: 567.19, max: 827.2 },
    errors: 0,
    non2xx: 0,
    bytesRead: Math.round(11.42 * 1024 ** 2),
  });
  t.equal(parseWrk(fixture('wrk-not-found.txt')).non2xx, 51690, 'every 404 counts as non-2xx');
  const overloaded = parseWrk(fixture('wrk-timeouts.txt'));
  t.equal(overloaded.errors, 3018, 'socket timeouts count as errors');
  t.equal(overloaded.latencyMs.max, 999.49);
});

t.test('wrk output without a report is refused, not read as zeros', async (t) => {
  t.throws(() => parseWrk('Usage: wrk <options> <url>\n'), ParseError);
});

t.test('pgbench reports become tps, failures, and percentiles from the per-transaction logs', async (t) => {
  const result = parsePgbench(fixture('pgbench-reviews.txt'), PGBENCH_LOGS);
  const latencies = pgbenchLatenciesUs(PGBENCH_LOGS);
  t.equal(latencies.length, 100, 'one latency per logged transaction');
  t.equal(result.rps, 3345.640085);
  t.equal(result.requests, 6481);
  t.equal(result.errors, 0);
  t.equal(result.latencyMs.max, Math.max(...latencies) / 1000);
  t.ok(
    result.latencyMs.p50 <= result.latencyMs.p90 &&
      result.latencyMs.p90 <= result.latencyMs.p99 &&
      result.latencyMs.p99 <= result.latencyMs.max,
  );
  t.throws(() => parsePgbench('pgbench: error: connection refused\n', PGBENCH_LOGS), ParseError);
});

t.test("a route's pgbench script is its own SQL with the id drawn at random", async (t) => {
  const reviews = READ_ROUTES.find((route) => route.name === 'reviews')!;
  const now = relevanceClock(new Date('2025-03-01T12:34:56Z'));
  const { script, defines } = pgbenchScript(await captureStatement(reviews, now), 900, 1000);
  t.match(script, /^\\set id random\(900, 1000\)\n/);
  t.match(script, /\\set p2 200\n/, 'count=200 stays a constant');
  t.match(script, /WHERE r\.product_id = :id AND NOT r\.reported/);
  t.notMatch(script, /\$\d/, 'no positional parameter is left');
  t.same(defines, ['p5=2025-03-01T12:00:00.000Z'], 'the relevance clock is passed as text');
  for (const route of READ_ROUTES) {
    const captured = await captureStatement(route, now);
    t.equal(
      protectLiterals(captured.text).replaceAll("'\n'", ''),
      captured.text,
      `${route.name}: literals only split, never changed`,
    );
    // Scanned from the start, each match is one whole literal (the script has no other quotes).
    const literals = pgbenchScript(captured, 1, 2).script.match(/'[^']*'/g) ?? [];
    t.same(
      literals.filter((literal) => /:\w/.test(literal)),
      [],
      `${route.name}: no :name left inside a literal`,
    );
  }
});

const run = (rps: number, p99: number, extra: Partial<RunResult> = {}): RunResult => ({
  requests: rps * 8,
  seconds: 8,
  rps,
  latencyMs: { p50: p99 / 4, p90: p99 / 2, p99, max: p99 * 2 },
  errors: 0,
  non2xx: 0,
  ...extra,
});

function quickReport(): BenchReport {
  const recorded = parseWrk(fixture('wrk-styles.txt'));
  const scenarios: ScenarioResult[] = [
    {
      id: 'hello',
      title: 'uWS hello-world, 2 workers',
      group: 'ceiling',
      tool: 'wrk',
      concurrency: 64,
      runs: [run(40_000, 5), run(44_000, 6), run(42_000, 7)],
    },
    {
      id: 'pgbench.styles',
      title: 'pgbench: styles SQL',
      group: 'database',
      tool: 'pgbench',
      concurrency: 16,
      runs: [parsePgbench(fixture('pgbench-reviews.txt'), PGBENCH_LOGS)],
    },
    {
      id: 'styles.uncached',
      title: 'GET /products/:id/styles, cache off',
      group: 'uncached',
      tool: 'wrk',
      concurrency: 64,
      runs: [recorded],
      ceiling: 'pgbench.styles',
      target: { kind: 'ratio', min: 0.7 },
    },
    {
      id: 'styles.cached',
      title: 'GET /products/:id/styles, cached',
      group: 'cached',
      tool: 'wrk',
      concurrency: 64,
      runs: [run(33_000, 9), run(34_000, 8), run(30_000, 12)],
      ceiling: 'hello',
      target: { kind: 'ratio', min: 0.75 },
    },
    {
      id: 'vcpu.mix',
      title: 'storefront mix, 1 CPU',
      group: 'vcpu',
      tool: 'wrk',
      concurrency: 64,
      runs: [run(12_000, 30, { non2xx: 1 })],
      target: { kind: 'level', minRps: 10_000, maxP99Ms: 50 },
    },
  ];
  return {
    startedAt: '2025-03-01T12:00:00Z',
    finishedAt: '2025-03-01T12:02:30Z',
    mode: 'quick',
    machine: {
      cpu: 'AMD EPYC',
      cores: 2,
      memoryGiB: 23.4,
      kernel: '6.1.0',
      loadAverageStart: [1.5, 2, 2.5],
      loadAverageEnd: [3, 2, 1],
      node: 'v20.20.2',
      tools: { wrk: '4.1.0', pgbench: '15.18' },
    },
    setup: { workers: 2, 'wrk connections': 64 },
    dataset: { scale: 0.01, products: 10_000 },
    scenarios,
    checks: [{ name: 'no stale read', passed: true, detail: '80 bodies compared' }],
    notes: ['MemoryMax not enforced'],
  };
}

t.test('runs are summarised as medians with their spread, and judged against their ceiling', async (t) => {
  const report = quickReport();
  const cached = report.scenarios.find((scenario) => scenario.id === 'styles.cached')!;
  const summary = summarize(cached.runs);
  t.same(summary.rps, { median: 33_000, min: 30_000, max: 34_000 });
  t.equal(summary.latencyMs.p99, 9, "p99 is the median of the runs' p99");
  t.equal(summary.latencyMs.max, 24, 'max is the largest of all runs');
  const judged = verdict(cached, report.scenarios);
  t.equal(judged.ratio, 33_000 / 42_000);
  t.equal(judged.met, true);
  const uncached = verdict(report.scenarios.find((scenario) => scenario.id === 'styles.uncached')!, report.scenarios);
  t.equal(uncached.met, false, "1,600 rps is under 0.7 of pgbench's 3,346 tps");
  t.match(uncached.text, /^MISSED: 0\.48 vs ≥ 0\.7$/);
  const level = verdict(report.scenarios.find((scenario) => scenario.id === 'vcpu.mix')!, report.scenarios);
  t.equal(level.met, false, 'a single non-2xx misses a level target');
});

t.test('the Markdown report has the machine, a row per scenario, the checks and the chart', async (t) => {
  const text = markdown(quickReport(), 'chart.svg');
  t.match(text, /^### Benchmark 2025-03-01T12:00:00Z \(quick\)/);
  t.match(
    text,
    /AMD EPYC, 2 cores, 23\.4 GiB, Linux 6\.1\.0; load average \(1\/5\/15 min\) 1\.50 \/ 2\.00 \/ 2\.50 at start/,
  );
  t.match(
    text,
    /\| GET \/products\/:id\/styles, cached \| wrk c64 \| 3 \| 33,000 \| 30,000–34,000 \| 2\.3 \| 4\.5 \| 9\.0 \| 24 \| 0 \| 0 \| 0\.79 × uWS hello-world, 2 workers \| met: 0\.79 vs ≥ 0\.75 \|/,
  );
  t.match(
    text,
    /\| GET \/products\/:id\/styles, cache off \| wrk c64 \| 1 \| 1,600 \| {2}\| 30 \| 190 \| 567 \| 827 \| 0 \| 0 \| 0\.48 × pgbench: styles SQL \| MISSED/,
  );
  t.match(text, /- PASS no stale read: 80 bodies compared/);
  t.match(text, /!\[Throughput and p99 latency per scenario\]\(chart\.svg\)/);
});

t.test('the SVG chart has a labelled bar per scenario in both panels', async (t) => {
  const svg = svgChart(quickReport());
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(svg, /<\/svg>\n$/);
  t.equal(svg.match(/<rect x=/g)?.length, 2 * quickReport().scenarios.length);
  t.match(svg, />GET \/products\/:id\/styles, cached</);
  t.match(svg, />33,000</);
});

t.test('the docs section between the markers is replaced, and nothing happens without them', async (t) => {
  const page = `# Benchmarks\n\n## Results\n\n${SECTION_START}\nold table\n${SECTION_END}\n\n## Next\n`;
  t.equal(
    spliceSection(page, 'new table\n'),
    `# Benchmarks\n\n## Results\n\n${SECTION_START}\nnew table\n${SECTION_END}\n\n## Next\n`,
  );
  t.equal(spliceSection('# Benchmarks\n', 'new table'), undefined);
  t.equal(spliceSection(`${SECTION_END}\n${SECTION_START}\n`, 'new table'), undefined, 'markers out of order');
  const shipped = readFileSync(path.join(root, RESULTS_PAGE), 'utf8');
  t.not(spliceSection(shipped, 'new table'), undefined, `${RESULTS_PAGE} carries both markers, in order`);
});

t.test('--quick is a small, short run that leaves the docs and the tree alone', async (t) => {
  const quick = parseOptions(['--quick'], root);
  t.equal(quick.scale, 0.01);
  t.equal(quick.runs, 1);
  t.equal(quick.seconds, 2);
  t.equal(quick.docs, false);
  t.equal(quick.outDir, QUICK_OUT_DIR);
  t.ok(path.relative(root, quick.outDir).startsWith('..'), 'quick results are written outside the repository');
  t.equal(parseOptions(['--quick', '--docs'], root).docs, true);
  t.equal(parseOptions(['--quick', '--out', 'x'], root).outDir, path.join(root, 'x'));
  const full = parseOptions([], root);
  t.same([full.scale, full.runs, full.seconds, full.docs], [0.1, 3, 8, true]);
  t.equal(full.outDir, path.join(root, 'perf/results'));
  t.equal(parseOptions(['--no-docs'], root).docs, false);
  t.throws(() => parseOptions(['--scenarios', 'cached,nope'], root), /unknown scenario group\(s\) nope/);
});

t.test('--replicas N builds N streaming replicas; none by default', async (t) => {
  t.equal(parseOptions([], root).replicas, 0);
  t.equal(parseOptions(['--replicas', '2'], root).replicas, 2);
  t.throws(() => parseOptions(['--replicas=-1'], root), /--replicas must be an integer of at least 0/);
  t.throws(() => parseOptions(['--replicas', 'two'], root), /--replicas must be an integer/);
});

t.test('the legacy baseline runs alone with --scenarios baseline, and in every full run', async (t) => {
  t.same([...parseOptions(['--quick', '--scenarios', 'baseline'], root).groups], ['baseline']);
  t.ok(parseOptions([], root).groups.has('baseline'));
});

t.test('a scenario paired with its ceiling round for round shows the spread of its rounds’ ratios', async (t) => {
  const scenario = (id: string, rps: number[], more: Partial<ScenarioResult> = {}): ScenarioResult => ({
    id,
    title: id,
    group: 'baseline',
    tool: 'wrk',
    concurrency: 64,
    runs: rps.map((value) => run(value, 5)),
    ...more,
  });
  const baseline = scenario('baseline.styles', [1_000, 800, 1_250]);
  const ours = scenario('baseline.styles.cached', [30_000, 32_000, 25_000], {
    ceiling: 'baseline.styles',
    paired: true,
    target: { kind: 'ratio', min: 20 },
  });
  const judged = verdict(ours, [baseline, ours]);
  t.equal(judged.ratio, 30_000 / 1_000);
  t.same(judged.ratioSpread, { min: 20, max: 40 }, 'rounds: 30, 40, 20');
  t.equal(verdict({ ...ours, paired: false }, [baseline, ours]).ratioSpread, undefined, 'unpaired runs have no rounds');
  t.match(
    markdown({ ...quickReport(), scenarios: [baseline, ours] }, 'chart.svg'),
    /\| 30\.00 \(20\.00–40\.00\) × baseline\.styles \| met: 30\.00 vs ≥ 20 \|/,
  );
});
