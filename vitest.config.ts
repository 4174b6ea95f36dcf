import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' } },
      {
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.test.ts'],
          environment: 'node',
          // `npm run fuzz` runs each property many times longer than `npm test` does.
          testTimeout: process.env.FUZZ_RUNS === undefined ? 60_000 : 0,
        },
      },
      { test: { name: 'contract', include: ['test/contract/**/*.test.ts'], environment: 'node', testTimeout: 30_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Integration suites start real servers, Postgres clusters and child processes;
          // running them one file at a time keeps port and CPU contention out of the results.
          // Two at a time took 9.5 min instead of 14, but an A/A latency gate of the orders demo
          // then failed under the other file's load.
          fileParallelism: false,
        },
      },
    ],
  },
});
