import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests that spawn processes or open SQLite files share the 2 cores here;
    // a bounded pool keeps timings sane.
    pool: 'forks',
    maxWorkers: 4,
  },
});
