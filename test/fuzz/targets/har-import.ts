/** The HAR importer: a HAR document in, exchanges and skip reasons out. */
import { expect } from 'vitest';
import fc from 'fast-check';
import { harEntries, harToExchanges } from '../../../src/formats/har.js';
import type { SkippedRecord } from '../../../src/formats/import-report.js';
import { decodeExchangeLine } from '../../../src/store/codec.js';
import type { FuzzTarget } from '../fuzz-run.js';

/**
 * Any document: every entry becomes an exchange the store reads back, or a
 * skip naming the entry; nothing is thrown and nothing is lost.
 */
export function checkHarDocument(doc: unknown): void {
  const entries = harEntries(doc);
  if (entries === undefined) return;
  const skipped: SkippedRecord[] = [];
  let n = 0;
  for (const ex of harToExchanges(entries, { service: undefined, file: 'fuzz.har' }, (s) => skipped.push(s))) {
    n++;
    const back = decodeExchangeLine(JSON.stringify(ex), 'fuzz.har', n);
    expect(back.ok).toBe(true);
  }
  expect(n + skipped.length).toBe(entries.length);
  for (const s of skipped) expect(s.where).toMatch(/^fuzz\.har log\.entries\[\d+\]$/);
}

export const harTarget: FuzzTarget = {
  name: 'har-import',
  ext: 'har',
  check: (input) => {
    let doc: unknown;
    try {
      doc = JSON.parse(input.toString('utf8'));
    } catch {
      return;
    }
    checkHarDocument(doc);
  },
};

const anyJson = fc.jsonValue({ maxDepth: 2 });
const maybe = <T>(a: fc.Arbitrary<T>) => fc.oneof(a, anyJson, fc.constant(undefined));

const headerArb = fc.record({ name: fc.oneof(fc.constantFrom('Host', 'Content-Encoding', 'Content-Type', ':authority'), fc.string({ maxLength: 8 })), value: fc.oneof(fc.constantFrom('gzip', 'br', 'deflate', 'zstd', 'application/json'), fc.string({ maxLength: 8 })) });

const entryArb = fc.record(
  {
    startedDateTime: maybe(fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.constantFrom('-001000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', '1969-12-31T23:59:59.999Z', '10889-08-02T05:31:50.655Z', '10889-08-02T05:31:50.656Z'))),
    time: maybe(fc.double()),
    request: maybe(
      fc.record({
        method: maybe(fc.constantFrom('GET', 'POST', 'bad method')),
        url: maybe(fc.constantFrom('http://a.example/x?y=1', 'https://b.example:8443/', 'not a url', '/relative')),
        headers: maybe(fc.array(maybe(headerArb), { maxLength: 3 })),
        postData: maybe(fc.record({ text: maybe(fc.string()), encoding: maybe(fc.constantFrom('base64', 'utf8', '')), params: maybe(fc.array(anyJson, { maxLength: 2 })) })),
      }),
    ),
    response: maybe(
      fc.record({
        status: maybe(fc.oneof(fc.integer({ min: -1, max: 1000 }), fc.constantFrom('200', 'x'))),
        headers: maybe(fc.array(maybe(headerArb), { maxLength: 3 })),
        content: maybe(fc.record({ text: maybe(fc.string()), encoding: maybe(fc.constantFrom('base64', 'gzip', '')) })),
      }),
    ),
    _service: maybe(fc.string({ maxLength: 6 })),
    _session: maybe(fc.string({ maxLength: 6 })),
  },
  { requiredKeys: [] },
);

export const harDocumentArb = fc.oneof(
  fc.record({ log: fc.record({ entries: fc.array(fc.oneof(entryArb, anyJson), { maxLength: 5 }) }) }),
  anyJson,
);
