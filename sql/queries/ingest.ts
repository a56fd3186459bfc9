/**
 * The SQL of the ingest (ingest/ingest.ts). Table and column names come from the ingest's own
 * table specs, never from input, and are quoted all the same; values travel as parameters.
 */
import { quoteIdent } from '../db/admin.js';
import { EVERYTHING_CHANGED, INVALIDATION_CHANNEL } from './invalidation.js';

/** Any fixed 64-bit number, distinct from the migration lock; held for the load's transaction. */
export const INGEST_LOCK_ID = 7_305_112_002;

/** $1 is INGEST_LOCK_ID. */
export const TRY_INGEST_LOCK = 'SELECT pg_try_advisory_xact_lock($1) AS locked';

/**
 * Loads are big and rare: give index builds room to sort in memory and the statistics refresh
 * and foreign key checks room to hash in memory, and lift any role-level statement timeout
 * that would cut a load short.
 */
export const LOAD_SETTINGS = [
  "SET LOCAL maintenance_work_mem = '1GB'",
  "SET LOCAL work_mem = '256MB'",
  'SET LOCAL statement_timeout = 0',
] as const;

const tableList = (tables: readonly string[]): string => tables.map(quoteIdent).join(', ');

export function lockTables(tables: readonly string[]): string {
  return `LOCK TABLE ${tableList(tables)} IN ACCESS EXCLUSIVE MODE`;
}

/** Turns the tables' change-notification triggers (sql/migrations/004) off or back on. */
export function setChangeNotifications(table: string, enabled: boolean): string {
  return `ALTER TABLE ${quoteIdent(table)} ${enabled ? 'ENABLE' : 'DISABLE'} TRIGGER USER`;
}

export function truncateTables(tables: readonly string[]): string {
  return `TRUNCATE ${tableList(tables)}`;
}

/**
 * Primary keys, unique and exclusion constraints of the reloaded tables, and every foreign key
 * that starts or ends at one of them. $1 is the reloaded tables' names.
 */
export const DEPENDENT_CONSTRAINTS = `
SELECT c.conname AS name,
       c.conrelid::regclass::text AS table_name,
       c.contype AS kind,
       pg_get_constraintdef(c.oid) AS definition
  FROM pg_constraint c
 WHERE (c.contype IN ('p', 'u', 'x') AND c.conrelid = ANY($1::text[]::regclass[]))
    OR (c.contype = 'f' AND (c.conrelid = ANY($1::text[]::regclass[]) OR c.confrelid = ANY($1::text[]::regclass[])))
 ORDER BY c.contype, c.conrelid::regclass::text, c.conname`;

export interface ConstraintDefinition {
  name: string;
  table_name: string;
  /** p, u, x or f as in pg_constraint.contype. */
  kind: string;
  definition: string;
}

/** Indexes of the reloaded tables other than those that back a constraint (rebuilt with it). */
export const STANDALONE_INDEXES = `
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_index i
 WHERE i.indrelid = ANY($1::text[]::regclass[])
   AND NOT EXISTS (
     SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
 ORDER BY 1`;

export interface IndexDefinition {
  name: string;
  definition: string;
}

/** table_name is regclass text: already quoted where it needs to be. */
export function dropConstraint(constraint: ConstraintDefinition): string {
  return `ALTER TABLE ${constraint.table_name} DROP CONSTRAINT ${quoteIdent(constraint.name)}`;
}

export function addConstraint(constraint: ConstraintDefinition): string {
  return `ALTER TABLE ${constraint.table_name} ADD CONSTRAINT ${quoteIdent(constraint.name)} ${constraint.definition}`;
}

/** index names are regclass text: already quoted where they need to be. */
export function dropIndex(index: IndexDefinition): string {
  return `DROP INDEX ${index.name}`;
}

/**
 * Binary tuples (ingest/copy-binary.ts). FREEZE writes the rows already frozen and
 * all-visible: allowed because the table was truncated in this transaction, and with
 * wal_level=minimal PostgreSQL also skips their WAL.
 */
export function copyInto(table: string, columns: readonly string[]): string {
  return `COPY ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) FROM STDIN WITH (FORMAT binary, FREEZE)`;
}

/** The type of every column of the tables named in $1, in the schema the names resolve to. */
export const COLUMN_TYPES = `
SELECT table_name::text, column_name::text, data_type::text
  FROM information_schema.columns
 WHERE table_schema = current_schema() AND table_name = ANY($1::text[])`;

/**
 * One page of a table's ids in ascending order, for a table whose file is not part of the load
 * but whose rows are the parents of a file that is. $1 is the last id of the previous page.
 */
export function idPage(table: string): string {
  return `SELECT id FROM ${quoteIdent(table)} WHERE id > $1 ORDER BY id LIMIT $2`;
}

export const REFRESH_REVIEW_STATS = 'SELECT refresh_review_stats()';

/**
 * Sent inside the load's transaction, so PostgreSQL delivers it to every listening worker when
 * the load commits, and never if it rolls back: they drop every cached body (server/invalidation.ts).
 */
export const NOTIFY_EVERYTHING_CHANGED = `SELECT pg_notify('${INVALIDATION_CHANNEL}', '${EVERYTHING_CHANGED}')`;

/**
 * The next id the identity column hands out is one above the largest loaded id (1 for an empty
 * table); ids are `GENERATED BY DEFAULT`, so the load itself never advanced the sequence.
 */
export function resetIdentity(table: string): string {
  return `SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce(max(id), 0) + 1, false) FROM ${quoteIdent(table)}`;
}

export function analyze(tables: readonly string[]): string {
  return `ANALYZE ${tableList(tables)}`;
}
