import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import { DoppelError } from './errors.js';

/**
 * ulid's default generator draws each of a new millisecond's 16 random
 * characters with its own crypto.randomBytes(1) call; on the capture path that
 * showed as a few percent of the proxy's CPU. This one draws from a buffer
 * refilled 4 KiB at a time (same CSPRNG, same ULID layout).
 */
function bufferedPrng(): () => number {
  const buf = Buffer.allocUnsafe(4096);
  let pos = buf.length;
  return () => {
    if (pos >= buf.length) {
      randomFillSync(buf);
      pos = 0;
    }
    return (buf[pos++] as number) / 256;
  };
}

// Monotonic so ids minted in the same millisecond still sort in creation order.
const nextUlid = monotonicFactory(bufferedPrng());

/** A ULID's time field holds 48 bits of Unix milliseconds: 1970-01-01 up to the year 10889. */
export const MAX_ID_TIME_MS = 2 ** 48 - 1;

/** True when an id can carry this time (whole milliseconds in the ULID range). */
export function isIdTime(ms: number): boolean {
  return Number.isInteger(ms) && ms >= 0 && ms <= MAX_ID_TIME_MS;
}

function checkedUlid(now: number): string {
  // ulid throws its own untyped error; a time from imported data must fail as bad input.
  if (!isIdTime(now)) throw new DoppelError('DOPPEL_INPUT_INVALID', `time ${now} is outside what an exchange id can carry (1970-01-01 to year 10889, whole milliseconds)`);
  return nextUlid(now);
}

export function newExchangeId(now: number = Date.now()): string {
  return checkedUlid(now);
}

export function newRunId(now: number = Date.now()): string {
  return `run-${checkedUlid(now).toLowerCase()}`;
}
