/**
 * What a failed query means for its caller (server/http.ts turns these into 503s). PostgreSQL's
 * errors carry a SQLSTATE and the socket's carry an errno, so both are read by code; only the
 * errors pg and pg-pool raise themselves have no code, and those are recognised by their exact
 * message, each one listed with where it is thrown.
 */
import { PoolSaturatedError } from './pool.js';

/** SQLSTATEs that mean "the database is not there right now". */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up / shutting down)
  '53300', // too_many_connections
  '3D000', // invalid_catalog_name: the database is gone (dropped, or not yet created)
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '08006', // connection_failure
]);

/** Socket errnos (Node's `code`) of a server that cannot be reached or dropped the connection. */
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH']);

/** pg's and pg-pool's own errors that carry no code but mean the same (pg 8.x, pg-pool 3.x). */
const UNAVAILABLE_MESSAGES = new Set([
  // pg-pool connect(): a checkout waited connectionTimeoutMillis in the queue for a connection.
  'timeout exceeded when trying to connect',
  // pg-pool newClient(): opening a new connection took longer than connectionTimeoutMillis.
  'Connection terminated due to connection timeout',
  // pg Client _connect(): the socket closed although end() was never called (server gone, socket dropped).
  'Connection terminated unexpectedly',
  // pg Client _connect(): the socket closed during end(); queries still queued fail with this.
  'Connection terminated',
  // pg Client _connect(): connectionTimeoutMillis passed before the server completed the handshake.
  'timeout expired',
  // pg Client query(): no reply within query_timeout.
  'Query read timeout',
  // pg Client query(): a query sent on a client whose connection has already failed.
  'Client has encountered a connection error and is not queryable',
]);

function codeOf(err: Error): unknown {
  return (err as { code?: unknown }).code;
}

export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = codeOf(err);
  if (typeof code === 'string') return UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code);
  return UNAVAILABLE_MESSAGES.has(err.message);
}

export function isPoolSaturated(err: unknown): boolean {
  return err instanceof PoolSaturatedError;
}

/**
 * 57014 is query_canceled, which is how statement_timeout surfaces; 55P03 is lock_not_available,
 * how lock_timeout does. Either way the statement gave up waiting and changed nothing.
 */
export function isStatementTimeout(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = codeOf(err);
  return code === '57014' || code === '55P03';
}
