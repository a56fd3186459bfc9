/** Deadlines for waits on other processes: every wait names what it waited for, and gives up. */
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a test waits before it fails, saying what it waited for. */
export interface Deadline {
  readonly timeoutMs: number;
}

const POLL_MS = 20;

/**
 * Resolves with `work`, or rejects once `timeoutMs` has passed: a broken case then fails naming
 * what it waited for instead of hanging until tap's per-file timeout.
 * `what` is a clause: `within(cluster.exited, 'the primary exited', { timeoutMs: 10_000 })`.
 */
export async function within<T>(work: Promise<T>, what: string, { timeoutMs }: Deadline): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting until ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `condition` every 20 ms until it holds: how a test waits for another process (or the
 * database) to reach a state. Rejects as `within` does when it does not hold in time.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  deadline: Deadline,
): Promise<void> {
  let gaveUp = false;
  const poll = async (): Promise<void> => {
    while (!gaveUp && !(await condition())) await sleep(POLL_MS);
  };
  try {
    await within(poll(), what, deadline);
  } finally {
    gaveUp = true;
  }
}
