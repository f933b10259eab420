import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DESC_F_INDIRECT,
  DESC_F_NEXT,
  DESC_F_WRITE,
} from '../../../../src/machine/devices/virtio/constants.js';
import {
  RNG_MAX_PER_REQUEST,
  RNG_STEP_BYTES,
  VirtioRng,
} from '../../../../src/machine/devices/virtio/rng.js';
import { TestDriver } from './test-driver.js';

test('random bytes fill what the driver posts, fresh each time', async () => {
  const drv = new TestDriver(new VirtioRng());
  drv.init();
  const a = drv.submit(0, [], [64]);
  const b = drv.submit(0, [], [64]);
  drv.kick(0);
  const used = await drv.waitUsed(0, 2);
  assert.deepEqual(
    used.map((u) => [u.head, u.written]),
    [
      [a, 64],
      [b, 64],
    ],
  );
  assert.notDeepEqual(drv.writtenBytes(0, used[0]), drv.writtenBytes(0, used[1]));
});

test('a request for gigabytes gets at most RNG_MAX_PER_REQUEST bytes, and a ring of them is served in steps', async () => {
  const drv = new TestDriver(new VirtioRng(), 8 << 20);
  drv.init({ size: 64 });
  drv.autoStep = false;
  // One indirect table of 1024 buffers, each 4 MiB of the same RAM: 4 GiB asked for per request.
  const buffer = drv.alloc(4 << 20);
  const table = drv.alloc(1024 * 16);
  for (let i = 0; i < 1024; i++)
    drv.writeDescriptor(table, i, buffer, 4 << 20, DESC_F_WRITE | (i < 1023 ? DESC_F_NEXT : 0), i + 1);
  const { desc } = drv.queueAreas(0);
  for (let head = 0; head < 64; head++) {
    drv.writeDescriptor(desc, head, table, 1024 * 16, DESC_F_INDIRECT, 0);
    drv.publish(0, head);
  }
  drv.strict = false;
  drv.kick(0);
  const perStep = RNG_STEP_BYTES / RNG_MAX_PER_REQUEST;
  let used = drv.takeUsed(0);
  assert.equal(used.length, perStep, 'one notification serves one step');
  assert.ok(used.every((u) => u.written === RNG_MAX_PER_REQUEST));
  assert.ok(drv.transport.hasDeferred, 'and asks the run loop for the next');
  let steps = 0;
  while (used.length < 64) {
    drv.step();
    steps++;
    used = used.concat(drv.takeUsed(0));
  }
  assert.equal(steps, 64 / perStep - 1);
  assert.equal(drv.transport.hasDeferred, false);
  assert.equal((drv.device.saveState() as { bytesServed: number }).bytesServed, 64 * RNG_MAX_PER_REQUEST);
});
