import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Finds a Debian tool a test needs. Under CI=true a missing tool is a
 * failure (the CI script installs it); elsewhere the test may skip, saying why.
 */
export function findTool(name: string, candidates: readonly string[] = []): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const p of [...candidates, ...dirs.map((d) => join(d, name))]) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export const isCI = process.env.CI === 'true' || process.env.CI === '1';

export function missingToolMessage(name: string, pkg: string): string {
  return `${name} not found: apt-get install -y ${pkg}`;
}
