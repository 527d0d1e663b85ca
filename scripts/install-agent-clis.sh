#!/usr/bin/env bash
# Installs the real agent CLIs that the user's-side suite (`npm run test:user`)
# drives: OpenAI's Codex CLI (Apache-2.0; its native binary ships inside an
# npm package, so the npm registry is all it needs) and, when asked, Anthropic's
# Claude Code (for the opt-in HITLOOP_TEST_CLAUDE=1 test).
#
# Both go to a cache folder outside the checkout, so linters never walk them
# and several clones share one install. Idempotent: a finished install leaves
# a marker and later runs return at once.
#
# Usage:
#   bash scripts/install-agent-clis.sh                      # Codex only
#   HITLOOP_TEST_CLAUDE=1 bash scripts/install-agent-clis.sh  # and Claude Code
#   HITLOOP_AGENTS_DIR=/some/dir bash scripts/install-agent-clis.sh
set -euo pipefail

CODEX_VERSION="${CODEX_VERSION:-0.171.0}"
CLAUDE_VERSION="${CLAUDE_VERSION:-2.1}" # newest 2.1.x
NODE22_VERSION="${NODE22_VERSION:-22}"
AGENTS="${HITLOOP_AGENTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hitloop/agents}"

START=$SECONDS
log() { printf '[install-agent-clis %3ss] %s\n' "$((SECONDS - START))" "$*"; }
fail() {
  printf '[install-agent-clis] FAILED: %s\n' "$*" >&2
  exit 1
}

# npm install -g --prefix DEST SPEC, into a temp folder renamed into place, so
# an interrupted install never leaves a half folder that looks finished.
install_into() { # dest spec...
  local dest="$1"
  shift
  local tmp="$dest.partial"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  npm install -g --prefix "$tmp" --no-audit --no-fund --loglevel=error "$@"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

# --- Codex --------------------------------------------------------------------
CODEX_DIR="$AGENTS/codex-$CODEX_VERSION"
if [ -f "$CODEX_DIR/.hitloop-install-complete" ] && [ -x "$CODEX_DIR/bin/codex" ]; then
  log "Codex $CODEX_VERSION already installed in $CODEX_DIR"
else
  log "npm install -g @openai/codex@$CODEX_VERSION into $CODEX_DIR"
  install_into "$CODEX_DIR" "@openai/codex@$CODEX_VERSION"
  # The npm package is a small launcher; the binary is an optional dependency
  # per platform. A missing one means npm skipped it (wrong platform, or
  # optional dependencies turned off): say so now, not in the middle of a test.
  out="$("$CODEX_DIR/bin/codex" --version 2>&1)" || fail "codex --version failed: $out"
  log "codex --version: $out"
  echo "$CODEX_VERSION" >"$CODEX_DIR/.hitloop-install-complete"
fi

# --- Claude Code (opt-in) -----------------------------------------------------
if [ "${HITLOOP_TEST_CLAUDE:-}" = 1 ] || [ "${HITLOOP_INSTALL_CLAUDE:-}" = 1 ]; then
  CLAUDE_DIR="$AGENTS/claude-code-$CLAUDE_VERSION"
  if [ -f "$CLAUDE_DIR/.hitloop-install-complete" ] && [ -x "$CLAUDE_DIR/bin/claude" ]; then
    log "Claude Code $CLAUDE_VERSION.x already installed in $CLAUDE_DIR"
  else
    # Claude Code 2.1 needs Node >= 22, the machine has Node 20: Node 22 comes
    # from the npm registry's `node` package, into the same cache folder, and
    # runs npm itself so the engines check passes.
    NODE22_DIR="$AGENTS/node-$NODE22_VERSION"
    if [ ! -x "$NODE22_DIR/bin/node" ]; then
      log "npm install -g node@$NODE22_VERSION into $NODE22_DIR"
      install_into "$NODE22_DIR" "node@$NODE22_VERSION"
    fi
    log "node 22: $("$NODE22_DIR/bin/node" --version)"
    log "npm install -g @anthropic-ai/claude-code@$CLAUDE_VERSION into $CLAUDE_DIR"
    PATH="$NODE22_DIR/bin:$PATH" install_into "$CLAUDE_DIR" "@anthropic-ai/claude-code@$CLAUDE_VERSION"
    out="$(PATH="$NODE22_DIR/bin:$PATH" "$CLAUDE_DIR/bin/claude" --version 2>&1)" ||
      fail "claude --version failed: $out"
    log "claude --version: $out"
    echo "$CLAUDE_VERSION" >"$CLAUDE_DIR/.hitloop-install-complete"
  fi
fi

log "done"
