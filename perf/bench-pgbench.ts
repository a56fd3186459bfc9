/**
 * The database ceiling of a route: pgbench running the very statement the route's handler sends,
 * prepared, with the same concurrency the API can put on the database. The statement is
 * captured by calling the route's sql/queries function against a recording stand-in for the
 * pool, so the script follows every change to the SQL without anyone copying it.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from '../sql/db/pool.js';
import type { ReadRoute } from './bench-routes.js';
import { parsePgbench, type RunResult } from './bench-parse.js';
import { run } from '../lib/processes.js';

export interface CapturedStatement {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** An id no catalogue holds, so that its position among the captured parameters is unambiguous. */
const MARKER_ID = 2_013_265_921;

/** The statement (and its parameters) that `route.body` sends for id MARKER_ID. */
export async function captureStatement(route: ReadRoute, now: Date): Promise<CapturedStatement> {
  let captured: CapturedStatement | undefined;
  const recorder = {
    query: async (config: { text: string; values?: unknown[] }) => {
      captured = { text: config.text, values: config.values ?? [] };
      return { rows: [{ body: '{}', product_id: 1 }] };
    },
  };
  await route.body(recorder as unknown as Pool, MARKER_ID, now);
  if (!captured) throw new Error(`route ${route.name} sent no statement`);
  return captured;
}

export interface PgbenchScript {
  /** The script file's text: `\set` lines, then the statement with pgbench variables. */
  readonly script: string;
  /** `-D name=value` definitions for the parameters pgbench cannot `\set` (text, timestamps). */
  readonly defines: readonly string[];
}

/**
 * pgbench reads every `:name` of a prepared script as a variable, inside string literals too
 * (`'{"url":null}'` would lose `:null`). Such a literal is split there into two literals
 * separated by a newline, which SQL's lexer joins back into the same constant: PostgreSQL
 * parses exactly the statement the route sends.
 */
export function protectLiterals(sql: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < sql.length; i++) {
    const char = sql[i]!;
    if (char === "'") quoted = !quoted;
    if (quoted && char === ':' && /\w/.test(sql[i + 1] ?? '')) out += ":'\n'";
    else out += char;
  }
  return out;
}

/**
 * Rewrites `$n` into pgbench variables: the id becomes `:id`, drawn uniformly from
 * [firstId, lastId] for every transaction; the other parameters keep their captured values.
 * With -M prepared pgbench sends the variables as untyped parameters, as node-postgres does, so
 * PostgreSQL infers the same types and plans the same statement.
 */
export function pgbenchScript(statement: CapturedStatement, firstId: number, lastId: number): PgbenchScript {
  const sets = [`\\set id random(${firstId}, ${lastId})`];
  const defines: string[] = [];
  const names = statement.values.map((value, index) => {
    if (value === MARKER_ID) return 'id';
    const name = `p${index + 1}`;
    if (typeof value === 'number' && Number.isInteger(value)) sets.push(`\\set ${name} ${value}`);
    else defines.push(`${name}=${value instanceof Date ? value.toISOString() : String(value)}`);
    return name;
  });
  if (!names.includes('id')) throw new Error('the captured statement does not take the id as a parameter');
  const text = protectLiterals(statement.text.trim()).replace(
    /\$(\d+)\b/g,
    (_, n: string) => `:${names[Number(n) - 1]}`,
  );
  return { script: `${sets.join('\n')}\n${text};\n`, defines };
}

export interface PgbenchRun {
  readonly databaseUrl: string;
  readonly script: PgbenchScript;
  readonly clients: number;
  readonly threads: number;
  readonly seconds: number;
  /** A directory of this run's own, for the script and the per-transaction logs (emptied first). */
  readonly dir: string;
}

export async function runPgbench(options: PgbenchRun): Promise<RunResult & { output: string }> {
  await rm(options.dir, { recursive: true, force: true });
  await mkdir(options.dir, { recursive: true });
  const scriptPath = path.join(options.dir, 'route.sql');
  await writeFile(scriptPath, options.script.script);
  const args = [
    '--no-vacuum',
    '--protocol=prepared',
    `--client=${options.clients}`,
    `--jobs=${options.threads}`,
    `--time=${options.seconds}`,
    `--file=${scriptPath}`,
    '--log',
    `--log-prefix=${path.join(options.dir, 'tx')}`,
    ...options.script.defines.flatMap((define) => ['--define', define]),
    options.databaseUrl,
  ];
  const { stdout, stderr } = await run('pgbench', args, { cwd: options.dir });
  const logs = await Promise.all(
    (await readdir(options.dir))
      .filter((name) => name.startsWith('tx.'))
      .map((name) => readFile(path.join(options.dir, name), 'utf8')),
  );
  return { ...parsePgbench(stdout, logs), output: `${stdout}${stderr}` };
}
