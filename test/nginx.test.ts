import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { COMPRESSIBLE_BYTES } from '../server/reply.js';
import { openSession } from '../sql/db/admin.js';
import {
  accessLogPath,
  checkNginxConf,
  findNginx,
  nginxScratchDir,
  SHIPPED_CONF,
  startNginx,
  writeNginxConf,
} from '../perf/nginx-template.js';
import { freshDatabase } from './helpers/database.js';
import { freePort } from '../lib/net.js';
import { isEvent, startCluster, type RunningCluster } from './helpers/process.js';
import { type RawConnection, rawConnection } from './helpers/raw-http.js';
import { until, within } from '../lib/wait.js';

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function request(port: number, method: string, path: string, agent: http.Agent | false, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = body ? { 'Content-Type': 'application/json', 'Content-Length': String(body.length) } : {};
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One access log line (nginx.conf's `atelier` format). */
interface Access {
  readonly method: string;
  readonly uri: string;
  readonly status: number;
  readonly upstream_addr: string;
}

/**
 * The server-side of every TCP connection ever opened to `ports` that the kernel still knows
 * (established or in TIME_WAIT), from /proc: a proxy without working keepalive leaves one per
 * request behind.
 */
async function connectionsTo(ports: readonly number[]): Promise<number> {
  const hex = new Set(ports.map((port) => port.toString(16).toUpperCase().padStart(4, '0')));
  const peers = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1)) {
      const [, local, remote, state] = row.trim().split(/\s+/);
      if (!local || !remote || state === '0A') continue;
      // Count each connection once, by the client end, whichever side this row is.
      if (hex.has(local.slice(-4))) peers.add(remote);
      else if (hex.has(remote.slice(-4))) peers.add(local);
    }
  }
  return peers.size;
}

/** A scratch directory for one nginx, removed at the end of the test. */
async function scratch(t: Test): Promise<string> {
  const dir = await nginxScratchDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const nginx = findNginx();
if (!nginx) {
  // CI installs nginx (.ci/run): there, its absence is a failure, not a reason to skip.
  if (process.env.CI) t.fail('nginx is not installed (apt-get install -y nginx); .ci/run should have installed it');
  else t.plan(0, 'nginx is not installed: apt-get install -y nginx to run the proxy tests');
} else {
  t.test('nginx -t accepts the shipped configuration, with rate limiting off and on', async (t) => {
    const shipped = await readFile(SHIPPED_CONF, 'utf8');
    const checks = await scratch(t);
    const plain = await writeNginxConf({ dir: checks });
    t.match(await checkNginxConf(nginx, checks, plain), /test is successful/, 'as shipped');
    const limited = path.join(checks, 'rate-limited.conf');
    const enabled = shipped.replace('# limit_req zone=', 'limit_req zone=');
    t.not(enabled, shipped, 'the commented limit_req line is there to enable');
    await writeFile(limited, enabled);
    const rendered = await writeNginxConf({ dir: checks }, limited);
    t.match(await checkNginxConf(nginx, checks, rendered), /test is successful/, 'with limit_req enabled');
  });

  t.test('the shipped configuration keeps the settings the service relies on', async (t) => {
    const conf = await readFile(SHIPPED_CONF, 'utf8');
    const upstream = /^\s*upstream atelier_api \{([^}]*)\}/m.exec(conf)?.[1] ?? '';
    const directive = (name: string, text = conf): string[] =>
      [...text.matchAll(new RegExp(`^\\s*${name}(?:\\s+([^;]*))?;`, 'gm'))].map((m) => (m[1] ?? '').trim());
    t.same(directive('client_max_body_size'), ['64k'], "bodies capped at the service's 64 KiB");
    t.same(directive('proxy_http_version'), ['1.1']);
    t.same(directive('gzip_min_length'), [String(COMPRESSIBLE_BYTES)], "nginx compresses from the service's threshold");
    t.same(directive('gzip_vary'), ['off'], 'the service says Vary itself');
    t.same(directive('proxy_set_header Accept-Encoding'), [], 'Accept-Encoding reaches the service');
    t.same(directive('proxy_set_header Connection'), ['""'], 'Connection cleared so upstream connections are kept');
    const [idle] = directive('keepalive_timeout', upstream);
    t.ok(
      idle && /^\d+s$/.test(idle) && Number.parseInt(idle, 10) < 10,
      `upstream keepalive_timeout (${idle}) below uWebSockets' 10 s idle timeout`,
    );
    t.same(
      directive('least_conn', upstream).length + directive('keepalive', upstream).length,
      2,
      'least_conn and keepalive in the upstream',
    );
    const retry = directive('proxy_next_upstream');
    t.equal(retry.length, 1);
    t.notMatch(retry[0], /non_idempotent/, 'a POST is never sent to a second instance');
    const servers = directive('server', upstream);
    t.ok(
      servers.length > 0 && servers.every((server) => /max_fails=\d+ fail_timeout=\d+s/.test(server)),
      'passive health checks',
    );
  });

  t.test('nginx in front of two instances', async (t) => {
    const dir = await scratch(t);
    const databaseUrl = await freshDatabase(t);
    const startInstance = async (): Promise<{ cluster: RunningCluster; port: number; pids: number[] }> => {
      const port = await freePort();
      const cluster = startCluster(t, {
        DATABASE_URL: databaseUrl,
        SEED_SCALE: '0',
        WORKERS: '1',
        PORT: String(port),
        DRAIN_TIMEOUT_MS: '2000',
      });
      const ready = await cluster.waitFor(isEvent('cluster_ready'), `the instance on ${port} became ready`);
      return { cluster, port, pids: [cluster.primary.pid!, ...String(ready.workers).split(',').map(Number)] };
    };
    const instances = await Promise.all([startInstance(), startInstance()]);
    const upstreams = instances.map((i) => i.port);
    const port = await freePort();
    const proxy = await startNginx(nginx, { dir, port, upstreams });
    t.teardown(() => proxy.stop());

    const accessLog = async (): Promise<Access[]> =>
      (await readFile(accessLogPath(dir), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Access);
    /** The access log lines of the requests made by `run` (the log is flushed every second). */
    const logged = async (run: () => Promise<number>): Promise<Access[]> => {
      const before = (await accessLog()).length;
      const requests = await run();
      let lines: Access[] = [];
      await until(
        async () => {
          lines = (await accessLog()).slice(before);
          return lines.length >= requests;
        },
        `nginx logged all ${requests} requests`,
        { timeoutMs: 10_000 },
      );
      return lines;
    };
    const page = (i: number): string => `/products?page=${(i % 50) + 1}&count=5`;

    await t.test('requests are balanced over both instances, over a few kept-alive upstream connections', async (t) => {
      const replies: Reply[] = [];
      const lines = await logged(async () => {
        for (let i = 0; i < 200; i++) replies.push(await request(port, 'GET', page(i), false));
        return replies.length;
      });
      t.same(
        replies.filter((r) => r.status !== 200).map((r) => r.status),
        [],
        'every request answered 200',
      );
      const served = upstreams.map(
        (upstream) => lines.filter((l) => l.upstream_addr === `127.0.0.1:${upstream}`).length,
      );
      t.ok(
        served.every((count) => count >= 50),
        `each instance served at least a quarter (${served.join(' / ')})`,
      );
      const connections = await connectionsTo(upstreams);
      t.ok(connections <= 8, `${replies.length} requests went over ${connections} upstream connections`);
    });

    await t.test('compressed bodies pass through nginx as the instance made them, negotiated per client', async (t) => {
      const db = await openSession(databaseUrl, 'nginx-compression');
      t.teardown(() => db.end());
      const description = 'Soft, warm and hard-wearing. '.repeat(80);
      await db.query(
        `INSERT INTO products (id, name, slogan, description, category, default_price)
         VALUES (1, 'Camo Onesie', 'Blend in', $1, 'Jackets', 140)`,
        [description],
      );
      const direct = await rawConnection(t, upstreams[0]!);
      const proxied = await rawConnection(t, port);
      const get = (connection: RawConnection, headers: Record<string, string>, what: string) => {
        connection.send('GET', '/products/1', headers);
        return connection.response(false, what);
      };
      const identity = await get(direct, {}, 'identity from the instance');
      t.match(JSON.parse(String(identity.body)), { id: 1, description });
      const cases = [
        ['gzip, deflate, br', 'br'],
        ['gzip', 'gzip'],
        ['', undefined],
      ] as const;
      // Through logged(), so that these lines are in the access log before the next test reads it.
      await logged(async () => {
        for (const [field, coding] of cases) {
          const headers: Record<string, string> = field === '' ? {} : { 'Accept-Encoding': field };
          const label = `Accept-Encoding: ${JSON.stringify(field)}`;
          const upstream = await get(direct, headers, `${label} from the instance`);
          const reply = await get(proxied, headers, `${label} through nginx`);
          t.equal(reply.status, 200, label);
          t.equal(reply.headers['content-encoding'], coding, `${label}: ${coding ?? 'identity'}`);
          t.equal(reply.headerCounts['content-encoding'], coding === undefined ? undefined : 1, `${label}: coded once`);
          t.equal(
            reply.headers.etag,
            upstream.headers.etag,
            `${label}: the instance's strong tag, so nginx did not re-encode`,
          );
          t.same(reply.body, upstream.body, `${label}: the instance's bytes`);
          const decoded =
            coding === 'br'
              ? brotliDecompressSync(reply.body)
              : coding === 'gzip'
                ? gunzipSync(reply.body)
                : reply.body;
          t.same(decoded, identity.body, `${label}: decodes to the identity body`);
          t.equal(reply.headers.vary, 'Accept-Encoding', `${label}: Vary`);
          t.equal(reply.headerCounts.vary, 1, `${label}: one Vary`);
          proxied.send('GET', '/products/1', { ...headers, 'If-None-Match': reply.headers.etag! });
          t.equal((await proxied.response(true, `${label}: revalidated through nginx`)).status, 304, `${label}: 304`);
        }
        const document = await new Promise<http.IncomingMessage>((resolve, reject) =>
          http
            .get({ host: '127.0.0.1', port, path: '/openapi.json', headers: { 'accept-encoding': 'gzip' } }, resolve)
            .on('error', reject),
        );
        document.resume();
        t.equal(document.headers['content-encoding'], 'gzip', 'a body the service never caches is gzipped by nginx');
        t.equal(
          document.rawHeaders.filter((name) => name.toLowerCase() === 'vary').length,
          1,
          "with one Vary, the service's",
        );
        t.equal(document.headers.vary, 'Accept-Encoding');
        return cases.length * 2 + 1;
      });
    });

    await t.test('a body over 64 KiB is refused with a JSON 413 by nginx, before any instance', async (t) => {
      let reply: Reply | undefined;
      const [line] = await logged(async () => {
        reply = await request(port, 'POST', '/reviews', false, Buffer.alloc(100 * 1024, 'a'));
        return 1;
      });
      t.equal(reply?.status, 413);
      t.same(JSON.parse(reply?.body ?? ''), { error: 'The request body is larger than 64 KiB.' });
      t.match(reply?.headers['content-type'], /^application\/json/);
      t.equal(line?.upstream_addr, '', 'no instance saw it');
    });

    await t.test('header blocks up to 16 KiB pass however the client splits them; larger get a JSON 431', async (t) => {
      const padded = (size: number): string => {
        const bare = 'GET /health HTTP/1.1\r\nHost: test\r\nX-Pad: \r\n\r\n';
        return bare.replace('X-Pad: ', `X-Pad: ${'p'.repeat(size - bare.length)}`);
      };
      for (const [size, status] of [
        [16 * 1024, 200],
        [20 * 1024, 431],
      ] as const) {
        const connection = await rawConnection(t, port);
        // uWS alone closes such a block at 4 KiB when it comes in several reads.
        for (const piece of padded(size).match(/[\s\S]{1,1024}/g) ?? []) {
          connection.write(piece);
          await sleep(5);
        }
        const reply = await connection.response(false, `a ${size} B header block sent 1 KiB at a time`);
        t.equal(reply.status, status, `${size} B`);
        if (status !== 200) {
          t.same(JSON.parse(reply.body.toString()), { error: 'The request headers are larger than 16 KiB.' });
          t.match(reply.headers['content-type'], /^application\/json/);
        }
      }
    });

    await t.test('with one instance SIGKILLed under load, no GET fails', async (t) => {
      const [victim, survivor] = instances as [(typeof instances)[0], (typeof instances)[0]];
      let stop = false;
      let sent = 0;
      let served = 0;
      const failures: string[] = [];
      const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 2 });
      t.teardown(() => keepAlive.destroy());
      const loop = async (agent: http.Agent | false, name: string): Promise<void> => {
        while (!stop) {
          // A page number per request, to find each one in the access log.
          const path = `/products?page=${++sent}&count=5`;
          try {
            const reply = await request(port, 'GET', path, agent);
            if (reply.status === 200) served++;
            else failures.push(`${name} ${path}: status ${reply.status} ${reply.body}`);
          } catch (err) {
            failures.push(`${name} ${path}: ${(err as Error).message}`);
          }
        }
      };
      const lines = await logged(async () => {
        const loops = [
          loop(keepAlive, 'keep-alive'),
          loop(keepAlive, 'keep-alive'),
          loop(false, 'new connection'),
          loop(false, 'new connection'),
        ];
        // A broken proxy fails fast: stop on the first failures rather than spin until the timeout.
        await until(() => served >= 200 || failures.length > 0, '200 GETs were served before the kill', {
          timeoutMs: 30_000,
        });
        // The whole instance at once, as when its VM dies: the primary cannot respawn the worker.
        for (const pid of victim.pids) process.kill(pid, 'SIGKILL');
        const victimExit = await within(victim.cluster.exited, 'the killed instance exited', { timeoutMs: 10_000 });
        t.same(victimExit, { code: null, signal: 'SIGKILL' }, 'the instance is gone');
        const servedAtKill = served;
        await until(() => served >= servedAtKill + 400 || failures.length > 0, '400 more GETs were served after it', {
          timeoutMs: 30_000,
        });
        stop = true;
        await within(Promise.all(loops), 'the request loops stopped', { timeoutMs: 10_000 });
        return sent;
      });
      t.same(failures, [], 'no GET failed');
      const dead = `127.0.0.1:${victim.port}`;
      t.ok(
        lines.some((l) => l.upstream_addr === `${dead}, 127.0.0.1:${survivor.port}` && l.status === 200),
        'requests sent to the dead instance were answered by the other one',
      );
      // Each nginx worker flushes its own log buffer (every second), so the file is not in request
      // order, and a line of an earlier test flushed late can make up the count logged() waited for.
      const lastPages = (access: readonly Access[]) =>
        access.filter((l) => Number(new URL(l.uri, 'http://x').searchParams.get('page')) > sent - 100);
      let last = lastPages(lines);
      await until(
        async () => {
          last = lastPages(await accessLog());
          return last.length >= 100;
        },
        'nginx logged the last 100 requests',
        { timeoutMs: 10_000 },
      );
      t.equal(last.length, 100);
      t.same(
        last.map((l) => l.upstream_addr).filter((addr) => addr !== `127.0.0.1:${survivor.port}`),
        [],
        'the last 100 requests went straight to the live instance: the dead one is left out',
      );
    });

    await t.test("with every instance gone, clients get the API's JSON 503 with Retry-After", async (t) => {
      const survivor = instances[1]!;
      for (const pid of survivor.pids) process.kill(pid, 'SIGKILL');
      await within(survivor.cluster.exited, 'the last instance exited', { timeoutMs: 10_000 });
      const reply = await request(port, 'GET', '/products/1', false);
      t.equal(reply.status, 503);
      t.equal(reply.headers['retry-after'], '1');
      t.match(reply.headers['content-type'], /^application\/json/);
      t.match(JSON.parse(reply.body), { error: /retry later/ });
    });
  });
}
