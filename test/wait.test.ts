import t from 'tap';
import { until, within } from '../lib/wait.js';

t.test('until resolves once the condition holds', async (t) => {
  let polls = 0;
  await until(() => ++polls === 3, 'the third poll', { timeoutMs: 5_000 });
  t.equal(polls, 3);
});

t.test('until fails at its deadline naming what it waited for, and stops polling', async (t) => {
  let polls = 0;
  const started = performance.now();
  await t.rejects(
    until(
      async () => {
        polls++;
        return false;
      },
      'the worker is ready',
      { timeoutMs: 100 },
    ),
    { message: 'timed out after 100 ms waiting until the worker is ready' },
  );
  t.ok(performance.now() - started < 1_000, 'soon after the deadline');
  const pollsAtDeadline = polls;
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.ok(polls <= pollsAtDeadline + 1, 'no polling after giving up');
});

t.test('until fails at its deadline even when the condition itself hangs', async (t) => {
  await t.rejects(
    until(() => new Promise<boolean>(() => {}), 'the query answered', { timeoutMs: 100 }),
    { message: 'timed out after 100 ms waiting until the query answered' },
  );
});

t.test('within passes a result or a rejection through, and fails at its deadline', async (t) => {
  t.equal(await within(Promise.resolve(7), 'seven', { timeoutMs: 1_000 }), 7);
  await t.rejects(within(Promise.reject(new Error('boom')), 'the boom', { timeoutMs: 1_000 }), { message: 'boom' });
  await t.rejects(within(new Promise(() => {}), 'the primary exited', { timeoutMs: 50 }), {
    message: 'timed out after 50 ms waiting until the primary exited',
  });
});
