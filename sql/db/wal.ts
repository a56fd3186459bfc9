/**
 * WAL positions (LSNs) as plain numbers of bytes, so they compare with `>=` and cost nothing to
 * keep: a JavaScript number holds an LSN exactly up to 2^53 bytes (8 PiB of WAL written in the
 * server's lifetime), far beyond what a server writes before it is rebuilt.
 */

/** A position PostgreSQL prints as `X/Y` (two hexadecimal 32-bit halves). */
export type WalPosition = number;

export function parseWalPosition(text: string): WalPosition {
  const slash = text.indexOf('/');
  const position = Number.parseInt(text.slice(0, slash), 16) * 2 ** 32 + Number.parseInt(text.slice(slash + 1), 16);
  if (slash < 1 || !Number.isSafeInteger(position)) throw new Error(`not a WAL position: "${text}"`);
  return position;
}
