import { describe, it } from 'vitest';
import { fuzz } from './fuzz-run.js';
import { checkHarDocument, harDocumentArb } from './targets/har-import.js';

describe('importers under fuzzing', () => {
  it('HAR: every entry becomes a readable exchange or a skip naming it', async () => {
    await fuzz('har-import', harDocumentArb, checkHarDocument, 600);
  });
});
