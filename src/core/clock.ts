export interface Clock {
  /** wall-clock milliseconds since the epoch */
  now(): number;
  /** monotonic milliseconds, for durations */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};
