#!/usr/bin/env bash
# Runs the MCP conformance suite's server scenarios against an MCP server
# directly and through `hitloop proxy --http`, and fails if the proxy loses a
# scenario the server passes.
#
#   npm run test:conformance   (= npm run build && bash scripts/conformance.sh)
#
# Servers compared (each directly over Streamable HTTP, then as a stdio
# upstream behind `hitloop proxy --http`):
#   1. test/fixtures/proxy-conformance-server.mjs: implements every server
#      scenario of the suite (the comparison that gates).
#   2. @modelcontextprotocol/server-everything: for reference only. It lacks
#      most scenario tools; the suite counts its answer to an unknown tool (an
#      isError result with text) as a pass of tools-call-simple-text and
#      tools-call-error, while the proxy answers an unknown tool as the spec
#      says (JSON-RPC -32602), so those two differ without losing anything.
#
# The suite needs Node 22; it runs through `npx -p node@22` while hitloop and
# the servers run on this machine's Node. Set CONFORMANCE_VERSION to pin
# another suite version, KEEP=1 to keep the result folders.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$(command -v node)"
SUITE_VERSION="${CONFORMANCE_VERSION:-0.1.16}"
CLI="$ROOT/dist/mcp-server/cli/main.js"
FIXTURE="$ROOT/test/fixtures/proxy-conformance-server.mjs"
EVERYTHING="$ROOT/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hitloop-conformance-XXXXXX")"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${KEEP:-}" == 1 ]]; then echo "results kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

[[ -f "$CLI" ]] || { echo "conformance: $CLI is missing; run npm run build first" >&2; exit 2; }

# Starts a background process, logging to $WORK/NAME.log, and sets URL to the
# first match of PATTERN (a sed -E expression with one group) in its log.
URL=""
start() {
  local name="$1" pattern="$2"
  shift 2
  "$@" >"$WORK/$name.log" 2>&1 &
  local pid="$!"
  PIDS+=("$pid")
  URL=""
  for _ in $(seq 1 300); do
    URL="$(sed -nE "s#$pattern#\\1#p" "$WORK/$name.log" | head -n1)"
    [[ -n "$URL" ]] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "conformance: $name exited:" >&2; cat "$WORK/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "conformance: $name did not start:" >&2
  cat "$WORK/$name.log" >&2
  exit 1
}

free_port() {
  "$NODE" -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# Runs the suite against URL, results in $WORK/NAME/.
suite() {
  local name="$1" url="$2"
  echo "== $name: $url" >&2
  npx -y -p node@22 -p "@modelcontextprotocol/conformance@$SUITE_VERSION" \
    conformance server --url "$url" -o "$WORK/$name" >"$WORK/$name.out" 2>&1 || true
  sed -n '/=== SUMMARY ===/,$p' "$WORK/$name.out" >&2
  [[ -d "$WORK/$name" ]] || { echo "conformance: the suite produced no results:" >&2; cat "$WORK/$name.out" >&2; exit 1; }
}

proxy_config() {
  local file="$1" command="$2"
  shift 2
  local args
  args="$(printf '%s\n' "$@" | "$NODE" -e 'console.log(JSON.stringify(require("fs").readFileSync(0,"utf8").trim().split("\n")))')"
  cat >"$file" <<EOF
{
  "mcpServers": { "upstream": { "command": "$command", "args": $args } },
  "policy": { "type": "always_approve" },
  "approval": { "backend": "auto-reject" },
  "telemetry": { "db": "$WORK/telemetry.db" },
  "proxy": { "prefixNames": false, "logLevel": "info" }
}
EOF
}

HITLOOP_URL='.*serving MCP over Streamable HTTP at (http://[^ ]+).*'
# The suite checks the protocol, not access control, and sends no token:
# the proxies below are started with --no-token (loopback only). It also
# runs its ~30 scenarios at once, each in a session of its own (each with its
# own upstream server) and ends none of them, within a few seconds: more than
# the default cap of 16 sessions, so the cap is raised to 64 here.
export HITLOOP_HOME="$WORK/home"

# 1. The fixture that implements every scenario.
start fixture '.*listening on (http://[^ ]+).*' "$NODE" "$FIXTURE" http 0
suite fixture-direct "$URL"
proxy_config "$WORK/fixture.json" "$NODE" "$FIXTURE" stdio
start fixture-proxy "$HITLOOP_URL" "$NODE" "$CLI" proxy --config "$WORK/fixture.json" --http 127.0.0.1:0 --no-token --max-sessions 64
suite fixture-proxied "$URL"

# 2. server-everything (it listens on $PORT).
PORT="$(free_port)"
export PORT
start everything '.*listening on port ([0-9]+).*' "$NODE" "$EVERYTHING" streamableHttp
unset PORT
suite everything-direct "http://127.0.0.1:$URL/mcp"
proxy_config "$WORK/everything.json" "$NODE" "$EVERYTHING" stdio
start everything-proxy "$HITLOOP_URL" "$NODE" "$CLI" proxy --config "$WORK/everything.json" --http 127.0.0.1:0 --no-token --max-sessions 64
suite everything-proxied "$URL"

# Compare per scenario: a scenario passes when none of its checks failed.
"$NODE" - "$WORK" <<'EOF'
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const work = process.argv[2];
function results(name) {
  const out = new Map();
  for (const dir of readdirSync(join(work, name))) {
    const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT.*$/, '');
    const checks = JSON.parse(readFileSync(join(work, name, dir, 'checks.json'), 'utf8'));
    const failed = checks.filter((c) => c.status === 'FAILURE').length;
    const passed = checks.filter((c) => c.status === 'SUCCESS').length;
    out.set(scenario, { ok: failed === 0 && passed > 0, passed, failed });
  }
  return out;
}
let lost = 0;
// Only the fixture, which implements every scenario, gates; server-everything is informational.
for (const [server, gates] of [['fixture', true], ['everything', false]]) {
  const direct = results(`${server}-direct`);
  const proxied = results(`${server}-proxied`);
  const count = (m) => [...m.values()].filter((r) => r.ok).length;
  const checks = (m) => [...m.values()].reduce((n, r) => n + r.passed, 0);
  const total = (m) => [...m.values()].reduce((n, r) => n + r.passed + r.failed, 0);
  console.log(
    `${server}: direct ${count(direct)}/${direct.size} scenarios (${checks(direct)}/${total(direct)} checks), ` +
      `through hitloop proxy ${count(proxied)}/${proxied.size} scenarios (${checks(proxied)}/${total(proxied)} checks)`,
  );
  for (const [scenario, r] of direct) {
    const p = proxied.get(scenario);
    if (r.ok && !p?.ok) {
      if (gates) lost++;
      console.log(`  ${gates ? 'LOST' : 'differs (informational)'} through the proxy: ${scenario}`);
    } else if (!r.ok && p?.ok) {
      console.log(`  passes only through the proxy: ${scenario}`);
    }
  }
}
if (lost) {
  console.log(`conformance: the proxy lost ${lost} scenario(s) the server passes`);
  process.exit(1);
}
console.log('conformance: the proxy loses no scenario the server passes');
EOF
