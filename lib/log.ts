/**
 * One JSON object per line, so that the primary's and the workers' lines (they share the
 * terminal or the journal) can be filtered by pid and event with ordinary tools (jq, grep).
 */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Log {
  info(event: string, fields?: LogFields): void;
  /** warn and error go to stderr, so that a supervisor showing only stderr still shows trouble. */
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export function createLog(role: 'primary' | 'worker'): Log {
  const write = (stream: NodeJS.WriteStream, level: string, event: string, fields: LogFields = {}): void => {
    stream.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, role, pid: process.pid, event, ...fields })}\n`,
    );
  };
  return {
    info: (event, fields) => write(process.stdout, 'info', event, fields),
    warn: (event, fields) => write(process.stderr, 'warn', event, fields),
    error: (event, fields) => write(process.stderr, 'error', event, fields),
  };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
