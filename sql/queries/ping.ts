import type { Pool } from '../db/pool.js';

const PING = { name: 'ping', text: 'SELECT 1' };

/** Resolves when a pooled connection answers a trivial query; rejects with the pool's error. */
export async function ping(pool: Pool): Promise<void> {
  await pool.query(PING);
}
