import t from 'tap';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { WriteBatcher, WriteBatcherClosed, type WriteBatcherOptions } from '../server/write-batcher.js';

/** A batch statement that records its batches and finishes when the test says so. */
function recorder<Item>() {
  const batches: Item[][] = [];
  const finish: ((outcome: Error | undefined) => void)[] = [];
  const write = (items: readonly Item[]): Promise<string[]> => {
    batches.push([...items]);
    return new Promise((resolve, reject) => {
      finish.push((err) => (err ? reject(err) : resolve(items.map((item) => `done ${String(item)}`))));
    });
  };
  return { batches, finish, write };
}

const UNDELAYED: WriteBatcherOptions = { maxItems: 100, maxDelayMs: 0, maxConcurrentFlushes: 1 };

t.test('items added in one event-loop turn share one batch, and each gets its own result', async (t) => {
  const { batches, finish, write } = recorder<number>();
  const batcher = new WriteBatcher(write, UNDELAYED);
  const results = [batcher.add(1), batcher.add(2), batcher.add(1)];
  await nextTurn();
  t.same(batches, [[1, 2, 1]]);
  finish[0]!(undefined);
  t.same(await Promise.all(results), ['done 1', 'done 2', 'done 1'], 'results in the order the items were added');
});

t.test('items that arrive while the flush slots are busy leave together when one frees up', async (t) => {
  const { batches, finish, write } = recorder<number>();
  const batcher = new WriteBatcher(write, UNDELAYED);
  const first = batcher.add(1);
  await nextTurn();
  const later = [batcher.add(2), batcher.add(3)];
  await nextTurn();
  const more = batcher.add(4);
  await nextTurn();
  t.same(batches, [[1]], 'one statement at a time');
  finish[0]!(undefined);
  await first;
  await nextTurn();
  t.same(batches, [[1], [2, 3, 4]], 'everything that waited went in the next batch');
  finish[1]!(undefined);
  t.same(await Promise.all([...later, more]), ['done 2', 'done 3', 'done 4']);
});

t.test('a batch leaves at maxItems without waiting, and the rest waits for a slot', async (t) => {
  const { batches, finish, write } = recorder<number>();
  const batcher = new WriteBatcher(write, { maxItems: 2, maxDelayMs: 10_000, maxConcurrentFlushes: 2 });
  const results = [1, 2, 3, 4, 5].map((item) => batcher.add(item));
  t.same(
    batches,
    [
      [1, 2],
      [3, 4],
    ],
    'two full batches at once, no timer waited for',
  );
  finish[0]!(undefined);
  await results[0];
  await nextTurn();
  t.same(batches, [[1, 2], [3, 4], [5]], 'the remainder left as soon as a slot freed');
  finish[1]!(undefined);
  finish[2]!(undefined);
  t.same(await Promise.all(results), ['done 1', 'done 2', 'done 3', 'done 4', 'done 5']);
});

t.test('a failed batch rejects every item in it, and the next batch is unaffected', async (t) => {
  const { finish, write } = recorder<number>();
  const batcher = new WriteBatcher(write, UNDELAYED);
  const failed = [batcher.add(1), batcher.add(2)];
  await nextTurn();
  const next = batcher.add(3);
  const lost = new Error('connection lost');
  finish[0]!(lost);
  for (const item of failed) await t.rejects(item, lost);
  await nextTurn();
  finish[1]!(undefined);
  t.equal(await next, 'done 3');
});

t.test('close() waits for every item taken, then refuses new ones with WriteBatcherClosed', async (t) => {
  const { batches, finish, write } = recorder<number>();
  const batcher = new WriteBatcher(write, { maxItems: 100, maxDelayMs: 10_000, maxConcurrentFlushes: 1 });
  const taken = batcher.add(1);
  let closed = false;
  const closing = batcher.close().then(() => {
    closed = true;
  });
  t.same(batches, [[1]], 'close() flushes at once instead of waiting for the timer');
  await t.rejects(batcher.add(2), { name: 'WriteBatcherClosed' });
  t.ok(
    await batcher.add(2).catch((err: unknown) => err instanceof WriteBatcherClosed),
    'a WriteBatcherClosed, which the server answers 503',
  );
  await nextTurn();
  t.notOk(closed, 'not closed while a batch is in flight');
  finish[0]!(undefined);
  t.equal(await taken, 'done 1');
  await closing;
  t.ok(closed);
});
