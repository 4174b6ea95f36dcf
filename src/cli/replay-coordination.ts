/**
 * The scale-out flags of `doppel replay` (DESIGN.md, Scale-out): `--coordinator
 * URL --run-id ID` joins a run shared through Redis; `--load-only` loads the
 * traffic into it and leaves; `--claim-timeout` is how long a lost worker's
 * sessions wait before another takes them.
 */
import { usageError } from '../core/errors.js';
import { createIpcCoordinator, createMemoryCoordinator } from '../replay/coordinate/ipc-coordinator.js';
import type { MemoryRun } from '../replay/coordinate/memory-run.js';
import { createRedisCoordinator } from '../replay/coordinate/redis-coordinator.js';
import { checkRunId, coordinationTiming, type Coordinator } from '../replay/coordinate/types.js';
import { isRedisStoreUrl } from '../store/open-store.js';

export interface CoordinationFlags {
  coordinator?: string;
  loadOnly?: boolean;
  claimTimeout?: string;
  workerId?: string;
  /** set by `--workers N` on the worker processes it starts: the run is the parent's */
  ipcWorker?: string;
}

export interface Coordination {
  coordinator: Coordinator;
  pollMs: number;
  isLoadOnly: boolean;
}

const DEFAULT_CLAIM_TIMEOUT_S = 30;

export function claimTimeoutMs(value: string | undefined): number {
  if (value === undefined) return DEFAULT_CLAIM_TIMEOUT_S * 1000;
  const s = Number(value);
  if (value.trim() === '' || !Number.isFinite(s) || s <= 0) throw usageError(`--claim-timeout: expected seconds > 0, got ${JSON.stringify(value)}`);
  return Math.round(s * 1000);
}

/**
 * Opens the coordinator the flags name, or undefined for a plain one-process replay. `local`: the
 * run `--workers N` holds in this process, which this process joins as a worker itself.
 */
export async function openCoordination(flags: CoordinationFlags, runId: string | undefined, local?: MemoryRun): Promise<Coordination | undefined> {
  if (flags.ipcWorker !== undefined && flags.coordinator === undefined) {
    const timeout = claimTimeoutMs(flags.claimTimeout);
    const coordinator = local === undefined ? createIpcCoordinator(flags.ipcWorker, timeout) : createMemoryCoordinator(local, flags.ipcWorker, timeout, { isDirect: true });
    return { coordinator, pollMs: coordinationTiming(timeout).pollMs, isLoadOnly: false };
  }
  if (flags.coordinator === undefined) {
    if (flags.loadOnly === true) throw usageError('--load-only needs --coordinator URL and --run-id ID');
    return undefined;
  }
  if (!isRedisStoreUrl(flags.coordinator)) throw usageError(`--coordinator: expected a redis:// or rediss:// URL, got ${JSON.stringify(flags.coordinator)}`);
  if (runId === undefined) throw usageError('--coordinator needs --run-id ID: every worker of one run passes the same id');
  const bad = checkRunId(runId);
  if (bad !== undefined) throw usageError(bad);
  const timeout = claimTimeoutMs(flags.claimTimeout);
  const coordinator = await createRedisCoordinator({
    url: flags.coordinator,
    runId,
    claimTimeoutMs: timeout,
    ...(flags.workerId === undefined ? {} : { workerId: flags.workerId }),
  });
  return { coordinator, pollMs: coordinationTiming(timeout).pollMs, isLoadOnly: flags.loadOnly === true };
}
