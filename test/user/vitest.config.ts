import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The user's-side suite (`npm run test:user`): hitloop installed from its
// packed tarball into an empty prefix and an empty project, driven by real
// agent CLIs (Codex; Claude Code when HITLOOP_TEST_CLAUDE=1) talking to a
// scripted model on 127.0.0.1. Kept out of `npm test` by its file suffix,
// `.user.ts`.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/user/**/*.user.ts'],
    globalSetup: ['test/user/global-setup.ts'],
    // An agent run is a real process tree (agent CLI, hitloop, an MCP server)
    // and some tests wait on purpose for a human who decides late.
    testTimeout: 120_000,
    // npm pack + two installs, better-sqlite3 possibly built from source.
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    // Timing facts (a client's tool timeout) are asserted here: a retry would
    // hide a flaky one.
    retry: 0,
  },
});
