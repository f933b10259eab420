/** How the benchmarks start the reference: qemu-system-riscv64 -M virt with a kernel and an initramfs. */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Debian's OpenSBI (package opensbi): the firmware both emulators get for a like-for-like boot. */
export const DEBIAN_OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';

/**
 * QEMU 7.2 cannot boot a gzip-compressed Image: returns a raw copy's path in `workDir` (or the path itself). The
 * benchmarks give this same raw file to Typervisor too, so that neither side decompresses while timed.
 */
export function rawKernel(kernel: string, workDir: string): string {
  const bytes = readFileSync(kernel);
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return kernel;
  const raw = join(workDir, basename(kernel).replace(/\.gz$/, ''));
  writeFileSync(raw, gunzipSync(bytes));
  return raw;
}

/**
 * Serial console on stdio, the kernel on ttyS0. `bios` is QEMU's -bios: 'default' (the OpenSBI build
 * QEMU ships) or a firmware file.
 */
export function qemuVirtArgs(
  kernel: string,
  initrd: string,
  options: { mem?: string; bios?: string } = {},
): string[] {
  return [
    '-M',
    'virt',
    '-m',
    options.mem ?? '256M',
    '-nographic',
    '-bios',
    options.bios ?? 'default',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    'console=ttyS0',
  ];
}
