/** How the benchmarks start the reference: qemu-system-riscv64 -M virt with a kernel and an initramfs. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** QEMU 7.2 cannot boot a gzip-compressed Image: returns a raw copy's path (or the path itself). */
export function rawKernelForQemu(kernel: string): string {
  const bytes = readFileSync(kernel);
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return kernel;
  const raw = join(mkdtempSync(join(tmpdir(), 'typervisor-qemu-')), 'Image');
  writeFileSync(raw, gunzipSync(bytes));
  return raw;
}

/** 256 MiB, serial console on stdio, QEMU's own OpenSBI, the kernel on ttyS0. */
export function qemuVirtArgs(kernel: string, initrd: string): string[] {
  return [
    '-M',
    'virt',
    '-m',
    '256M',
    '-nographic',
    '-bios',
    'default',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    'console=ttyS0',
  ];
}
