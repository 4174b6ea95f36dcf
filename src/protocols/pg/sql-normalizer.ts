/**
 * SQL text -> a canonical shape plus its literal values, using the real
 * PostgreSQL scanner (libpg-query, compiled to WebAssembly). Whitespace,
 * comments and keyword/identifier case do not change the shape; literals are
 * taken out so they can be compared like parameters (value classes apply).
 * Results are cached by SQL text.
 */
import { LRUCache } from 'lru-cache';
import { loadModule, scanSync } from 'libpg-query';

export interface SqlShape {
  /** canonical statement text with every literal replaced by `?` */
  shape: string;
  /** literal values in order (string constants unquoted) */
  literals: string[];
  /** lower-cased first keyword of each statement ('' for an empty statement) */
  commands: string[];
  /** highest $n parameter number */
  paramCount: number;
  /** true when the text holds no statement at all (only whitespace, comments, semicolons) */
  isEmpty: boolean;
}

const CONST_TOKENS = new Set(['ICONST', 'FCONST', 'SCONST', 'BCONST', 'XCONST', 'USCONST']);

let isLoaded = false;

/** Loads the WebAssembly parser once; call before the first analyze. */
export async function loadSqlParser(): Promise<void> {
  if (isLoaded) return;
  await loadModule();
  isLoaded = true;
}

function unquote(text: string, tokenName: string): string {
  if (tokenName === 'SCONST' && text.startsWith("'") && text.endsWith("'")) return text.slice(1, -1).replaceAll("''", "'");
  return text;
}

/** Fallback when the scanner rejects the text (e.g. an unterminated quote): whitespace-collapsed text. */
function roughShape(sql: string): SqlShape {
  const shape = sql.trim().replace(/\s+/g, ' ');
  const first = /^[A-Za-z]+/.exec(shape)?.[0]?.toLowerCase() ?? '';
  return { shape, literals: [], commands: [first], paramCount: 0, isEmpty: shape === '' };
}

export function analyzeSqlUncached(sql: string): SqlShape {
  if (sql.trim() === '') return { shape: '', literals: [], commands: [''], paramCount: 0, isEmpty: true };
  let tokens;
  try {
    tokens = scanSync(sql).tokens;
  } catch {
    return roughShape(sql);
  }
  const parts: string[] = [];
  const literals: string[] = [];
  const commands: string[] = [];
  let isStatementStart = true;
  let paramCount = 0;
  for (const t of tokens) {
    const name = t.tokenName;
    if (name === 'SQL_COMMENT' || name === 'C_COMMENT') continue;
    if (name === 'ASCII_59') {
      if (!isStatementStart) parts.push(';');
      isStatementStart = true;
      continue;
    }
    let piece: string;
    if (CONST_TOKENS.has(name) || (name === 'UNKNOWN' && t.keywordKind === 0 && /^[uU]&'/.test(t.text))) {
      literals.push(unquote(t.text, name));
      piece = '?';
    } else if (t.keywordKind > 0) {
      piece = t.text.toLowerCase();
    } else if (name === 'IDENT' && !t.text.startsWith('"')) {
      piece = t.text.toLowerCase();
    } else {
      if (name === 'PARAM') paramCount = Math.max(paramCount, Number(t.text.slice(1)) || 0);
      piece = t.text;
    }
    if (isStatementStart) {
      commands.push(piece.toLowerCase());
      isStatementStart = false;
    }
    parts.push(piece);
  }
  if (parts.length > 0 && parts[parts.length - 1] === ';') parts.pop();
  return { shape: parts.join(' '), literals, commands, paramCount, isEmpty: parts.length === 0 };
}

export interface SqlAnalyzer {
  analyze(sql: string): SqlShape;
}

export function createSqlAnalyzer(maxEntries = 10_000): SqlAnalyzer {
  const cache = new LRUCache<string, SqlShape>({ max: maxEntries });
  return {
    analyze(sql) {
      let s = cache.get(sql);
      if (s === undefined) {
        s = analyzeSqlUncached(sql);
        cache.set(sql, s);
      }
      return s;
    },
  };
}
