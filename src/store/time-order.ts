/**
 * Puts exchanges from several recorders back in recorded-time order.
 *
 * Recorders writing one store append a batch every few tens of milliseconds
 * (later while spooling), so the stream interleaves them by arrival, not by
 * when each request started: one user's requests through two replicas could
 * read back out of order. The reader holds a window of exchanges in a heap on
 * (startedAt, stream position) and lets one go once the stream has reached
 * exchanges started `windowMs` after it, or when the window holds more than
 * `maxBytes` / `maxItems` (memory stays bounded; beyond those bounds order is
 * best effort). Equal start times keep stream order.
 */
import type { Exchange } from '../core/exchange.js';

export interface TimeOrderOptions {
  windowMs: number;
  maxBytes: number;
  maxItems: number;
}

interface Held {
  at: number;
  index: number;
  bytes: number;
  exchange: Exchange;
}

function isBefore(a: Held, b: Held): boolean {
  return a.at < b.at || (a.at === b.at && a.index < b.index);
}

class MinHeap {
  readonly items: Held[] = [];

  push(h: Held): void {
    const a = this.items;
    a.push(h);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!isBefore(a[i] as Held, a[p] as Held)) break;
      [a[i], a[p]] = [a[p] as Held, a[i] as Held];
      i = p;
    }
  }

  pop(): Held | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && isBefore(a[l] as Held, a[m] as Held)) m = l;
        if (r < a.length && isBefore(a[r] as Held, a[m] as Held)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as Held, a[i] as Held];
        i = m;
      }
    }
    return top;
  }
}

export async function* orderByRecordedTime(source: AsyncIterable<{ exchange: Exchange; bytes: number }>, opts: TimeOrderOptions): AsyncGenerator<Exchange> {
  const heap = new MinHeap();
  let bytes = 0;
  let index = 0;
  let latest = -Infinity;
  for await (const { exchange, bytes: size } of source) {
    const parsed = Date.parse(exchange.startedAt);
    // An exchange without a readable start keeps its place in the stream.
    const at = Number.isFinite(parsed) ? parsed : latest;
    if (at > latest) latest = at;
    heap.push({ at, index: index++, bytes: size, exchange });
    bytes += size;
    for (;;) {
      const top = heap.items[0];
      if (top === undefined) break;
      const isDue = top.at <= latest - opts.windowMs || bytes > opts.maxBytes || heap.items.length > opts.maxItems;
      if (!isDue) break;
      heap.pop();
      bytes -= top.bytes;
      yield top.exchange;
    }
  }
  for (let h = heap.pop(); h !== undefined; h = heap.pop()) yield h.exchange;
}
