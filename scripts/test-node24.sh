#!/usr/bin/env bash
# Runs a part of the test suite again on Node 24 (installed by scripts/node24.sh into its cache folder),
# beside the Node that `npm test` used: the interpreter, and later the JIT's wasm, run on a different V8.
# Expects the compiled tests in dist/ (npm test or npx tsc -p tsconfig.json builds them).
#
# Usage: scripts/test-node24.sh [FILE_OR_DIR...]   (default: NODE24_TESTS below)
# Without Node 24 (offline, an unsupported platform) it skips with the reason, unless CI is set: then it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# Compiled test files or folders run on Node 24; add a file here to run it in CI on Node 24 too.
NODE24_TESTS=(
  dist/test/asm.test.js
  dist/test/cpu
  dist/test/machine/virt-linux.test.js
)

if (($# > 0)); then NODE24_TESTS=("$@"); fi

for t in "${NODE24_TESTS[@]}"; do
  [ -e "$t" ] || {
    echo "test-node24: $t does not exist (build first: npx tsc -p tsconfig.json)" >&2
    exit 1
  }
done

if ! node24="$(bash scripts/node24.sh)"; then
  if [ -n "${CI:-}" ]; then
    echo "test-node24: FAILED: scripts/node24.sh could not install Node 24 (see above), and CI needs it" >&2
    exit 1
  fi
  echo "test-node24: skipped: scripts/node24.sh could not install Node 24 (see above)" >&2
  exit 0
fi

echo "test-node24: $("$node24" --version) ($node24): ${NODE24_TESTS[*]}"
started=$SECONDS
"$node24" scripts/run-tests.mjs "${NODE24_TESTS[@]}"
echo "test-node24: passed in $((SECONDS - started)) s"
