/**
 * Worker CPU per patch of a cached review list (server/review-lists.ts), the measurement behind
 * docs/benchmarks.md § Patched review lists. No database: the list is printed here the way the
 * list statements print one, REVIEWS items (default 200) of about 600 bytes with some non-ASCII
 * text, in the relevant sort, and patched PATCHES times (default 2,000) per case:
 *
 *   npm run build:dev && node build/perf/patch-bench.js
 *
 * - a helpful vote for the oldest review (its first takes it to the top, each sorts the list again);
 * - a new review, which goes in at the top and pushes the oldest off the page;
 * each alone and with the new body's ETag (server/reply.ts tagged: SHA-256 over the body), which
 * the cache computes for every patched body. CPU is this process's user + system time.
 */
import { relevanceClock } from '../sql/queries/reviews.js';
import type { PatchableBody } from '../server/cache.js';
import { tagged } from '../server/reply.js';
import { ReviewListBody } from '../server/review-lists.js';

const REVIEWS = Number(process.env.REVIEWS ?? 200);
const PATCHES = Number(process.env.PATCHES ?? 2000);
const DAY_MS = 86_400_000;

const clockMs = relevanceClock(new Date()).getTime();
const shape = { sort: 'relevant' as const, clockMs, page: 1, count: REVIEWS };

/** A review as the list statements print one (sql/queries/reviews.ts), newest first. */
function printed(id: number, helpfulness: number, dateMs: number): Record<string, unknown> {
  return {
    review_id: id,
    rating: 1 + (id % 5),
    summary: `Review ${id}: très confortable ✓`,
    recommend: id % 3 !== 0,
    response: null,
    body: `Worn every day for ${id % 40} weeks. ${'It fits well and washes without fading. '.repeat(12)}`,
    date: new Date(dateMs).toISOString(),
    reviewer_name: `reviewer${id}`,
    helpfulness,
    photos: id % 4 === 0 ? [{ id, url: `https://images.example/${id}.jpg` }] : [],
  };
}

/** REVIEWS reviews of one product, none voted helpful yet, one a day: the relevant order is the date's. */
function list(): ReviewListBody {
  const results = Array.from({ length: REVIEWS }, (_, index) => printed(REVIEWS - index, 0, clockMs - index * DAY_MS));
  const body = JSON.stringify({ product: '1', page: 0, count: REVIEWS, results });
  // A snapshot that sees no transaction of the tokens below.
  return ReviewListBody.read(new Map([[1, body]]), '1:1:', shape).get(1)!;
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Microseconds of CPU per patch, the patches made by `change(i)` applied one after another. */
function measure(change: (index: number) => string, withEtag: boolean): { micros: number; bytes: number } {
  let current: PatchableBody = list();
  // The first patch parses the list; it is not what a steady stream of writes costs.
  current = current.patched({ token: '2', patch: change(-1) }) ?? current;
  const start = cpuMicros();
  for (let index = 0; index < PATCHES; index += 1) {
    const next = current.patched({ token: String(3 + index), patch: change(index) });
    if (next === undefined) throw new Error(`patch ${index} dropped the list`);
    current = next;
    if (withEtag) tagged(current.body);
  }
  return { micros: (cpuMicros() - start) / PATCHES, bytes: current.body.length };
}

const vote = (index: number) => `helpful 1:${7 + index}`;
const review = (index: number) => `review ${JSON.stringify(printed(1_000_000 + index, 0, clockMs + 1000 + index))}`;

for (const [name, change] of [
  ['helpful vote', vote],
  ['new review', review],
] as const) {
  for (const withEtag of [false, true]) {
    const { micros, bytes } = measure(change, withEtag);
    console.log(
      `${name.padEnd(13)} ${withEtag ? 'patch + ETag' : 'patch       '}  ${micros.toFixed(1).padStart(7)} µs  (list of ${bytes.toLocaleString('en-US')} bytes)`,
    );
  }
}
