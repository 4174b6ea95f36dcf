/**
 * The resolve step of load → validate → resolve → freeze: durations become
 * milliseconds and sizes bytes, once, so no component parses a config string
 * or keeps a fallback of its own. A duration key `x` resolves to `x_ms`; a
 * size key (already named `*_bytes`) keeps its name and becomes a number.
 *
 * Values that reach this step have passed the schema, so a parse failure
 * here means a caller built a section by hand; it is reported with its key
 * path like a validation problem (exit 2).
 */
import { DoppelError } from '../core/errors.js';
import { parseDurationMs, parseSizeBytes } from './duration.js';
import {
  SutSchema,
  type CompareConfig,
  type DoppelConfig,
  type MockConfig,
  type RecordConfig,
  type ReplayConfig,
  type ShadowConfig,
  type SutConfig,
} from './schema.js';

/** `sut.timeout`'s default, for a baseline process started when the config has no `sut` section. */
export const SUT_DEFAULT_TIMEOUT_MS: number = parseDurationMs(SutSchema.properties.timeout.default as string) ?? 60_000;

/** `record.timeouts`: what the capture proxy allows each phase of an exchange. */
export interface ResolvedTimeouts {
  headers_ms: number;
  request_ms: number;
  keep_alive_ms: number;
  upstream_ms: number;
  /** Postgres relay: the client's startup message must arrive within this */
  login_ms: number;
}

export type ResolvedRecord = Omit<
  RecordConfig,
  'max_body_bytes' | 'queue_bytes' | 'quota_bytes' | 'segment_bytes' | 'timeouts' | 'max_header_bytes' | 'max_message_bytes'
> & {
  max_body_bytes: number;
  max_header_bytes: number;
  max_message_bytes: number;
  queue_bytes: number;
  /** no quota when undefined */
  quota_bytes: number | undefined;
  segment_bytes: number;
  timeouts: ResolvedTimeouts;
};

export type ResolvedStore = Omit<DoppelConfig['store'], 'spool'> & {
  spool: Omit<DoppelConfig['store']['spool'], 'max_bytes'> & { max_bytes: number };
};

export type ResolvedMock = Omit<MockConfig, 'max_body_bytes' | 'max_message_bytes' | 'login_timeout' | 'target_timeout'> & {
  max_body_bytes: number;
  max_message_bytes: number;
  login_timeout_ms: number;
  target_timeout_ms: number;
};

export type ResolvedReplay = Omit<ReplayConfig, 'max_delay' | 'timeout' | 'duration' | 'judge_inline_bytes'> & {
  max_delay_ms: number;
  timeout_ms: number;
  /** pairs whose two bodies together weigh more are compared in the judge's worker threads */
  judge_inline_bytes: number;
  /** no time limit when undefined */
  duration_ms: number | undefined;
};

export type ResolvedSut = Omit<SutConfig, 'timeout'> & { timeout_ms: number };

export type ResolvedCompare = Omit<CompareConfig, 'max_body_bytes'> & { max_body_bytes: number };

export type ResolvedShadow = Omit<
  ShadowConfig,
  'queue_wait' | 'max_body_bytes' | 'timeout' | 'window' | 'mock_window' | 'judge_inline_bytes' | 'drain_timeout'
> & {
  queue_wait_ms: number;
  max_body_bytes: number;
  timeout_ms: number;
  window_ms: number;
  mock_window_ms: number;
  judge_inline_bytes: number;
  drain_timeout_ms: number;
};

export type ResolvedConfig = Omit<DoppelConfig, 'record' | 'store' | 'mocks' | 'replay' | 'sut' | 'compare' | 'shadow'> & {
  record: ResolvedRecord;
  store: ResolvedStore;
  mocks: ResolvedMock[];
  replay: ResolvedReplay;
  sut?: ResolvedSut;
  compare: ResolvedCompare;
  shadow: ResolvedShadow;
};

/** Collects every value that does not parse, so one error lists them all. */
class Resolver {
  readonly problems: string[] = [];

  ms(value: string | number, key: string): number {
    const v = parseDurationMs(value);
    if (v === undefined) this.problems.push(`${key}: expected a duration like "500ms", "5s", "2m" or a number of seconds, got ${JSON.stringify(value)}`);
    return v ?? 0;
  }

  bytes(value: string | number, key: string): number {
    const v = parseSizeBytes(value);
    if (v === undefined) this.problems.push(`${key}: expected a size like "64kb", "16mb" or a number of bytes, got ${JSON.stringify(value)}`);
    return v ?? 0;
  }

  done<T>(value: T, what: string): T {
    if (this.problems.length === 0) return value;
    const n = this.problems.length;
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${n} problem${n === 1 ? '' : 's'} in ${what}`, { details: this.problems });
  }
}

function record(r: Resolver, c: RecordConfig): ResolvedRecord {
  const { max_body_bytes, queue_bytes, quota_bytes, segment_bytes, timeouts, max_header_bytes, max_message_bytes, ...rest } = c;
  return {
    ...rest,
    max_body_bytes: r.bytes(max_body_bytes, 'record.max_body_bytes'),
    max_header_bytes: r.bytes(max_header_bytes, 'record.max_header_bytes'),
    max_message_bytes: r.bytes(max_message_bytes, 'record.max_message_bytes'),
    queue_bytes: r.bytes(queue_bytes, 'record.queue_bytes'),
    quota_bytes: quota_bytes === undefined ? undefined : r.bytes(quota_bytes, 'record.quota_bytes'),
    segment_bytes: r.bytes(segment_bytes, 'record.segment_bytes'),
    timeouts: {
      headers_ms: r.ms(timeouts.headers, 'record.timeouts.headers'),
      request_ms: r.ms(timeouts.request, 'record.timeouts.request'),
      keep_alive_ms: r.ms(timeouts.keep_alive, 'record.timeouts.keep_alive'),
      upstream_ms: r.ms(timeouts.upstream, 'record.timeouts.upstream'),
      login_ms: r.ms(timeouts.login, 'record.timeouts.login'),
    },
  };
}

function mock(r: Resolver, c: MockConfig, key: string): ResolvedMock {
  const { max_body_bytes, max_message_bytes, login_timeout, target_timeout, ...rest } = c;
  return {
    ...rest,
    max_body_bytes: r.bytes(max_body_bytes, `${key}.max_body_bytes`),
    max_message_bytes: r.bytes(max_message_bytes, `${key}.max_message_bytes`),
    login_timeout_ms: r.ms(login_timeout, `${key}.login_timeout`),
    target_timeout_ms: r.ms(target_timeout, `${key}.target_timeout`),
  };
}

function replay(r: Resolver, c: ReplayConfig): ResolvedReplay {
  const { max_delay, timeout, duration, judge_inline_bytes, ...rest } = c;
  return {
    ...rest,
    judge_inline_bytes: r.bytes(judge_inline_bytes, 'replay.judge_inline_bytes'),
    max_delay_ms: r.ms(max_delay, 'replay.max_delay'),
    timeout_ms: r.ms(timeout, 'replay.timeout'),
    duration_ms: duration === undefined ? undefined : r.ms(duration, 'replay.duration'),
  };
}

function compare(r: Resolver, c: CompareConfig): ResolvedCompare {
  return { ...c, max_body_bytes: r.bytes(c.max_body_bytes, 'compare.max_body_bytes') };
}

function shadow(r: Resolver, c: ShadowConfig): ResolvedShadow {
  const { queue_wait, max_body_bytes, timeout, window, mock_window, judge_inline_bytes, drain_timeout, ...rest } = c;
  return {
    ...rest,
    queue_wait_ms: r.ms(queue_wait, 'shadow.queue_wait'),
    max_body_bytes: r.bytes(max_body_bytes, 'shadow.max_body_bytes'),
    timeout_ms: r.ms(timeout, 'shadow.timeout'),
    window_ms: r.ms(window, 'shadow.window'),
    mock_window_ms: r.ms(mock_window, 'shadow.mock_window'),
    judge_inline_bytes: r.bytes(judge_inline_bytes, 'shadow.judge_inline_bytes'),
    drain_timeout_ms: r.ms(drain_timeout, 'shadow.drain_timeout'),
  };
}

/** Resolves a validated config with its defaults applied. Throws DOPPEL_CONFIG_INVALID naming every key that does not parse. */
export function resolveConfig(c: DoppelConfig): ResolvedConfig {
  const r = new Resolver();
  const { sut, ...rest } = c;
  const resolved: ResolvedConfig = {
    ...rest,
    record: record(r, c.record),
    store: { ...c.store, spool: { ...c.store.spool, max_bytes: r.bytes(c.store.spool.max_bytes, 'store.spool.max_bytes') } },
    mocks: c.mocks.map((m, i) => mock(r, m, `mocks[${i}]`)),
    replay: replay(r, c.replay),
    compare: compare(r, c.compare),
    shadow: shadow(r, c.shadow),
    ...(sut === undefined ? {} : { sut: { ...sut, timeout_ms: r.ms(sut.timeout, 'sut.timeout') } }),
  };
  return r.done(resolved, 'configuration');
}

/*
 * One section at a time, for a caller that builds a section itself from the
 * schema's defaults (a test, a benchmark) and hands it to a component.
 */
export function resolveCompare(c: CompareConfig): ResolvedCompare {
  const r = new Resolver();
  return r.done(compare(r, c), 'compare configuration');
}

export function resolveShadow(c: ShadowConfig): ResolvedShadow {
  const r = new Resolver();
  return r.done(shadow(r, c), 'shadow configuration');
}

/** Freezes every object and array reachable from `value`. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
