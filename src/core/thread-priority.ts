/**
 * Lowers the scheduling priority of the calling thread (Linux). A sidecar
 * shares its CPU with the service it fronts; work that only serves the
 * shadow (sending copies, judging large bodies) must lose to the primary's
 * requests whenever both want a core. On Linux setpriority() on a thread id
 * applies to that thread alone; /proc/thread-self names it. Elsewhere, or when
 * refused, this does nothing: priority is a preference, not a requirement.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** nice 10: the thread still runs on an idle core, but yields to normal-priority work (CFS weight 110 vs 1024). */
export const SHADOW_THREAD_NICE = 10;

export function lowerThreadPriority(nice = SHADOW_THREAD_NICE): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
