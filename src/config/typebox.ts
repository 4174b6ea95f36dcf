/**
 * TypeBox, from its CommonJS build. Its ESM build is about 250 modules, and
 * every command start pays each of them through the ESM loader (about
 * 230 ms from sources); the CommonJS build loads in one synchronous pass.
 * TypeBox marks schemas with `Symbol.for()` keys, so a schema built here
 * checks the same with either build (tests use the ESM one).
 */
import { createRequire } from 'node:module';

const requireCjs = createRequire(import.meta.url);

export const { Type } = requireCjs('@sinclair/typebox') as typeof import('@sinclair/typebox');
export const { Value } = requireCjs('@sinclair/typebox/value') as typeof import('@sinclair/typebox/value');
