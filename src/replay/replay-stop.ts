/**
 * One stop for a replay run, whatever asks for it: the caller's signal
 * (SIGINT/SIGTERM), replay.duration, a cutoff or an unreachable target.
 * Every in-flight request and every pending sleep listens on its signal;
 * the first reason given is the run's abort reason (a duration reached is a
 * stop, not an abort).
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from '../core/logger.js';

export class ReplayStop {
  readonly #controller = new AbortController();
  readonly #log: Logger;
  readonly #outer: AbortSignal | undefined;
  readonly #onOuter = () => this.abort(`interrupted (${String(this.#outer?.reason ?? 'signal')})`);
  #durationTimer: NodeJS.Timeout | undefined;
  #reason: string | undefined;

  constructor(opts: { signal: AbortSignal | undefined; durationMs: number | undefined; log: Logger }) {
    this.#log = opts.log;
    this.#outer = opts.signal;
    setMaxListeners(0, this.#controller.signal);
    if (opts.signal?.aborted === true) this.#onOuter();
    opts.signal?.addEventListener('abort', this.#onOuter, { once: true });
    const durationMs = opts.durationMs;
    if (durationMs !== undefined) {
      this.#durationTimer = setTimeout(() => {
        this.#log.info({ durationMs }, 'duration reached, stopping');
        this.#controller.abort('duration');
      }, durationMs);
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** why the run was aborted; undefined when it ran to its end (or to its duration) */
  get abortReason(): string | undefined {
    return this.#reason;
  }

  abort(reason: string): void {
    if (this.#controller.signal.aborted) return;
    this.#reason ??= reason;
    this.#log.warn({ reason }, 'run aborted');
    this.#controller.abort(reason);
  }

  dispose(): void {
    if (this.#durationTimer !== undefined) clearTimeout(this.#durationTimer);
    this.#outer?.removeEventListener('abort', this.#onOuter);
  }
}
