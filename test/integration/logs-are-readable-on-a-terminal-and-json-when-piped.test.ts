/**
 * What a person sees: on a terminal, doppel's log lines are short readable
 * lines between the command's own output; piped (CI, log shippers) or with
 * --log-format json they are JSON lines. The terminal is a real
 * pseudo-terminal from util-linux `script`; Ctrl-C is typed into it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOPPEL_BIN, ROOT, cliEnv, runCli, startCli } from '../helpers/cli.js';
import { findExecutable, missingTool } from '../helpers/services.js';
import { recordTraffic, startService, type Service } from '../helpers/replay-fixtures.js';

/** Why this file cannot run here (it fails under CI instead), or undefined. */
const NO_SCRIPT = missingTool('script', 'util-linux');
const SCRIPT = findExecutable('script');
const TRAFFIC = join(ROOT, 'examples', 'orders', 'traffic');
const MOCK = ['mock', '--traffic', TRAFFIC, '--http-dep', 'payments=127.0.0.1:0', '--admin', '127.0.0.1:0'];
/** ECMA-48 control sequences (CSI: colours, erase line, cursor moves). */
const ESC = '\x1b';
const CSI = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g');
const stripCsi = (s: string) => s.replace(CSI, '');
/**
 * What the terminal shows, line by line: control sequences dropped, and text
 * that a carriage return went back over replaced by what was written after it.
 */
const screenLines = (raw: string) =>
  stripCsi(raw)
    .split('\n')
    .map((l) => l.split('\r').filter((seg) => seg !== '').at(-1) ?? '')
    .filter((l) => l.trim() !== '');
const PRETTY_LINE = /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] (INFO|WARN|ERROR|DEBUG): \S/;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs doppel with stdin, stdout and stderr on a pseudo-terminal. When
 * `interruptWhen` matches the output so far, Ctrl-C is typed.
 */
function inTerminal(args: string[], interruptWhen?: RegExp): Promise<{ code: number | null; raw: string; lines: string[] }> {
  // `script` runs the command through $SHELL -c. `exec` makes doppel the
  // terminal's foreground process itself: a non-interactive dash would
  // otherwise die of the typed Ctrl-C (exit 130) while doppel stops cleanly.
  const command = `exec ${[process.execPath, DOPPEL_BIN, ...args].map(quote).join(' ')}`;
  // -q quiet, -f flush as written, -e exit with the child's code; no typescript file.
  const child = spawn(SCRIPT as string, ['-qfec', command, '/dev/null'], { cwd: ROOT, env: cliEnv({ TERM: 'xterm' }), stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let interrupted = false;
  const onData = (d: Buffer) => {
    output += d.toString();
    if (interruptWhen !== undefined && !interrupted && interruptWhen.test(stripCsi(output))) {
      interrupted = true;
      child.stdin.write('\x03');
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  // Under the test's 60 s: a doppel that never stops is killed and the test fails on what it printed.
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, raw: output, lines: screenLines(output) });
    }),
  );
}

const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

describe.skipIf(NO_SCRIPT !== undefined)('log lines on a terminal and in a pipe', () => {
  it('on a terminal: readable lines with time, level, message and fields; no JSON', async () => {
    const r = await inTerminal(MOCK, /mocks serving/);
    expect(r.code).toBe(0);
    const out = r.lines;
    expect(out).toContainEqual(expect.stringMatching(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: mocks serving; stop with Ctrl-C \{"mocks":1\}$/));
    expect(out).toContainEqual(expect.stringMatching(/^\[[\d:.]+\] INFO: http mock listening \{"component":"mock","service":"payments","address":"127\.0\.0\.1:\d+"/));
    // The terminal echoes the typed Ctrl-C as ^C in front of doppel's own line.
    expect(out).toContainEqual(expect.stringMatching(/doppel: SIGINT received, stopping cleanly \(again to stop at once, writing what is queued\)$/));
    expect(out.filter((l) => l.includes('"level":'))).toEqual([]);
  });

  it('on a terminal with --log-format json: JSON lines', async () => {
    const r = await inTerminal([...MOCK, '--log-format', 'json'], /mocks serving/);
    expect(r.code).toBe(0);
    const records = r.lines
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(records.map((x) => x.msg)).toContain('mocks serving; stop with Ctrl-C');
    expect(r.lines.filter((l) => PRETTY_LINE.test(l))).toEqual([]);
  });

  it('piped: JSON lines by default; --log-format pretty gives readable lines without colour codes', async () => {
    const json = startCli(MOCK);
    try {
      // startCli reads JSON lines only: finding the record proves the format.
      expect(await json.waitFor('mocks serving; stop with Ctrl-C')).toMatchObject({ level: 30, mocks: 1 });
    } finally {
      expect(await json.stop()).toBe(0);
    }
    const pretty = startCli([...MOCK, '--log-format', 'pretty']);
    let seen = '';
    try {
      await new Promise<void>((resolve, reject) => {
        pretty.child.stderr?.on('data', (d: Buffer) => {
          seen += d.toString();
          if (seen.includes('mocks serving')) resolve();
        });
        pretty.child.once('exit', (code) => reject(new Error(`doppel exited ${code}: ${seen}`)));
      });
    } finally {
      expect(await pretty.stop()).toBe(0);
    }
    expect(lines(seen)).toContainEqual(expect.stringMatching(/^\[[\d:.]+\] INFO: mocks serving; stop with Ctrl-C \{"mocks":1\}$/));
    expect(seen).not.toContain(`${ESC}[`);
    expect(seen).not.toContain('"level":');
  });

  describe('doppel run on a terminal', () => {
    let service: Service;
    let dir: string;
    beforeAll(async () => {
      service = await startService();
      dir = await mkdtemp(join(tmpdir(), 'doppel-tty-run-'));
      await recordTraffic(service, join(dir, 'traffic'), [
        { method: 'GET', url: '/orders/1', session: 's1' },
        { method: 'GET', url: '/users/2', session: 's2' },
      ]);
      await writeFile(
        join(dir, 'doppel.yaml'),
        stringify({
          mocks: [{ service: 'payments', protocol: 'http', listen: '127.0.0.1:0', traffic: TRAFFIC }],
          replay: { target: service.url, traffic: join(dir, 'traffic'), time_scale: 1000, report: join(dir, 'report') },
        }),
      );
    });
    afterAll(async () => {
      await service.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('prints its phases with readable log lines between them, JSON nowhere', async () => {
      const r = await inTerminal(['run', join(dir, 'doppel.yaml')]);
      expect(r.code).toBe(0);
      const out = r.lines;
      const backends = out.indexOf('▶ backends');
      const mockReady = out.findIndex((l) => /^\[[\d:.]+\] INFO: mock ready \{"service":"payments"/.test(l));
      expect(backends).toBeGreaterThanOrEqual(0);
      expect(mockReady).toBeGreaterThan(backends);
      expect(out.filter((l) => l.includes('"level":'))).toEqual([]);
      // The replay bar was drawn, and never saves and restores the cursor: a restore
      // would move the cursor back up over the log lines printed while it ran.
      expect(r.raw).toContain('replay |');
      expect(r.raw).not.toContain(`${ESC}7`);
      expect(r.raw).not.toContain(`${ESC}8`);
      // The same run piped keeps JSON records on stderr and the phases on stdout.
      const piped = await runCli(['run', join(dir, 'doppel.yaml')]);
      expect(piped.code).toBe(0);
      expect(piped.stdout).toContain('▶ backends');
      const records = lines(piped.stderr).map((l) => JSON.parse(l) as { msg: string });
      expect(records.map((x) => x.msg)).toContain('mock ready');
    });
  });
});
