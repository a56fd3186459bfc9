import type { Pool } from '../db/pool.js';

export interface Interaction {
  readonly element: string;
  readonly widget: string;
  readonly time: string;
}

// One statement for any number of rows: three array parameters, so the text (and the prepared
// plan) is the same for every batch size.
const INSERT = {
  name: 'interactions_insert',
  text: `
INSERT INTO interactions (element, widget, time)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`,
};

/** Stores a batch of interactions in one INSERT (one transaction): all of them or none. */
export async function insertInteractions(pool: Pool, rows: readonly Interaction[]): Promise<void> {
  await pool.query({
    ...INSERT,
    values: [rows.map((row) => row.element), rows.map((row) => row.widget), rows.map((row) => row.time)],
  });
}
