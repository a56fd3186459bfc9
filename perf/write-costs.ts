/**
 * What one write of each kind costs the 1-vCPU storefront mix (issue 16 item 2; docs/benchmarks.md
 * § What a write costs the 1-vCPU mix). One worker and PostgreSQL share CPU 0, wrk and this
 * process CPU 1, as in the bench's vcpu scenarios. Each round runs the mix reads only, then the
 * mix with 5 % writes of one kind (perf/bench-storefront.lua WRITE_KIND: new reviews, helpful
 * votes, clicks) or of the usual blend, each after a reads-only run of its own, and reports the
 * CPU per request of the worker (the cluster's processes) and of PostgreSQL (its processes),
 * from /proc as the bench reads it (perf/bench-costs.ts), and what one write costs beyond the read it replaces:
 * (with-writes CPU per request − 0.95 × the reads-only run's) ÷ 0.05.
 *
 *   npm run build:dev && node build/perf/write-costs.js
 *
 * Environment: SCALE (default 0.01), SECONDS per run (5), ROUNDS (2), WARM_SECONDS (10),
 * DATA_DIR (the bench's datasets, /tmp/bench-atelier, generated there on first use).
 */
import os from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { descendants } from '../lib/processes.js';
import { freePort } from '../lib/net.js';
import { loadDataset, writeIdFiles } from './bench-dataset.js';
import { withCosts } from './bench-costs.js';
import { pinProcesses, startCluster } from './bench-processes.js';
import { costPerWrite, MIX_WRITE_SHARE } from './bench-session.js';
import { runWrk } from './bench-wrk.js';

const SCALE = Number(process.env.SCALE ?? 0.01);
const SECONDS = Number(process.env.SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 10);
const DATA_DIR = process.env.DATA_DIR ?? '/tmp/bench-atelier';
const KINDS = ['reviews', 'helpful', 'interactions', 'blend'] as const;

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const dataset = await loadDataset(SCALE, DATA_DIR, (line) => console.log(line));
const dir = await mkdtemp(path.join(os.tmpdir(), 'atelier-write-costs-'));
const port = await freePort();
const cluster = await startCluster({
  port,
  workers: 1,
  databaseUrl: dataset.url,
  cacheMaxBytes: 256 * 1024 * 1024,
  poolSize: 8,
  cpus: '0',
});
try {
  const files = await writeIdFiles(dataset, dir);
  const postgres = () => descendants(process.pid, 'postgres');
  if (dataset.embedded) await pinProcesses(await postgres(), '0');
  await pinProcesses([process.pid], '1');
  const sources = {
    apiPid: cluster.process.pid!,
    port,
    databasePids: dataset.embedded ? postgres : undefined,
    walPosition: async () => undefined,
  };
  const mix = async (kind: (typeof KINDS)[number] | 'reads', seconds = SECONDS) => {
    const { rps, requests, costs } = await withCosts(sources, () =>
      runWrk({
        url: `http://127.0.0.1:${port}`,
        script: 'bench-storefront.lua',
        env: {
          PRODUCTS_FILE: files.products,
          WRITE_SHARE: kind === 'reads' ? '0' : String(MIX_WRITE_SHARE),
          ...(kind === 'reads' || kind === 'blend' ? {} : { WRITE_KIND: kind }),
        },
        threads: 1,
        connections: 64,
        seconds,
        cpus: '1',
      }),
    );
    return {
      rps,
      api: (costs.apiCpuSeconds / requests) * 1e6,
      database: ((costs.databaseCpuSeconds ?? Number.NaN) / requests) * 1e6,
    };
  };
  await mix('reads', WARM_SECONDS);
  const rows = new Map<
    string,
    { rps: number[]; api: number[]; database: number[]; writeApi: number[]; writeDb: number[] }
  >();
  const row = (name: string) => {
    if (!rows.has(name)) rows.set(name, { rps: [], api: [], database: [], writeApi: [], writeDb: [] });
    return rows.get(name)!;
  };
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const kind of KINDS) {
      const reads = await mix('reads');
      const writes = await mix(kind);
      for (const [name, measured] of [
        ['reads only', reads],
        [kind, writes],
      ] as const) {
        const each = row(name);
        each.rps.push(measured.rps);
        each.api.push(measured.api);
        each.database.push(measured.database);
        if (name !== 'reads only') {
          each.writeApi.push(costPerWrite(measured.api, reads.api));
          each.writeDb.push(costPerWrite(measured.database, reads.database));
        }
      }
      console.log(
        `round ${round} ${kind}: ${Math.round(writes.rps)} rps against ${Math.round(reads.rps)} reads only (${(writes.rps / reads.rps).toFixed(2)})`,
      );
    }
  }
  console.log(
    '\n| mix, 1 worker + PostgreSQL on 1 CPU | rps | worker µs/req | PostgreSQL µs/req | per write: worker µs | per write: PostgreSQL µs |',
  );
  console.log('| --- | --: | --: | --: | --: | --: |');
  for (const [name, each] of rows) {
    const write = (values: number[]) => (values.length === 0 ? '' : median(values).toFixed(0));
    console.log(
      `| ${name} | ${Math.round(median(each.rps)).toLocaleString('en-US')} | ${median(each.api).toFixed(1)} | ${median(each.database).toFixed(1)} | ${write(each.writeApi)} | ${write(each.writeDb)} |`,
    );
  }
  console.log(
    `\nmedians of ${ROUNDS} round(s) of ${SECONDS} s runs; scale ${SCALE}; load average ${os
      .loadavg()
      .map((load) => load.toFixed(1))
      .join(' / ')}`,
  );
} finally {
  await cluster.stop();
  await dataset.close();
  await rm(dir, { recursive: true, force: true });
}
