/**
 * Which exchanges get recorded: include/exclude filters by method and path,
 * health probes excluded by default, then sampling. Decided when a request
 * starts, so exchanges not recorded cost nothing on the proxy path.
 */

export type RecordDecision = 'record' | 'filtered' | 'sampled_out';

export interface RecordFilterOptions {
  /** share recorded, 0..1 */
  sample: number;
  include?: readonly string[] | undefined;
  exclude?: readonly string[] | undefined;
  excludeHealth: boolean;
  random?: () => number;
}

export const HEALTH_PATHS = ['/healthz', '/readyz', '/livez', '/health', '/ready', '/live'] as const;

interface Rule {
  method: string | undefined;
  path: RegExp;
}

/**
 * `"GET /orders/*"`, `"/orders/*"` (any method) or `"* /x"`. `*` matches any
 * run of characters, `/` included; the pattern must cover the whole path.
 */
export function parseFilterRule(rule: string): Rule {
  const parts = rule.trim().split(/\s+/);
  const method = parts.length > 1 ? (parts[0] as string).toUpperCase() : undefined;
  const path = parts.length > 1 ? parts.slice(1).join(' ') : (parts[0] as string);
  const re = new RegExp(`^${path.split('*').map(escapeRe).join('.*')}$`);
  return { method: method === '*' ? undefined : method, path: re };
}

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

function matches(rules: readonly Rule[], method: string, path: string): boolean {
  for (const r of rules) if ((r.method === undefined || r.method === method) && r.path.test(path)) return true;
  return false;
}

export function createRecordFilter(opts: RecordFilterOptions): (method: string, url: string) => RecordDecision {
  const include = (opts.include ?? []).map(parseFilterRule);
  const exclude = (opts.exclude ?? []).map(parseFilterRule);
  if (opts.excludeHealth) for (const p of HEALTH_PATHS) exclude.push({ method: undefined, path: new RegExp(`^${escapeRe(p)}/?$`) });
  const random = opts.random ?? Math.random;
  const sample = opts.sample;
  return (method, url) => {
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (include.length > 0 && !matches(include, method, path)) return 'filtered';
    if (exclude.length > 0 && matches(exclude, method, path)) return 'filtered';
    if (sample < 1 && !(random() < sample)) return 'sampled_out';
    return 'record';
  };
}
