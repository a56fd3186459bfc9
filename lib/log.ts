/**
 * One JSON object per line (pino), so that the primary's and the workers' lines (they share the
 * terminal or the journal) can be filtered by pid and event with ordinary tools (jq, grep):
 * `{"level":"info","time":"2025-…Z","role":"worker","pid":123,"event":"worker_listening",…}`.
 */
import { pino } from 'pino';
import { type LogLevel, logLevel } from './config.js';

/** An Error is written by pino's error serialiser: type, message, stack and cause. */
export type LogValue = string | number | boolean | null | undefined | Error;
export type LogFields = Readonly<Record<string, LogValue>>;

export interface Log {
  info(event: string, fields?: LogFields): void;
  /** warn and error go to stderr, so that a supervisor showing only stderr still shows trouble. */
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

/**
 * Synchronous writes: a process that logs and then calls process.exit (the primary on a failed
 * start, a drained worker) must not lose the line. `dedupe` sends each line to the one stream of
 * the highest level it reaches: info and below to stdout, warn and above to stderr.
 */
function rootLogger(level: LogLevel): pino.Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // The event is the message; line() puts it first among the fields, where pino would put
      // its msg last, and naming it here keeps pino from adding a msg of its own (from err).
      messageKey: 'event',
      // line() serialises Errors whatever their field; pino's own pass over `err` would serialise
      // the result again.
      serializers: { err: (value: unknown) => value },
    },
    pino.multistream(
      [
        { level: 'trace', stream: pino.destination({ dest: 1, sync: true }) },
        { level: 'warn', stream: pino.destination({ dest: 2, sync: true }) },
      ],
      { dedupe: true },
    ),
  );
}

let root: pino.Logger | undefined;

function levelOrInfo(): LogLevel {
  try {
    return logLevel();
  } catch {
    return 'info';
  }
}

/**
 * A logger for `role`, writing LOG_LEVEL and above. An invalid LOG_LEVEL falls back to info here,
 * so that loadConfig's complaint naming it is still written.
 */
export function createLog(role: 'primary' | 'worker'): Log {
  root ??= rootLogger(levelOrInfo());
  const logger = root.child({ role, pid: process.pid });
  return {
    info: (event, fields) => logger.info(line(event, fields)),
    warn: (event, fields) => logger.warn(line(event, fields)),
    error: (event, fields) => logger.error(line(event, fields)),
  };
}

/** The event first, so that a line reads from what happened to its details. */
function line(event: string, fields: LogFields = {}): Record<string, unknown> {
  const written: Record<string, unknown> = { event };
  for (const [key, value] of Object.entries(fields)) {
    written[key] = value instanceof Error ? pino.stdSerializers.err(value) : value;
  }
  return written;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
