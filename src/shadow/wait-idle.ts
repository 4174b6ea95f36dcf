/**
 * A tee's drain: wait until the last copy is judged, or the deadline, whichever
 * comes first. Copies still queued then are the caller's to count as dropped.
 */
export async function waitIdleOrDeadline(whenIdle: (resolve: () => void) => void, deadlineMs: number): Promise<void> {
  const idle = new Promise<void>((resolve) => whenIdle(resolve));
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deadlineMs);
  });
  await Promise.race([idle, expired]);
  clearTimeout(timer);
}
