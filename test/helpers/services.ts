import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * A test that needs an outside tool or service fails under CI=true when it is
 * missing (a green CI must mean the thing was tested) and skips elsewhere.
 */
export const isCI = process.env.CI === 'true' || process.env.CI === '1';

export function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = `${dir}/${name}`;
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

export function requireTool(name: string): string | undefined {
  const found = findExecutable(name);
  if (!found && isCI) throw new Error(`${name} is required under CI=true but was not found on PATH (.ci/run installs it)`);
  return found;
}

export function toolVersion(path: string, args: string[] = ['--version']): string {
  return execFileSync(path, args, { encoding: 'utf8' }).split('\n')[0] ?? '';
}
