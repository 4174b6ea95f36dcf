import { describe, expect, it } from 'vitest';
import { decodeBody } from '../../src/core/exchange.js';
import { fuzz } from './fuzz-run.js';
import { checkGorFile, gorBytesArb, gorPairsArb, importGor, writeGor } from './targets/gor-import.js';
import { checkHarDocument, harDocumentArb } from './targets/har-import.js';
import { checkExportRoundTrip, checkMappingsText, exchangeArb, mappingTextArb } from './targets/wiremock-import.js';

describe('importers under fuzzing', () => {
  it('HAR: every entry becomes a readable exchange or a skip naming it', async () => {
    await fuzz('har-import', harDocumentArb, checkHarDocument, 600);
  });

  it('WireMock: an exported exchange imports back as the same request and response', async () => {
    await fuzz('wiremock-export', exchangeArb, checkExportRoundTrip, 150);
  });

  it('WireMock: any mappings file imports or is skipped with a reason, never thrown', async () => {
    await fuzz('wiremock-import', mappingTextArb, checkMappingsText, 150);
  });

  it('GoReplay: every answered request becomes one exchange with its method, target and body', async () => {
    await fuzz(
      'gor-import',
      gorPairsArb,
      async (reqs) => {
        const { exchanges, report } = await importGor(writeGor(reqs));
        expect(report.skipped).toEqual([]);
        expect(exchanges.map((ex) => [ex.http.request.method, ex.http.request.url, ex.http.response?.status])).toEqual(reqs.map((r) => [r.method, r.path, 200]));
        exchanges.forEach((ex, i) => expect(decodeBody(ex.http.request.body, ex.http.request.bodyEncoding).equals(reqs[i]!.body)).toBe(true));
      },
      100,
    );
  });

  it('GoReplay: a damaged file imports what it can, never throws', async () => {
    await fuzz('gor-import', gorBytesArb, checkGorFile, 150);
  });
});
