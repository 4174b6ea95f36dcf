/**
 * What the process holds: handles (process.getActiveResourcesInfo) and bytes
 * (heap plus array buffers, after a full collection), so a test can compare
 * before and after some input and name what was left behind.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { until } from './until.js';

// --expose-gc without a flag on the test runner: a context made after the flag is set sees gc().
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export function resourceCounts(): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) out.set(r, (out.get(r) ?? 0) + 1);
  return out;
}

/** Resource types of which more are held now than in `before`, as "Type: before -> now". */
export function resourcesAbove(before: ReadonlyMap<string, number>): string[] {
  const out: string[] = [];
  for (const [type, n] of resourceCounts()) {
    const was = before.get(type) ?? 0;
    if (n > was) out.push(`${type}: ${was} -> ${n}`);
  }
  return out;
}

/** Waits until no resource type is held more than in `before`; fails naming the extra ones. */
export async function untilResourcesReturn(before: ReadonlyMap<string, number>, deadlineMs = 5_000): Promise<void> {
  try {
    await until('handles back to their count before', () => resourcesAbove(before).length === 0, deadlineMs);
  } catch {
    throw new Error(`handles left behind: ${resourcesAbove(before).join(', ')}`);
  }
}

/** Heap used plus array buffers (Buffers live there) after full collections. */
export async function heldBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    // Finalizers of collected Buffers run between turns.
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * The most bytes held above the level before `fn`, sampled every few ms while
 * it runs (uncollected garbage counts too, so this bounds what was held from
 * above), and `fn`'s value.
 */
export async function peakHeldDuring<T>(fn: () => Promise<T>): Promise<{ value: T; peak: number }> {
  const base = await heldBytes();
  let top = 0;
  const sample = () => {
    const m = process.memoryUsage();
    top = Math.max(top, m.heapUsed + m.arrayBuffers);
  };
  const timer = setInterval(sample, 2);
  try {
    const value = await fn();
    sample();
    return { value, peak: Math.max(0, top - base) };
  } finally {
    clearInterval(timer);
  }
}
