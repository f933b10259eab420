#!/usr/bin/env bash
# Builds the bare-metal RISC-V images: the shared runtime (images/baremetal),
# the CPU benchmarks (bench/programs/*.c) and the demo (images/demo) into
# build/baremetal/. Every compile runs from the repository root with relative
# paths and fixed flags, so the output is the same bit for bit on every
# machine with the same cross compiler (the committed images/demo/demo.elf is
# checked against the fresh build).
#
# Usage: scripts/build-baremetal.sh [--update-demo] [--host-check]
#   --update-demo  copy the freshly built demo over images/demo/demo.elf
#   --host-check   also build the benchmarks natively (-DBM_HOST) with the
#                  host's cc and run them: a check of the expected results
#                  that does not depend on any RISC-V emulator
# Environment: CROSS (default riscv64-unknown-elf-), OUT (default build/baremetal)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export LC_ALL=C

CROSS="${CROSS:-riscv64-unknown-elf-}"
OUT="${OUT:-build/baremetal}"
UPDATE_DEMO=0
HOST_CHECK=0
for arg in "$@"; do
  case "$arg" in
    --update-demo) UPDATE_DEMO=1 ;;
    --host-check) HOST_CHECK=1 ;;
    -h | --help)
      sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build-baremetal: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

CC="${CROSS}gcc"
if ! command -v "$CC" >/dev/null 2>&1; then
  cat >&2 <<MSG
build-baremetal: the RISC-V cross compiler '$CC' was not found.
On Debian/Ubuntu install it with:
  sudo apt-get install gcc-riscv64-unknown-elf
or point CROSS at another bare-metal toolchain prefix (CROSS=riscv64-elf-).
MSG
  exit 1
fi

RT=images/baremetal
# -ffile-prefix-map keeps the build directory out of the output; no -g, so
# no debug info to carry paths either. --build-id=none: the default build-id
# would be a hash, stable but pointless for these images.
CFLAGS=(-march=rv64gc -mabi=lp64d -mcmodel=medany -O2 -nostartfiles -ffreestanding -nostdlib
  -fno-common -Wall -Wextra -Werror "-ffile-prefix-map=$ROOT=." -I"$RT")
LDFLAGS=(-T "$RT/link.ld" -Wl,--build-id=none -Wl,--no-warn-rwx-segments)
# The runtime's own memset/memcpy must not be turned back into calls to themselves.
RT_CFLAGS=(-fno-tree-loop-distribute-patterns -fno-strict-aliasing)

step() { printf '  %-6s %s\n' "$1" "$2"; }

compile() { # compile OUT SRC [extra flags...]
  local out="$1" src="$2"
  shift 2
  step CC "$src"
  "$CC" "${CFLAGS[@]}" "$@" -c "$src" -o "$out"
}

link() { # link OUT OBJS...
  local out="$1"
  shift
  step LD "$out"
  "$CC" "${CFLAGS[@]}" "${LDFLAGS[@]}" "$@" -lgcc -o "$out"
}

echo "build-baremetal: $("$CC" --version | head -n 1)"
rm -rf "$OUT"
mkdir -p "$OUT/runtime" "$OUT/bench" "$OUT/demo"

echo "runtime:"
compile "$OUT/runtime/crt0.o" "$RT/crt0.S"
compile "$OUT/runtime/crt0-instret.o" "$RT/crt0.S" -DREPORT_INSTRET
RT_OBJS=()
for name in htif printf string sha256; do
  compile "$OUT/runtime/$name.o" "$RT/$name.c" "${RT_CFLAGS[@]}"
  RT_OBJS+=("$OUT/runtime/$name.o")
done

echo "benchmarks:"
BENCHES=()
for src in bench/programs/*.c; do
  name="$(basename "$src" .c)"
  BENCHES+=("$name")
  compile "$OUT/bench/$name.o" "$src"
  link "$OUT/bench/$name.elf" "$OUT/runtime/crt0.o" "$OUT/bench/$name.o" "${RT_OBJS[@]}"
  # Same program with a start-up that reports minstret around main, for
  # counting instructions under qemu -icount.
  link "$OUT/bench/$name.instret.elf" "$OUT/runtime/crt0-instret.o" "$OUT/bench/$name.o" "${RT_OBJS[@]}"
done
# A program that exits at once: measures an emulator's start-up and exit cost.
compile "$OUT/bench/empty.o" bench/baseline/empty.c
link "$OUT/bench/empty.elf" "$OUT/runtime/crt0.o" "$OUT/bench/empty.o" "${RT_OBJS[@]}"

echo "demo:"
compile "$OUT/demo/demo.o" images/demo/demo.c
link "$OUT/demo/demo.elf" "$OUT/runtime/crt0.o" "$OUT/demo/demo.o" "${RT_OBJS[@]}"
if [ "$UPDATE_DEMO" = 1 ]; then
  cp "$OUT/demo/demo.elf" images/demo/demo.elf
  echo "  updated images/demo/demo.elf"
elif [ ! -f images/demo/demo.elf ]; then
  echo "  note: images/demo/demo.elf does not exist; run with --update-demo to create it"
elif cmp -s "$OUT/demo/demo.elf" images/demo/demo.elf; then
  echo "  $OUT/demo/demo.elf is identical to images/demo/demo.elf"
else
  echo "  WARNING: $OUT/demo/demo.elf differs from the committed images/demo/demo.elf" >&2
  echo "  (a changed source or a different compiler; --update-demo refreshes the committed copy)" >&2
fi

if [ "$HOST_CHECK" = 1 ]; then
  echo "host check (native build, -DBM_HOST):"
  HOSTCC="${HOSTCC:-cc}"
  mkdir -p "$OUT/host"
  failed=0
  for name in "${BENCHES[@]}"; do
    step HOSTCC "bench/programs/$name.c"
    "$HOSTCC" -O2 -DBM_HOST -Wall -I"$RT" -o "$OUT/host/$name" "bench/programs/$name.c" "$RT/sha256.c" -lm
    if "./$OUT/host/$name" >"$OUT/host/$name.out"; then
      step OK "$name"
    else
      step FAIL "$name (output in $OUT/host/$name.out)"
      sed 's/^/         /' "$OUT/host/$name.out"
      failed=1
    fi
  done
  [ "$failed" = 0 ] || exit 1
fi

echo "build-baremetal: done, images in $OUT/"
