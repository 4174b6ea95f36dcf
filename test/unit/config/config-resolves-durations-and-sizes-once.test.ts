import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { resolveConfig, resolveShadow, SUT_DEFAULT_TIMEOUT_MS } from '../../../src/config/resolve.js';
import { ConfigSchema, ShadowSchema, type DoppelConfig, type ShadowConfig } from '../../../src/config/schema.js';
import { DoppelError } from '../../../src/core/errors.js';

const MB = 1024 * 1024;

function errorOf(fn: () => unknown): DoppelError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DoppelError);
    return err as DoppelError;
  }
  throw new Error('expected an error');
}

describe('config resolve', () => {
  it('applies every duration and size default once, in milliseconds and bytes', () => {
    const cfg = parseConfig('', 'empty.yaml', {});
    expect(cfg.record.timeouts).toEqual({ headers_ms: 30_000, request_ms: 300_000, keep_alive_ms: 5_000, upstream_ms: 30_000, login_ms: 60_000 });
    expect(cfg.record).toMatchObject({ max_body_bytes: MB, queue_bytes: 32 * MB, segment_bytes: 64 * MB, quota_bytes: undefined, max_header_bytes: 16 * 1024, max_message_bytes: 16 * MB });
    expect(cfg.store.spool.max_bytes).toBe(128 * MB);
    expect(cfg.replay).toMatchObject({ max_delay_ms: 5_000, timeout_ms: 30_000, duration_ms: undefined });
    expect(cfg.compare.max_body_bytes).toBe(MB);
    expect(cfg.shadow).toMatchObject({
      queue_wait_ms: 100,
      max_body_bytes: MB,
      timeout_ms: 10_000,
      window_ms: 300_000,
      mock_window_ms: 30_000,
      judge_inline_bytes: 64 * 1024,
      drain_timeout_ms: 10_000,
    });
    expect(cfg.sut).toBeUndefined();
    expect(SUT_DEFAULT_TIMEOUT_MS).toBe(60_000);
  });

  it('reads every unit of the grammar and a bare number as seconds or bytes', () => {
    const text = [
      'record:',
      '  max_body_bytes: 64kb',
      '  queue_bytes: 2MB',
      '  quota_bytes: 1g',
      '  segment_bytes: 4096',
      '  timeouts: { headers: 500ms, request: 2m, keep_alive: 1.5, upstream: 1h }',
      'replay:',
      '  max_delay: 250ms',
      '  duration: 1d',
      'sut:',
      '  command: "true"',
      '  health: http://127.0.0.1:1/healthz',
      '  timeout: 90s',
      'mocks:',
      '  - { service: db, protocol: pg, listen: "127.0.0.1:0", traffic: ./t, max_message_bytes: 1mb, max_body_bytes: 3k }',
    ].join('\n');
    const cfg = parseConfig(text, 'units.yaml', {});
    expect(cfg.record).toMatchObject({ max_body_bytes: 64 * 1024, queue_bytes: 2 * MB, quota_bytes: 1024 * MB, segment_bytes: 4096 });
    expect(cfg.record.timeouts).toEqual({ headers_ms: 500, request_ms: 120_000, keep_alive_ms: 1_500, upstream_ms: 3_600_000, login_ms: 60_000 });
    expect(cfg.replay).toMatchObject({ max_delay_ms: 250, duration_ms: 86_400_000 });
    expect(cfg.sut?.timeout_ms).toBe(90_000);
    expect(cfg.mocks[0]).toMatchObject({ max_message_bytes: MB, max_body_bytes: 3 * 1024 });
  });

  it('gives a flag override the same treatment as the file', () => {
    const cfg = parseConfig('replay:\n  max_delay: 5s\n', 'c.yaml', {}, (raw) => {
      (raw.replay as Record<string, unknown>).max_delay = 2;
    });
    expect(cfg.replay.max_delay_ms).toBe(2_000);
  });

  it('freezes the resolved tree, nested sections included', () => {
    const cfg = parseConfig('', 'empty.yaml', {});
    expect(Object.isFrozen(cfg.record.timeouts)).toBe(true);
    expect(Object.isFrozen(cfg.shadow.methods)).toBe(true);
    expect(() => {
      (cfg.shadow as { timeout_ms: number }).timeout_ms = 1;
    }).toThrow(TypeError);
  });

  it('a bad value fails at load with file, line and key, before anything resolves', () => {
    const err = errorOf(() => parseConfig('shadow:\n  queue_wait: soon\nstore:\n  spool:\n    max_bytes: lots\n', 'doppel.yaml', {}));
    expect(err.exitCode).toBe(2);
    expect(err.details).toEqual([
      'doppel.yaml:2 shadow.queue_wait: expected a duration like "500ms", "5s", "2m" or a number of seconds, got "soon"',
      'doppel.yaml:5 store.spool.max_bytes: expected a size like "64kb", "16mb" or a number of bytes, got "lots"',
    ]);
  });

  it('a section built by hand with bad values is refused with every key path (exit 2)', () => {
    const shadow = Value.Default(ShadowSchema, { timeout: 'never', judge_inline_bytes: 'big' }) as ShadowConfig;
    const err = errorOf(() => resolveShadow(shadow));
    expect(err.code).toBe('DOPPEL_CONFIG_INVALID');
    expect(err.exitCode).toBe(2);
    expect(err.details).toEqual([
      'shadow.timeout: expected a duration like "500ms", "5s", "2m" or a number of seconds, got "never"',
      'shadow.judge_inline_bytes: expected a size like "64kb", "16mb" or a number of bytes, got "big"',
    ]);
    const whole = Value.Default(ConfigSchema, { record: { timeouts: { upstream: '-1s' } }, compare: { max_body_bytes: 'x' } }) as DoppelConfig;
    expect(errorOf(() => resolveConfig(whole)).details).toEqual([
      'record.timeouts.upstream: expected a duration like "500ms", "5s", "2m" or a number of seconds, got "-1s"',
      'compare.max_body_bytes: expected a size like "64kb", "16mb" or a number of bytes, got "x"',
    ]);
  });
});
