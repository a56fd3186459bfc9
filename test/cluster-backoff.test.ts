import t from 'tap';
import { Backoff } from '../lib/backoff.js';

const policy = { initialMs: 100, maxMs: 10_000, jitter: 0.2 };

t.test('respawn delays double from 100 ms and stop at 10 s', async (t) => {
  const backoff = new Backoff({ ...policy, random: () => 0.5 });
  const delays = Array.from({ length: 10 }, () => backoff.next());
  t.same(delays, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
});

t.test('jitter keeps each delay within ±20 %', async (t) => {
  t.same(
    [new Backoff({ ...policy, random: () => 0 }).next(), new Backoff({ ...policy, random: () => 0.999999 }).next()],
    [80, 120],
  );
  const capped = new Backoff({ ...policy, random: () => 0 });
  for (let i = 0; i < 20; i++) capped.next();
  t.equal(capped.next(), 8_000, 'the cap is jittered too, so a crash-looping fleet does not restart in step');
});

t.test('reset starts again from the first delay', async (t) => {
  const backoff = new Backoff({ ...policy, random: () => 0.5 });
  backoff.next();
  backoff.next();
  backoff.reset();
  t.equal(backoff.next(), 100);
});
