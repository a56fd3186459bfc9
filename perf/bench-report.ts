/**
 * Turns the measured runs into the three outputs (JSON, a Markdown table, an SVG chart) and the
 * results section of docs/benchmarks.md. Pure functions of the results, so the tests build reports from
 * recorded runs.
 */
import type { RunResult } from './bench-parse.js';

export type Group =
  | 'ceiling'
  | 'database'
  | 'baseline'
  | 'uncached'
  | 'cached'
  | 'encoding'
  | 'write'
  | 'mix'
  | 'overload'
  | 'vcpu';

export type Target =
  /** Median rps at least `min` times the median rps of the ceiling scenario. */
  | { readonly kind: 'ratio'; readonly min: number }
  /** Absolute service level: median rps, median p99, and no error or non-2xx at all. */
  | { readonly kind: 'level'; readonly minRps: number; readonly maxP99Ms: number };

export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly group: Group;
  readonly tool: 'wrk' | 'pgbench';
  /** wrk connections or pgbench clients. */
  readonly concurrency: number;
  readonly runs: readonly RunResult[];
  /** The id of the scenario this one's throughput is a ratio to. */
  readonly ceiling?: string;
  /**
   * Its runs were measured round for round with its ceiling's (Session.interleave): run i and the
   * ceiling's run i shared a round, so their ratio is that round's.
   */
  readonly paired?: boolean;
  readonly target?: Target;
  readonly note?: string;
}

export interface Summary {
  readonly rps: { readonly median: number; readonly min: number; readonly max: number };
  /** Medians over the runs, except max, the largest of all. */
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly p99Spread: { readonly min: number; readonly max: number };
  /** Totals over the runs. */
  readonly errors: number;
  readonly non2xx: number;
}

export interface Verdict {
  readonly ratio?: number;
  /** The lowest and highest ratio of a round, when the scenario was paired with its ceiling over several. */
  readonly ratioSpread?: { readonly min: number; readonly max: number };
  /** Undefined when the scenario has no target. */
  readonly met?: boolean;
  readonly text: string;
}

export interface Check {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly loadAverageStart: readonly number[];
  readonly loadAverageEnd?: readonly number[];
  readonly node: string;
  readonly tools: Readonly<Record<string, string>>;
}

export interface BenchReport {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly mode: 'quick' | 'full';
  readonly machine: Machine;
  readonly setup: Readonly<Record<string, string | number | boolean>>;
  readonly dataset: Readonly<Record<string, string | number>>;
  readonly scenarios: readonly ScenarioResult[];
  readonly checks: readonly Check[];
  readonly notes: readonly string[];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function summarize(runs: readonly RunResult[]): Summary {
  const rps = runs.map((run) => run.rps);
  const p99 = runs.map((run) => run.latencyMs.p99);
  return {
    rps: { median: median(rps), min: Math.min(...rps), max: Math.max(...rps) },
    latencyMs: {
      p50: median(runs.map((run) => run.latencyMs.p50)),
      p90: median(runs.map((run) => run.latencyMs.p90)),
      p99: median(p99),
      max: Math.max(...runs.map((run) => run.latencyMs.max)),
    },
    p99Spread: { min: Math.min(...p99), max: Math.max(...p99) },
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
  };
}

export function verdict(scenario: ScenarioResult, all: readonly ScenarioResult[]): Verdict {
  const summary = summarize(scenario.runs);
  const ceiling = all.find((other) => other.id === scenario.ceiling);
  const ratio =
    ceiling && ceiling.runs.length > 0 ? summary.rps.median / summarize(ceiling.runs).rps.median : undefined;
  const rounds =
    scenario.paired && ceiling && scenario.runs.length > 1 && ceiling.runs.length === scenario.runs.length
      ? scenario.runs.map((run, index) => run.rps / ceiling.runs[index]!.rps)
      : [];
  const ratios = {
    ...(ratio === undefined ? {} : { ratio }),
    ...(rounds.length > 0 ? { ratioSpread: { min: Math.min(...rounds), max: Math.max(...rounds) } } : {}),
  };
  const target = scenario.target;
  if (target?.kind === 'ratio') {
    if (ratio === undefined) return { text: `no ceiling measured (target ≥ ${target.min})` };
    const met = ratio >= target.min;
    return { ...ratios, met, text: `${met ? 'met' : 'MISSED'}: ${fixed(ratio, 2)} vs ≥ ${target.min}` };
  }
  if (target?.kind === 'level') {
    const clean = summary.errors === 0 && summary.non2xx === 0;
    const met = summary.rps.median >= target.minRps && summary.latencyMs.p99 < target.maxP99Ms && clean;
    const text = `${met ? 'met' : 'MISSED'}: ≥ ${thousands(target.minRps)} rps, p99 < ${target.maxP99Ms} ms, 0 errors`;
    return { ...ratios, met, text };
  }
  return { ...ratios, text: '' };
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

export function thousands(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–';
}

/** Milliseconds with the precision a reader can use: 0.42, 3.1, 47, 1200. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value < 1) return value.toFixed(2);
  if (value < 10) return value.toFixed(1);
  return Math.round(value).toString();
}

function machineLine(machine: Machine): string {
  const load = (values: readonly number[]): string => values.map((value) => value.toFixed(2)).join(' / ');
  const tools = Object.entries(machine.tools)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ');
  return (
    `${machine.cpu}, ${machine.cores} cores, ${fixed(machine.memoryGiB, 1)} GiB, Linux ${machine.kernel}; ` +
    `load average (1/5/15 min) ${load(machine.loadAverageStart)} at start` +
    (machine.loadAverageEnd ? `, ${load(machine.loadAverageEnd)} at end` : '') +
    `; node ${machine.node}, ${tools}`
  );
}

function keyValues(record: Readonly<Record<string, string | number | boolean>>): string {
  const text = (value: string | number | boolean): string =>
    typeof value === 'number' && Number.isInteger(value) ? thousands(value) : String(value);
  return Object.entries(record)
    .map(([key, value]) => `${key} ${text(value)}`)
    .join(', ');
}

/**
 * The Markdown report. `chartPath` is where the SVG is, relative to where the Markdown is read
 * (the results directory, or docs/ for the results section).
 */
export function markdown(report: BenchReport, chartPath: string): string {
  const rows = report.scenarios.map((scenario) => {
    const summary = summarize(scenario.runs);
    const judged = verdict(scenario, report.scenarios);
    const spread = scenario.runs.length > 1 ? `${thousands(summary.rps.min)}–${thousands(summary.rps.max)}` : '';
    const ceiling = report.scenarios.find((other) => other.id === scenario.ceiling);
    const rounds = judged.ratioSpread
      ? ` (${fixed(judged.ratioSpread.min, 2)}–${fixed(judged.ratioSpread.max, 2)})`
      : '';
    const ratio =
      judged.ratio === undefined ? '' : `${fixed(judged.ratio, 2)}${rounds} × ${ceiling?.title ?? scenario.ceiling}`;
    return (
      `| ${scenario.title} | ${scenario.tool} c${scenario.concurrency} | ${scenario.runs.length} | ${thousands(summary.rps.median)} | ${spread} | ` +
      `${ms(summary.latencyMs.p50)} | ${ms(summary.latencyMs.p90)} | ${ms(summary.latencyMs.p99)} | ${ms(summary.latencyMs.max)} | ` +
      `${summary.errors} | ${summary.non2xx} | ${ratio} | ${judged.text} |`
    );
  });
  const lines = [
    `### Benchmark ${report.startedAt} (${report.mode})`,
    '',
    `- Machine: ${machineLine(report.machine)}.`,
    `- Dataset: ${keyValues(report.dataset)}.`,
    `- Setup: ${keyValues(report.setup)}.`,
    '- rps and latencies are medians over the runs (max: the largest seen), spread is the min–max rps; errors (socket ' +
      'errors, or failed pgbench transactions) and non-2xx are totals over the runs. A ratio compares median rps with ' +
      "the ceiling's, measured in the same run, interleaved with it; in brackets, the lowest and highest ratio of a " +
      'round, where the scenario and its ceiling alternated run for run.',
    '',
    '| Scenario | Load | Runs | rps | Spread | p50 ms | p90 ms | p99 ms | max ms | Errors | Non-2xx | Ratio to ceiling | Target |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|',
    ...rows,
    '',
    ...(report.checks.length > 0
      ? [
          'Checks:',
          '',
          ...report.checks.map((check) => `- ${check.passed ? 'PASS' : 'FAIL'} ${check.name}: ${check.detail}`),
          '',
        ]
      : []),
    ...(report.notes.length > 0 ? ['Notes:', '', ...report.notes.map((note) => `- ${note}`), ''] : []),
    `![Throughput and p99 latency per scenario](${chartPath})`,
    '',
  ];
  return lines.join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Position of `value` on a log10 axis from `low` to `high`, mapped onto [0, width]. */
function logScale(value: number, low: number, high: number, width: number): number {
  const clamped = Math.min(Math.max(value, low), high);
  return ((Math.log10(clamped) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * width;
}

/** The powers of ten around `values`, at least one decade apart. */
function decades(values: readonly number[]): [number, number] {
  const finite = values.filter((value) => Number.isFinite(value) && value > 0);
  if (finite.length === 0) return [1, 10];
  const low = 10 ** Math.floor(Math.log10(Math.min(...finite)));
  const high = Math.max(10 ** Math.ceil(Math.log10(Math.max(...finite))), low * 10);
  return [low, high];
}

const GROUP_COLOURS: Record<Group, string> = {
  ceiling: '#7f7f7f',
  database: '#8c564b',
  baseline: '#bcbd22',
  uncached: '#d62728',
  cached: '#2ca02c',
  encoding: '#e377c2',
  write: '#9467bd',
  mix: '#1f77b4',
  overload: '#ff7f0e',
  vcpu: '#17becf',
};

/**
 * A two-panel horizontal bar chart, one row per scenario: throughput (median, with a min–max
 * whisker) and p99 latency (median, with its min–max), both on log axes since the ceilings and
 * the database paths are orders of magnitude apart.
 */
export function svgChart(report: BenchReport): string {
  const summaries = report.scenarios.map((scenario) => summarize(scenario.runs));
  const labelWidth = 370;
  const panelWidth = 300;
  const gap = 40;
  const rowHeight = 18;
  const top = 46;
  const height = top + rowHeight * report.scenarios.length + 30;
  const width = labelWidth + 2 * panelWidth + gap + 20;
  const rpsRange = decades(summaries.flatMap((summary) => [summary.rps.min, summary.rps.max]));
  const p99Range = decades(summaries.flatMap((summary) => [summary.p99Spread.min, summary.p99Spread.max]));
  const panels = [
    {
      title: 'throughput (requests/s, log scale)',
      x: labelWidth,
      range: rpsRange,
      value: (s: Summary) => s.rps.median,
      low: (s: Summary) => s.rps.min,
      high: (s: Summary) => s.rps.max,
      format: thousands,
    },
    {
      title: 'p99 latency (ms, log scale)',
      x: labelWidth + panelWidth + gap,
      range: p99Range,
      value: (s: Summary) => s.latencyMs.p99,
      low: (s: Summary) => s.p99Spread.min,
      high: (s: Summary) => s.p99Spread.max,
      format: ms,
    },
  ];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="16" font-size="13" font-weight="bold">${escapeXml(`Atelier API benchmark, ${report.startedAt} (${report.mode})`)}</text>`,
  ];
  for (const panel of panels) {
    const [low, high] = panel.range;
    parts.push(`<text x="${panel.x}" y="${top - 20}" font-weight="bold">${escapeXml(panel.title)}</text>`);
    for (let tick = low; tick <= high; tick *= 10) {
      const x = panel.x + logScale(tick, low, high, panelWidth);
      parts.push(`<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${height - 26}" stroke="#ddd"/>`);
      parts.push(
        `<text x="${x.toFixed(1)}" y="${height - 12}" text-anchor="middle" fill="#555">${escapeXml(panel.format(tick))}</text>`,
      );
    }
  }
  report.scenarios.forEach((scenario, index) => {
    const summary = summaries[index]!;
    const y = top + index * rowHeight;
    parts.push(`<text x="${labelWidth - 8}" y="${y + 12}" text-anchor="end">${escapeXml(scenario.title)}</text>`);
    for (const panel of panels) {
      const [low, high] = panel.range;
      const bar = logScale(panel.value(summary), low, high, panelWidth);
      const from = panel.x + logScale(panel.low(summary), low, high, panelWidth);
      const to = panel.x + logScale(panel.high(summary), low, high, panelWidth);
      parts.push(
        `<rect x="${panel.x}" y="${y + 3}" width="${Math.max(bar, 1).toFixed(1)}" height="${rowHeight - 6}" fill="${GROUP_COLOURS[scenario.group]}"/>`,
      );
      parts.push(
        `<line x1="${from.toFixed(1)}" y1="${y + rowHeight / 2}" x2="${to.toFixed(1)}" y2="${y + rowHeight / 2}" stroke="#000"/>`,
      );
      parts.push(
        `<text x="${(panel.x + bar + 4).toFixed(1)}" y="${y + 12}" fill="#222">${escapeXml(panel.format(panel.value(summary)))}</text>`,
      );
    }
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}

/** The page whose marked section a full run rewrites, relative to the repository root. */
export const RESULTS_PAGE = 'docs/benchmarks.md';
export const SECTION_START = '<!-- bench:start -->';
export const SECTION_END = '<!-- bench:end -->';

/** The page with `section` between the markers; undefined when the markers are not both there, in order. */
export function spliceSection(page: string, section: string): string | undefined {
  const start = page.indexOf(SECTION_START);
  const end = page.indexOf(SECTION_END);
  if (start === -1 || end === -1 || end < start) return undefined;
  return `${page.slice(0, start + SECTION_START.length)}\n${section.trimEnd()}\n${page.slice(end)}`;
}
