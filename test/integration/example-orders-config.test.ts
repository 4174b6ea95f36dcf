/**
 * examples/orders/doppel.yaml is a valid `doppel run` configuration, and its
 * pieces fit together: the builds point at the mocks, the mocks and the
 * re-recording script agree on ports, and every command names a real file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { DoppelError } from '../../src/core/errors.js';
import { readRecordOptions } from '../../examples/orders/record.js';

const FILE = fileURLToPath(new URL('../../examples/orders/doppel.yaml', import.meta.url));
const DIR = dirname(FILE);
const ROOT = resolve(DIR, '../..');
const TEXT = readFileSync(FILE, 'utf8');
const config = parseConfig(TEXT, FILE, {});

const portOf = (url: string) => Number(new URL(url).port);
const listenPort = (addr: string) => Number(addr.split(':').pop());

describe('orders demo doppel.yaml', () => {
  it('validates against the configuration schema with the candidate, the baseline and both mocks', () => {
    expect(config.sut?.command).toContain('examples/orders/server-v2.ts');
    expect(config.baseline?.command).toContain('examples/orders/server-v1.ts');
    expect(config.mocks.map((m) => `${m.service}/${m.protocol}`)).toEqual(['payments/http', 'db/pg']);
    expect(config.sessions.key).toBe('header:x-session-id');
    expect(Object.keys(config.quality_gates).sort()).toEqual(
      ['body_match_rate', 'field_match_rate', 'latency_p95_delta', 'mock_match_rate', 'new_mismatch', 'status_pass_rate'].sort(),
    );
    // The harmless change must be absorbed by value classes, not hidden by an ignore rule.
    expect(config.compare.ignore).toEqual([]);
    expect(config.compare.value_classes).toBe(true);
  });

  it('names commands and a working directory that exist, relative to the config file', () => {
    for (const side of [config.sut, config.baseline]) {
      const cwd = resolve(DIR, side?.cwd ?? '.');
      expect(cwd).toBe(ROOT);
      const script = /\S+\.ts/.exec(side?.command ?? '')?.[0];
      expect(script).toBeDefined();
      expect(existsSync(join(cwd, script!))).toBe(true);
      expect(existsSync(join(cwd, 'node_modules/tsx'))).toBe(true);
    }
  });

  it('points both builds at the mocks, and the mocks at the directory the re-recording script writes', () => {
    const payments = config.mocks.find((m) => m.service === 'payments')!;
    const db = config.mocks.find((m) => m.service === 'db')!;
    const recording = readRecordOptions([], {});
    for (const side of [config.sut!, config.baseline!]) {
      const env = side.env ?? {};
      expect(portOf(env.PAYMENT_API_URL!)).toBe(listenPort(payments.listen));
      const dbUrl = new URL(env.DATABASE_URL!);
      expect(Number(dbUrl.port)).toBe(listenPort(db.listen));
      expect(dbUrl.pathname).toBe(`/${recording.database}`);
      expect(portOf(side.health!)).toBe(Number(env.PORT));
    }
    expect(portOf(config.replay.target!)).toBe(Number(config.sut!.env!.PORT));
    expect(portOf(config.baseline!.target!)).toBe(Number(config.baseline!.env!.PORT));
    // Recording and replay use the same dependency addresses, so recorded URLs and startup parameters line up.
    expect(recording.ports.paymentsDep).toBe(listenPort(payments.listen));
    expect(recording.ports.dbDep).toBe(listenPort(db.listen));
    for (const traffic of [payments.traffic, db.traffic, config.replay.traffic]) {
      expect(resolve(DIR, String(traffic))).toBe(recording.out);
    }
  });

  it('is rejected with the key path when a section is misspelled', () => {
    const broken = TEXT.replace('quality_gates:', 'quality_gate:');
    let err: unknown;
    try {
      parseConfig(broken, FILE, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DoppelError);
    expect((err as DoppelError).details.join('\n')).toMatch(/doppel\.yaml:\d+ quality_gate: unknown key/);
  });
});
