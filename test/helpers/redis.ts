import { Redis } from 'ioredis';
import { isCI } from './services.js';

export const TEST_REDIS_URL = process.env.DOPPEL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/**
 * A connected client of the shared test Redis, or undefined when it is down
 * outside CI (the file's tests then skip). Under CI a Redis that does not
 * answer fails the file: a test that needs it must not pass without it.
 */
export async function connectTestRedis(): Promise<Redis | undefined> {
  const raw = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  raw.on('error', () => undefined);
  try {
    await raw.connect();
    await raw.ping();
    return raw;
  } catch (err) {
    if (isCI) throw new Error(`Redis at ${TEST_REDIS_URL} is required under CI=true: ${(err as Error).message}`, { cause: err });
    return undefined;
  }
}
