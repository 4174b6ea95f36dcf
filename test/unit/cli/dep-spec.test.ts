import { describe, expect, it } from 'vitest';
import { parseDepSpec } from '../../../src/cli/dep-spec.js';
import { parseHostPort, isLoopbackHost } from '../../../src/core/address.js';

describe('dependency specs and addresses', () => {
  it('parses NAME=LISTEN[,TARGET]', () => {
    expect(parseDepSpec('--http-dep', 'payments=127.0.0.1:8081,http://pay:80', true)).toEqual({ name: 'payments', listen: '127.0.0.1:8081', target: 'http://pay:80' });
    expect(parseDepSpec('--pg-dep', 'db=127.0.0.1:6432', false)).toEqual({ name: 'db', listen: '127.0.0.1:6432' });
  });

  it('rejects a spec without a target where one is required, and malformed ones', () => {
    expect(() => parseDepSpec('--http-dep', 'payments=127.0.0.1:8081', true)).toThrow(/expected NAME=LISTEN,TARGET/);
    expect(() => parseDepSpec('--pg-dep', '127.0.0.1:6432', false)).toThrow(/expected NAME=LISTEN\[,TARGET\]/);
    expect(() => parseDepSpec('--pg-dep', 'db=127.0.0.1:6432,', false)).toThrow(/expected/);
  });

  it('parses host:port with defaults and IPv6, and knows loopback', () => {
    expect(parseHostPort(':8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => parseHostPort('nope')).toThrow(/expected host:port/);
    expect(() => parseHostPort('h:70000')).toThrow(/expected host:port/);
    expect(isLoopbackHost('127.0.0.2')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('10.1.2.3')).toBe(false);
  });
});
