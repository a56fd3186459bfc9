/**
 * The bookkeeping behind "a write is answered once no worker can serve a body without it"
 * (server/acknowledgements.ts), on a fake clock whose timers fire when it is advanced.
 */
import t from 'tap';
import { type AckClock, Acknowledgements, LEASE_MARGIN_MS, LEASE_MS, WAIT_CAP_MS } from '../server/acknowledgements.js';

interface FakeClock extends AckClock {
  advance(ms: number): Promise<void>;
}

function fakeClock(): FakeClock {
  let time = 0;
  let nextId = 0;
  const timers = new Map<number, { at: number; callback: () => void }>();
  return {
    now: () => time,
    setTimeout(callback, ms) {
      nextId += 1;
      timers.set(nextId, { at: time + ms, callback });
      return nextId;
    },
    clearTimeout(timer) {
      timers.delete(timer as number);
    },
    async advance(ms) {
      const until = time + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, timer]) => timer.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        time = due[1].at;
        due[1].callback();
        await Promise.resolve();
      }
      time = until;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

/** Whether `promise` has settled, and with what, without waiting for it. */
function watch<T>(promise: Promise<T>): { settled: boolean; value: T | undefined } {
  const state = { settled: false, value: undefined as T | undefined };
  void promise.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

/** A worker whose listener connected a lease ago, so it has heard from every live peer. */
async function settledWorker(clock: FakeClock): Promise<Acknowledgements> {
  const acks = new Acknowledgements('self', clock);
  await clock.advance(LEASE_MS);
  return acks;
}

t.test('a write waits for its own invalidation and for every live peer to apply it', async (t) => {
  const clock = fakeClock();
  const acks = await settledWorker(clock);
  acks.peerAcknowledged('a -');
  acks.peerAcknowledged('b -');
  const write = watch(acks.reached('t1'));
  await clock.advance(1);
  t.notOk(write.settled, 'not before this worker has the invalidation');
  acks.applied('t1');
  await clock.advance(1);
  t.notOk(write.settled, 'nor before the peers have it');
  acks.peerAcknowledged('a t1');
  await clock.advance(1);
  t.notOk(write.settled, 'one peer is not enough');
  acks.peerAcknowledged('b t1');
  await clock.advance(1);
  t.same(write, { settled: true, value: true }, 'every live peer applied it');
});

t.test(
  'an acknowledgement of a later invalidation covers the earlier ones: the stream is in commit order',
  async (t) => {
    const clock = fakeClock();
    const acks = await settledWorker(clock);
    acks.peerAcknowledged('a -');
    acks.applied('t1');
    acks.applied('t2');
    const write = watch(acks.reached('t1'));
    acks.peerAcknowledged('a t2');
    await clock.advance(1);
    t.same(write, { settled: true, value: true });
    const later = watch(acks.reached('t2'));
    await clock.advance(1);
    t.same(later, { settled: true, value: true }, 'already acknowledged');
  },
);

t.test('a peer that stops acknowledging holds writes one lease after its last word, then no more', async (t) => {
  const clock = fakeClock();
  const acks = await settledWorker(clock);
  acks.peerAcknowledged('frozen -');
  t.equal(acks.livePeers(), 1);
  acks.applied('t1');
  const write = watch(acks.reached('t1'));
  await clock.advance(LEASE_MS - 1);
  t.notOk(write.settled, 'still live');
  await clock.advance(1);
  t.same(write, { settled: true, value: true }, 'answered as its lease ends');
  t.equal(acks.livePeers(), 0);
  acks.applied('t2');
  const next = watch(acks.reached('t2'));
  await clock.advance(1);
  t.same(next, { settled: true, value: true }, 'the next write does not wait for it');
});

t.test('a peer that keeps acknowledging old tokens keeps the write waiting, up to the cap', async (t) => {
  const clock = fakeClock();
  const acks = await settledWorker(clock);
  acks.applied('t0');
  acks.peerAcknowledged('stuck t0');
  acks.applied('t1');
  const write = watch(acks.reached('t1'));
  for (let elapsed = 0; elapsed < WAIT_CAP_MS - 250; elapsed += 250) {
    acks.peerAcknowledged('stuck t0');
    await clock.advance(250);
  }
  t.notOk(write.settled, 'waiting');
  await clock.advance(500);
  t.same(write, { settled: true, value: false }, 'gave up at the cap');
});

t.test('for one lease after connecting, writes wait: not every live peer has been heard from yet', async (t) => {
  const clock = fakeClock();
  const acks = new Acknowledgements('self', clock);
  acks.applied('t1');
  const write = watch(acks.reached('t1'));
  await clock.advance(LEASE_MS - 1);
  t.notOk(write.settled);
  await clock.advance(1);
  t.same(write, { settled: true, value: true });
  acks.restart();
  acks.applied('t2');
  const afterReconnect = watch(acks.reached('t2'));
  await clock.advance(LEASE_MS - 1);
  t.notOk(afterReconnect.settled, 'a reconnection starts membership over');
  await clock.advance(1);
  t.same(afterReconnect, { settled: true, value: true });
});

t.test('a worker serves from its cache only within the lease its last committed acknowledgement earned', async (t) => {
  const clock = fakeClock();
  const acks = new Acknowledgements('self', clock);
  t.notOk(acks.holdsLease(), 'no lease before a first acknowledgement');
  const sentAt = clock.now();
  await clock.advance(20);
  acks.acknowledged(sentAt);
  t.ok(acks.holdsLease());
  await clock.advance(LEASE_MS - LEASE_MARGIN_MS - 21);
  t.ok(acks.holdsLease(), 'counted from when it was sent');
  await clock.advance(1);
  t.notOk(acks.holdsLease(), 'ends a margin before writers stop counting it');
  acks.restart();
  t.notOk(acks.holdsLease(), 'a reconnection ends it');
});

t.test('own acknowledgements and malformed ones do not count as peers; releaseAll answers every waiter', async (t) => {
  const clock = fakeClock();
  const acks = await settledWorker(clock);
  t.ok(acks.peerAcknowledged(acks.acknowledgement()), 'its own, parsed');
  t.equal(acks.livePeers(), 0, 'but not a peer');
  for (const payload of ['', 'a', 'a b c', ' a b']) t.notOk(acks.peerAcknowledged(payload), JSON.stringify(payload));
  acks.applied('t1');
  t.equal(acks.acknowledgement(), 'self t1');
  const write = watch(acks.reached('t9'));
  acks.releaseAll();
  await clock.advance(1);
  t.same(write, { settled: true, value: false });
});
