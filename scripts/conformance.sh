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
#   2. @modelcontextprotocol/server-everything (both revisions): for reference only. It lacks
#      most scenario tools; the suite counts its answer to an unknown tool (an
#      isError result with text) as a pass of tools-call-simple-text and
#      tools-call-error, while the proxy answers an unknown tool as the spec
#      says (JSON-RPC -32602), so those two differ without losing anything.
#
# Two protocol revisions, each at its own wire:
#   - 2025-11-25 (initialize and sessions), suite 0.1.16, all server scenarios;
#   - 2026-07-28 (stateless, per-request _meta, input_required), suite
#     0.2.0-alpha.12 with `--requirements 2026-07-28`: the fixture is a
#     2025-era server, so directly it passes almost none of them, and through
#     the proxy, which speaks 2026-07-28 to the suite and 2025-11-25 to the
#     fixture, it passes what the proxy forwards. That run gates too: the proxy
#     must pass at least MIN_2026 of its scored scenarios (the README's count).
#
# The suite needs Node 22; it runs through `npx -p node@22` while hitloop and
# the servers run on this machine's Node. Set CONFORMANCE_VERSION (2025 run)
# or CONFORMANCE_2026_VERSION to pin other suite versions, KEEP=1 to keep the
# result folders.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$(command -v node)"
SUITE_VERSION="${CONFORMANCE_VERSION:-0.1.16}"
SUITE_2026_VERSION="${CONFORMANCE_2026_VERSION:-0.2.0-alpha.12}"
# Scored 2026-07-28 scenarios the proxy passes with the fixture behind it (README).
MIN_2026="${MIN_2026:-33}"
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

# Runs the suite against URL, results in $WORK/NAME/. A third argument runs
# the 2026-07-28 requirement set with the 0.2 suite instead.
suite() {
  local name="$1" url="$2" revision="${3:-}"
  echo "== $name: $url${revision:+ (requirements $revision)}" >&2
  if [[ -n "$revision" ]]; then
    npx -y -p node@22 -p "@modelcontextprotocol/conformance@$SUITE_2026_VERSION" \
      conformance server --url "$url" --requirements "$revision" -o "$WORK/$name" >"$WORK/$name.out" 2>&1 || true
  else
    npx -y -p node@22 -p "@modelcontextprotocol/conformance@$SUITE_VERSION" \
      conformance server --url "$url" -o "$WORK/$name" >"$WORK/$name.out" 2>&1 || true
  fi
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
suite fixture-direct-2026 "$URL" 2026-07-28
proxy_config "$WORK/fixture.json" "$NODE" "$FIXTURE" stdio
start fixture-proxy "$HITLOOP_URL" "$NODE" "$CLI" proxy --config "$WORK/fixture.json" --http 127.0.0.1:0 --no-token --max-sessions 64
suite fixture-proxied "$URL"
# The same proxy, at the 2026-07-28 wire (no session: the proxy tells the eras apart per request).
suite fixture-proxied-2026 "$URL" 2026-07-28

# 2. server-everything (it listens on $PORT).
PORT="$(free_port)"
export PORT
start everything '.*listening on port ([0-9]+).*' "$NODE" "$EVERYTHING" streamableHttp
unset PORT
suite everything-direct "http://127.0.0.1:$URL/mcp"
suite everything-direct-2026 "http://127.0.0.1:$URL/mcp" 2026-07-28
proxy_config "$WORK/everything.json" "$NODE" "$EVERYTHING" stdio
start everything-proxy "$HITLOOP_URL" "$NODE" "$CLI" proxy --config "$WORK/everything.json" --http 127.0.0.1:0 --no-token --max-sessions 64
suite everything-proxied "$URL"
suite everything-proxied-2026 "$URL" 2026-07-28

# Compare per scenario: a scenario passes when none of its checks failed.
"$NODE" - "$WORK" "$MIN_2026" <<'EOF'
const { existsSync, readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const work = process.argv[2];
const min2026 = Number(process.argv[3]);
function results(name) {
  const out = new Map();
  for (const dir of readdirSync(join(work, name))) {
    const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT.*$/, '');
    const file = join(work, name, dir, 'checks.json');
    // A scenario that ended in an error of its own leaves no checks: it did not pass.
    if (!existsSync(file)) {
      out.set(scenario, { ok: false, passed: 0, failed: 1 });
      continue;
    }
    const checks = JSON.parse(readFileSync(file, 'utf8'));
    const failed = checks.filter((c) => c.status === 'FAILURE').length;
    const passed = checks.filter((c) => c.status === 'SUCCESS').length;
    out.set(scenario, { ok: failed === 0 && passed > 0, passed, failed });
  }
  return out;
}
let lost = 0;
// Only the fixture, which implements every scenario, gates; server-everything is informational.
// The 0.2 suite also runs scenarios a revision does not score (extensions,
// pending ones); its summary lists them, and they are left out of the counts.
function unscored(name) {
  const out = readFileSync(join(work, `${name}.out`), 'utf8');
  const tail = out.slice(out.indexOf('Not scored'));
  return new Set([...tail.matchAll(/^\s+[✓✗] (\S+) \(/gm)].map((m) => m[1]));
}
function scored(name) {
  const all = results(name);
  for (const s of unscored(name)) all.delete(s);
  return all;
}
const runs = [
  ['fixture, 2025-11-25', 'fixture-direct', 'fixture-proxied', true, results],
  ['fixture, 2026-07-28 (scored)', 'fixture-direct-2026', 'fixture-proxied-2026', true, scored],
  ['everything, 2025-11-25', 'everything-direct', 'everything-proxied', false, results],
  ['everything, 2026-07-28 (scored)', 'everything-direct-2026', 'everything-proxied-2026', false, scored],
];
for (const [server, directName, proxiedName, gates, read] of runs) {
  const direct = read(directName);
  const proxied = read(proxiedName);
  const onlyThrough = [];
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
      onlyThrough.push(scenario);
    }
  }
  // At 2026-07-28 most scenarios pass only through the proxy (it speaks the
  // new wire for a 2025-era server): a count, not a list.
  if (onlyThrough.length > 3) console.log(`  ${onlyThrough.length} scenarios pass only through the proxy`);
  else for (const s of onlyThrough) console.log(`  passes only through the proxy: ${s}`);
}
const passed2026 = [...scored('fixture-proxied-2026').values()].filter((r) => r.ok).length;
for (const [scenario, r] of scored('fixture-proxied-2026'))
  if (!r.ok) console.log(`  2026-07-28, not passed through the proxy: ${scenario}`);
if (passed2026 < min2026) {
  console.log(`conformance: the proxy passes ${passed2026} scored 2026-07-28 scenarios, fewer than the ${min2026} it passed before`);
  process.exit(1);
}
if (lost) {
  console.log(`conformance: the proxy lost ${lost} scenario(s) the server passes`);
  process.exit(1);
}
console.log('conformance: the proxy loses no scenario the server passes');
EOF
