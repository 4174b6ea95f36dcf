/**
 * What every import and export command tells the user: how many records it
 * wrote, and each input record it skipped with where it was and why.
 */
import { DoppelError } from '../core/errors.js';

export interface SkippedRecord {
  /** file and index (or line) of the record in its input */
  where: string;
  reason: string;
}

export interface FormatReport {
  written: number;
  skipped: SkippedRecord[];
  /** extra counts worth telling (pg exchanges left out, responses without a request, ...) */
  notes: Record<string, number>;
}

export function emptyReport(): FormatReport {
  return { written: 0, skipped: [], notes: {} };
}

export function note(report: FormatReport, what: string, n = 1): void {
  report.notes[what] = (report.notes[what] ?? 0) + n;
}

/** Lines for stderr: one per skipped record, then a summary. */
export function describeReport(report: FormatReport, verb: string, what: string): string {
  let out = '';
  for (const s of report.skipped) out += `skipped ${s.where}: ${s.reason}\n`;
  const extra = Object.entries(report.notes).map(([k, n]) => `, ${n} ${k}`).join('');
  out += `${verb} ${report.written} ${what}, skipped ${report.skipped.length}${extra}\n`;
  return out;
}

/** 1-based line of a character offset. */
export function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Parses JSON; a syntax error names the file and the line. V8's messages do
 * not always carry a position, so on failure the first offending offset is
 * found by a small syntax scan (RFC 8259 grammar).
 */
export function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const at = jsonErrorOffset(text);
    throw new DoppelError('DOPPEL_INPUT_INVALID', `${file}:${lineOf(text, at)}: not valid JSON (${(err as Error).message})`);
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Offset of the first RFC 8259 syntax error in `text` (text.length when it ends early). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  };
  class At extends Error {}
  const fail = (): never => {
    throw new At();
  };
  const lit = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail();
      i++;
    }
  };
  const str = () => {
    i++;
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail();
      if (c === 0x5c) {
        i++;
        const e = text[i];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fail();
      } else i++;
    }
  };
  const num = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '' || m[0] === '-') fail();
    i += (m as RegExpExecArray)[0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        str();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '"') str();
    else if (c === 't') lit('true');
    else if (c === 'f') lit('false');
    else if (c === 'n') lit('null');
    else num();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return text.length;
  } catch (err) {
    if (err instanceof At) return i;
    throw err;
  }
}
