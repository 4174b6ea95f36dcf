/**
 * Include/exclude filters of the form "METHOD /path/glob" ("GET /orders/*",
 * "* /admin/**", "/healthz"). A path glob's `*` stays within one segment and
 * `**` crosses segments (picomatch semantics); the query string is ignored.
 */
import picomatch from 'picomatch';
import { DoppelError } from '../core/errors.js';

export interface RequestFilter {
  accepts(method: string, url: string): boolean;
}

interface Rule {
  method: string | undefined;
  isMatch: (path: string) => boolean;
}

function compileRule(source: string, key: string): Rule {
  const s = source.trim();
  const m = /^(?:([A-Za-z*]+)\s+)?(\/\S*)$/.exec(s);
  if (!m) {
    throw new DoppelError('DOPPEL_CONFIG_INVALID', `${key}: expected "METHOD /path/glob" like "GET /orders/*", got ${JSON.stringify(source)}`);
  }
  const method = m[1] === undefined || m[1] === '*' ? undefined : m[1].toUpperCase();
  return { method, isMatch: picomatch(m[2] as string, { dot: true }) };
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function createRequestFilter(include: readonly string[] = [], exclude: readonly string[] = []): RequestFilter {
  const inc = include.map((s, i) => compileRule(s, `replay.include[${i}]`));
  const exc = exclude.map((s, i) => compileRule(s, `replay.exclude[${i}]`));
  const hit = (rules: readonly Rule[], method: string, path: string) =>
    rules.some((r) => (r.method === undefined || r.method === method) && r.isMatch(path));
  return {
    accepts(method, url) {
      const m = method.toUpperCase();
      const path = pathOf(url);
      if (inc.length > 0 && !hit(inc, m, path)) return false;
      return !hit(exc, m, path);
    },
  };
}
