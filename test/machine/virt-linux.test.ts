import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GuestSession, REPO_ROOT } from './guest-session.js';

const IMAGE = join(REPO_ROOT, 'images', 'linux', 'Image.gz');
const INITRD = join(REPO_ROOT, 'images', 'linux', 'initramfs.cpio.gz');
const OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
const PROMPT = '~ # ';

const haveGuest = existsSync(IMAGE) && existsSync(INITRD);

/** Boots the default guest, checks the shell works as on real hardware, powers off. */
async function bootAndCheck(extraArgs: string[]): Promise<void> {
  const vm = new GuestSession(['run', ...extraArgs]);
  try {
    const boot = await vm.waitFor(PROMPT, 240_000);
    assert.match(boot, /Linux version 6\.1\./);
    assert.match(await vm.command('uname -m', PROMPT), /^riscv64\n/);
    const cpuinfo = await vm.command('cat /proc/cpuinfo', PROMPT);
    assert.match(cpuinfo, /isa\s*: rv64imafdc/);
    assert.match(cpuinfo, /mmu\s*: sv48/);
    const loop = await vm.command(
      'i=0; s=0; while [ $i -lt 2000 ]; do s=$((s + i * i)); i=$((i + 1)); done; echo sum=$s',
      PROMPT,
    );
    assert.match(loop, /sum=2664667000\n/);
    const file = await vm.command(
      'mkdir -p /mnt/t && mount -t tmpfs tmpfs /mnt/t && echo tmpfs-works > /mnt/t/f && cat /mnt/t/f && umount /mnt/t',
      PROMPT,
    );
    assert.match(file, /^tmpfs-works\n/);
    // Guest time follows host time: two readings 2 s apart in the guest are 2 s apart on the host.
    const hostBefore = Date.now();
    const first = Number((await vm.command('date +%s', PROMPT)).trim());
    await vm.command('sleep 2', PROMPT);
    const second = Number((await vm.command('date +%s', PROMPT)).trim());
    const hostSeconds = (Date.now() - hostBefore) / 1000;
    assert.ok(
      second - first >= 2 && second - first <= hostSeconds + 1,
      `guest clock moved ${second - first} s in ${hostSeconds} s`,
    );
    assert.ok(Math.abs(first - hostBefore / 1000) < 5, 'the RTC starts at the host time');
    vm.send('poweroff -f\n');
    assert.equal(await vm.exited, 0, 'a guest poweroff ends the VM with status 0');
  } finally {
    vm.kill();
  }
}

test('the default guest boots with the built-in SBI to a working shell', {
  skip: !haveGuest && !process.env.CI ? 'images/linux not built' : false,
  timeout: 300_000,
}, async () => {
  assert.ok(haveGuest, 'CI needs the committed default guest in images/linux');
  await bootAndCheck([]);
});

test('the default guest boots through OpenSBI to a working shell', {
  skip: (!haveGuest || !existsSync(OPENSBI)) && !process.env.CI ? 'images/linux or opensbi missing' : false,
  timeout: 300_000,
}, async () => {
  assert.ok(haveGuest && existsSync(OPENSBI), 'CI needs the default guest and Debian opensbi');
  await bootAndCheck(['--bios', OPENSBI]);
});

test('the default guest boots on the interpreter alone (--jit off)', {
  skip: !haveGuest && !process.env.CI ? 'images/linux not built' : false,
  timeout: 300_000,
}, async () => {
  assert.ok(haveGuest, 'CI needs the committed default guest in images/linux');
  await bootAndCheck(['--jit', 'off']);
});

// The strictest test of the compiled tier: every block is compiled before it first runs.
test('the default guest boots with every block compiled (--jit-threshold 0)', {
  skip: !haveGuest && !process.env.CI ? 'images/linux not built' : false,
  timeout: 300_000,
}, async () => {
  assert.ok(haveGuest, 'CI needs the committed default guest in images/linux');
  await bootAndCheck(['--jit-threshold', '0']);
});

test('a guest reboot restarts the VM, which boots again to a shell', {
  skip: !haveGuest && !process.env.CI ? 'images/linux not built' : false,
  timeout: 300_000,
}, async () => {
  const vm = new GuestSession(['run']);
  try {
    await vm.waitFor(PROMPT, 240_000);
    await vm.command('echo marker > /tmp/before-reboot', PROMPT);
    vm.send('reboot -f\n');
    await vm.waitFor(/Linux version 6\.1\./, 120_000);
    await vm.waitFor(PROMPT, 240_000);
    // RAM starts afresh: the initramfs is unpacked again, without the file written before.
    assert.match(await vm.command('ls /tmp/before-reboot 2>&1 || echo gone', PROMPT), /gone\n$/);
    vm.send('poweroff -f\n');
    assert.equal(await vm.exited, 0);
  } finally {
    vm.kill();
  }
});

test('--dump-dtb writes the devicetree the guest would get, and dtc accepts it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-dtb-'));
  const file = join(dir, 'virt.dtb');
  execFileSync(process.execPath, [
    join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'),
    'run',
    '--bios',
    'none',
    '--mem',
    '512M',
    '--append',
    'console=ttyS0 quiet',
    '--dump-dtb',
    file,
  ]);
  const blob = readFileSync(file);
  assert.equal(blob.readUInt32BE(0), 0xd00dfeed);
  let dts: string;
  try {
    dts = execFileSync('dtc', ['-I', 'dtb', '-O', 'dts', file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !process.env.CI) return t.skip('dtc not installed');
    throw e;
  }
  assert.match(dts, /bootargs = "console=ttyS0 quiet";/);
  assert.match(dts, /memory@80000000 \{[^}]*reg = <0x00 0x80000000 0x00 0x20000000>;/s);
  assert.match(dts, /compatible = "ns16550a";/);
});
