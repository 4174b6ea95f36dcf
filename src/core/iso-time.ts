/**
 * ISO 8601 text of a wall-clock millisecond, as exchanges store startedAt.
 * Recorders finish several exchanges per millisecond under load, and
 * new Date().toISOString() (~1.8 us) showed in their CPU profiles: the last
 * millisecond's text is kept and reused, and so is the last second's, so a
 * batch of exchanges started in one second (the record relays finish theirs
 * in batches, out of time order across connections) builds each text from it.
 */
let lastMs = Number.NaN;
let lastText = '';
let lastSecond = Number.NaN;
/** the last second's text up to and with its '.' */
let lastSecondText = '';
const MAX_DATE_MS = 8.64e15;

/** Same text as new Date(ms).toISOString(), fractions of a millisecond dropped. */
export function isoTime(ms: number): string {
  const whole = Math.trunc(ms);
  if (whole === lastMs) return lastText;
  const second = Math.floor(whole / 1000);
  const milli = whole - second * 1000;
  // Past Date's range (±8.64e15 ms) a second may hold valid and invalid times: Date decides (and throws).
  if (second !== lastSecond || whole > MAX_DATE_MS || whole < -MAX_DATE_MS) {
    const text = new Date(whole).toISOString();
    lastSecond = second;
    lastSecondText = text.slice(0, text.length - 4);
    lastText = text;
  } else {
    lastText = `${lastSecondText}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  }
  lastMs = whole;
  return lastText;
}
