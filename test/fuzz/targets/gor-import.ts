/** The GoReplay importer: a .gor file in, paired inbound exchanges and skip reasons out. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import fc from 'fast-check';
import type { HttpExchange } from '../../../src/core/exchange.js';
import { GOR_SEPARATOR, gorToExchanges } from '../../../src/formats/gor.js';
import { emptyReport, type FormatReport } from '../../../src/formats/import-report.js';
import { decodeExchangeLine } from '../../../src/store/codec.js';
import type { FuzzTarget } from '../fuzz-run.js';
import { requestArb, writeRequest } from './http1-message.js';

export async function importGor(bytes: Buffer): Promise<{ exchanges: HttpExchange[]; report: FormatReport }> {
  const dir = await mkdtemp(join(tmpdir(), 'doppel-fuzz-gor-'));
  try {
    const file = join(dir, 'requests.gor');
    await writeFile(file, bytes);
    const report = emptyReport();
    const exchanges: HttpExchange[] = [];
    // A small payload cap, so the oversized path is reached too.
    for await (const ex of gorToExchanges(file, undefined, report, 4096)) exchanges.push(ex);
    return { exchanges, report };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Any file: nothing is thrown, and every exchange is one the store reads back. */
export async function checkGorFile(input: Buffer): Promise<void> {
  const { exchanges } = await importGor(input);
  exchanges.forEach((ex, i) => expect(decodeExchangeLine(JSON.stringify(ex), 'x', i + 1).ok).toBe(true));
}

export const gorTarget: FuzzTarget = { name: 'gor-import', ext: 'gor', check: checkGorFile };

const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1');

/** Well-formed request/response pairs, each request answered; the file may then be damaged. */
export const gorPairsArb = fc.array(requestArb, { maxLength: 5 });

export function writeGor(requests: ReadonlyArray<Parameters<typeof writeRequest>[0]>): Buffer {
  const payloads: Buffer[] = [];
  requests.forEach((r, i) => {
    payloads.push(Buffer.concat([Buffer.from(`1 id${i} 1700000000000${String(i).padStart(6, '0')} 0\n`), writeRequest(r)]));
    payloads.push(Buffer.concat([Buffer.from(`2 id${i} 1700000000001${String(i).padStart(6, '0')} 100\n`), response]));
  });
  const parts: Buffer[] = [];
  payloads.forEach((p, i) => parts.push(...(i === 0 ? [p] : [GOR_SEPARATOR, p])));
  return Buffer.concat(parts);
}

export const gorBytesArb = fc
  .tuple(gorPairsArb, fc.option(fc.nat()), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }))
  .map(([reqs, cut, flips]) => {
    const buf = writeGor(reqs);
    for (const [at, v] of flips) if (buf.length > 0) buf[at % buf.length] = v;
    return cut === null ? buf : buf.subarray(0, cut % (buf.length + 1));
  });
