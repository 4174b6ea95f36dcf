import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { DoppelError } from '../../../src/core/errors.js';

function errorOf(fn: () => unknown): DoppelError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DoppelError);
    return err as DoppelError;
  }
  throw new Error('expected an error');
}

describe('replay.judge_workers and replay.judge_inline_bytes', () => {
  it('default to one thread for pairs over 64 kB and resolve sizes to bytes', () => {
    expect(parseConfig('', 'empty.yaml', {}).replay).toMatchObject({ judge_workers: 1, judge_inline_bytes: 64 * 1024 });
    expect(parseConfig('replay:\n  judge_workers: 0\n  judge_inline_bytes: 2kb\n', 'd.yaml', {}).replay).toMatchObject({ judge_workers: 0, judge_inline_bytes: 2048 });
  });

  it('a thread count out of range or a size that is not one is exit 2 naming file, line and key', () => {
    const err = errorOf(() => parseConfig('replay:\n  judge_workers: 17\n  judge_inline_bytes: lots\n', 'doppel.yaml', {}));
    expect(err.exitCode).toBe(2);
    const text = (err.details ?? []).join('\n');
    expect(text).toContain('doppel.yaml:2 replay.judge_workers: expected worker threads comparing large bodies off the sending loop, 0 to 16');
    expect(text).toContain('doppel.yaml:3 replay.judge_inline_bytes: expected a size like "64kb", "16mb" or a number of bytes, got "lots"');
  });
});
