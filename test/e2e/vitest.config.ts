import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The end-to-end suite (`npm run test:e2e`): a real VS Code (code-server) in
// a real browser. Kept out of `npm test` by its file suffix, `.e2e.ts`.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    // One browser and one code-server per file; a retry would hide flakiness
    // we want to see.
    retry: 0,
  },
});
