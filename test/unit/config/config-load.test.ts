import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig, loadConfig } from '../../../src/config/load.js';
import { DoppelError } from '../../../src/core/errors.js';

function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(text, 'doppel.yaml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(DoppelError);
    expect((err as DoppelError).exitCode).toBe(2);
    return [...(err as DoppelError).details];
  }
  throw new Error('expected the config to be rejected');
}

describe('config loading', () => {
  it('log.format is auto by default and takes only auto, pretty or json', () => {
    expect(parseConfig('', 'doppel.yaml', {}).log.format).toBe('auto');
    expect(parseConfig('log:\n  format: json\n', 'doppel.yaml', {}).log.format).toBe('json');
    expect(problems('log:\n  format: xml\n')).toEqual(['doppel.yaml:2 log.format: expected one of auto, pretty, json, got "xml"']);
  });

  it('reports five deliberate mistakes at once, each with file, line, key path and expectation', () => {
    const text = [
      'replay:',
      '  concurrency: ten', // 2: wrong type
      '  max_delay: forever', // 3: bad duration
      'mocks:',
      '  - service: db',
      '    protocol: mysql', // 6: bad enum
      '    listen: 127.0.0.1:6432',
      '    traffic: ./t',
      'quality_gates:',
      '  body_match_rate: "about 0.95"', // 10: bad gate expression
      'replays: {}', // 11: unknown key
    ].join('\n');
    const got = problems(text);
    expect(got).toEqual([
      'doppel.yaml:2 replay.concurrency: expected integer, got "ten"',
      'doppel.yaml:3 replay.max_delay: expected a duration like "500ms", "5s", "2m" or a number of seconds, got "forever"',
      'doppel.yaml:6 mocks[0].protocol: expected "http", "pg" or "grpc", got "mysql"',
      expect.stringMatching(/^doppel\.yaml:10 quality_gates\.body_match_rate: expected an operator/),
      expect.stringMatching(/^doppel\.yaml:11 replays: unknown key \(allowed here: admin, log, record, mocks, replay/),
    ]);
  });

  it('rejects an unknown gate name', () => {
    expect(problems('quality_gates:\n  speed: ">= 1"\n')).toEqual([expect.stringMatching(/^doppel\.yaml:2 quality_gates\.speed: unknown gate/)]);
  });

  it('expands ${VAR} and ${VAR:-default} from the environment and reports unset ones', () => {
    const cfg = parseConfig('replay:\n  target: ${TARGET}\n  headers: { Authorization: "Bearer ${TOKEN:-dev}" }\n', 'c.yaml', { TARGET: 'http://127.0.0.1:9' });
    expect(cfg.replay.target).toBe('http://127.0.0.1:9');
    expect(cfg.replay.headers).toEqual({ Authorization: 'Bearer dev' });
    expect(problems('replay:\n  target: ${NOPE}\n')).toContainEqual(expect.stringContaining('environment variable NOPE is not set'));
  });

  it('fills defaults and freezes the result', () => {
    const cfg = parseConfig('', 'empty.yaml', {});
    expect(cfg.admin.listen).toBe('127.0.0.1:4190');
    expect(cfg.replay.concurrency).toBe(10);
    expect(cfg.sessions.key).toBe('exchange');
    expect(cfg.compare.headers).toEqual(['content-type']);
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.replay)).toBe(true);
    expect(() => {
      (cfg.replay as { concurrency: number }).concurrency = 3;
    }).toThrow(TypeError);
  });

  it('lets flag overrides win over the file, validated the same way', () => {
    const cfg = parseConfig('replay:\n  concurrency: 4\n', 'c.yaml', {}, (raw) => {
      (raw.replay as Record<string, unknown>).concurrency = 8;
    });
    expect(cfg.replay.concurrency).toBe(8);
  });

  it('names a missing file with exit code 2', () => {
    expect(() => loadConfig('no/such/doppel.yaml', {})).toThrow(/no\/such\/doppel\.yaml: cannot read config file \(ENOENT\)/);
  });

  it('reports YAML syntax errors with file and line', () => {
    expect(problems('replay:\n  target: [unclosed\n')).toEqual([expect.stringMatching(/^doppel\.yaml:\d+ /)]);
  });

  it('loads config/doppel.example.yaml, which documents every key', () => {
    const text = readFileSync(new URL('../../../config/doppel.example.yaml', import.meta.url), 'utf8');
    const cfg = parseConfig(text, 'config/doppel.example.yaml', { TEST_TOKEN: 't' });
    expect(cfg.mocks.length).toBeGreaterThan(0);
    expect(Object.keys(cfg.quality_gates).length).toBeGreaterThan(0);
  });
});

describe('config paths', () => {
  it('rejects JSON paths outside the one grammar, naming key and line', () => {
    const text = ['compare:', '  ignore: ["$.ok", "createdAt"]', '  tolerances: { "$.total": 0.01, "total": "1%" }', 'redact:', '  json_paths: ["$.card[", "$.ok"]'].join('\n');
    const got = problems(text);
    expect(got).toEqual([
      expect.stringMatching(/^doppel\.yaml:2 compare\.ignore\[1\]: invalid path "createdAt"/),
      expect.stringMatching(/^doppel\.yaml:3 compare\.tolerances\["total"\]: invalid path "total"/),
      expect.stringMatching(/^doppel\.yaml:5 redact\.json_paths\[0\]: invalid path "\$\.card\["/),
    ]);
  });
});

describe('cutoffs', () => {
  it('leaves absent cutoff rates unset, so an unconfigured cutoff never fires', () => {
    const cfg = parseConfig('cutoffs:\n  max_5xx_rate: 0.2\n', 'c.yaml', {});
    expect(cfg.cutoffs).toEqual({ min_requests: 50, max_5xx_rate: 0.2 });
  });
});

describe('pg mock entries', () => {
  it('accepts pg:$N ignore rules and lists pg mock problems with their keys', () => {
    const ok = parseConfig('compare:\n  ignore: ["pg:$2", "$.id"]\n', 'c.yaml', {});
    expect(ok.compare.ignore).toEqual(['pg:$2', '$.id']);
    const text = ['compare:', '  ignore: ["pg:$0"]', 'mocks:', '  - service: db', '    protocol: pg', '    listen: 127.0.0.1:6432', '    traffic: ./t', '    auth: md5'].join('\n');
    expect(problems(text)).toEqual([
      expect.stringMatching(/^doppel\.yaml:2 compare\.ignore\[0\]: invalid path "pg:\$0": expected a Postgres parameter/),
      expect.stringMatching(/^doppel\.yaml:\d+ mocks\[0\]\.password: required when auth is md5/),
    ]);
  });
});

describe('config/doppel.example.yaml', () => {
  it('documents every key of the schema (set or commented out)', async () => {
    const { ConfigSchema } = await import('../../../src/config/schema.js');
    const text = readFileSync(new URL('../../../config/doppel.example.yaml', import.meta.url), 'utf8');
    const missing: string[] = [];
    const walk = (schema: Record<string, any>, path: string) => {
      const node = schema.items ?? schema;
      const variants = node.anyOf ?? [node];
      for (const v of variants) {
        for (const [key, child] of Object.entries((v.properties ?? {}) as Record<string, Record<string, any>>)) {
          const here = path ? `${path}.${key}` : key;
          if (!new RegExp(`(^|[\\s{,#-])${key}:`, 'm').test(text)) missing.push(here);
          walk(child, here);
        }
      }
    };
    walk(ConfigSchema, '');
    expect(missing).toEqual([]);
  });
});
