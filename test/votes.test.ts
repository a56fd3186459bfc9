import t, { type Test } from 'tap';
import { openSession, type Session } from '../sql/db/admin.js';
import { type ConnectionPool, createPool } from '../sql/db/pool.js';
import { voteForAnswers, voteForReviews } from '../sql/queries/votes.js';
import { freshDatabase } from './helpers/database.js';
import { until } from '../lib/wait.js';

const FIXTURE = `
INSERT INTO products (id, name, slogan, description, category, default_price) VALUES
  (1, 'Camo Onesie', 'Blend in', 'A onesie', 'Jackets', 140),
  (2, 'Bright Future Sunglasses', 'Shades', 'Glasses', 'Accessories', 69);
INSERT INTO reviews (id, product_id, rating, date, summary, body, recommend, reported, reviewer_name, reviewer_email, helpfulness) VALUES
  (10, 1, 5, now(), 's', 'b', true, false, 'n', 'e@x.co', 0),
  (11, 1, 4, now(), 's', 'b', true, false, 'n', 'e@x.co', 3),
  (20, 2, 3, now(), 's', 'b', true, false, 'n', 'e@x.co', 0);
INSERT INTO questions (id, product_id, body, date_written, asker_name, asker_email, reported, helpful) VALUES
  (5, 2, 'Fit?', now(), 'a', 'a@x.co', false, 0);
INSERT INTO answers (id, question_id, body, date_written, answerer_name, answerer_email, reported, helpful) VALUES
  (7, 5, 'True to size', now(), 'b', 'b@x.co', false, 1);`;

async function fixture(t: Test): Promise<{ db: Session; pool: () => ConnectionPool }> {
  const url = await freshDatabase(t);
  const db = await openSession(url, 'test-votes');
  t.teardown(() => db.end());
  await db.query(FIXTURE);
  const pool = (): ConnectionPool => {
    const created = createPool({
      connectionString: url,
      max: 1,
      connectionTimeoutMillis: 3000,
      statementTimeoutMillis: 10_000,
      idleTimeoutMillis: 1000,
      applicationName: 'test-votes',
      onIdleError: () => undefined,
    });
    t.teardown(() => created.end());
    return created;
  };
  return { db, pool };
}

t.test('one batch counts every vote, repeated ids included, and answers unknown ids with nothing', async (t) => {
  const { db, pool } = await fixture(t);
  const written = await voteForReviews(pool(), [11, 20, 11, 999, 10, 11]);
  t.equal(written.length, 6, 'one result per vote, in order');
  t.same(
    written.map((vote) => vote?.productId),
    [1, 2, 1, undefined, 1, 1],
  );
  t.same(written[0]?.kinds, ['review-lists'], "a vote changes its product's review lists only");
  const tokens = new Set(written.filter((vote) => vote !== undefined).map((vote) => vote.token));
  t.equal(tokens.size, 1, 'one transaction, one write token');
  t.same(await db.query('SELECT id, helpfulness FROM reviews ORDER BY id'), [
    { id: 10, helpfulness: 1 },
    { id: 11, helpfulness: 6 },
    { id: 20, helpfulness: 1 },
  ]);
});

t.test("an answer's vote names its question's product", async (t) => {
  const { db, pool } = await fixture(t);
  const [vote] = await voteForAnswers(pool(), [7]);
  t.same(vote && { productId: vote.productId, kinds: vote.kinds }, { productId: 2, kinds: ['qa'] });
  t.same(await db.query('SELECT helpful FROM answers WHERE id = 7'), [{ helpful: 2 }]);
});

t.test('two batches voting for the same rows in opposite orders both commit, with no deadlock', async (t) => {
  const { db, pool } = await fixture(t);
  const blocker = pool();
  const holder = await blocker.connect();
  // Both batches queue behind a lock on review 11 held elsewhere; when it goes, each must still
  // get every row it needs: rows locked in any order but id order could deadlock here.
  await holder.query('BEGIN');
  await holder.query('UPDATE reviews SET helpfulness = helpfulness WHERE id = 11');
  const forward = voteForReviews(pool(), [10, 11]);
  const backward = voteForReviews(pool(), [11, 10]);
  await until(
    async () => {
      const [row] = await db.query<{ waiting: number }>(
        "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
      );
      return row!.waiting === 2;
    },
    'both batches are blocked on the lock',
    { timeoutMs: 10_000 },
  );
  await holder.query('COMMIT');
  holder.release();
  const outcomes = await Promise.allSettled([forward, backward]);
  t.same(
    outcomes.map((outcome) => outcome.status),
    ['fulfilled', 'fulfilled'],
  );
  t.same(await db.query('SELECT id, helpfulness FROM reviews WHERE id IN (10, 11) ORDER BY id'), [
    { id: 10, helpfulness: 2 },
    { id: 11, helpfulness: 5 },
  ]);
});
