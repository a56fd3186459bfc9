/**
 * The project's nginx.conf, rewritten to run from a scratch directory: the pid, logs and
 * temporary files move into `dir`, and optionally the listen address and the upstream servers
 * move to loopback ports. Every other line is the shipped one, so that what the
 * tests and benchmarks run is what a VM runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHIPPED_CONF = path.join(root, 'nginx.conf');

export interface NginxLayout {
  /** Scratch directory for the pid file, the logs and nginx's temporary files. */
  readonly dir: string;
  /** Loopback port to listen on instead of 80. */
  readonly port?: number;
  /** Loopback ports replacing the shipped upstream servers (their parameters are kept). */
  readonly upstreams?: readonly number[];
}

/** A new scratch directory for one nginx (the caller removes it). */
export async function nginxScratchDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-nginx-'));
  // As root, nginx's workers run as nobody, who must reach the temporary directories in here.
  await chmod(dir, 0o755);
  return dir;
}

export function accessLogPath(dir: string): string {
  return path.join(dir, 'access.log');
}

export function errorLogPath(dir: string): string {
  return path.join(dir, 'error.log');
}

/** Replaces the one match of `pattern` in `text`, and fails loudly if nginx.conf drifted. */
function replaceOnce(text: string, pattern: RegExp, replacement: string | ((...groups: string[]) => string)): string {
  const matches = text.match(
    new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`),
  );
  if (matches?.length !== 1)
    throw new Error(`nginx.conf: expected one match of ${pattern}, found ${matches?.length ?? 0}`);
  return text.replace(pattern, replacement as string);
}

export function renderNginxConf(source: string, layout: NginxLayout): string {
  const { dir } = layout;
  const temporaries = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `    ${kind}_temp_path ${path.join(dir, kind)};`)
    .join('\n');
  // As root with no `user`, the workers run as nobody, and the distribution's user may not exist.
  let conf = replaceOnce(source, /^user [^;]+;\n/m, '');
  conf = replaceOnce(conf, /^pid [^;]+;/m, `pid ${path.join(dir, 'nginx.pid')};`);
  conf = replaceOnce(conf, /^error_log \S+/m, `error_log ${errorLogPath(dir)}`);
  conf = replaceOnce(conf, /^(\s*access_log )\S+/m, (_, head: string) => `${head}${accessLogPath(dir)}`);
  conf = replaceOnce(conf, /^http \{\n/m, `http {\n${temporaries}\n`);
  if (layout.port !== undefined)
    conf = replaceOnce(conf, /^(\s*listen )80\b/m, (_, head: string) => `${head}127.0.0.1:${layout.port}`);
  if (layout.upstreams !== undefined) {
    const servers = [...conf.matchAll(/^(\s*server )127\.0\.0\.1:\d+( [^;]*;)\n/gm)];
    if (servers.length === 0) throw new Error('nginx.conf: no upstream `server 127.0.0.1:PORT ...;` line');
    const [, head, parameters] = servers[0]!;
    const lines = layout.upstreams.map((port) => `${head}127.0.0.1:${port}${parameters}\n`).join('');
    conf = conf.replace(servers[0]![0], lines);
    for (const extra of servers.slice(1)) conf = conf.replace(extra[0], '');
  }
  return conf;
}

/** The nginx binary: on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH). */
export function findNginx(): string | undefined {
  const onPath = spawnSync('nginx', ['-v'], { stdio: 'ignore' });
  if (!onPath.error) return 'nginx';
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;
}

/** Writes the rendered configuration into `layout.dir` and returns its path. */
export async function writeNginxConf(layout: NginxLayout, source = SHIPPED_CONF): Promise<string> {
  const file = path.join(layout.dir, 'nginx.conf');
  await writeFile(file, renderNginxConf(await readFile(source, 'utf8'), layout));
  return file;
}

/** `nginx -t` on `conf`; resolves to its output, rejects with it when the test fails. */
export function checkNginxConf(nginx: string, dir: string, conf: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(nginx, ['-t', '-p', dir, '-e', errorLogPath(dir), '-c', conf], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`nginx -t exited ${code}:\n${output}`)),
    );
  });
}

export interface RunningNginx {
  readonly process: ChildProcess;
  /** Graceful stop (SIGQUIT: finish the requests in flight), resolved when the master exited. */
  stop(): Promise<void>;
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts nginx (`source` rendered, nginx.conf unless given) in the foreground on `layout` and resolves once it accepts connections on layout.port. */
export async function startNginx(
  nginx: string,
  layout: NginxLayout & { readonly port: number },
  source = SHIPPED_CONF,
): Promise<RunningNginx> {
  const conf = await writeNginxConf(layout, source);
  const child = spawn(nginx, ['-p', layout.dir, '-e', errorLogPath(layout.dir), '-c', conf, '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  while (!(await accepting(layout.port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await readFile(errorLogPath(layout.dir), 'utf8').catch(() => '');
      throw new Error(`nginx exited (code ${child.exitCode}) before listening:\n${stderr}${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
      await exited;
    },
  };
}
