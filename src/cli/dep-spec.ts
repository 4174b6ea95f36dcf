import { DoppelError } from '../core/errors.js';

export interface DepSpec {
  name: string;
  listen: string;
  target?: string;
}

/**
 * Parses `NAME=LISTEN[,TARGET]` as --http-dep / --pg-dep take it.
 * `requireTarget` for record, where a dependency without its real target means nothing.
 */
export function parseDepSpec(flag: string, value: string, requireTarget: boolean): DepSpec {
  const eq = value.indexOf('=');
  const name = eq === -1 ? '' : value.slice(0, eq).trim();
  const rest = eq === -1 ? '' : value.slice(eq + 1);
  const comma = rest.indexOf(',');
  const listen = (comma === -1 ? rest : rest.slice(0, comma)).trim();
  const target = comma === -1 ? undefined : rest.slice(comma + 1).trim();
  const shape = requireTarget ? 'NAME=LISTEN,TARGET' : 'NAME=LISTEN[,TARGET]';
  if (!name || !listen || (requireTarget && !target) || target === '') {
    throw new DoppelError('DOPPEL_USAGE', `${flag} ${JSON.stringify(value)}: expected ${shape}, e.g. payments=127.0.0.1:8081,http://payments.internal`);
  }
  return target === undefined ? { name, listen } : { name, listen, target };
}
