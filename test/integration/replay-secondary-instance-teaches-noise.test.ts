/**
 * `--secondary URL`: noise is learned by comparing the recorded response with
 * a second baseline instance answering the same request, not by asking the
 * candidate twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { recordTraffic, startService, tempDir, type PlannedRequest } from '../helpers/replay-fixtures.js';

describe('replay --secondary learns noise from a second baseline instance', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let traffic: string;
  let config: string;
  beforeAll(async () => {
    dir = await tempDir('doppel-replay-secondary-');
    traffic = join(dir.path, 'traffic');
    const recorded = await startService();
    try {
      const plan: PlannedRequest[] = [];
      // GET /random answers a fresh number each time: a field that disagrees with itself
      for (let i = 0; i < 20; i++) plan.push({ method: 'GET', url: '/random', session: `r${i}` });
      for (let i = 1; i <= 5; i++) plan.push({ method: 'GET', url: `/users/${i}`, session: `u${i}` });
      await recordTraffic(recorded, traffic, plan);
    } finally {
      await recorded.close();
    }
    config = join(dir.path, 'doppel.yaml');
    writeFileSync(config, 'compare:\n  learn_noise: 4\nquality_gates:\n  body_match_rate: ">= 0.99"\n');
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  const replay = (target: string, extra: string[], report: string) =>
    runCli(['--config', config, 'replay', '--traffic', traffic, '--target', target, '--report', report, '--time-scale', '1000', '--concurrency', '1', '--log-level', 'warn', ...extra], {
      env: { CI: '' },
      // under the integration tests' 60 s, so a hung replay fails with its output
      timeoutMs: 45_000,
    });

  it('sends the learning samples to the secondary, learns $.n as noise there and passes', async () => {
    const candidate = await startService();
    const secondary = await startService();
    try {
      const report = join(dir.path, 'r-secondary');
      const r = await replay(candidate.url, ['--secondary', secondary.url], report);
      expect(r.stderr).not.toContain('internal error');
      expect(r.code).toBe(0);
      // each endpoint's first 4 requests went to the secondary too; the candidate got each request once
      expect(candidate.seen).toHaveLength(25);
      expect(secondary.seen.map((s) => s.url)).toEqual(['/random', '/random', '/random', '/random', '/users/1', '/users/2', '/users/3', '/users/4']);
      const summary = JSON.parse(readFileSync(join(report, 'summary.json'), 'utf8'));
      const learned = summary.noise as Array<{ endpoint: string; path: string }>;
      expect(learned).toEqual(expect.arrayContaining([expect.objectContaining({ endpoint: 'GET /random', path: '$.n' })]));
      expect(learned.filter((n) => n.endpoint === 'GET /users/:id')).toEqual([]);
    } finally {
      await candidate.close();
      await secondary.close();
    }
  });

  it('still catches a real regression of the candidate that the secondary does not share', async () => {
    const candidate = await startService({ breakUsers: true });
    const secondary = await startService();
    try {
      const r = await replay(candidate.url, ['--secondary', secondary.url], join(dir.path, 'r-regression'));
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/body_match_rate\s+0\.80*\s+>= 0\.99\s+fail/i);
    } finally {
      await candidate.close();
      await secondary.close();
    }
  });
});
