/**
 * The admission gate's rules (server/admission.ts), on a fake clock: who starts, who waits, who is
 * refused at arrival and who at the queue deadline.
 */
import t from 'tap';
import { Admission, AdmissionGate, AdmissionRefused, type GateClock } from '../server/admission.js';
import { loadConfig } from '../lib/config.js';
import type { Pool } from '../sql/db/pool.js';

class FakeClock implements GateClock {
  private time = 0;
  private timers: { at: number; fire: () => void }[] = [];

  now(): number {
    return this.time;
  }

  after(ms: number, fire: () => void): () => void {
    const timer = { at: this.time + ms, fire };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((other) => other !== timer);
    };
  }

  /** Moves time on, firing the timers due on the way. */
  advance(ms: number): void {
    this.time += ms;
    for (;;) {
      const due = this.timers.find((timer) => timer.at <= this.time);
      if (due === undefined) return;
      this.timers = this.timers.filter((timer) => timer !== due);
      due.fire();
    }
  }

  get pending(): number {
    return this.timers.length;
  }
}

/** A task the test finishes by hand. */
function task(): { run: () => Promise<string>; finish: () => void; fail: () => void; started: () => boolean } {
  let started = false;
  let finish!: () => void;
  let fail!: () => void;
  const done = new Promise<string>((resolve, reject) => {
    finish = () => resolve('done');
    fail = () => reject(new Error('statement failed'));
  });
  return {
    run: () => {
      started = true;
      return done;
    },
    finish,
    fail,
    started: () => started,
  };
}

/** Lets settled promises run their continuations. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** `promise`'s outcome once settled: 'refused' (on arrival), 'expired' (at its queue deadline), 'done' or 'failed'. */
function outcome(promise: Promise<unknown>): () => string | undefined {
  let seen: string | undefined;
  promise.then(
    () => {
      seen = 'done';
    },
    (err: unknown) => {
      seen = err instanceof AdmissionRefused ? (err.atArrival ? 'refused' : 'expired') : 'failed';
    },
  );
  return () => seen;
}

t.test('statements start at once up to the limit, the next ones wait and start in arrival order', async (t) => {
  const clock = new FakeClock();
  const gate = new AdmissionGate('reviews', { limit: 2, maxQueued: 10, queueDeadlineMs: 1000 }, clock);
  const tasks = [task(), task(), task(), task()];
  const results = tasks.map((each) => outcome(gate.run(each.run)));
  t.same(
    tasks.map((each) => each.started()),
    [true, true, false, false],
  );
  t.same(gate.stats(), { domain: 'reviews', limit: 2, inFlight: 2, queued: 2, refused: 0 });
  tasks[1]!.finish();
  await settle();
  t.same(
    tasks.map((each) => each.started()),
    [true, true, true, false],
    'a finished statement hands its slot to the oldest waiter',
  );
  tasks[0]!.fail();
  await settle();
  t.ok(tasks[3]!.started(), 'a failed statement frees its slot too');
  tasks[2]!.finish();
  tasks[3]!.finish();
  await settle();
  t.same(
    results.map((result) => result()),
    ['failed', 'done', 'done', 'done'],
  );
  t.same(gate.stats(), { domain: 'reviews', limit: 2, inFlight: 0, queued: 0, refused: 0 });
});

t.test('a full queue refuses the newcomer at arrival', async (t) => {
  const clock = new FakeClock();
  const gate = new AdmissionGate('qa', { limit: 1, maxQueued: 2, queueDeadlineMs: 1000 }, clock);
  const tasks = [task(), task(), task(), task()];
  const results = tasks.map((each) => outcome(gate.run(each.run)));
  await settle();
  t.same(
    results.map((result) => result()),
    [undefined, undefined, undefined, 'refused'],
  );
  t.notOk(tasks[3]!.started(), 'the refused statement never ran');
  t.equal(gate.stats().refused, 1);
});

t.test('a waiter still waiting at its deadline is refused then, without any statement finishing', async (t) => {
  const clock = new FakeClock();
  const gate = new AdmissionGate('reviews', { limit: 1, maxQueued: 10, queueDeadlineMs: 1000 }, clock);
  const stuck = task();
  gate.run(stuck.run);
  const first = outcome(gate.run(task().run));
  clock.advance(500);
  const second = outcome(gate.run(task().run));
  clock.advance(500);
  await settle();
  t.equal(first(), 'expired', 'the first waiter reached its deadline');
  t.equal(second(), undefined, 'the second has 500 ms left');
  clock.advance(500);
  await settle();
  t.equal(second(), 'expired');
  t.equal(clock.pending, 0, 'no timer is left once the queue is empty');
  t.same(gate.stats(), { domain: 'reviews', limit: 1, inFlight: 1, queued: 0, refused: 2 });
});

t.test(
  'a stalled domain is not refused at arrival: its newcomers wait and are refused at their deadline',
  async (t) => {
    const clock = new FakeClock();
    const gate = new AdmissionGate('reviews', { limit: 1, maxQueued: 10, queueDeadlineMs: 1000 }, clock);
    // A quick statement first, so the mean service time is short; then statements that fail after
    // a whole lock timeout: failures do not move the estimate.
    const quick = task();
    gate.run(quick.run);
    clock.advance(10);
    quick.finish();
    await settle();
    for (let round = 0; round < 3; round++) {
      const stuck = task();
      outcome(gate.run(stuck.run));
      clock.advance(1000);
      stuck.fail();
      await settle();
    }
    const stuck = task();
    gate.run(stuck.run).catch(() => undefined);
    clock.advance(5000);
    const newcomer = outcome(gate.run(task().run));
    await settle();
    t.equal(newcomer(), undefined, 'after seconds without a success, a newcomer still waits');
    t.equal(gate.stats().queued, 1);
    clock.advance(1000);
    await settle();
    t.equal(newcomer(), 'expired', 'and is refused at its deadline');
    stuck.finish();
    await settle();
    const after = task();
    gate.run(after.run);
    t.ok(after.started(), 'a freed slot serves the next arrival at once');
  },
);

t.test('a burst after a long idle spell is queued', async (t) => {
  const clock = new FakeClock();
  const gate = new AdmissionGate('qa', { limit: 1, maxQueued: 10, queueDeadlineMs: 1000 }, clock);
  const earlier = task();
  gate.run(earlier.run);
  clock.advance(5);
  earlier.finish();
  await settle();
  clock.advance(60_000);
  const first = task();
  gate.run(first.run);
  const second = outcome(gate.run(task().run));
  await settle();
  t.ok(first.started());
  t.equal(second(), undefined, 'the second waits for the first');
  t.equal(gate.stats().queued, 1);
});

t.test('arrivals are refused once the estimated wait exceeds the deadline', async (t) => {
  const clock = new FakeClock();
  const gate = new AdmissionGate('catalogue', { limit: 2, maxQueued: 100, queueDeadlineMs: 1000 }, clock);
  // Statements that take 400 ms: two slots serve five a second, so a sixth waiter waits > 1 s.
  const first = task();
  gate.run(first.run);
  clock.advance(400);
  first.finish();
  await settle();
  const running = [task(), task()];
  for (const each of running) gate.run(each.run);
  const waiting = Array.from({ length: 7 }, () => outcome(gate.run(task().run)));
  await settle();
  t.same(
    waiting.map((result) => result()),
    [undefined, undefined, undefined, undefined, undefined, 'refused', 'refused'],
    'five wait (the fifth 5 × 400 ms ÷ 2 = 1,000 ms), the sixth would wait 1,200 ms',
  );
});

t.test('each domain has its own gate over the same pool', async (t) => {
  const clock = new FakeClock();
  const statements: string[] = [];
  const pending: (() => void)[] = [];
  const pool = {
    query: (text: string) =>
      new Promise((resolve) => {
        statements.push(text);
        pending.push(() => resolve({ rows: [] }));
      }),
  } as unknown as Pool;
  const admission = new Admission(pool, { limit: 1, maxQueued: 0, queueDeadlineMs: 1000 }, clock);
  const reviews = outcome(admission.pools.reviews.query('SELECT reviews'));
  const refused = outcome(admission.pools.reviews.query('SELECT more reviews'));
  const products = outcome(admission.pools.catalogue.query('SELECT products'));
  await settle();
  t.same(statements, ['SELECT reviews', 'SELECT products'], 'a busy reviews domain leaves catalogue its slot');
  t.equal(refused(), 'refused');
  for (const resolve of pending) resolve();
  await settle();
  t.same([reviews(), products()], ['done', 'done']);
  t.same(
    admission.stats().map(({ domain, inFlight, refused }) => ({ domain, inFlight, refused })),
    [
      { domain: 'catalogue', inFlight: 0, refused: 0 },
      { domain: 'reviews', inFlight: 0, refused: 1 },
      { domain: 'qa', inFlight: 0, refused: 0 },
      { domain: 'shopping', inFlight: 0, refused: 0 },
    ],
  );
});

t.test('ADMISSION_LIMIT defaults to half the pool and may not exceed it', async (t) => {
  t.equal(loadConfig({}).admissionLimit, 4);
  t.equal(loadConfig({ PG_POOL_SIZE: '5' }).admissionLimit, 3);
  t.equal(loadConfig({ PG_POOL_SIZE: '1' }).admissionLimit, 1);
  t.throws(() => loadConfig({ PG_POOL_SIZE: '8', ADMISSION_LIMIT: '9' }), { message: /ADMISSION_LIMIT/ });
  t.throws(() => loadConfig({ ADMISSION_QUEUE_DEADLINE_MS: '0' }), { message: /ADMISSION_QUEUE_DEADLINE_MS/ });
});
