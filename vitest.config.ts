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
          // Integration suites start real servers and child processes on ports the system picks,
          // with table, database and key names of their own, so two files run side by side; more
          // would only queue them for the same two cores the CI machine has.
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
    ],
  },
});
