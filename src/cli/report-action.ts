/** What `doppel report` runs: the merged report of a distributed run, written from its Redis coordinator. */
import { ExitCode, usageError } from '../core/errors.js';
import { writeMergedReport } from '../replay/coordinate/merge.js';
import { createRedisCoordinator } from '../replay/coordinate/redis-coordinator.js';
import { checkRunId } from '../replay/coordinate/types.js';
import { isRedisStoreUrl } from '../store/open-store.js';
import type { CommandContext } from './context.js';

export interface ReportFlags {
  runId?: string;
  coordinator?: string;
  out?: string;
}

export async function reportAction(flags: ReportFlags, ctx: CommandContext): Promise<ExitCode> {
  if (flags.runId === undefined || flags.coordinator === undefined || flags.out === undefined) throw usageError('report needs --run-id ID --coordinator URL --out DIR');
  const bad = checkRunId(flags.runId);
  if (bad !== undefined) throw usageError(bad);
  if (!isRedisStoreUrl(flags.coordinator)) throw usageError(`--coordinator: expected a redis:// or rediss:// URL, got ${JSON.stringify(flags.coordinator)}`);
  const coordinator = await createRedisCoordinator({ url: flags.coordinator, runId: flags.runId, claimTimeoutMs: 30_000, workerId: 'report' });
  try {
    const report = await writeMergedReport(coordinator, flags.runId, flags.out);
    const d = report.distributed;
    ctx.io.stdout.write(
      `run ${report.runId}: ${report.verdict}; ${report.counts.requests} requests in ${d.sessions} sessions from ${d.workers.length} workers (${d.resent} sessions sent again); report in ${flags.out}\n`,
    );
    return report.verdict === 'aborted' ? ExitCode.aborted : report.verdict === 'fail' ? ExitCode.gateFailed : ExitCode.ok;
  } finally {
    await coordinator.close();
  }
}
