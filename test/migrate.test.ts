import t from 'tap';
import { openSession } from '../sql/db/admin.js';
import { migrate } from '../sql/migrate.js';
import { freshDatabase } from './helpers/database.js';

t.test('migrations apply once and a second run applies nothing', async (t) => {
  const url = await freshDatabase(t, { migrated: false });
  const first = await migrate(url);
  t.ok(first.length >= 2, 'every migration applied on an empty database');
  t.same(await migrate(url), [], 'second run is a no-op');
  const db = await openSession(url, 'test');
  t.teardown(() => db.end());
  const tables = await db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
  );
  for (const table of [
    'products',
    'features',
    'styles',
    'photos',
    'skus',
    'related',
    'reviews',
    'reviews_photos',
    'characteristics',
    'characteristic_reviews',
    'questions',
    'answers',
    'answers_photos',
    'cart',
    'interactions',
  ]) {
    t.ok(
      tables.some((row) => row.table_name === table),
      `${table} exists`,
    );
  }
});

t.test('concurrent migrators apply each migration exactly once', async (t) => {
  const url = await freshDatabase(t, { migrated: false });
  const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
  const applied = results.flat();
  t.equal(applied.length, new Set(applied).size, 'no migration applied twice');
  t.ok(applied.length >= 2);
});
