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

/**
 * libpg-query's token table names no BCONST/XCONST/USCONST: bit strings
 * (B'101', X'1F') and Unicode strings (U&'d\0061t') come back as UNKNOWN
 * tokens that are not keywords, recognised here by their prefix.
 */
const PREFIXED_LITERAL = /^(?:[bBxX]'|[uU]&')/;

/**
 * The quoted parts of a string token: 'a' then 'b' on a later line is one
 * constant, 'ab' (PostgreSQL docs 4.1.2.1, "String Constants").
 */
function quotedParts(body: string, hasBackslashEscapes = false): string[] {
  const parts: string[] = [];
  let i = 0;
  while (i < body.length) {
    if (body[i] !== "'") {
      i++;
      continue;
    }
    let j = i + 1;
    let part = '';
    while (j < body.length) {
      if (hasBackslashEscapes && body[j] === '\\' && j + 1 < body.length) {
        // kept for unescapeC, so \' does not end the part
        part += body.slice(j, j + 2);
        j += 2;
      } else if (body[j] === "'" && body[j + 1] === "'") {
        part += "'";
        j += 2;
      } else if (body[j] === "'") {
        break;
      } else {
        part += body[j];
        j++;
      }
    }
    parts.push(part);
    i = j + 1;
  }
  return parts;
}

/** Backslash escapes of E'...' (PostgreSQL docs 4.1.2.2). */
function unescapeC(s: string): string {
  return s.replace(/\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|([\s\S]))/g, (_m, oct?: string, hex?: string, u4?: string, u8?: string, ch?: string) => {
    if (oct !== undefined) return String.fromCharCode(parseInt(oct, 8) & 0xff);
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    const cp = u4 ?? u8;
    if (cp !== undefined) {
      const n = parseInt(cp, 16);
      return n <= 0x10ffff ? String.fromCodePoint(n) : '';
    }
    switch (ch) {
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case undefined:
        return '';
      default:
        return ch;
    }
  });
}

/** \XXXX and \+XXXXXX escapes of U&'...' (PostgreSQL docs 4.1.2.3), with the default escape character. */
function unescapeUnicode(s: string): string {
  return s.replace(/\\(?:\+([0-9A-Fa-f]{6})|([0-9A-Fa-f]{4})|(\\))/g, (_m, u6?: string, u4?: string, bs?: string) => {
    if (bs !== undefined) return '\\';
    const n = parseInt((u6 ?? u4) as string, 16);
    return n <= 0x10ffff ? String.fromCodePoint(n) : '';
  });
}

/**
 * A literal's value, so that one value written two ways ('it''s', E'it\'s',
 * $$it's$$) is one literal. Bit strings keep their text with the prefix in
 * upper case: B'1' and '1' are values of different types.
 */
function literalValue(text: string, tokenName: string): string {
  if (tokenName === 'SCONST') {
    if (text.startsWith('$')) {
      const tagEnd = text.indexOf('$', 1);
      return text.slice(tagEnd + 1, text.length - (tagEnd + 1));
    }
    if (/^[eE]'/.test(text)) return unescapeC(quotedParts(text.slice(1), true).join(''));
    if (/^[nN]'/.test(text)) return quotedParts(text.slice(1)).join('');
    if (text.startsWith("'")) return quotedParts(text).join('');
    return text;
  }
  if (/^[uU]&'/.test(text)) return unescapeUnicode(quotedParts(text.slice(2)).join(''));
  if (/^[bBxX]'/.test(text)) return `${(text[0] as string).toUpperCase()}${text.slice(1)}`;
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
    if (CONST_TOKENS.has(name) || (name === 'UNKNOWN' && t.keywordKind === 0 && PREFIXED_LITERAL.test(t.text))) {
      literals.push(literalValue(t.text, name));
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
