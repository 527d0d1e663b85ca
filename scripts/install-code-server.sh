#!/usr/bin/env bash
# Installs code-server (a real VS Code whose extension host is plain Node)
# for the end-to-end tests, without any download outside the npm registry
# and Debian packages.
#
# Why the manual steps: code-server's own postinstall runs `npm install` in
# lib/vscode, whose dependencies' install scripts try to download prebuilt
# binaries (ripgrep from GitHub, for one) and fail offline. So we install
# with --ignore-scripts, rebuild the native modules from source, take
# ripgrep from Debian and redo the postinstall's symlinks by hand.
#
# Idempotent: a finished install leaves a marker and later runs return at
# once. Usage:
#   bash scripts/install-code-server.sh   # into ~/.cache/hitloop/code-server-<version>
#   CODE_SERVER_DIR=/some/dir bash scripts/install-code-server.sh
# The default folder is outside the checkout so that linters and editors never
# walk its thousands of files, and several clones share one install.
# Prints the install folder on its last line.
set -euo pipefail

VERSION="${CODE_SERVER_VERSION:-4.100.3}" # the newest that runs on Node 20
DEST="${CODE_SERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hitloop/code-server-$VERSION}"
MARKER="$DEST/.hitloop-install-complete"
NATIVE_MODULES=(kerberos node-pty @vscode/spdlog @parcel/watcher native-watchdog @vscode/deviceid argon2)

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

if [ -f "$MARKER" ] && [ -f "$DEST/out/node/entry.js" ]; then
  log "code-server $VERSION already installed in $DEST"
  echo "$DEST"
  exit 0
fi

step "checking Node"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" = "20" ] || fail "code-server $VERSION needs Node 20, found $(node --version)"

# Node's headers let node-gyp build the native modules without downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi

step "checking Debian packages (libkrb5-dev for kerberos, ripgrep for search, chromium for the browser)"
missing=()
for pkg in libkrb5-dev ripgrep chromium; do
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
[ -x /usr/bin/rg ] || fail "/usr/bin/rg is missing after installing ripgrep"

step "npm pack code-server@$VERSION"
rm -rf "$DEST"
mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "code-server@$VERSION" >/dev/null)
tar -xzf "$WORK/code-server-$VERSION.tgz" -C "$DEST" --strip-components=1

step "npm install --omit=dev --ignore-scripts (code-server)"
(cd "$DEST" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)

step "npm install --omit=dev --ignore-scripts (lib/vscode)"
(cd "$DEST/lib/vscode" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)

# npm 11 skips dependencies' install scripts unless they are allowed; an
# explicit `npm rebuild <names>` runs them for exactly these modules.
# argon2 first tries a prebuilt download (fails offline), then builds from source.
step "npm rebuild argon2 (code-server)"
(cd "$DEST" && npm_config_yes=true npm rebuild argon2 --loglevel=error)
for mod in "${NATIVE_MODULES[@]}"; do
  [ "$mod" = argon2 ] && continue
  step "npm rebuild $mod (lib/vscode)"
  (cd "$DEST/lib/vscode" && npm_config_yes=true npm rebuild "$mod" --loglevel=error)
done

step "checking that the native modules load"
check_native() { # dir module
  (cd "$1" && node -e '
    const m = process.argv[1];
    try { require(m); } catch (e) {
      // Some packages are ESM-only or need a subpath; resolving their .node file is enough.
      if (!/ERR_REQUIRE_ESM|ERR_PACKAGE_PATH_NOT_EXPORTED/.test(e.code ?? "")) { console.error(m + ": " + e.message); process.exit(1); }
    }' "$2") || fail "native module $2 does not load"
}
check_native "$DEST" argon2
for mod in "${NATIVE_MODULES[@]}"; do
  [ "$mod" = argon2 ] && continue
  check_native "$DEST/lib/vscode" "$mod"
done

step "ripgrep from Debian at lib/vscode/node_modules/@vscode/ripgrep/bin/rg"
RG_DIR="$DEST/lib/vscode/node_modules/@vscode/ripgrep/bin"
mkdir -p "$RG_DIR"
rm -f "$RG_DIR/rg"
ln -s /usr/bin/rg "$RG_DIR/rg"

# The symlinks of code-server's postinstall.sh (vscode_install()).
step "postinstall symlinks (node_modules.asar, remote-cli, browser helper)"
(
  cd "$DEST/lib/vscode"
  rm -rf node_modules.asar && ln -s node_modules node_modules.asar
  cd bin/remote-cli && rm -rf code-server && ln -s code-linux.sh code-server
  cd ../helpers && rm -rf browser.sh && ln -s browser-linux.sh browser.sh
)

step "smoke check: code-server --version"
# A throwaway config home: --version would otherwise write ~/.config/code-server.
VERSION_OUT="$(XDG_CONFIG_HOME="$WORK" XDG_DATA_HOME="$WORK" node "$DEST/out/node/entry.js" --version 2>&1)" || fail "$VERSION_OUT"
log "code-server --version: $(echo "$VERSION_OUT" | tail -n1)"

echo "$VERSION" >"$MARKER"
log "installed code-server $VERSION in $DEST in $((SECONDS - START)) s"
echo "$DEST"
