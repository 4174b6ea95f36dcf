import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

/** nice value of the thread reading it (field 19 of /proc/thread-self/stat). */
const niceSource = `(() => { const s = require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8'); return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]); })()`;
const ownNice = (): number => {
  const s = readFileSync('/proc/thread-self/stat', 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]);
};

describe.runIf(process.platform === 'linux')('lowerThreadPriority', () => {
  it('lowers the calling worker thread to nice 10 and leaves the main thread alone', async () => {
    const moduleUrl = new URL('../../../src/core/thread-priority.ts', import.meta.url).href;
    const before = ownNice();
    const source = `
      const { parentPort } = require('node:worker_threads');
      import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(moduleUrl)}); }).then((mod) => {
        const was = ${niceSource};
        const ok = mod.lowerThreadPriority();
        parentPort.postMessage({ was, ok, now: ${niceSource} });
      });`;
    const w = new Worker(source, { eval: true });
    const got = await new Promise<{ was: number; ok: boolean; now: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    expect(got.ok).toBe(true);
    expect(got.was).toBe(before);
    expect(got.now).toBe(10);
    expect(ownNice()).toBe(before);
  });
});
