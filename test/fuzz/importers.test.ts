import { describe, it } from 'vitest';
import { fuzz } from './fuzz-run.js';
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
});
