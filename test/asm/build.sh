#!/bin/sh
# Builds the assembly test programs, and optionally runs them on QEMU.
#
#   test/asm/build.sh [-o OUTDIR] [--qemu] [FILE.S ...]
#
# For every source X.S (default: all of test/asm/*.S) it produces
#   OUTDIR/X.elf       the program as the emulator runs it
#   OUTDIR/X.qemu.elf  the same with -DQEMU72_QUIRKS, which drops the checks
#                      QEMU 7.2 is known to get wrong (each is commented in the
#                      source), and with -DEXIT_SIFIVE_TEST for programs that
#                      need `-M virt` (marked "# qemu-machine: virt")
# rebuilding only what is older than its source, macros.h, link.ld or this
# script.  OUTDIR defaults to build/asm at the repository root.
#
# With --qemu, each X.qemu.elf is run on qemu-system-riscv64 and a line
# "PASS X" or "FAIL X: ..." is printed; the exit status is non-zero if any
# failed.  The QEMU exit status is the failed check number (mod 256).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/build/asm"
run_qemu=0
CC=${RISCV_GCC:-riscv64-unknown-elf-gcc}
QEMU=${QEMU:-qemu-system-riscv64}

while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift 2 ;;
    --qemu) run_qemu=1; shift ;;
    --) shift; break ;;
    -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  set -- "$here"/*.S
fi

mkdir -p "$out"

CFLAGS="-g -march=rv64gc_zicsr_zifencei -mabi=lp64d -nostdlib -nostartfiles -I$here -T $here/link.ld -Wl,--no-warn-rwx-segments"

machine_of() {
  if grep -q '^# qemu-machine: virt' "$1"; then echo virt; else echo spike; fi
}

# out_of_date TARGET DEPS...: true if TARGET is missing or older than a dep.
out_of_date() {
  t=$1
  shift
  [ -e "$t" ] || return 0
  for d in "$@"; do
    [ "$d" -nt "$t" ] && return 0
  done
  return 1
}

status=0
for src in "$@"; do
  name=$(basename "$src" .S)
  deps="$src $here/macros.h $here/link.ld $here/build.sh"
  elf="$out/$name.elf"
  qelf="$out/$name.qemu.elf"
  qdefs="-DQEMU72_QUIRKS"
  [ "$(machine_of "$src")" = virt ] && qdefs="$qdefs -DEXIT_SIFIVE_TEST"
  # shellcheck disable=SC2086
  if out_of_date "$elf" $deps; then
    $CC $CFLAGS -o "$elf" "$src"
  fi
  # shellcheck disable=SC2086
  if out_of_date "$qelf" $deps; then
    $CC $CFLAGS $qdefs -o "$qelf" "$src"
  fi
  if [ $run_qemu -eq 1 ]; then
    rc=0
    timeout 20 "$QEMU" -M "$(machine_of "$src")" -nographic -bios none -kernel "$qelf" </dev/null || rc=$?
    if [ $rc -eq 0 ]; then
      echo "PASS $name"
    else
      echo "FAIL $name: QEMU exit status $rc"
      status=1
    fi
  fi
done
exit $status
