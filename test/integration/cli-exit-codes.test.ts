import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const COMMANDS = ['record', 'mock', 'replay', 'shadow', 'run', 'transform', 'import', 'export', 'rules'];

describe('doppel command line', () => {
  it('--help lists the whole command set and the global flags, exit 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    for (const f of ['--config', '--admin', '--log-level', '--log-format', '--help']) expect(r.stdout).toContain(f);
  });

  it.each(COMMANDS)('%s --help lists its flags and the global ones, exit 0', async (command) => {
    const r = await runCli([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: doppel ${command}`);
    expect(r.stdout).toContain('Global Options:');
    expect(r.stdout).toContain('--config <file>');
  });

  it('an unknown command is a usage error, exit 2', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });

  it('a log format other than pretty or json is a usage error naming the choices, exit 2', async () => {
    const r = await runCli(['--log-format', 'xml', 'rules', '--gates', 'never-read.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '--log-format <format>' argument 'xml' is invalid. Allowed choices are pretty, json.");
  });

  it('an unknown flag is a usage error, exit 2', async () => {
    const r = await runCli(['replay', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--no-such-flag'");
  });

  it('a config file with mistakes exits 2 listing every problem with file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doppel-cli-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'replay:\n  concurrency: -1\nquality_gates:\n  status_pass_rate: "99%"\nbogus: true\n');
    const r = await runCli(['--config', file, 'replay']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: 3 problems in configuration`);
    expect(r.stderr).toContain(`${file}:2 replay.concurrency`);
    expect(r.stderr).toContain(`${file}:4 quality_gates.status_pass_rate`);
    expect(r.stderr).toContain(`${file}:5 bogus: unknown key`);
  });

  it('a missing config file exits 2 naming it', async () => {
    const r = await runCli(['--config', 'does/not/exist.yaml', 'replay', '--traffic', 'x', '--target', 'http://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('does/not/exist.yaml: cannot read config file');
  });

  it('a numeric flag that is not a number is named with its value, exit 2', async () => {
    const r = await runCli(['record', '--out', 'never-written', '--upstream', 'http://127.0.0.1:9', '--sample', 'lots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('record.sample: expected a number from 0 to 1, got "lots"');
  });
});
