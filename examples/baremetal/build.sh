#!/usr/bin/env bash
# Builds ticker.elf from ticker.S with Debian's gcc-riscv64-unknown-elf (the ELF is committed so
# that the examples need no toolchain). Run from anywhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
CROSS="${CROSS:-riscv64-unknown-elf-}"
"${CROSS}gcc" -march=rv64gc -mabi=lp64d -nostdlib -nostartfiles -static -Wl,-Ttext=0x80000000 \
  -Wl,--build-id=none -o ticker.elf ticker.S
echo "built $(pwd)/ticker.elf"
