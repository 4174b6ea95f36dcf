/**
 * Every input a fuzz run once failed on, replayed through its target on
 * every run: test/corpus/<target>/<name>.<ext>.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FuzzTarget } from './fuzz-run.js';
import { gateExpressionTarget } from './targets/gate-expression.js';
import { gorTarget } from './targets/gor-import.js';
import { harTarget } from './targets/har-import.js';
import { http1Target } from './targets/http1-message.js';
import { pathFormatTarget, pathGrammarTarget } from './targets/path-grammar.js';
import { storeGzipTarget, storeNdjsonTarget } from './targets/store-reader.js';
import { wireMockExportTarget, wireMockTarget } from './targets/wiremock-import.js';
import { pgBackendTarget } from './targets/pg-backend-codec.js';
import { pgFrontendTarget } from './targets/pg-frontend-codec.js';

const TARGETS: readonly FuzzTarget[] = [pgFrontendTarget, pgBackendTarget, pathGrammarTarget, pathFormatTarget, gateExpressionTarget, http1Target, harTarget, storeNdjsonTarget, storeGzipTarget, wireMockTarget, wireMockExportTarget, gorTarget];
const CORPUS = join(import.meta.dirname, '..', 'corpus');

const folders = readdirSync(CORPUS, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

describe('fuzz corpus', () => {
  it('has a target for every corpus folder', () => {
    const known = new Set(TARGETS.map((t) => t.name));
    expect(folders.filter((f) => !known.has(f))).toEqual([]);
  });

  for (const target of TARGETS) {
    const dir = join(CORPUS, target.name);
    const files = folders.includes(target.name) ? readdirSync(dir).filter((f) => f.endsWith(`.${target.ext}`)) : [];
    for (const file of files) {
      it(`${target.name}/${file}`, async () => {
        await target.check(readFileSync(join(dir, file)));
      });
    }
  }
});
