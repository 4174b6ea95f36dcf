/**
 * References to exchanges in a file store, and reading them back: a line of a
 * plain (not gzip) segment is `DIR/SEGMENT:OFFSET:LENGTH`, the index of its
 * traffic directory among the reader's, the segment's name and the line's
 * byte range. Replay workers of one machine read the sessions leased to them
 * this way, so the traffic is not shipped between processes.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DoppelError } from '../core/errors.js';
import type { Exchange } from '../core/exchange.js';
import { decodeExchangeLine } from './codec.js';

/** Only plain segments: a gzip member cannot be read from the middle. */
const PLAIN_SEGMENT_RE = /^exchanges-\d{6,}\.ndjson$/;
const DIGITS_RE = /^\d{1,15}$/;
/** Lines this close together in one segment are read with one call, the bytes between them skipped. */
const GAP_BYTES = 64 * 1024;

/** `base` is `DIR/SEGMENT`. */
export function fileRef(base: string, offset: number, length: number): string {
  return `${base}:${offset}:${length}`;
}

interface Place {
  file: string;
  offset: number;
  length: number;
}

/** A reference's `DIR/SEGMENT` -> the segment's path, checked once per segment and call. */
type SegmentPaths = Map<string, string>;

function placeOf(dirs: readonly string[], ref: string, files: SegmentPaths): Place {
  // Parsed from the end: the offset and length are the last two fields, and the segment's path is
  // looked up once per call rather than matched and joined for every line (1 KB of garbage a line).
  const b = ref.lastIndexOf(':');
  const a = b <= 0 ? -1 : ref.lastIndexOf(':', b - 1);
  const base = a <= 0 ? '' : ref.slice(0, a);
  let file = files.get(base);
  if (file === undefined) {
    const m = /^(\d+)\/([^/:]+)$/.exec(base);
    const dir = m === null ? undefined : dirs[Number(m[1])];
    if (m === null || dir === undefined || !PLAIN_SEGMENT_RE.test(m[2] as string)) throw notARef(ref);
    file = join(dir, m[2] as string);
    files.set(base, file);
  }
  const offset = ref.slice(a + 1, b);
  const length = ref.slice(b + 1);
  if (!DIGITS_RE.test(offset) || !DIGITS_RE.test(length)) throw notARef(ref);
  return { file, offset: Number(offset), length: Number(length) };
}

function notARef(ref: string): DoppelError {
  return new DoppelError('DOPPEL_INTERNAL', `${JSON.stringify(ref)} is not a reference to an exchange of these traffic directories`);
}

export async function readFileRefs(dirs: readonly string[], refs: readonly string[]): Promise<Exchange[]> {
  const files: SegmentPaths = new Map();
  const places = refs.map((r) => placeOf(dirs, r, files));
  const handles = new Map<string, FileHandle>();
  const out: Exchange[] = [];
  try {
    for (let i = 0; i < places.length; ) {
      const first = places[i] as Place;
      // A run of lines in reading order, each starting soon after the last ended: one read.
      let j = i + 1;
      let end = first.offset + first.length;
      for (; j < places.length; j++) {
        const p = places[j] as Place;
        if (p.file !== first.file || p.offset < end || p.offset - end > GAP_BYTES) break;
        end = p.offset + p.length;
      }
      let fh = handles.get(first.file);
      if (fh === undefined) {
        fh = await open(first.file, 'r').catch((err: unknown) => {
          throw new DoppelError('DOPPEL_STORE_IO', `${first.file}: cannot read traffic for the run`, { cause: err });
        });
        handles.set(first.file, fh);
      }
      const buf = Buffer.allocUnsafe(end - first.offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, first.offset);
      for (; i < j; i++) {
        const p = places[i] as Place;
        const from = p.offset - first.offset;
        const line = from + p.length <= bytesRead ? buf.toString('utf8', from, from + p.length) : '';
        const res = decodeExchangeLine(line, p.file, 0);
        if (!res.ok) throw new DoppelError('DOPPEL_STORE_IO', `${p.file}: no exchange at byte ${p.offset} any more (${res.reason}): the traffic changed during the run`);
        out.push(res.exchange);
      }
    }
  } finally {
    await Promise.all([...handles.values()].map((h) => h.close()));
  }
  return out;
}
