/**
 * Reads what the load generators print into one shape, so that an HTTP run and a pgbench run
 * of the same SQL are compared field by field. Pure functions over text: the tests feed them
 * recorded output.
 */
import type { RunCosts } from './bench-costs.js';

/** One measured run of one scenario. Latencies in milliseconds. */
export interface RunResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  /** Socket errors (wrk: connect, read, write, timeout) or failed transactions (pgbench). */
  readonly errors: number;
  /** HTTP responses that were neither 2xx nor 3xx; 0 for pgbench. */
  readonly non2xx: number;
  /** Bytes the client read, headers included (wrk's "MB read", to its 2 decimals); absent for pgbench. */
  readonly bytesRead?: number;
  /** What the run cost the machine (perf/bench-costs.ts); absent for runs measured without. */
  readonly costs?: RunCosts;
}

const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

export class ParseError extends Error {
  override readonly name = 'ParseError';
}

const TIME_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** wrk prints durations as `812.00us`, `1.23ms`, `2.01s`, `1.50m`. */
function durationMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new ParseError(`not a wrk duration: "${text}"`);
  return Number(match[1]) * TIME_UNITS_MS[match[2]!]!;
}

function required(text: string, pattern: RegExp, what: string): RegExpExecArray {
  const match = pattern.exec(text);
  if (!match) throw new ParseError(`wrk output has no ${what}:\n${text}`);
  return match;
}

/** Parses the report of `wrk --latency` (Debian's wrk 4.1). */
export function parseWrk(output: string): RunResult {
  const [, requests, elapsed, size, unit] = required(
    output,
    /^\s*(\d+) requests in (\S+), ([\d.]+)(B|KB|MB|GB|TB) read/m,
    'request count',
  );
  const [, rps] = required(output, /^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec line');
  const [, maxLatency] = required(output, /^\s+Latency\s+\S+\s+\S+\s+(\S+)/m, 'latency line');
  const percentile = (p: number): number =>
    durationMs(required(output, new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm'), `${p}% latency`)[1]!);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    requests: Number(requests),
    seconds: durationMs(elapsed!) / 1000,
    rps: Number(rps),
    latencyMs: { p50: percentile(50), p90: percentile(90), p99: percentile(99), max: durationMs(maxLatency!) },
    errors: socket ? socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    bytesRead: Math.round(Number(size) * SIZE_UNITS[unit!]!),
  };
}

/** The value at quantile q (0..1) of ascending `sorted`, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * Latencies in microseconds from pgbench's per-transaction logs (`--log`): each line is
 * `client_id transaction_no time script_no time_epoch time_us [schedule_lag]`, `time` being the
 * transaction's latency; a failed transaction has `failed` there instead and is left out.
 */
export function pgbenchLatenciesUs(logs: readonly string[]): number[] {
  const latencies: number[] = [];
  for (const log of logs) {
    for (const line of log.split('\n')) {
      const fields = line.split(' ');
      if (fields.length < 6) continue;
      const latency = Number(fields[2]);
      if (Number.isFinite(latency)) latencies.push(latency);
    }
  }
  return latencies.sort((a, b) => a - b);
}

/** Parses pgbench's closing report (PostgreSQL 15+) together with its per-transaction logs. */
export function parsePgbench(output: string, logs: readonly string[]): RunResult {
  const processed = /^number of transactions actually processed: (\d+)/m.exec(output);
  const tps = /^tps = ([\d.]+) \(without initial connection time\)/m.exec(output);
  const duration = /^duration: (\d+) s/m.exec(output);
  if (!processed || !tps || !duration) throw new ParseError(`pgbench output has no closing report:\n${output}`);
  const failed = /^number of failed transactions: (\d+)/m.exec(output);
  const latencies = pgbenchLatenciesUs(logs);
  if (latencies.length === 0) throw new ParseError('the pgbench logs hold no transaction');
  const ms = (us: number): number => us / 1000;
  return {
    requests: Number(processed[1]),
    seconds: Number(duration[1]),
    rps: Number(tps[1]),
    latencyMs: {
      p50: ms(quantile(latencies, 0.5)),
      p90: ms(quantile(latencies, 0.9)),
      p99: ms(quantile(latencies, 0.99)),
      max: ms(latencies[latencies.length - 1]!),
    },
    errors: failed ? Number(failed[1]) : 0,
    non2xx: 0,
  };
}
