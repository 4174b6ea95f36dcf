import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { refusingPort } from '../helpers/ports.js';
import { writeSessionTraffic } from '../helpers/distributed-replay.js';
import { tempDir } from '../helpers/http.js';

const redis = await connectTestRedis();

describe('distributed replay rejects bad input with exit 2', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let traffic: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('doppel-dist-bad-'));
    traffic = join(dir, 'traffic');
    await writeSessionTraffic(traffic, 3);
  });
  afterAll(async () => {
    await redis?.quit();
    await cleanup();
  });
  const replay = (...extra: string[]) => runCli(['replay', '--traffic', traffic, '--target', 'http://127.0.0.1:9', ...extra]);

  it('--coordinator without --run-id, a run id that would break the hash tag, --load-only alone, a URL that is not redis://', async () => {
    const noRun = await replay('--coordinator', TEST_REDIS_URL);
    expect(noRun.code).toBe(2);
    expect(noRun.stderr).toContain('--coordinator needs --run-id ID');
    const braces = await replay('--coordinator', TEST_REDIS_URL, '--run-id', 'a{b}');
    expect(braces.code).toBe(2);
    expect(braces.stderr).toContain('--run-id: "a{b}" must be');
    const loadOnly = await replay('--load-only');
    expect(loadOnly.code).toBe(2);
    expect(loadOnly.stderr).toContain('--load-only needs --coordinator');
    const http = await replay('--coordinator', 'http://127.0.0.1:6379', '--run-id', 'r1');
    expect(http.code).toBe(2);
    expect(http.stderr).toContain('--coordinator: expected a redis:// or rediss:// URL');
    const timeout = await replay('--coordinator', TEST_REDIS_URL, '--run-id', 'r1', '--claim-timeout', '0');
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('--claim-timeout: expected seconds > 0');
  });

  it('a coordinator nothing listens on is exit 2 naming its URL', async () => {
    const port = await refusingPort();
    const r = await replay('--coordinator', `redis://127.0.0.1:${port}/0`, '--run-id', 'r1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`redis://127.0.0.1:${port}/0`);
    expect(r.stderr).toContain('cannot connect to Redis');
  });

  it.skipIf(redis === undefined)('doppel report of a run no worker committed to is exit 2 saying so', async () => {
    const r = await runCli(['report', '--run-id', `never-${process.pid}`, '--coordinator', TEST_REDIS_URL, '--out', join(dir, 'r')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no worker has committed anything to this run');
    const missing = await runCli(['report', '--run-id', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('report needs --run-id ID --coordinator URL --out DIR');
  });
});
