/**
 * Resolves once `isDone()` holds, checked again each event-loop turn. The
 * deadline is only a failure bound (a hang becomes an error naming what was
 * awaited); nothing is asserted about how long the wait took.
 */
export async function until(what: string, isDone: () => boolean | Promise<boolean>, deadlineMs = 10_000): Promise<void> {
  const giveUpAt = Date.now() + deadlineMs;
  while (!(await isDone())) {
    if (Date.now() > giveUpAt) throw new Error(`still waiting after ${deadlineMs} ms for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
