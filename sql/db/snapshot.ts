/**
 * PostgreSQL snapshots as pg_current_snapshot() prints them ("xmin:xmax:xip,…", full 64-bit
 * transaction ids), and which transactions' effects a statement read in one can see: those that
 * had committed when it was taken. The ids compared are the write tokens of
 * sql/queries/invalidation.ts (pg_current_xact_id()), of the same 64-bit space, which stays far
 * below 2^53 (a billion transactions a day for 24,000 years).
 */
export interface Snapshot {
  readonly xmin: number;
  readonly xmax: number;
  /** Transactions in progress when it was taken, between xmin and xmax. */
  readonly inProgress: ReadonlySet<number>;
}

const SNAPSHOT = /^(\d+):(\d+):((?:\d+(?:,\d+)*)?)$/;

/** The snapshot `text` prints, or undefined for any other text. */
export function parseSnapshot(text: string): Snapshot | undefined {
  const match = SNAPSHOT.exec(text);
  if (match === null) return undefined;
  const inProgress = new Set(match[3] === '' ? [] : match[3]!.split(',').map(Number));
  return { xmin: Number(match[1]), xmax: Number(match[2]), inProgress };
}

/** Whether transaction `xid` had committed (or aborted) for a statement read in `snapshot`. */
export function seesTransaction(snapshot: Snapshot, xid: number): boolean {
  return xid < snapshot.xmin || (xid < snapshot.xmax && !snapshot.inProgress.has(xid));
}
