/**
 * RSS of an HTTP mock holding the exchanges of a traffic directory, in a
 * process that loads nothing else: `node --expose-gc --import tsx bench/http-bench-rss.ts DIR`.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { createFileStoreReader } from '../src/store/file-store.js';
import { startHttpMock } from '../src/mock/http-mock.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { benchMockOptions } from './http-bench-data.js';

const dir = process.argv[2] ?? '';
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
gc();
const before = process.memoryUsage().rss;
const mock = await startHttpMock({
  service: 'bench',
  listen: '127.0.0.1:0',
  exchanges: createFileStoreReader([dir]).read(),
  options: benchMockOptions(100),
  log: pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() })),
  metrics: createMetrics(),
});
gc();
const after = process.memoryUsage().rss;
process.stdout.write(JSON.stringify({ before, after, loaded: mock.loaded }) + '\n');
await mock.close();
