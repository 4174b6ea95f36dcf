/**
 * Runtime variables, injected right before a request is sent:
 *
 *   {{now}}  {{now+5m}}  {{now-1d}}   ISO 8601 time, optionally offset
 *   {{uuid}}                          a fresh random UUID per occurrence
 *   {{env.NAME}}                      from the environment
 *   {{name}}                          a value captured earlier in the session
 *
 * and captured values: a capture (`replay.captures`) reads the same JSON path
 * from the recorded response and from the candidate's, so wherever the
 * recorded value appears in later requests of the session it is replaced by
 * the candidate's (the id the baseline assigned becomes the one the candidate
 * assigned). An unknown {{...}} stays as it is: bodies may hold templates of
 * their own.
 */
import { randomUUID } from 'node:crypto';
import { DoppelError } from '../core/errors.js';
import { compilePath, selectValues, type CompiledPath } from '../core/json-path.js';
import { parseDurationMs } from '../config/duration.js';
import { readableBody } from '../core/content-coding.js';
import type { HeaderPairs } from '../core/exchange.js';
import { createRequestFilter, type RequestFilter } from './request-filter.js';

const TEMPLATE = /\{\{\s*([^{}]+?)\s*\}\}/g;
const NOW_OFFSET = /^now\s*([+-])\s*(\d+(?:\.\d+)?\s*(?:ms|s|m|h|d))$/;

export interface CaptureSpec {
  name: string;
  from: string;
  endpoint?: string | undefined;
}

export interface CompiledCapture {
  name: string;
  path: CompiledPath;
  endpoint: RequestFilter | undefined;
}

/** Compiles captures once; a bad path or endpoint is a config error naming the key. */
export function compileCaptures(specs: readonly CaptureSpec[]): CompiledCapture[] {
  return specs.map((c, i) => {
    let path: CompiledPath;
    try {
      path = compilePath(c.from);
    } catch (err) {
      throw new DoppelError('DOPPEL_CONFIG_INVALID', `replay.captures[${i}].from: ${(err as Error).message}`, { cause: err });
    }
    let endpoint: RequestFilter | undefined;
    if (c.endpoint !== undefined) {
      try {
        endpoint = createRequestFilter([c.endpoint]);
      } catch (err) {
        throw new DoppelError('DOPPEL_CONFIG_INVALID', `replay.captures[${i}].endpoint: ${(err as Error).message.replace(/^replay\.include\[0\]: /, '')}`, { cause: err });
      }
    }
    return { name: c.name, path, endpoint };
  });
}

/**
 * A value this short ("7", "42") also occurs by chance (a quantity, a page
 * number): it is replaced only where it sits at a key named like the captured
 * field or like an id, or as a whole URL path segment. Longer values (uuids,
 * opaque ids) are replaced wherever they appear.
 */
const SHORT_VALUE = 6;
const ID_KEY = /(^|[^a-z])id$|Id$|_id$|^id/i;

/** Per-session state: explicit values and recorded -> candidate substitutions. */
const NONE: ReadonlyMap<string, string> = new Map();

/** Maps are made on first write: most sessions capture nothing, and one exists per session. */
export class SessionVars {
  #values: Map<string, string> | undefined;
  #substitutions: Map<string, string> | undefined;
  /** key names the short values were captured from */
  #keys: Map<string, string | undefined> | undefined;
  #bounded: RegExp | undefined;
  #boundedAll: RegExp | undefined;

  get values(): ReadonlyMap<string, string> {
    return this.#values ?? NONE;
  }

  get substitutions(): ReadonlyMap<string, string> {
    return this.#substitutions ?? NONE;
  }

  get isEmpty(): boolean {
    return this.#values === undefined && this.#substitutions === undefined;
  }

  setValue(name: string, value: string): void {
    (this.#values ??= new Map()).set(name, value);
  }

  setSubstitution(recorded: string, candidate: string, key?: string): void {
    if (recorded === '' || recorded === candidate) return;
    (this.#substitutions ??= new Map()).set(recorded, candidate);
    (this.#keys ??= new Map()).set(recorded, key);
    this.#bounded = undefined;
    this.#boundedAll = undefined;
  }

  /** the candidate value for a recorded one found at `key` (a JSON key or header name) */
  lookup(recorded: string, key: string | undefined): string | undefined {
    const hit = this.substitutions.get(recorded);
    if (hit === undefined || recorded.length >= SHORT_VALUE) return hit;
    if (key === undefined) return undefined;
    return key === this.#keys?.get(recorded) || ID_KEY.test(key) ? hit : undefined;
  }

  /**
   * One regex of the recorded values, bounded so "42" never rewrites "142"
   * or "42a"; short values only when `withShort`.
   */
  boundedPattern(withShort: boolean): RegExp | undefined {
    const cached = withShort ? this.#boundedAll : this.#bounded;
    if (cached !== undefined) return cached;
    const alts = [...this.substitutions.keys()]
      .filter((k) => withShort || k.length >= SHORT_VALUE)
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp);
    if (alts.length === 0) return undefined;
    const re = new RegExp(`(?<![A-Za-z0-9_-])(?:${alts.join('|')})(?![A-Za-z0-9_-])`, 'g');
    if (withShort) this.#boundedAll = re;
    else this.#bounded = re;
    return re;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface TemplateEnv {
  now(): number;
  vars: Readonly<Record<string, string | undefined>>;
}

/** Expands {{...}} in one string; returns the input itself when there is nothing to do. */
export function expandTemplates(text: string, env: TemplateEnv, session: SessionVars | undefined): string {
  if (!text.includes('{{')) return text;
  return text.replace(TEMPLATE, (whole, expr: string) => {
    if (expr === 'now') return new Date(env.now()).toISOString();
    if (expr === 'uuid') return randomUUID();
    if (expr.startsWith('env.')) return env.vars[expr.slice(4)] ?? whole;
    const off = NOW_OFFSET.exec(expr);
    if (off) {
      const ms = parseDurationMs(off[2] as string) ?? 0;
      return new Date(env.now() + (off[1] === '-' ? -ms : ms)).toISOString();
    }
    return session?.values.get(expr) ?? whole;
  });
}

/**
 * Replaces recorded captured values with the candidate's inside free text
 * (headers, non-JSON bodies); short values only when `withShort` (a header
 * named like an id).
 */
export function substituteText(text: string, session: SessionVars, withShort = false): string {
  const re = session.boundedPattern(withShort);
  if (re === undefined) return text;
  re.lastIndex = 0;
  if (!re.test(text)) return text;
  re.lastIndex = 0;
  return text.replace(re, (m) => session.substitutions.get(m) ?? m);
}

/** Replaces whole path segments and query values equal to a recorded captured value. */
export function substituteUrl(url: string, session: SessionVars): string {
  if (session.substitutions.size === 0) return url;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? undefined : url.slice(q + 1);
  const subst = (raw: string): string => {
    const decoded = safeDecode(raw);
    const hit = session.substitutions.get(decoded);
    return hit === undefined ? substituteText(raw, session) : encodeURIComponent(hit);
  };
  const newPath = path.split('/').map((seg) => (seg === '' ? seg : subst(seg))).join('/');
  if (query === undefined) return newPath;
  const newQuery = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return pair;
      return `${pair.slice(0, eq + 1)}${subst(pair.slice(eq + 1))}`;
    })
    .join('&');
  return `${newPath}?${newQuery}`;
}

/**
 * Replaces captured values in a JSON document, keeping types: a recorded
 * number 42 becomes the candidate's number. Returns undefined when nothing changed.
 */
export function substituteJson(doc: unknown, session: SessionVars): { value: unknown; changed: boolean } {
  let changed = false;
  const walk = (node: unknown, key: string | undefined): unknown => {
    if (typeof node === 'string') {
      const hit = session.lookup(node, key);
      if (hit !== undefined) {
        changed = true;
        return hit;
      }
      const replaced = substituteText(node, session);
      if (replaced !== node) changed = true;
      return replaced;
    }
    if (typeof node === 'number') {
      const hit = session.lookup(String(node), key);
      if (hit !== undefined) {
        changed = true;
        const n = Number(hit);
        return hit.trim() !== '' && Number.isFinite(n) ? n : hit;
      }
      return node;
    }
    if (Array.isArray(node)) return node.map((v) => walk(v, key));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, k);
      return out;
    }
    return node;
  };
  const value = walk(doc, undefined);
  return { value, changed };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function lastKey(path: CompiledPath): string | undefined {
  if (path.kind === 'header') return path.name;
  const m = /([A-Za-z_$][\w$-]*)'?\]?$/.exec(path.source);
  return m?.[1];
}

function headerValue(headers: HeaderPairs, name: string): string | undefined {
  for (const [k, v] of headers) if (k.toLowerCase() === name) return v;
  return undefined;
}

export interface CaptureSide {
  headers: HeaderPairs;
  /** parsed JSON body, or undefined when the body is not JSON */
  json: unknown;
}

function pick(capture: CompiledCapture, side: CaptureSide): string | undefined {
  if (capture.path.kind === 'header') return headerValue(side.headers, capture.path.name);
  if (side.json === undefined) return undefined;
  const found = selectValues(capture.path, side.json);
  return found.length > 0 ? scalarText(found[0]?.value) : undefined;
}

/**
 * Applies the captures that match this request to the session. `recorded`
 * is the recorded response (undefined when none was recorded).
 */
export function applyCaptures(
  captures: readonly CompiledCapture[],
  method: string,
  url: string,
  recorded: CaptureSide | undefined,
  candidate: CaptureSide,
  session: SessionVars,
): number {
  let applied = 0;
  for (const c of captures) {
    if (c.endpoint !== undefined && !c.endpoint.accepts(method, url)) continue;
    const cand = pick(c, candidate);
    if (cand === undefined) continue;
    session.setValue(c.name, cand);
    applied++;
    const rec = recorded === undefined ? undefined : pick(c, recorded);
    if (rec !== undefined) session.setSubstitution(rec, cand, lastKey(c.path));
  }
  return applied;
}

/** Parses a body as JSON when it looks like JSON; never throws. */
/** The JSON of a response body, its Content-Encoding undone first (bounded by maxBytes); undefined when not JSON. */
export function parseResponseJson(body: Buffer, headers: HeaderPairs, maxBytes: number): unknown {
  if (body.length === 0) return undefined;
  return parseJsonLoose(readableBody(body, headers, maxBytes).body);
}

export function parseJsonLoose(body: Buffer | string): unknown {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const c = text.trimStart()[0];
  if (c !== '{' && c !== '[') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
