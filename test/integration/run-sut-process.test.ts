import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startSut, type SutProcess } from '../../src/orchestrate/sut-process.js';
import { createLogger } from '../../src/core/logger.js';
import { freePort } from '../helpers/ports.js';

const SERVER = fileURLToPath(new URL('../fixtures/sut-server.mjs', import.meta.url));
const log = createLogger({ level: 'silent' });
let started: SutProcess[] = [];
afterEach(async () => {
  await Promise.all(started.map((s) => s.stop()));
  started = [];
});

async function sut(mode: string, extra: { readySeconds?: number; timeoutMs?: number } = {}) {
  const port = await freePort();
  const logDir = await mkdtemp(join(tmpdir(), 'doppel-sut-'));
  const p = await startSut({
    name: 'sut',
    command: `"${process.execPath}" "${SERVER}"`,
    cwd: process.cwd(),
    env: { ...process.env, MODE: mode, PORT: String(port) },
    health: `http://127.0.0.1:${port}/healthz`,
    readySeconds: extra.readySeconds ?? 0.3,
    timeoutMs: extra.timeoutMs ?? 10_000,
    logDir,
    log,
    pollIntervalMs: 50,
  });
  started.push(p);
  return { p, port, logDir };
}

describe('service under test process', () => {
  it('is ready once health answers 2xx for ready_seconds, and its output is captured', async () => {
    const { p, port, logDir } = await sut('ok');
    await p.waitReady();
    expect((await fetch(`http://127.0.0.1:${port}/x`)).status).toBe(200);
    await p.stop();
    expect(await readFile(join(logDir, 'sut.stdout.log'), 'utf8')).toContain('sut starting in mode ok');
    await expect(fetch(`http://127.0.0.1:${port}/x`)).rejects.toThrow();
  });

  it('fails with its last output lines when it exits before it is ready', async () => {
    const { p } = await sut('exit');
    await expect(p.waitReady()).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringMatching(/sut exited before it was ready \(exit code 3\)[\s\S]*fatal: cannot connect to database/),
    });
  });

  it('times out with the reason when health never answers 2xx', async () => {
    const { p } = await sut('sick', { timeoutMs: 600 });
    await expect(p.waitReady()).rejects.toMatchObject({ exitCode: 3, message: expect.stringContaining('never became ready') });
  });
});
