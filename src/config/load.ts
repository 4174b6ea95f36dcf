/**
 * Loads, expands, defaults, validates, resolves and freezes a configuration,
 * once per command. Every problem is collected and reported at once as
 * `file:line key.path: message`.
 */
import { readFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node as YamlNode, type Document } from 'yaml';
import { DoppelError } from '../core/errors.js';
import { Value } from './typebox.js';
import { isGateName, parseGateExpression } from './gate-expression.js';
import { checkPath } from '../core/json-path.js';
import { validateCompareConfig } from './check-compare.js';
import { checkPgMockConfig } from './check-pg-mock.js';
import { deepFreeze, resolveConfig, type ResolvedConfig } from './resolve.js';
import { ConfigSchema, GatesFileSchema, type DoppelConfig, type GatesFile } from './schema.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface ConfigProblem {
  /** dotted key path, e.g. replay.concurrency or mocks[1].listen */
  path: string;
  message: string;
  line?: number;
}

export function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line === undefined ? file : `${file}:${p.line}`;
  return `${where} ${p.path || '(top level)'}: ${p.message}`;
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Expands ${VAR} and ${VAR:-default} in every string; unset variables are problems. */
export function expandEnv(value: unknown, env: Env, path: string, problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (fallback !== undefined) return fallback;
      problems.push({ path, message: `environment variable ${name} is not set (write \${${name}:-default} for a default)` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, `${path}[${i}]`, problems));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, env, path ? `${path}.${k}` : k, problems);
    return out;
  }
  return value;
}

function pointerToSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function segmentsToPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number' || /^\d+$/.test(s)) out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out;
}

function lineOf(doc: Document, lc: LineCounter, segments: readonly string[]): number | undefined {
  // Walk as deep as the document goes; an unknown or missing key points at its parent.
  let node: unknown = doc.contents;
  let best: number | undefined;
  const rangeLine = (n: unknown) => {
    const r = (n as YamlNode | null)?.range;
    return r ? lc.linePos(r[0]).line : undefined;
  };
  best = rangeLine(node);
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === seg);
      if (!pair) break;
      best = rangeLine(pair.key) ?? best;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (item === undefined) break;
      best = rangeLine(item) ?? best;
      node = item;
    } else break;
  }
  return best;
}

interface SchemaError {
  path: string;
  message: string;
  schema: TSchema;
  value: unknown;
}

function describeSchemaError(err: SchemaError): { segments: string[]; message: string } {
  const segments = pointerToSegments(err.path);
  const expected = (err.schema as { expected?: string }).expected;
  if (/unexpected property/i.test(err.message) || err.schema.additionalProperties === false) {
    // TypeBox reports unknown keys at the key's own path when it can, else at the object.
    const allowed = Object.keys((err.schema as { properties?: Record<string, unknown> }).properties ?? {});
    return {
      segments,
      message: `unknown key${allowed.length ? ` (allowed here: ${allowed.join(', ')})` : ''}`,
    };
  }
  if (err.value === undefined) return { segments, message: `required${expected ? `: ${expected}` : ''}` };
  const got = JSON.stringify(err.value);
  return { segments, message: `expected ${expected ?? err.message.replace(/^Expected /, '').toLowerCase()}, got ${got}` };
}

function validateAgainst<T>(schema: TSchema, raw: unknown, doc: Document, lc: LineCounter, problems: ConfigProblem[]): T {
  const withDefaults = Value.Default(schema, Value.Clone(raw ?? {}));
  const seen = new Set<string>();
  for (const e of Value.Errors(schema, withDefaults)) {
    const err = e as unknown as SchemaError;
    // Union failures repeat once per branch; the parent's own message (with `expected`) is enough.
    const { segments, message } = describeSchemaError(err);
    const key = `${err.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const line = lineOf(doc, lc, segments);
    problems.push({ path: segmentsToPath(segments), message, ...(line === undefined ? {} : { line }) });
  }
  return withDefaults as T;
}

function checkGates(cfg: { quality_gates?: Record<string, string> }, doc: Document, lc: LineCounter, problems: ConfigProblem[]): void {
  for (const [name, expr] of Object.entries(cfg.quality_gates ?? {})) {
    const segments = ['quality_gates', name];
    const line = lineOf(doc, lc, segments);
    const at = line === undefined ? {} : { line };
    if (!isGateName(name)) {
      problems.push({ path: `quality_gates.${name}`, message: 'unknown gate (known: status_pass_rate, body_match_rate, field_match_rate, mock_match_rate, latency_p50_delta, latency_p95_delta, latency_p99_delta, error_rate, new_mismatch)', ...at });
      continue;
    }
    if (typeof expr !== 'string') continue;
    const parsed = parseGateExpression(expr);
    if ('error' in parsed) problems.push({ path: `quality_gates.${name}`, message: parsed.error, ...at });
  }
}

/** `compare.ignore[2]` or `compare.tolerances["$.x"]` -> path segments for line lookup */
function keyToSegments(key: string): string[] {
  const out: string[] = [];
  for (const m of key.matchAll(/([^.[\]]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g)) out.push(m[1] ?? m[2] ?? (m[3] === undefined ? '' : (JSON.parse(`"${m[3]}"`) as string)));
  return out;
}

/** Every JSON path in the config parses in the one path grammar (compare, redact, captures). */
function checkPaths(cfg: DoppelConfig, doc: Document, lc: LineCounter, problems: ConfigProblem[]): void {
  const sentences: string[] = validateCompareConfig(cfg.compare);
  cfg.redact.json_paths.forEach((p, i) => {
    const why = checkPath(p);
    if (why !== undefined) sentences.push(`redact.json_paths[${i}]: ${why}`);
  });
  cfg.replay.captures.forEach((c, i) => {
    const why = checkPath(c.from) ?? (/^pg:/i.test(c.from.trim()) ? 'a capture reads a response: expected a JSON path or header:NAME' : undefined);
    if (why !== undefined) sentences.push(`replay.captures[${i}].from: ${why}`);
  });
  cfg.mocks.forEach((m, i) => {
    if (m.protocol === 'pg') sentences.push(...checkPgMockConfig(m, `mocks[${i}]`));
  });
  for (const sentence of sentences) {
    const colon = sentence.indexOf(': ');
    const key = sentence.slice(0, colon);
    const line = lineOf(doc, lc, keyToSegments(key));
    problems.push({ path: key, message: sentence.slice(colon + 2), ...(line === undefined ? {} : { line }) });
  }
}

export interface ParsedYaml {
  raw: unknown;
  doc: Document;
  lc: LineCounter;
}

function parseYamlText(text: string, file: string): ParsedYaml {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const details = doc.errors.map((e) => `${file}:${lc.linePos(e.pos[0]).line} ${e.message.split('\n')[0] ?? ''}`);
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${file}: not valid YAML`, { details });
  }
  return { raw: doc.toJS() as unknown, doc, lc };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new DoppelError('DOPPEL_CONFIG_NOT_FOUND', `${file}: cannot read config file (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
  }
}

function fail(file: string, problems: ConfigProblem[]): never {
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const details = problems.map((p) => formatProblem(file, p));
  throw new DoppelError(
    'DOPPEL_CONFIG_INVALID',
    `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in configuration`,
    { details },
  );
}

/**
 * Parses config text (YAML). Overrides (from flags) are applied on top of the
 * file before validation so that they are validated the same way; the result
 * is resolved (milliseconds, bytes) and deeply frozen.
 */
export function parseConfig(text: string, file: string, env: Env, overrides: (cfg: Record<string, unknown>) => void = () => {}): Readonly<ResolvedConfig> {
  const { raw, doc, lc } = parseYamlText(text, file);
  const problems: ConfigProblem[] = [];
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    fail(file, [{ path: '', message: 'expected a map of sections (record, mocks, replay, ...)' }]);
  }
  const expanded = expandEnv(raw ?? {}, env, '', problems) as Record<string, unknown>;
  overrides(expanded);
  const cfg = validateAgainst<DoppelConfig>(ConfigSchema, expanded, doc, lc, problems);
  checkGates(cfg, doc, lc, problems);
  // Paths are only checked once the shapes are right, so a wrong type is not reported twice.
  if (problems.length === 0) checkPaths(cfg, doc, lc, problems);
  if (problems.length > 0) fail(file, problems);
  return deepFreeze(resolveConfig(cfg));
}

export function loadConfig(file: string | undefined, env: Env, overrides?: (cfg: Record<string, unknown>) => void): Readonly<ResolvedConfig> {
  if (file === undefined) return parseConfig('{}', '(flags)', env, overrides);
  return parseConfig(readText(file), file, env, overrides);
}

export function loadGatesFile(file: string, env: Env): Readonly<GatesFile> {
  const { raw, doc, lc } = parseYamlText(readText(file), file);
  const problems: ConfigProblem[] = [];
  const expanded = expandEnv(raw ?? {}, env, '', problems);
  const gates = validateAgainst<GatesFile>(GatesFileSchema, expanded, doc, lc, problems);
  checkGates(gates, doc, lc, problems);
  if (problems.length > 0) fail(file, problems);
  return deepFreeze(gates);
}
