import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { PROMPT } from './guest-session.js';
import { DEFAULT_INITRD, DEFAULT_KERNEL, InProcessVm } from './in-process-vm.js';

const haveGuest = existsSync(DEFAULT_KERNEL) && existsSync(DEFAULT_INITRD);
const BOOT_MS = 240_000;

async function until(what: string, done: () => boolean, ms: number): Promise<void> {
  const started = Date.now();
  while (!done()) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('Linux reports a real panic through pvpanic; panic text printed by user space reports nothing', {
  skip: !haveGuest && !process.env.CI ? 'images/linux not built' : false,
  timeout: 400_000,
}, async () => {
  assert.ok(haveGuest, 'CI needs the committed default guest in images/linux');
  const vm = new InProcessVm('guest');
  const panics: string[] = [];
  vm.machine.onGuestPanic = (detail) => panics.push(detail);
  try {
    await vm.waitFor(PROMPT, BOOT_MS);
    // The kernel found the device and took both events the device offers.
    const sysfs = await vm.command(
      'cat /sys/bus/platform/drivers/pvpanic-mmio/4000000.pvpanic/capability /sys/bus/platform/drivers/pvpanic-mmio/4000000.pvpanic/events',
    );
    assert.equal(sysfs, '3\n3\n');

    // Anyone who can write to a console can print the kernel's panic line; that is no panic.
    const fake = await vm.command(
      "echo 'Kernel panic - not syncing: fake' > /dev/console; echo '---[ end Kernel panic - not syncing: fake ]---' > /dev/console; echo printed",
    );
    assert.match(fake, /printed\n/);
    assert.match(vm.transcript, /Kernel panic - not syncing: fake/);
    assert.match(await vm.command('echo still alive'), /still alive\n/);
    assert.deepEqual(panics, [], 'console text does not count as a panic');

    vm.send('echo c > /proc/sysrq-trigger\n');
    await until('the pvpanic report', () => panics.length > 0, 60_000);
    assert.deepEqual(panics, ['pvpanic: guest panicked']);
    assert.match(vm.transcript, /Kernel panic - not syncing: sysrq triggered crash/);
  } finally {
    await vm.stop();
  }
});
