import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:runtimes`, the part that runs on this machine's Node: the
// VSIX unpacked and its proxy started the way VS Code starts it, with a Node
// 24 from npm standing in for VS Code's runtime. (The SQLite tests under
// each cached Node are run by scripts/test-runtimes.sh.) Kept out of `npm
// test` by its file suffix, `.runtime.ts`.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/runtimes/**/*.runtime.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
