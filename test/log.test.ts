import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadConfig } from '../lib/config.js';

const LOG_MODULE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../lib/log.js');

interface Written {
  readonly status: number | null;
  readonly stdout: Record<string, unknown>[];
  readonly stderr: Record<string, unknown>[];
  readonly pid: number;
}

/** Runs `body` in a fresh node with `log = createLog('worker')`, then exits 3 at once. */
function logIn(body: string, env: Readonly<Record<string, string>> = {}): Written {
  const script =
    `import { createLog } from ${JSON.stringify(LOG_MODULE)};\n` +
    `const log = createLog('worker');\n${body}\n` +
    `process.stdout.write('{"pid":' + process.pid + '}\\n');\nprocess.exit(3);`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, LOG_LEVEL: '', ...env },
    encoding: 'utf8',
  });
  const lines = (text: string): Record<string, unknown>[] =>
    text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const stdout = lines(child.stdout);
  const pid = Number(stdout.pop()?.pid);
  return { status: child.status, stdout, stderr: lines(child.stderr), pid };
}

t.test('info lines go to stdout, warn and error to stderr, each a JSON object naming role and pid', async (t) => {
  const written = logIn(`
    log.info('worker_listening', { port: 3000, shared: true });
    log.warn('slow_start', { ms: 1200 });
    log.error('worker_start_failed', { error: 'no database', detail: null });`);
  t.equal(written.status, 3, 'the lines were written before process.exit, synchronously');
  t.same(
    written.stdout.map(({ time: _time, ...line }) => line),
    [{ level: 'info', role: 'worker', pid: written.pid, event: 'worker_listening', port: 3000, shared: true }],
  );
  t.same(
    written.stderr.map(({ time: _time, ...line }) => line),
    [
      { level: 'warn', role: 'worker', pid: written.pid, event: 'slow_start', ms: 1200 },
      {
        level: 'error',
        role: 'worker',
        pid: written.pid,
        event: 'worker_start_failed',
        error: 'no database',
        detail: null,
      },
    ],
  );
  for (const line of [...written.stdout, ...written.stderr]) {
    t.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'time is ISO 8601 text');
  }
});

t.test('an Error field is written by the error serialiser: type, message, stack, cause', async (t) => {
  const written = logIn(`log.error('request_failed', { err: new Error('bad row', { cause: new TypeError('NaN') }) });`);
  const err = written.stderr[0]?.err as Record<string, unknown> | undefined;
  t.equal(err?.type, 'Error');
  t.equal(err?.message, 'bad row: NaN', 'the cause is part of the message');
  t.match(
    err?.stack,
    /^Error: bad row\n\s+at [\s\S]*caused by: TypeError: NaN/,
    'the stacks of the error and its cause',
  );
  t.notOk('msg' in (written.stderr[0] ?? {}), 'no msg field beside the event');
});

t.test('LOG_LEVEL drops the less severe lines', async (t) => {
  const body = `log.info('a'); log.warn('b'); log.error('c');`;
  const events = (written: Written): unknown[] => [...written.stdout, ...written.stderr].map((line) => line.event);
  t.same(events(logIn(body, { LOG_LEVEL: 'warn' })), ['b', 'c']);
  t.same(events(logIn(body, { LOG_LEVEL: 'silent' })), []);
  t.same(events(logIn(body, { LOG_LEVEL: 'debug' })), ['a', 'b', 'c']);
  t.same(
    events(logIn(body, { LOG_LEVEL: 'loud' })),
    ['a', 'b', 'c'],
    'an invalid one logs at info (loadConfig refuses it)',
  );
});

t.test('an invalid LOG_LEVEL is refused at start, naming the variable', async (t) => {
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL must be one of trace, debug, info, warn, error/);
  t.equal(loadConfig({}).logLevel, 'info', 'info by default');
  t.equal(loadConfig({ LOG_LEVEL: 'debug' }).logLevel, 'debug');
});
