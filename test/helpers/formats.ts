import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Exchange } from '../../src/core/exchange.js';
import { createFileStoreReader } from '../../src/store/file-store.js';

export async function scratchDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'doppel-formats-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function readAll(dir: string): Promise<Exchange[]> {
  const out: Exchange[] = [];
  for await (const ex of createFileStoreReader([dir]).read()) out.push(ex);
  return out;
}
