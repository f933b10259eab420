/**
 * Debian 13's stock riscv64 kernel (linux-image-riscv64) boots to the default guest's busybox shell,
 * with the built-in SBI and with Debian's OpenSBI. The kernel is ~30 MB and fetched from Debian's archive
 * by images/linux/debian-kernel.sh, so this is not part of `npm test`: `npm run test:debian-kernel` fetches
 * it and runs this file (the tests skip when the kernel is absent, unless that script asked for them).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GuestSession, REPO_ROOT } from './guest-session.js';

const KERNEL = join(REPO_ROOT, 'build', 'linux', 'debian-kernel', 'Image');
const INITRD = join(REPO_ROOT, 'images', 'linux', 'initramfs.cpio.gz');
const OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
const PROMPT = '~ # ';
const required = process.env.TYPERVISOR_DEBIAN_KERNEL === '1';
const haveKernel = existsSync(KERNEL);

async function bootStockKernel(firmware: string, extraArgs: string[]): Promise<void> {
  const started = Date.now();
  const vm = new GuestSession(['run', '--kernel', KERNEL, '--initrd', INITRD, '--mem', '512M', ...extraArgs]);
  try {
    const boot = await vm.waitFor(PROMPT, 600_000);
    const seconds = (Date.now() - started) / 1000;
    assert.match(boot, /Linux version 6\.12\.\d+\+deb13-riscv64 .*Debian/);
    assert.doesNotMatch(boot, /Kernel panic|Oops|BUG:|WARNING:/);
    console.log(`# Debian stock kernel reached the shell prompt in ${seconds.toFixed(1)} s (${firmware})`);
    assert.match(await vm.command('uname -r', PROMPT), /^6\.12\.\d+\+deb13-riscv64\n/);
    assert.match(await vm.command('uname -m', PROMPT), /^riscv64\n/);
    const cpuinfo = await vm.command('cat /proc/cpuinfo', PROMPT);
    assert.match(cpuinfo, /isa\s*: rv64imafdc/);
    assert.match(cpuinfo, /mmu\s*: sv48/);
    const file = await vm.command(
      'mkdir -p /mnt/t && mount -t tmpfs tmpfs /mnt/t && echo stock-kernel > /mnt/t/f && cat /mnt/t/f && umount /mnt/t',
      PROMPT,
    );
    assert.match(file, /^stock-kernel\n/);
    vm.send('poweroff -f\n');
    assert.equal(await vm.exited, 0, 'a guest poweroff ends the VM with status 0');
  } finally {
    vm.kill();
  }
}

const skip =
  !haveKernel && !required ? 'no build/linux/debian-kernel/Image (npm run test:debian-kernel)' : false;

test('Debian 13 stock kernel boots to the busybox shell with the built-in SBI', {
  skip,
  timeout: 660_000,
}, async () => {
  assert.ok(haveKernel, `images/linux/debian-kernel.sh did not produce ${KERNEL}`);
  await bootStockKernel('built-in SBI', ['--append', 'console=ttyS0']);
});

test('Debian 13 stock kernel boots to the busybox shell on OpenSBI', {
  skip: skip || (!existsSync(OPENSBI) && !required ? 'Debian package opensbi not installed' : false),
  timeout: 660_000,
}, async () => {
  assert.ok(haveKernel, `images/linux/debian-kernel.sh did not produce ${KERNEL}`);
  await bootStockKernel('OpenSBI', ['--bios', OPENSBI, '--append', 'console=ttyS0']);
});
