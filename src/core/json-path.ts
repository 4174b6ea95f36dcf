/**
 * The one path grammar of doppel, shared by compare ignore rules, tolerances,
 * captures, redaction and mock matching:
 *
 *   $.a.b   $['a b']   $.items[0]   $.items[*].createdAt   $..id   $.*   header:NAME   pg:$2
 *
 * A pattern is compiled once; matching a concrete path allocates nothing.
 */
import { DoppelError } from './errors.js';

export type PathSegment = string | number;

type Step =
  | { kind: 'key'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'any' }
  /** `..name` / `..*` : zero or more levels, then the step */
  | { kind: 'descend'; then: Step };

export type CompiledPath =
  | { kind: 'json'; source: string; steps: readonly Step[] }
  | { kind: 'header'; source: string; name: string }
  /** `pg:$N`: a Postgres statement parameter (0-based index), for mock matching */
  | { kind: 'param'; source: string; index: number };

export function compilePath(source: string): CompiledPath {
  const s = source.trim();
  if (/^header:/i.test(s)) {
    const name = s.slice('header:'.length).trim().toLowerCase();
    if (!name) throw pathError(source, 'a header name after "header:"');
    return { kind: 'header', source, name };
  }
  if (/^pg:/i.test(s)) {
    const m = /^pg:(?:\$|param:)(\d+)$/i.exec(s);
    const n = m ? Number(m[1]) : NaN;
    if (!(n >= 1 && n <= 65_535)) throw pathError(source, 'a Postgres parameter after "pg:", like pg:$2');
    return { kind: 'param', source, index: n - 1 };
  }
  if (!s.startsWith('$')) throw pathError(source, 'a JSON path starting with "$" (e.g. $.a.b, $..id, $.items[*].x) or header:NAME');
  const steps: Step[] = [];
  let i = 1;
  while (i < s.length) {
    const ch = s[i];
    if (ch === '.') {
      const isDescend = s[i + 1] === '.';
      i += isDescend ? 2 : 1;
      let step: Step;
      if (s[i] === '*') {
        step = { kind: 'any' };
        i++;
      } else if (s[i] === '[') {
        // `..[*]` or `..['x']`
        const parsed = parseBracket(s, i, source);
        step = parsed.step;
        i = parsed.next;
      } else {
        const m = /^[^.[\]]+/.exec(s.slice(i));
        if (!m) throw pathError(source, 'a key name after "."');
        step = { kind: 'key', name: m[0] };
        i += m[0].length;
      }
      steps.push(isDescend ? { kind: 'descend', then: step } : step);
    } else if (ch === '[') {
      const parsed = parseBracket(s, i, source);
      steps.push(parsed.step);
      i = parsed.next;
    } else {
      throw pathError(source, `"." or "[" at position ${i + 1}`);
    }
  }
  return { kind: 'json', source, steps };
}

/**
 * A quoted key inside []: `\\` and the quote itself are escaped with a
 * backslash (as formatPath writes them), so a key may hold quotes and `]`.
 */
function parseQuotedKey(s: string, quoteAt: number, source: string): { step: Step; next: number } {
  const quote = s[quoteAt] as string;
  let name = '';
  let i = quoteAt + 1;
  for (;;) {
    if (i >= s.length) throw pathError(source, `a closing ${quote} and "]"`);
    const ch = s[i] as string;
    if (ch === quote) break;
    if (ch === '\\' && (s[i + 1] === quote || s[i + 1] === '\\')) {
      name += s[i + 1];
      i += 2;
      continue;
    }
    name += ch;
    i++;
  }
  let end = i + 1;
  while (s[end] === ' ') end++;
  if (s[end] !== ']') throw pathError(source, `"]" after the quoted key at position ${i + 1}`);
  return { step: { kind: 'key', name }, next: end + 1 };
}

function parseBracket(s: string, start: number, source: string): { step: Step; next: number } {
  let first = start + 1;
  while (s[first] === ' ') first++;
  if (s[first] === "'" || s[first] === '"') return parseQuotedKey(s, first, source);
  const end = s.indexOf(']', start);
  if (end === -1) throw pathError(source, 'a closing "]"');
  const inner = s.slice(start + 1, end).trim();
  let step: Step;
  if (inner === '*') step = { kind: 'any' };
  else if (/^\d+$/.test(inner)) step = { kind: 'index', index: Number(inner) };
  else throw pathError(source, `an index, * or a quoted key inside [], got [${inner}]`);
  return { step, next: end + 1 };
}

function pathError(source: string, expected: string): DoppelError {
  return new DoppelError('DOPPEL_INPUT_INVALID', `invalid path ${JSON.stringify(source)}: expected ${expected}`);
}

/** Validates a path; returns the problem sentence or undefined. */
export function checkPath(source: string): string | undefined {
  try {
    compilePath(source);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function stepMatches(step: Step, seg: PathSegment): boolean {
  switch (step.kind) {
    case 'key':
      return typeof seg === 'string' ? seg === step.name : String(seg) === step.name;
    case 'index':
      return seg === step.index;
    case 'any':
      return true;
    case 'descend':
      return stepMatches(step.then, seg);
    default: {
      const never: never = step;
      return never;
    }
  }
}

function matchFrom(steps: readonly Step[], si: number, path: readonly PathSegment[], pi: number): boolean {
  if (si === steps.length) return pi === path.length;
  const step = steps[si] as Step;
  if (step.kind === 'descend') {
    // zero or more levels skipped, then the inner step at some depth
    for (let p = pi; p < path.length; p++) {
      if (stepMatches(step.then, path[p] as PathSegment) && matchFrom(steps, si + 1, path, p + 1)) return true;
    }
    return false;
  }
  if (pi >= path.length) return false;
  return stepMatches(step, path[pi] as PathSegment) && matchFrom(steps, si + 1, path, pi + 1);
}

/** True when the concrete JSON path (segments below $) is selected by the pattern. */
export function pathMatches(pattern: CompiledPath, path: readonly PathSegment[]): boolean {
  return pattern.kind === 'json' && matchFrom(pattern.steps, 0, path, 0);
}

/** True when the pattern selects the path or something below it (for pruning a walk). */
export function pathCovers(pattern: CompiledPath, path: readonly PathSegment[]): boolean {
  if (pattern.kind !== 'json') return false;
  for (let len = 0; len <= path.length; len++) {
    if (matchFrom(pattern.steps, 0, path.slice(0, len), 0)) return true;
  }
  return false;
}

/** Renders a concrete path back into the grammar: ['items', 0, 'id'] -> $.items[0].id */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '$';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += `.${seg}`;
    else out += `['${seg.replace(/[\\']/g, (c) => `\\${c}`)}']`;
  }
  return out;
}

/** Every value a pattern selects in a document (for captures and redaction). */
export function selectValues(pattern: CompiledPath, doc: unknown): Array<{ path: PathSegment[]; value: unknown }> {
  const out: Array<{ path: PathSegment[]; value: unknown }> = [];
  if (pattern.kind !== 'json') return out;
  const walk = (node: unknown, path: PathSegment[]) => {
    if (matchFrom(pattern.steps, 0, path, 0)) out.push({ path: [...path], value: node });
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        path.push(i);
        walk(node[i], path);
        path.pop();
      }
    } else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        path.push(k);
        walk(v, path);
        path.pop();
      }
    }
  };
  walk(doc, []);
  return out;
}

/**
 * The segment a pattern's last step requires (a key name or an index), or
 * undefined when the last step is a wildcard. Rule sets index patterns by it,
 * so a walk only tries the few patterns that can end at the current segment.
 */
export function lastSegment(pattern: CompiledPath): PathSegment | undefined {
  if (pattern.kind !== 'json') return undefined;
  let step = pattern.steps[pattern.steps.length - 1];
  if (step?.kind === 'descend') step = step.then;
  if (step === undefined) return undefined;
  switch (step.kind) {
    case 'key':
      return step.name;
    case 'index':
      return step.index;
    case 'any':
    case 'descend':
      return undefined;
    default: {
      const never: never = step;
      return never;
    }
  }
}

/** Replaces array indices by [*]: `$.items[3].id` and `$.items[7].id` fold into `$.items[*].id`. */
export function generalizePath(path: string): string {
  return path.replace(/\[\d+\]/g, '[*]');
}
