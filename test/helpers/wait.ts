/** Polls `condition` every 20 ms until it holds: how a test waits for another process (or the database) to reach a state. */
export async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 20));
}
