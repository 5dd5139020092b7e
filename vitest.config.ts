import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two at once on the 2-core machines: many tests wait on child processes, servers and timers,
    // and vitest's default (cores - 1) would run them one after another (docs/contracts.md, CI).
    maxWorkers: 2,
  },
});
