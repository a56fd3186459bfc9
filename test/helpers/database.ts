import type { Test } from 'tap';
import { dropDatabase, ensureDatabase, withDatabase } from '../../sql/db/admin.js';

let counter = 0;

function runSettings(): { adminUrl: string; template: string; prefix: string } {
  const adminUrl = process.env.ATELIER_TEST_ADMIN_URL;
  const template = process.env.ATELIER_TEST_TEMPLATE;
  const prefix = process.env.ATELIER_TEST_PREFIX;
  if (!adminUrl || !template || !prefix) {
    throw new Error('run the suite with `npm test` (test/run.ts provides the database)');
  }
  return { adminUrl, template, prefix };
}

/**
 * A new database for this test, dropped when the test ends. `migrated` (the default) clones
 * the run's template, which has every migration applied; otherwise it is empty.
 */
export async function freshDatabase(t: Test, options: { migrated?: boolean } = {}): Promise<string> {
  const { adminUrl, template, prefix } = runSettings();
  const name = `${prefix}${process.pid}_${++counter}`;
  await ensureDatabase(adminUrl, name, options.migrated === false ? 'template0' : template);
  t.teardown(() => dropDatabase(adminUrl, name));
  return withDatabase(adminUrl, name);
}

/** URL of the run's server (admin database), for tests that create databases themselves. */
export function adminUrl(): string {
  return runSettings().adminUrl;
}
