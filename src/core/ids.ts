import { monotonicFactory } from 'ulid';

// Monotonic so ids minted in the same millisecond still sort in creation order.
const nextUlid = monotonicFactory();

export function newExchangeId(now: number = Date.now()): string {
  return nextUlid(now);
}

export function newRunId(now: number = Date.now()): string {
  return `run-${nextUlid(now).toLowerCase()}`;
}
