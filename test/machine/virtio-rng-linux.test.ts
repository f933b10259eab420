import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GuestSession, REPO_ROOT } from './guest-session.js';

const haveGuest = existsSync(join(REPO_ROOT, 'images', 'linux', 'Image.gz'));
const PROMPT = '~ # ';

test('--rng: Linux finds virtio-rng in the top virtio-mmio slot and /dev/hwrng gives fresh bytes', {
  skip: !haveGuest && !process.env.CI ? 'images/linux not built' : false,
  timeout: 180_000,
}, async () => {
  const vm = new GuestSession(['run', '--rng']);
  try {
    await vm.waitFor(PROMPT, 120_000);
    // QEMU puts the first virtio device on the command line in the highest slot, 0x10008000.
    const where = await vm.command('readlink /sys/bus/virtio/devices/virtio0', PROMPT);
    assert.match(where, /10008000\.virtio_mmio/);
    assert.match(await vm.command('cat /sys/class/misc/hw_random/rng_current', PROMPT), /^virtio_rng\.0\n/);
    const a = await vm.command('head -c 4096 /dev/hwrng | sha256sum', PROMPT);
    const b = await vm.command('head -c 4096 /dev/hwrng | sha256sum', PROMPT);
    assert.match(a, /^[0-9a-f]{64} /);
    assert.notEqual(a, b, 'two reads give different bytes');
    // 4 KiB of random data does not compress: gzip output is not smaller than its input.
    const size = Number((await vm.command('head -c 4096 /dev/hwrng | gzip -c | wc -c', PROMPT)).trim());
    assert.ok(size >= 4096, `gzip squeezed 4096 random bytes to ${size}`);
    vm.send('poweroff -f\n');
    assert.equal(await vm.exited, 0);
  } finally {
    vm.kill();
  }
});
