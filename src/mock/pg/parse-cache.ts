/**
 * What the mock needs to know of one SQL text at Parse, computed once:
 * unnamed-statement clients send the same text again for every statement,
 * and a cached lookup replaces three scans of it.
 */
import { LRUCache } from 'lru-cache';
import type { SqlShape } from '../../protocols/pg/sql-normalizer.js';
import type { PgEntry, PgIndex, StatementInfo } from './statement-index.js';

export interface ParsedSql {
  shape: SqlShape;
  /** a recorded Parse of this text that failed */
  parseError: PgEntry | undefined;
  isCopy: boolean;
  described: StatementInfo | undefined;
}

export type ParseCache = (sql: string) => ParsedSql;

export function createParseCache(index: PgIndex): ParseCache {
  const cache = new LRUCache<string, ParsedSql>({ max: 10_000 });
  return (sql) => {
    let p = cache.get(sql);
    if (p === undefined) {
      const shape = index.analyze(sql);
      p = { shape, parseError: index.parseError(sql), isCopy: shape.commands.includes('copy'), described: index.describeStatement(sql) };
      cache.set(sql, p);
    }
    return p;
  };
}
