import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * A test that needs an outside tool or service fails under CI=true when it is
 * missing (a green CI must mean the thing was tested) and skips elsewhere,
 * visibly and saying why: never a silent early return, which counts as a pass.
 */
export const isCI = process.env.CI === 'true' || process.env.CI === '1';

/** The one method of vitest's test context these helpers need. */
export interface SkipContext {
  skip: (note?: string) => never;
}

export function findExecutable(name: string, candidates: readonly string[] = []): string | undefined {
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

export function missingToolMessage(name: string, pkg: string = name): string {
  return `${name} not found: apt-get install -y ${pkg}`;
}

/**
 * Throws under CI, otherwise skips the running test with the reason shown in
 * the reporter. Never returns.
 */
export function skipOrFail(ctx: SkipContext, reason: string): never {
  if (isCI) throw new Error(`${reason} (required under CI=true; .ci/run installs it)`);
  return ctx.skip(reason);
}

/** The tool's path; a missing tool skips the test (fails under CI). */
export function requireTool(ctx: SkipContext, name: string, pkg: string = name, candidates: readonly string[] = []): string {
  return findExecutable(name, candidates) ?? skipOrFail(ctx, missingToolMessage(name, pkg));
}

/**
 * A tool no package source of CI carries (neither Debian nor npm): its test
 * skips visibly, CI included, saying why, so the report shows what was not run.
 */
export function optionalTool(ctx: SkipContext, name: string, why: string): string {
  return findExecutable(name) ?? ctx.skip(`${name} not found; ${why}`);
}

/**
 * For a whole file whose tests all need one tool: the reason it is missing, or
 * undefined. Under CI a missing tool throws at load, which fails the file.
 */
export function missingTool(name: string, pkg: string = name): string | undefined {
  if (findExecutable(name) !== undefined) return undefined;
  const reason = missingToolMessage(name, pkg);
  if (isCI) throw new Error(`${reason} (required under CI=true; .ci/run installs it)`);
  return reason;
}

/**
 * Whether a service answered its probe; the reason it did not, or undefined.
 * Under CI an unreachable service throws, which fails the file or the hook.
 */
export async function serviceProblem(what: string, probe: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await probe();
    return undefined;
  } catch (err) {
    const reason = `${what} is not reachable: ${(err as Error).message}`;
    if (isCI) throw new Error(`${reason} (required under CI=true)`, { cause: err });
    return reason;
  }
}

export function toolVersion(path: string, args: string[] = ['--version']): string {
  return execFileSync(path, args, { encoding: 'utf8' }).split('\n')[0] ?? '';
}
