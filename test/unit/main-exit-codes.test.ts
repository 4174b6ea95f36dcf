import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { executeCommandLine } from '../../src/main.js';
import type { CliIO } from '../../src/cli/context.js';

function io(stdoutWrite: (s: string) => void): { io: CliIO; stderr: string[] } {
  const stderr: string[] = [];
  const out = new Writable({ write: (_c, _e, cb) => cb() });
  out.write = ((s: string) => {
    stdoutWrite(s);
    return true;
  }) as typeof out.write;
  const err = new Writable({ write: (_c, _e, cb) => cb() });
  err.write = ((s: string) => {
    stderr.push(s);
    return true;
  }) as typeof err.write;
  return { io: { stdout: out, stderr: err, env: {}, signal: new AbortController().signal, cwd: process.cwd() }, stderr };
}

describe('process entry', () => {
  it('turns an unexpected exception into exit 4 with one line, never 1', async () => {
    const t = io(() => {
      throw new Error('stdout is gone');
    });
    const code = await executeCommandLine(['--help'], t.io);
    expect(code).toBe(4);
    const lines = t.stderr.join('').split('\n').filter(Boolean);
    // One line for the person; the whole story, stack included, in the log entry.
    expect(lines).toContain('doppel: internal error: stdout is gone (run with --log-level debug for the stack)');
    const entry = JSON.parse(lines.find((l) => l.startsWith('{')) as string);
    expect(entry).toMatchObject({ msg: 'internal error', err: { message: 'stdout is gone' } });
    expect(lines.filter((l) => l.startsWith('    at '))).toEqual([]);
  });

  it('exits 2 with usage when no command is given', async () => {
    const printed: string[] = [];
    const t = io((s) => printed.push(s));
    expect(await executeCommandLine([], t.io)).toBe(2);
    expect(printed.join('')).toContain('Usage: doppel');
  });
});
