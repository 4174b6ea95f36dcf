import { describe, expect, it } from 'vitest';
import type { Exchange } from '../../../src/core/exchange.js';
import { orderByRecordedTime } from '../../../src/store/time-order.js';
import { httpExchange } from '../../helpers/exchanges.js';

const at = (ms: number, url: string): { exchange: Exchange; bytes: number } => ({
  exchange: { ...httpExchange({ url }), startedAt: new Date(1_800_000_000_000 + ms).toISOString() },
  bytes: 100,
});

async function urls(items: Array<{ exchange: Exchange; bytes: number }>, opts = { windowMs: 1_000, maxBytes: 1e9, maxItems: 1e6 }): Promise<string[]> {
  async function* source() {
    yield* items;
  }
  const out: string[] = [];
  for await (const ex of orderByRecordedTime(source(), opts)) out.push(ex.protocol === 'http' ? ex.http.request.url : '');
  return out;
}

describe('reading a store several recorders wrote', () => {
  it('orders by start time within the window and keeps stream order for equal times', async () => {
    expect(await urls([at(20, '/c'), at(0, '/a'), at(10, '/b'), at(10, '/b2'), at(5, '/a2')])).toEqual(['/a', '/a2', '/b', '/b2', '/c']);
  });
  it('lets an exchange go once the stream is a window past it, so memory stays bounded', async () => {
    // /late arrives after the window passed /early's successor: it is not pulled back before what already left.
    expect(await urls([at(0, '/early'), at(5_000, '/next'), at(1, '/late')])).toEqual(['/early', '/late', '/next']);
    expect(await urls([at(3, '/x'), at(2, '/y'), at(1, '/z')], { windowMs: 1_000, maxBytes: 1e9, maxItems: 1 })).toEqual(['/y', '/z', '/x']);
  });
});
