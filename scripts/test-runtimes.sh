#!/usr/bin/env bash
# `npm run test:runtimes`: hitloop in the runtimes other than this machine's Node.
#
# 1. The VSIX, unpacked, its proxy started the way VS Code starts it, with a
#    Node 24 from npm as VS Code's runtime (test/runtimes/*.runtime.ts).
# 2. hitloop's SQLite tests (the driver's contract, telemetry, the approval
# store's conformance spec, the experiment runner, the hub over a shared store)
# under each Node that scripts/install-node-runtimes.sh caches, where
# better-sqlite3 (built by npm ci for the system Node) does not load, so the
# node:sqlite driver is what runs: what the proxy in the VSIX gets in VS Code.
# The system Node's run (better-sqlite3) is part of `npm test`.
#
# Needs `npm run build` first (child processes import dist/); `npm run
# test:runtimes` does both. HITLOOP_REQUIRE_NODE_RUNTIMES=1 (CI) turns a
# missing Node into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=(
  test/unit/sqlite-driver.test.ts
  test/unit/approval-stores.test.ts
  test/unit/hub-shared-store.test.ts
  test/unit/approval-gate.test.ts
  test/unit/decided-via.test.ts
  test/unit/telemetry-checkpoint.test.ts
  test/unit/telemetry-cli.test.ts
  test/unit/telemetry-export.test.ts
  test/unit/telemetry-failure.test.ts
  test/unit/telemetry-logger.test.ts
  test/unit/telemetry-processes.test.ts
  test/unit/telemetry-schema.test.ts
  test/unit/redaction.test.ts
  test/unit/eval-runner.test.ts
  test/unit/eval-scenarios.test.ts
)

# Not `mapfile < <(...)`: a failed install must stop the script (set -e).
NODE_LIST="$(bash scripts/install-node-runtimes.sh)"
mapfile -t NODES <<<"$NODE_LIST"

printf '\n==> the VSIX, its proxy run by each cached Node >= 22 as VS Code runtime\n'
node node_modules/vitest/vitest.mjs run --config test/runtimes/vitest.config.ts

[ ${#NODES[@]} -gt 0 ] || {
  echo "[test-sqlite-runtimes] no Node runtime installed" >&2
  exit 1
}
for node in "${NODES[@]}"; do
  printf '\n==> SQLite tests under Node %s (node:sqlite)\n' "$("$node" --version)"
  # That Node first on PATH, so the processes the tests spawn run on it too.
  PATH="$(dirname "$node"):$PATH" HITLOOP_EXPECT_SQLITE_DRIVER=node:sqlite \
    "$node" node_modules/vitest/vitest.mjs run "${FILES[@]}"
done
