/**
 * A worker process's coordinator for `--workers N` without Redis: every call
 * goes to the parent's MemoryRun over the IPC channel Node opens between a
 * parent and a child it forks, and comes back with the answer. The same
 * client reaches a MemoryRun in its own process directly (several workers of
 * one run in one process, as the tests run them).
 */
import { DoppelError } from '../../core/errors.js';
import { leasesOf, slotRanges, type LeaseGrant, type MemoryRun, type RunCall, type RunMethod } from './memory-run.js';
import { coordinationTiming, type CommitLines, type Coordinator, type LoadAnswer, type SessionLease, type WorkerPartial } from './types.js';

/** A call's envelope on the channel; `doppel` keeps it apart from any other message. */
export interface RunRequest extends RunCall {
  doppel: 'run-call';
  id: number;
}

export interface RunReply {
  doppel: 'run-reply';
  id: number;
  result?: unknown;
  error?: string;
}

export function isRunRequest(m: unknown): m is RunRequest {
  return typeof m === 'object' && m !== null && (m as { doppel?: unknown }).doppel === 'run-call';
}

const PAGE = 1000;
/**
 * How many times `max` a lease call may be granted while plenty is left (MemoryRun.next): each
 * call is a round trip over the channel, which cost a worker more CPU per request than its
 * judging when it came every 16 sessions.
 */
const LEASE_AHEAD = 8;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

type Call = <T>(method: RunMethod, ...args: unknown[]) => Promise<T>;

/**
 * A worker of a MemoryRun held in this same process. By default (the tests' several workers in
 * one process) every call waits a turn and copies its arguments and answer as IPC would, so no
 * worker sees the run change under it synchronously. `isDirect` (the parent of `--workers N`
 * playing the first worker itself): calls are method calls a microtask later; only the partial a
 * commit stores and the partials read back are copied, as the worker goes on changing its state.
 */
export function createMemoryCoordinator(run: MemoryRun, workerId: string, claimTimeoutMs: number, opts: { isDirect?: boolean } = {}): Coordinator {
  const call: Call =
    opts.isDirect === true
      ? <T>(method: RunMethod, ...args: unknown[]) =>
          Promise.resolve().then(() => {
            try {
              const copied = method === 'commit' ? [structuredClone(args[0]), ...args.slice(1)] : args;
              const r = run.call({ worker: workerId, method, args: copied });
              return (method === 'partials' ? structuredClone(r) : r) as T;
            } catch (err) {
              throw new DoppelError('DOPPEL_INTERNAL', `run coordinator: ${(err as Error).message}`);
            }
          })
      : <T>(method: RunMethod, ...args: unknown[]) =>
          new Promise<T>((resolve, reject) => {
            setImmediate(() => {
              try {
                resolve(structuredClone(run.call({ worker: workerId, method, args: structuredClone(args) })) as T);
              } catch (err) {
                reject(new DoppelError('DOPPEL_INTERNAL', `run coordinator: ${(err as Error).message}`));
              }
            });
          });
  return createRunClient(workerId, claimTimeoutMs, call, () => undefined, opts.isDirect === true && run.isSole);
}

export function createIpcCoordinator(workerId: string, claimTimeoutMs: number): Coordinator {
  const send = process.send?.bind(process);
  if (send === undefined) throw new DoppelError('DOPPEL_USAGE', '--ipc-worker is for the worker processes `doppel replay --workers N` starts itself');
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let seq = 0;
  const onMessage = (m: unknown) => {
    const r = m as RunReply;
    if (r?.doppel !== 'run-reply') return;
    const w = waiting.get(r.id);
    waiting.delete(r.id);
    if (r.error !== undefined) w?.reject(new DoppelError('DOPPEL_INTERNAL', `run coordinator: ${r.error}`));
    else w?.resolve(r.result);
  };
  // The parent gone (killed, crashed): no answer will come to what is waiting.
  const onDisconnect = () => {
    const gone = [...waiting.values()];
    waiting.clear();
    for (const w of gone) w.reject(new DoppelError('DOPPEL_RUN_ABORTED', 'the parent doppel process is gone: its IPC channel closed'));
  };
  process.on('message', onMessage);
  process.on('disconnect', onDisconnect);
  const call: Call = <T>(method: RunMethod, ...args: unknown[]): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++seq;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const req: RunRequest = { doppel: 'run-call', id, worker: workerId, method, args };
      send(req, undefined, undefined, (err) => {
        if (err !== null) {
          waiting.delete(id);
          reject(new DoppelError('DOPPEL_RUN_ABORTED', `the parent doppel process is gone: ${err.message}`, { cause: err }));
        }
      });
    });
  return createRunClient(workerId, claimTimeoutMs, call, () => {
    process.off('message', onMessage);
    process.off('disconnect', onDisconnect);
    // The channel would keep this process alive after its work is done.
    process.disconnect?.();
  });
}

function createRunClient(workerId: string, claimTimeoutMs: number, call: Call, close: () => void, isSole = false): Coordinator {
  const timing = coordinationTiming(claimTimeoutMs);
  let beat: NodeJS.Timeout | undefined;
  const stopBeat = () => {
    if (beat !== undefined) clearInterval(beat);
    beat = undefined;
  };

  return {
    workerId,
    display: 'local workers',
    isStoreShared: true,
    isSole,
    async join() {
      await call('join');
      // Renews every grant this worker holds: the parent knows which.
      beat = setInterval(() => void call('renew').catch(() => undefined), timing.pollMs);
      beat.unref();
    },
    claimLoad: () => call<boolean>('claimLoad'),
    loadSessions: (sessions) => call<LoadAnswer>('loadSessions', sessions),
    loadFailed: (reason) => call<void>('loadFailed', reason),
    loadDone: () => call<void>('loadDone'),
    async next(max): Promise<{ leases: SessionLease[]; isDone: boolean; isLoading?: boolean }> {
      const r = await call<LeaseGrant>('next', max, max * LEASE_AHEAD);
      if (r.isLoadLost === true) {
        throw new DoppelError('DOPPEL_RUN_ABORTED', r.loadError === undefined ? 'the worker loading the traffic was lost before it finished' : `the worker loading the traffic failed: ${r.loadError}`);
      }
      return { leases: leasesOf(r.blocks), isDone: r.isDone, ...(r.isLoading === true ? { isLoading: true } : {}) };
    },
    liveWorkers: () => call<number>('liveWorkers'),
    async commit(partial: WorkerPartial, finished: readonly SessionLease[], lines: CommitLines) {
      // The parent knows each lease's session and lines: only the slots travel back, as ranges.
      await call('commit', partial, slotRanges(finished.map((l) => l.entry)), lines);
    },
    async leave() {
      stopBeat();
      await call('leave');
    },
    async finish() {
      stopBeat();
      for (;;) {
        const r = await call<number>('finish');
        if (r !== 0) return r === 1;
        await sleep(timing.pollMs);
      }
    },
    partials: () => call<WorkerPartial[]>('partials'),
    async *lines(kind) {
      for (let i = 0; ; i += PAGE) {
        const page = await call<string[]>('lines', kind, i, PAGE);
        if (page.length > 0) yield page;
        if (page.length < PAGE) return;
      }
    },
    async close() {
      stopBeat();
      close();
    },
  };
}
