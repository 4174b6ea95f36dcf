/**
 * Starts a worker thread on a sibling module: the .js build directly, or the
 * .ts source through tsx's loader registered inside the worker (dev, tests),
 * since a worker does not inherit the loader hooks of the thread that started it.
 */
import { Worker } from 'node:worker_threads';

/** `from` is the caller's import.meta.url; `name` the sibling module without extension. */
export function spawnModuleWorker(from: string, name: string, workerData: unknown): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, from), { workerData });
  const entry = new URL(`./${name}.ts`, from).href;
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
