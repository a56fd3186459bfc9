/**
 * Zero stale reads across workers, instances and replicas (issue 15, items 2 and 3): once a write
 * through one instance is answered, no worker of any instance answers a body without it, whichever
 * streaming replica it read from — checked by reading the written product through every worker of
 * both instances, on fresh connections, right after each answer, under background load; then again
 * with one of the reading instance's workers SIGSTOPped (writes are still answered, within the
 * lease) and after it resumes.
 *
 * A primary and two replicas (test/helpers/replication.ts), one of them applying every commit
 * 300 ms late, so a read that went to it too early would certainly be stale. The writing instance
 * caches; the reading instance does not (CACHE_MAX_BYTES=0), so every one of its reads is routed
 * to a replica or the primary. Background readers of products nobody writes keep both replicas
 * busy, and the test checks that both served reads.
 */
import http from 'node:http';
import t, { type Test } from 'tap';
import { LEASE_MS } from '../server/acknowledgements.js';
import { request } from './helpers/api.js';
import { steadyLoad, type Planned } from './helpers/load.js';
import { perWorkerInstance, replicaMetric, type Worker } from './helpers/instances.js';
import { productRows, runSql } from './helpers/own-database.js';
import { REPLICAS, startReplicationSet } from './helpers/replication.js';

/** Written and checked, one chain of writes each, in parallel. */
const PRODUCTS = [1, 2, 3, 4, 5, 6];
/**
 * Each worker is asked for each written body this many times at once, on fresh connections:
 * concurrent reads of one body (which share one fill) must all show the write, and a write,
 * far dearer than a read here, buys more checks.
 */
const READS_PER_WORKER = 2;
/** Only read, by the background load: any replica that is in rotation may serve them. */
const UNWRITTEN = [7, 8, 9, 10, 11, 12];
const set = await startReplicationSet(t, { seed: (url) => runSql(url, productRows(12)) });

async function instance(t: Test, env: Readonly<Record<string, string>> = {}): Promise<readonly Worker[]> {
  const started = await perWorkerInstance(t, {
    DATABASE_URL: set.primary.url,
    DATABASE_REPLICA_URLS: set.replicaUrls.join(','),
    ...env,
  });
  return started.workers;
}

/** A GET on a new connection; undefined when no reply came within `timeoutMs` (a frozen worker). */
function freshRead(port: number, path: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sent = http.get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        clearTimeout(timer);
        resolve(response.statusCode === 200 ? text : `status ${response.statusCode}: ${text}`);
      });
    });
    const timer = setTimeout(() => {
      sent.destroy();
      resolve(undefined);
    }, timeoutMs);
    sent.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

async function send(port: number, method: string, path: string, body?: object): Promise<string> {
  const answer = await request(port, method, path, body === undefined ? undefined : JSON.stringify(body));
  if (answer.status !== 201 && answer.status !== 204)
    throw new Error(`${method} ${path}: ${answer.status} ${answer.body}`);
  return answer.body;
}

/** A write, the body that must show it, and how to tell. */
interface Check {
  readonly what: string;
  readonly path: string;
  readonly shows: (body: string) => boolean;
}

/** What the checks know of each product's rows: the ids they created and the votes they cast. */
interface ProductState {
  readonly question: number;
  readonly answer: number;
  review: number | undefined;
  reviewVotes: number;
  questionVotes: number;
  answerVotes: number;
}

const review = (productId: number) => ({
  product_id: productId,
  rating: 4,
  summary: 'Warm',
  body: 'Warm enough for a winter walk.',
  recommend: true,
  name: 'checker',
  email: 'checker@example.com',
  photos: [],
  characteristics: {},
});
const question = (productId: number) => ({
  product_id: productId,
  body: 'Does it fade?',
  name: 'asker',
  email: 'asker@example.com',
});
const answer = { body: 'Not after ten washes.', name: 'answerer', email: 'answerer@example.com', photos: [] };

const reviews = (productId: number): string => `/reviews?product_id=${productId}&sort=newest&count=1000`;
const questions = (productId: number): string => `/qa/questions?product_id=${productId}&count=1000`;
const answers = (questionId: number): string => `/qa/questions/${questionId}/answers?count=1000`;

/** The writes the checks cycle through, each returning what must be read after it. */
const WRITES: ((port: number, productId: number, state: ProductState) => Promise<Check>)[] = [
  async (port, productId, state) => {
    const id = (JSON.parse(await send(port, 'POST', '/reviews', review(productId))) as { review_id: number }).review_id;
    state.review = id;
    state.reviewVotes = 0;
    return {
      what: `review ${id} created`,
      path: reviews(productId),
      shows: (body) => body.includes(`"review_id":${id},`),
    };
  },
  async (port, productId, state) => {
    await send(port, 'PUT', `/reviews/${state.review}/helpful`);
    const votes = ++state.reviewVotes;
    const shown = new RegExp(`"review_id":${state.review},[^}]*"helpfulness":${votes},`);
    return {
      what: `review ${state.review} voted ${votes}`,
      path: reviews(productId),
      shows: (body) => shown.test(body),
    };
  },
  async (port, productId, state) => {
    const id = state.review;
    await send(port, 'PUT', `/reviews/${id}/report`);
    return {
      what: `review ${id} reported`,
      path: reviews(productId),
      shows: (body) => !body.includes(`"review_id":${id},`),
    };
  },
  async (port, productId) => {
    const id = (JSON.parse(await send(port, 'POST', '/qa/questions', question(productId))) as { question_id: number })
      .question_id;
    return {
      what: `question ${id} asked`,
      path: questions(productId),
      shows: (body) => body.includes(`"question_id":${id},`),
    };
  },
  async (port, productId, state) => {
    await send(port, 'PUT', `/qa/questions/${state.question}/helpful`);
    const votes = ++state.questionVotes;
    const shown = new RegExp(`"question_id":${state.question},[^}]*"question_helpfulness":${votes},`);
    return {
      what: `question ${state.question} voted ${votes}`,
      path: questions(productId),
      shows: (body) => shown.test(body),
    };
  },
  async (port, _productId, state) => {
    const id = (
      JSON.parse(await send(port, 'POST', `/qa/questions/${state.question}/answers`, answer)) as { answer_id: number }
    ).answer_id;
    return {
      what: `answer ${id} given`,
      path: answers(state.question),
      shows: (body) => body.includes(`"answer_id":${id},`),
    };
  },
  async (port, _productId, state) => {
    await send(port, 'PUT', `/qa/answers/${state.answer}/helpful`);
    const votes = ++state.answerVotes;
    const shown = new RegExp(`"answer_id":${state.answer},[^}]*"helpfulness":${votes},`);
    return {
      what: `answer ${state.answer} voted ${votes}`,
      path: answers(state.question),
      shows: (body) => shown.test(body),
    };
  },
];

interface Tally {
  checks: number;
  unanswered: number;
  stale: string[];
  slowestWriteMs: number;
}

/**
 * `rounds` writes of each product (one chain of writes per product, the chains in parallel), each
 * through one of `writers` in turn, each followed by reads of the written body through every
 * worker of `readers` on a fresh connection, counting the reads that do not show the write.
 */
function runChecks(
  writers: readonly Worker[],
  readers: readonly Worker[],
  states: Map<number, ProductState>,
  rounds: number,
  tally: Tally,
): Promise<unknown> {
  return Promise.all(PRODUCTS.map((productId) => runChain(productId, writers, readers, states, rounds, tally)));
}

async function runChain(
  productId: number,
  writers: readonly Worker[],
  readers: readonly Worker[],
  states: Map<number, ProductState>,
  rounds: number,
  tally: Tally,
): Promise<void> {
  const state = states.get(productId)!;
  for (let round = 0; round < rounds; round++) {
    const write = WRITES[round % WRITES.length]!;
    const startedAt = performance.now();
    const check = await write(writers[(round + productId) % writers.length]!.port, productId, state);
    tally.slowestWriteMs = Math.max(tally.slowestWriteMs, performance.now() - startedAt);
    const reads = readers.flatMap((reader) =>
      Array.from({ length: READS_PER_WORKER }, () => freshRead(reader.port, check.path, 5000)),
    );
    for (const body of await Promise.all(reads)) {
      if (body === undefined) {
        tally.unanswered += 1;
        continue;
      }
      tally.checks += 1;
      if (!check.shows(body)) tally.stale.push(`${check.what}: ${check.path} → ${body.slice(0, 160)}`);
    }
  }
}

t.test(
  'a write answered through one instance is in every body read next through any worker of any instance',
  async (t) => {
    const writers = await instance(t);
    const readers = await instance(t, { CACHE_MAX_BYTES: '0' });
    const everyWorker = [...writers, ...readers];
    const states = new Map<number, ProductState>();
    const setup = writers[0]!.port;
    for (const productId of PRODUCTS) {
      const questionId = (
        JSON.parse(await send(setup, 'POST', '/qa/questions', question(productId))) as { question_id: number }
      ).question_id;
      const answerId = (
        JSON.parse(await send(setup, 'POST', `/qa/questions/${questionId}/answers`, answer)) as { answer_id: number }
      ).answer_id;
      const reviewId = (JSON.parse(await send(setup, 'POST', '/reviews', review(productId))) as { review_id: number })
        .review_id;
      states.set(productId, {
        question: questionId,
        answer: answerId,
        review: reviewId,
        reviewVotes: 0,
        questionVotes: 0,
        answerVotes: 0,
      });
    }
    // Background readers keep every body cached and the workers busy.
    const plan: Planned[] = [
      ...PRODUCTS.flatMap((productId) => [
        { method: 'GET', path: reviews(productId) },
        { method: 'GET', path: questions(productId) },
        { method: 'GET', path: answers(states.get(productId)!.question) },
      ]),
      ...UNWRITTEN.flatMap((productId) => [
        { method: 'GET', path: `/products/${productId}/styles` },
        { method: 'GET', path: `/reviews/meta?product_id=${productId}` },
        { method: 'GET', path: questions(productId) },
      ]),
    ];
    const [frozen, ...awake] = readers as [Worker, ...Worker[]];
    const loads = [...writers, ...awake].map((target) =>
      steadyLoad(target.port, plan, { clients: 1, timeoutMs: 5000, pauseMs: 2 }),
    );
    t.teardown(() => Promise.all(loads.map((load) => load.stop())));

    const running: Tally = { checks: 0, unanswered: 0, stale: [], slowestWriteMs: 0 };
    await runChecks(writers, everyWorker, states, 300, running);
    t.same(running.stale, [], `no stale body in ${running.checks} reads`);
    t.equal(running.unanswered, 0, 'every read answered');

    // One of the reading instance's workers frozen: it stops acknowledging, so writers wait for it
    // one lease at most; its own connections hang until it resumes, so it is not read meanwhile.
    process.kill(frozen.pid, 'SIGSTOP');
    const whileFrozen: Tally = { checks: 0, unanswered: 0, stale: [], slowestWriteMs: 0 };
    try {
      await runChecks(writers, [...writers, ...awake], states, 140, whileFrozen);
    } finally {
      process.kill(frozen.pid, 'SIGCONT');
    }
    t.same(whileFrozen.stale, [], `no stale body in ${whileFrozen.checks} reads while a worker is frozen`);
    t.equal(whileFrozen.unanswered, 0, 'every read of a running worker answered');
    t.ok(
      whileFrozen.slowestWriteMs < LEASE_MS + 2000,
      `writes answered within the lease (slowest ${Math.round(whileFrozen.slowestWriteMs)} ms, lease ${LEASE_MS} ms)`,
    );

    // Resumed: its lease ran out while it was frozen, so it reads from the database until it has
    // caught up and acknowledged again.
    const resumed: Tally = { checks: 0, unanswered: 0, stale: [], slowestWriteMs: 0 };
    await runChecks(writers, everyWorker, states, 140, resumed);
    t.same(resumed.stale, [], `no stale body in ${resumed.checks} reads after it resumed`);
    t.equal(resumed.unanswered, 0, 'every read answered');
    const total = running.checks + whileFrozen.checks + resumed.checks;
    t.ok(total >= 20_000, `${total} reads checked`);
    const served = await replicaMetric(readers[0]!.port, 'atelier_replica_reads_total');
    for (const replica of REPLICAS) {
      const node = `${set.replicas[replica].host}:${set.replicas[replica].port}`;
      t.ok(
        (served.get(node) ?? 0) > 0,
        `the ${replica} replica served reads (${served.get(node) ?? 0} on the reading instance)`,
      );
    }
    t.comment(
      `checked ${total} reads; slowest write ${Math.round(running.slowestWriteMs)} ms running, ` +
        `${Math.round(whileFrozen.slowestWriteMs)} ms with a worker frozen, ${Math.round(resumed.slowestWriteMs)} ms after`,
    );
  },
);
