/** What the benchmark verifies besides speed: coherent reads after writes, and answers under overload. */
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { quantile } from './bench-parse.js';
import { ms, type Check } from './bench-report.js';
import { REVIEW_ROUTES, relevanceClock, routePath } from './bench-routes.js';
import type { Session, Target } from './bench-session.js';

/** Bodies read per written product, each over a new connection, so from any worker. */
const COHERENCE_READS = 4;
const COHERENCE_PRODUCTS = 200;

/** One GET over a connection of its own. */
export function freshGet(port: number, requestPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path: requestPath, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

/**
 * After the storefront mix's writes (WRITTEN_FILE of bench-storefront.lua lists the products
 * written to): every review body the API serves for those products must equal what the database
 * says now. Any difference is a stale cached body some worker kept after a write.
 */
export async function checkCoherence(session: Session, target: Target, writtenFile: string): Promise<Check> {
  const written = (await readFile(writtenFile, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
  const products = written.slice(0, COHERENCE_PRODUCTS);
  let compared = 0;
  const stale: string[] = [];
  await inBatches(products, 8, async (id) => {
    for (const route of REVIEW_ROUTES) {
      for (;;) {
        const clock = relevanceClock(new Date()).getTime();
        const served = [];
        for (let i = 0; i < COHERENCE_READS; i++) served.push(await freshGet(target.port, routePath(route, id)));
        const now = new Date();
        // The relevant order is computed for the clock's hour: compare only within one.
        if (relevanceClock(now).getTime() !== clock) continue;
        const truth = await route.body(session.dataset.pool, id, now);
        for (const answer of served) {
          compared += 1;
          if (answer.status !== 200 || answer.body !== truth)
            stale.push(`${routePath(route, id)} (status ${answer.status})`);
        }
        break;
      }
    }
  });
  return {
    name: "no stale read after the mix's writes",
    passed: products.length > 0 && stale.length === 0,
    detail:
      `${compared} bodies (reviews count=200 relevant, and meta, of ${products.length} of the ${written.length} products ` +
      `written to; ${COHERENCE_READS} reads each over new connections) compared with the database: ${stale.length} differ` +
      (stale.length > 0 ? ` (e.g. ${stale.slice(0, 3).join(', ')})` : ''),
  };
}

export interface Probe {
  readonly status: number;
  readonly ms: number;
}

/** Every 100 ms until `stop` settles, one timed GET over a new connection: what a newcomer sees. */
export async function probeWhile(port: number, path: () => string, stop: Promise<unknown>): Promise<Probe[]> {
  const probes: Promise<Probe>[] = [];
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  while (!done) {
    const started = performance.now();
    probes.push(
      freshGet(port, path()).then(
        (answer) => ({ status: answer.status, ms: performance.now() - started }),
        () => ({ status: 0, ms: performance.now() - started }),
      ),
    );
    await Promise.race([delay(100), stop.catch(() => undefined)]);
  }
  return Promise.all(probes);
}

/** "105× 200 (p50 765 ms, max 1768 ms), 3× 503 (…)". */
export function describeProbes(probes: readonly Probe[]): string {
  const statuses = [...new Set(probes.map((probe) => probe.status))].sort();
  return statuses
    .map((status) => {
      const latencies = probes
        .filter((probe) => probe.status === status)
        .map((probe) => probe.ms)
        .sort((a, b) => a - b);
      return (
        `${latencies.length}× ${status === 0 ? 'no answer' : status} (p50 ${ms(quantile(latencies, 0.5))} ms, ` +
        `max ${ms(latencies[latencies.length - 1]!)} ms)`
      );
    })
    .join(', ');
}
