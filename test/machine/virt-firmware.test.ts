import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { GuestSession } from './guest-session.js';

// Debian's packages: opensbi (generic platform) and u-boot-qemu (S-mode build for QEMU virt).
const OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
const UBOOT = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';
const missing = [OPENSBI, UBOOT].filter((f) => !existsSync(f));
const skip =
  missing.length > 0 && !process.env.CI
    ? `missing ${missing.join(', ')} (apt-get install opensbi u-boot-qemu)`
    : false;

test('OpenSBI boots U-Boot in S-mode to its prompt, which runs commands and powers off', {
  skip,
  timeout: 180_000,
}, async () => {
  assert.deepEqual(missing, [], 'CI must have opensbi and u-boot-qemu installed');
  const vm = new GuestSession(['run', '--bios', OPENSBI, '--kernel', UBOOT]);
  try {
    const banner = await vm.waitFor('Hit any key to stop autoboot', 120_000);
    assert.match(banner, /OpenSBI v1\.\d/);
    assert.match(banner, /Platform Console Device\s*: uart8250/);
    assert.match(banner, /Boot HART ISA Extensions\s*: .*sstc/);
    assert.match(banner, /DRAM:\s+256 MiB/);
    vm.send('\n');
    await vm.waitFor('=> ', 60_000);
    const version = await vm.command('version', '=> ');
    assert.match(version, /U-Boot 2023\.01/);
    // The devicetree the board built is what U-Boot sees: its memory node and the UART.
    const memory = await vm.command('fdt addr $fdtcontroladdr; fdt print /memory@80000000', '=> ');
    assert.match(memory, /reg = <0x00000000 0x80000000 0x00000000 0x10000000>/);
    vm.send('poweroff\n');
    assert.equal(await vm.exited, 0, 'poweroff through the SiFive test device ends the VM with status 0');
  } finally {
    vm.kill();
  }
});
