/**
 * What a replica must have replayed before it may fill a scope (server/read-positions.ts):
 * read-your-write through replicas, per scope, so that a lagging replica still serves the scopes
 * nobody wrote lately.
 */
import t from 'tap';
import { ReadPositions } from '../server/read-positions.js';

t.test('nothing may be read from a replica before the first acknowledgement is committed', async (t) => {
  const positions = new ReadPositions();
  t.equal(positions.position('styles 1'), undefined);
  t.equal(positions.position(undefined), undefined);
  positions.committed(positions.sending(), 100);
  t.equal(positions.position('styles 1'), 100, 'a scope never invalidated needs the first position');
  t.equal(positions.position(undefined), 100);
});

t.test('an invalidated scope reads the primary until the acknowledgement carrying it is committed', async (t) => {
  const positions = new ReadPositions();
  positions.committed(positions.sending(), 100);
  positions.changed('qa 7');
  t.equal(positions.position('qa 7'), undefined, 'unsent');
  t.equal(positions.position('qa 8'), 100, 'other scopes keep theirs');
  t.equal(positions.position(undefined), undefined, 'a body of unknown scope waits for everything');
  const sent = positions.sending();
  t.equal(positions.position('qa 7'), undefined, 'in flight');
  positions.committed(sent, 250);
  t.equal(positions.position('qa 7'), 250);
  t.equal(positions.position('qa 8'), 100, 'a scope nobody wrote stays at the floor (GitLab’s unsticking bug)');
  t.equal(positions.position(undefined), 250);
});

t.test('a scope invalidated again while its acknowledgement is in flight waits for the next one', async (t) => {
  const positions = new ReadPositions();
  positions.committed(positions.sending(), 100);
  positions.changed('review-lists 3');
  const first = positions.sending();
  positions.changed('review-lists 3');
  positions.committed(first, 200);
  t.equal(positions.position('review-lists 3'), undefined, 'the second invalidation is not acknowledged yet');
  positions.committed(positions.sending(), 300);
  t.equal(positions.position('review-lists 3'), 300);
});

t.test('an invalidation of a scope already unsent is carried once', async (t) => {
  const positions = new ReadPositions();
  positions.committed(positions.sending(), 100);
  positions.changed('styles 1');
  positions.changed('styles 1');
  const sent = positions.sending();
  t.same(sent.scopes, ['styles 1']);
  positions.committed(sent, 150);
  t.equal(positions.position('styles 1'), 150);
});

t.test('everything changed: every scope reads the primary, then needs the new position', async (t) => {
  const positions = new ReadPositions();
  positions.committed(positions.sending(), 100);
  positions.changed('qa 1');
  positions.committed(positions.sending(), 200);
  positions.everythingChanged();
  t.equal(positions.position('qa 1'), undefined);
  t.equal(positions.position('qa 2'), undefined);
  const sent = positions.sending();
  t.equal(positions.position('qa 2'), undefined, 'in flight');
  positions.committed(sent, 500);
  t.equal(positions.position('qa 1'), 500);
  t.equal(positions.position('qa 2'), 500, 'the floor moved');
});

t.test('a heartbeat acknowledgement carrying nothing moves only what unknown scopes need', async (t) => {
  const positions = new ReadPositions();
  positions.committed(positions.sending(), 100);
  positions.committed(positions.sending(), 900);
  t.equal(positions.position('product 1'), 100);
  t.equal(positions.position(undefined), 900);
});

t.test('scopes beyond the bound fold into the floor, oldest first', async (t) => {
  const positions = new ReadPositions(2);
  positions.committed(positions.sending(), 100);
  for (const [scope, at] of [
    ['a', 200],
    ['b', 300],
    ['c', 400],
  ] as const) {
    positions.changed(scope);
    positions.committed(positions.sending(), at);
  }
  t.equal(positions.position('a'), 200, 'the evicted scope needs no less than it did');
  t.equal(positions.position('b'), 300);
  t.equal(positions.position('c'), 400);
  t.equal(positions.position('z'), 200, 'every scope not remembered needs the evicted position');
});

t.test('a re-written scope moves to the newest end and is evicted last', async (t) => {
  const positions = new ReadPositions(2);
  positions.committed(positions.sending(), 100);
  positions.changed('a');
  positions.committed(positions.sending(), 200);
  positions.changed('b');
  positions.committed(positions.sending(), 300);
  positions.changed('a');
  positions.committed(positions.sending(), 400);
  positions.changed('c');
  positions.committed(positions.sending(), 500);
  t.equal(positions.position('a'), 400, 'kept');
  t.equal(positions.position('b'), 300, 'evicted into the floor');
  t.equal(positions.position('z'), 300);
});

t.test('reset forgets everything: nothing is known until the next acknowledgement', async (t) => {
  const positions = new ReadPositions();
  positions.committed(positions.sending(), 100);
  positions.changed('qa 1');
  positions.reset();
  t.equal(positions.position('qa 2'), undefined);
  positions.committed(positions.sending(), 700);
  t.equal(positions.position('qa 1'), 700);
  t.equal(positions.position('qa 2'), 700);
});
