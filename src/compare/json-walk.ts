/**
 * The field-by-field walk of two parsed JSON bodies. It keeps one mutable
 * path stack, formats a path only when it records a diff, and tests value
 * classes only when two values differ.
 */
import { formatPath, type PathSegment } from '../core/json-path.js';
import { isWithin, type CompiledRules } from './compiled-rules.js';
import type { DiffKind, FieldDiff } from './types.js';
import { isSameShape } from './value-classes.js';

/** Element pairs tried in an unordered array before falling back to linear pairing by JSON text. */
const MAX_PAIRING_TRIES = 250_000;

/**
 * One comparison's walk state. `dry` > 0 while unordered arrays try pairings:
 * nothing is counted or recorded and the first mismatch ends the subtree.
 */
export class Walk {
  match = 0;
  mismatch = 0;
  ignored = 0;
  omitted = 0;
  readonly diffs: FieldDiff[] = [];
  private readonly path: PathSegment[] = [];
  private dry = 0;
  private readonly r: CompiledRules;

  constructor(rules: CompiledRules) {
    this.r = rules;
  }

  /** The counts and position now, to go back to when a walk is abandoned half way. */
  mark(): readonly [number, number, number, number, number, number, number] {
    return [this.match, this.mismatch, this.ignored, this.omitted, this.diffs.length, this.path.length, this.dry];
  }

  rewind(m: readonly [number, number, number, number, number, number, number]): void {
    [this.match, this.mismatch, this.ignored, this.omitted] = m;
    this.diffs.length = m[4];
    this.path.length = m[5];
    this.dry = m[6];
  }

  diffAt(path: string, kind: DiffKind, expected: unknown, actual: unknown): void {
    this.mismatch++;
    if (this.diffs.length >= this.r.maxDiffs) {
      this.omitted++;
      return;
    }
    const d: FieldDiff = { path, kind };
    if (expected !== undefined) d.expected = this.preview(expected);
    if (actual !== undefined) d.actual = this.preview(actual);
    this.diffs.push(d);
  }

  private fail(kind: DiffKind, expected: unknown, actual: unknown): false {
    if (this.dry === 0) this.diffAt(formatPath(this.path), kind, expected, actual);
    return false;
  }

  private preview(v: unknown): unknown {
    const max = this.r.maxPreviewChars;
    if (typeof v === 'string') return v.length > max ? `${v.slice(0, max)}… (${v.length} chars)` : v;
    if (v === null || typeof v !== 'object') return v;
    const text = JSON.stringify(v);
    return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : v;
  }

  /** Compares two nodes at the current path; undefined means absent on that side. */
  compareNode(a: unknown, b: unknown): boolean {
    const r = this.r;
    const path = this.path;
    if (r.ignore.size > 0 && r.ignore.find(path) !== undefined) {
      if (this.dry === 0) this.ignored++;
      return true;
    }
    if (a === undefined) return this.fail('extra', undefined, b);
    if (b === undefined) return this.fail('missing', a, undefined);
    if (r.presence.size > 0 && r.presence.find(path) !== undefined) {
      if (this.dry === 0) this.match++;
      return true;
    }
    const ta = typeof a;
    if (ta !== 'object' || a === null) {
      if (a === b) {
        if (this.dry === 0) this.match++;
        return true;
      }
      return this.comparePrimitive(a, b);
    }
    if (b === null || typeof b !== 'object') return this.fail('type', a, b);
    const isArrayA = Array.isArray(a);
    if (isArrayA !== Array.isArray(b)) return this.fail('type', a, b);
    if (isArrayA) {
      if (r.unordered.size > 0 && r.unordered.find(path) !== undefined) return this.compareUnordered(a as unknown[], b as unknown[]);
      return this.compareOrdered(a as unknown[], b as unknown[]);
    }
    return this.compareObject(a as Record<string, unknown>, b as Record<string, unknown>);
  }

  private comparePrimitive(a: unknown, b: unknown): boolean {
    const ta = typeof a;
    if (ta !== typeof b || b === null || a === null) return this.fail('type', a, b);
    if (ta === 'number') {
      const tol = this.r.tolerances.size > 0 ? this.r.tolerances.find(this.path) : undefined;
      if (tol !== undefined && isWithin(a as number, b as number, tol)) return this.hit();
    }
    if (this.r.valueClasses && (ta === 'string' || ta === 'number') && isSameShape(a, b)) return this.hit();
    return this.fail('changed', a, b);
  }

  private hit(): true {
    if (this.dry === 0) this.match++;
    return true;
  }

  private compareOrdered(a: unknown[], b: unknown[]): boolean {
    const path = this.path;
    const n = a.length > b.length ? a.length : b.length;
    let ok = true;
    for (let i = 0; i < n; i++) {
      path.push(i);
      const same = this.compareNode(i < a.length ? a[i] : undefined, i < b.length ? b[i] : undefined);
      path.pop();
      if (!same) {
        ok = false;
        if (this.dry > 0) return false;
      }
    }
    return ok;
  }

  /**
   * Pairs equal elements regardless of position (same index first, then the
   * first free equal element), then diffs what is left in order.
   */
  private compareUnordered(a: unknown[], b: unknown[]): boolean {
    const path = this.path;
    const used = new Uint8Array(b.length);
    const pair = new Int32Array(a.length).fill(-1);
    this.dry++;
    for (let i = 0; i < a.length && i < b.length; i++) {
      path.push(i);
      if (this.compareNode(a[i], b[i])) {
        pair[i] = i;
        used[i] = 1;
      }
      path.pop();
    }
    if (a.length * b.length <= MAX_PAIRING_TRIES) {
      for (let i = 0; i < a.length; i++) {
        if (pair[i] !== -1) continue;
        path.push(i);
        for (let j = 0; j < b.length; j++) {
          if (used[j] === 0 && this.compareNode(a[i], b[j])) {
            pair[i] = j;
            used[j] = 1;
            break;
          }
        }
        path.pop();
      }
    } else {
      // Large arrays: pairing by trial is quadratic, so pair elements with identical JSON text in one
      // pass (linear); what rules or value classes would also have excused is diffed in order below.
      const free = new Map<string, number[]>();
      for (let j = 0; j < b.length; j++) {
        if (used[j] === 1) continue;
        const key = JSON.stringify(b[j]) ?? '';
        const list = free.get(key);
        if (list) list.push(j);
        else free.set(key, [j]);
      }
      for (let i = 0; i < a.length; i++) {
        if (pair[i] !== -1) continue;
        const j = free.get(JSON.stringify(a[i]) ?? '')?.shift();
        if (j !== undefined) {
          pair[i] = j;
          used[j] = 1;
        }
      }
    }
    this.dry--;
    if (this.dry > 0) {
      // Inside another pairing attempt only the answer matters.
      for (let i = 0; i < a.length; i++) if (pair[i] === -1) return false;
      return a.length === b.length;
    }
    let ok = true;
    let nextFree = 0;
    for (let i = 0; i < a.length; i++) {
      path.push(i);
      let j = pair[i] as number;
      if (j === -1) {
        while (nextFree < b.length && used[nextFree] === 1) nextFree++;
        if (nextFree < b.length) {
          j = nextFree;
          used[j] = 1;
        }
      }
      if (!this.compareNode(a[i], j === -1 ? undefined : b[j])) ok = false;
      path.pop();
    }
    for (let j = 0; j < b.length; j++) {
      if (used[j] === 1) continue;
      path.push(j);
      this.compareNode(undefined, b[j]);
      path.pop();
      ok = false;
    }
    return ok;
  }

  private compareObject(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
    const path = this.path;
    // Fast path: both sides list the same keys in the same order (one serializer, one schema), so no
    // membership tests are needed. V8 serves Object.keys of parsed objects from its enum cache.
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length === kb.length) {
      let isSameOrder = true;
      for (let i = 0; i < ka.length; i++) {
        if (ka[i] !== kb[i]) {
          isSameOrder = false;
          break;
        }
      }
      if (isSameOrder) {
        let ok = true;
        for (let i = 0; i < ka.length; i++) {
          const k = ka[i] as string;
          path.push(k);
          const same = this.compareNode(a[k], b[k]);
          path.pop();
          if (!same) {
            ok = false;
            if (this.dry > 0) return false;
          }
        }
        return ok;
      }
    }
    let ok = true;
    let shared = 0;
    for (const k in a) {
      const isInB = Object.hasOwn(b, k);
      if (isInB) shared++;
      path.push(k);
      const same = this.compareNode(a[k], isInB ? b[k] : undefined);
      path.pop();
      if (!same) {
        ok = false;
        if (this.dry > 0) return false;
      }
    }
    let countB = 0;
    for (const _k in b) countB++;
    if (countB === shared) return ok;
    for (const k in b) {
      if (Object.hasOwn(a, k)) continue;
      path.push(k);
      const same = this.compareNode(undefined, b[k]);
      path.pop();
      if (!same) {
        ok = false;
        if (this.dry > 0) return false;
      }
    }
    return ok;
  }
}
