import { randomFillSync } from 'node:crypto';
import { DoppelError } from './errors.js';

/** Crockford's base 32, as ULIDs spell it. */
const ENCODING = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Every pair of base-32 digits as text: the last four digits of an id change with every id minted. */
const PAIRS: string[] = [];
for (let i = 0; i < 1024; i++) PAIRS.push(ENCODING.charAt(i >> 5) + ENCODING.charAt(i & 31));

/**
 * Monotonic ULIDs (the spec at github.com/ulid/spec): 48 bits of Unix
 * milliseconds in ten digits, then 80 random bits in sixteen; an id minted in
 * the same or an earlier millisecond than the last one reuses that
 * millisecond and adds one to the last random part, so ids sort in creation
 * order. Written out here rather than taken from the `ulid` package, whose
 * generator re-encodes the time digit by digit and rebuilds the random text
 * character by character for every id: about 7% of the Postgres record path's
 * CPU in a profile. Here the time text is made once per millisecond and the
 * random text once per millisecond and every 2^20 ids, from bytes drawn 4 KiB
 * at a time from the CSPRNG.
 */
class MonotonicUlid {
  readonly #pool = Buffer.allocUnsafe(4096);
  #poolPos = this.#pool.length;
  #lastTime = -1;
  #timeText = '';
  /** the twelve leading random digits as text */
  #headText = '';
  /** the twelve leading random digits (0..31 each) */
  readonly #head = new Uint8Array(12);
  /** the last twenty random bits */
  #tail = 0;

  next(now: number): string {
    if (now > this.#lastTime) {
      this.#lastTime = now;
      this.#timeText = encodeTime(now);
      this.#draw();
    } else if (this.#tail < 0xfffff) {
      this.#tail++;
    } else {
      this.#tail = 0;
      this.#carry();
    }
    return this.#timeText + this.#headText + (PAIRS[this.#tail >> 10] as string) + (PAIRS[this.#tail & 1023] as string);
  }

  #draw(): void {
    if (this.#poolPos + 16 > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#poolPos = 0;
    }
    const pool = this.#pool;
    let p = this.#poolPos;
    for (let i = 0; i < 12; i++) this.#head[i] = (pool[p++] as number) & 31;
    this.#tail = (((pool[p] as number) << 12) | ((pool[p + 1] as number) << 4) | ((pool[p + 2] as number) >> 4)) & 0xfffff;
    this.#poolPos = p + 4;
    this.#headText = digitsText(this.#head);
  }

  /** The twenty low bits wrapped: one more in the twelve digits above them. */
  #carry(): void {
    const head = this.#head;
    for (let i = 11; i >= 0; i--) {
      if ((head[i] as number) < 31) {
        head[i] = (head[i] as number) + 1;
        this.#headText = digitsText(head);
        return;
      }
      head[i] = 0;
    }
    // 2^80 ids in one millisecond: the spec says to fail rather than wrap.
    throw new DoppelError('DOPPEL_INTERNAL', 'exchange id space of one millisecond exhausted');
  }
}

function encodeTime(ms: number): string {
  let text = '';
  let rest = ms;
  for (let i = 0; i < 10; i++) {
    const digit = rest % 32;
    text = ENCODING.charAt(digit) + text;
    rest = (rest - digit) / 32;
  }
  return text;
}

function digitsText(digits: Uint8Array): string {
  let text = '';
  for (const d of digits) text += ENCODING.charAt(d);
  return text;
}

const ulids = new MonotonicUlid();

/** A ULID's time field holds 48 bits of Unix milliseconds: 1970-01-01 up to the year 10889. */
export const MAX_ID_TIME_MS = 2 ** 48 - 1;

/** True when an id can carry this time (whole milliseconds in the ULID range). */
export function isIdTime(ms: number): boolean {
  return Number.isInteger(ms) && ms >= 0 && ms <= MAX_ID_TIME_MS;
}

function checkedUlid(now: number): string {
  // A time from imported data must fail as bad input, not as a broken id.
  if (!isIdTime(now)) throw new DoppelError('DOPPEL_INPUT_INVALID', `time ${now} is outside what an exchange id can carry (1970-01-01 to year 10889, whole milliseconds)`);
  return ulids.next(now);
}

export function newExchangeId(now: number = Date.now()): string {
  return checkedUlid(now);
}

export function newRunId(now: number = Date.now()): string {
  return `run-${checkedUlid(now).toLowerCase()}`;
}
