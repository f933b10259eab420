import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VirtioRng } from '../../../../src/machine/devices/virtio/rng.js';
import { RAM_BASE, TestDriver } from './test-driver.js';

const NEEDS_RESET = 64;
const FEATURES_OK = 8;
const DRIVER_OK = 4;

/** An rng whose bytes are predictable, so tests can check exactly what landed where. */
function countingRng(): VirtioRng {
  let n = 0;
  return new VirtioRng((into) => {
    for (let i = 0; i < into.length; i++) into[i] = n++ & 0xff;
  });
}

test('registers identify a modern virtio-mmio entropy device with the transport features', () => {
  const d = new TestDriver(countingRng());
  assert.equal(d.read(0x000), 0x74726976);
  assert.equal(d.read(0x004), 2);
  assert.equal(d.read(0x008), 4);
  assert.equal(d.read(0x00c), 0x554d4551);
  const [lo, hi] = d.deviceFeatures();
  assert.equal(hi & 1, 1, 'VERSION_1');
  assert.equal((lo >>> 28) & 3, 3, 'INDIRECT_DESC and EVENT_IDX');
  assert.equal((hi >>> 8) & 1, 1, 'RING_RESET');
  d.write(0x030, 0);
  assert.equal(d.read(0x034), 256, 'QueueNumMax of queue 0');
  d.write(0x030, 1);
  assert.equal(d.read(0x034), 0, 'no queue 1');
  assert.equal(d.read(0x0b0), 0xffffffff, 'no shared memory region');
});

test('FEATURES_OK is refused without VERSION_1 or with features never offered', () => {
  const d = new TestDriver(countingRng());
  d.init({ features: [0, 0] });
  assert.equal(d.status & FEATURES_OK, 0, 'legacy-only driver refused');
  const e = new TestDriver(countingRng());
  e.init({ features: [1 << 5, 1] });
  assert.equal(e.status & FEATURES_OK, 0, 'unoffered bit 5 refused');
  const f = new TestDriver(countingRng());
  assert.equal(f.init() & (FEATURES_OK | DRIVER_OK), FEATURES_OK | DRIVER_OK);
});

test('a request is served, completed with its length, and interrupts once per batch', () => {
  const d = new TestDriver(countingRng());
  d.init({ features: [0, 1] });
  const a = d.submit(0, [], [16]);
  const b = d.submit(0, [], [8, 8]);
  d.kick(0);
  const used = d.takeUsed(0);
  assert.deepEqual(
    used.map((u) => [u.head, u.written]),
    [
      [a, 16],
      [b, 16],
    ],
  );
  assert.deepEqual([...d.writtenBytes(0, used[0])], [...Array(16).keys()]);
  assert.deepEqual(
    [...d.writtenBytes(0, used[1])],
    [...Array(16).keys()].map((i) => i + 16),
  );
  assert.equal(d.interrupts, 1, 'one interrupt for the batch');
  assert.equal(d.irqLevel, true);
  assert.equal(d.ack(), 1, 'used-buffer interrupt');
  assert.equal(d.irqLevel, false, 'acknowledging lowers the line');
});

test('indirect descriptor tables are followed', () => {
  const d = new TestDriver(countingRng());
  d.init();
  d.submit(0, [], [4, 4, 4], { indirect: true });
  d.kick(0);
  const [u] = d.takeUsed(0);
  assert.equal(u.written, 12);
});

test('EVENT_IDX: no interrupt until used.idx passes used_event; avail_event tracks the device', () => {
  const d = new TestDriver(countingRng());
  d.init();
  const { avail, used, size } = d.queueAreas(0);
  // used_event = 1: interrupt only when the second buffer (used.idx 0 -> 2 crosses 1) completes.
  d.memory.setU16(avail - RAM_BASE + 4 + 2 * size, 1);
  d.submit(0, [], [4]);
  d.kick(0);
  assert.equal(d.interrupts, 0, 'first completion does not cross used_event');
  assert.equal(d.memory.u16(used - RAM_BASE + 4 + 8 * size), 1, 'avail_event = next avail index');
  d.submit(0, [], [4]);
  d.kick(0);
  assert.equal(d.interrupts, 1);
});

test('without EVENT_IDX, avail.flags NO_INTERRUPT suppresses interrupts', () => {
  const d = new TestDriver(countingRng());
  d.init({ features: [0, 1] });
  const { avail } = d.queueAreas(0);
  d.memory.setU16(avail - RAM_BASE, 1);
  d.submit(0, [], [4]);
  d.kick(0);
  assert.equal(d.takeUsed(0).length, 1);
  assert.equal(d.interrupts, 0);
});

/** Each case corrupts a fresh driver's queue; the device must ask for a reset and keep working after it. */
const malformed: [string, (d: TestDriver) => void][] = [
  [
    'buffer outside RAM',
    (d) => {
      d.writeDescriptor(d.queueAreas(0).desc, 0, 0x1000, 64, 2, 0);
      d.publish(0, 0);
    },
  ],
  [
    'buffer straddling the end of RAM',
    (d) => {
      d.writeDescriptor(d.queueAreas(0).desc, 0, RAM_BASE + d.ram.length - 8, 64, 2, 0);
      d.publish(0, 0);
    },
  ],
  [
    'address above 4 GiB',
    (d) => {
      d.writeDescriptor(d.queueAreas(0).desc, 0, 2 ** 32 + RAM_BASE, 64, 2, 0);
      d.publish(0, 0);
    },
  ],
  [
    'huge length',
    (d) => {
      d.writeDescriptor(d.queueAreas(0).desc, 0, RAM_BASE + 0x100000, 0xffffffff, 2, 0);
      d.publish(0, 0);
    },
  ],
  [
    'chain loop',
    (d) => {
      const { desc } = d.queueAreas(0);
      const buf = d.alloc(16);
      d.writeDescriptor(desc, 0, buf, 16, 2 | 1, 1);
      d.writeDescriptor(desc, 1, buf, 16, 2 | 1, 0);
      d.publish(0, 0);
    },
  ],
  [
    'next out of range',
    (d) => {
      d.writeDescriptor(d.queueAreas(0).desc, 0, d.alloc(16), 16, 2 | 1, 60000);
      d.publish(0, 0);
    },
  ],
  [
    'head out of range',
    (d) => {
      d.publish(0, 9999);
    },
  ],
  [
    'avail.idx far ahead',
    (d) => {
      d.memory.setU16(d.queueAreas(0).avail - RAM_BASE + 2, 5000);
    },
  ],
  [
    'indirect table inside an indirect table',
    (d) => {
      const table = d.alloc(32);
      d.writeDescriptor(table, 0, table, 32, 4, 0);
      d.writeDescriptor(d.queueAreas(0).desc, 0, table, 32, 4, 0);
      d.publish(0, 0);
    },
  ],
  [
    'indirect table of odd length',
    (d) => {
      d.writeDescriptor(d.queueAreas(0).desc, 0, d.alloc(32), 20, 4, 0);
      d.publish(0, 0);
    },
  ],
  [
    'indirect loop',
    (d) => {
      const table = d.alloc(32);
      const buf = d.alloc(16);
      d.writeDescriptor(table, 0, buf, 16, 2 | 1, 1);
      d.writeDescriptor(table, 1, buf, 16, 2 | 1, 0);
      d.writeDescriptor(d.queueAreas(0).desc, 0, table, 32, 4, 0);
      d.publish(0, 0);
    },
  ],
];

for (const [name, corrupt] of malformed) {
  test(`malformed queue (${name}): DEVICE_NEEDS_RESET, config interrupt, then a reset recovers`, () => {
    const d = new TestDriver(countingRng());
    d.init();
    corrupt(d);
    d.kick(0);
    assert.equal(d.status & NEEDS_RESET, NEEDS_RESET);
    assert.equal(d.ack() & 2, 2, 'configuration-change interrupt');
    assert.equal(d.logs.length, 1, 'the host is told why');
    d.kick(0);
    assert.equal(d.logs.length, 1, 'a failed device ignores further notifications');
    d.init();
    assert.equal(d.status & NEEDS_RESET, 0);
    d.submit(0, [], [8]);
    d.kick(0);
    assert.equal(d.takeUsed(0).length, 1, 'works again after reset');
  });
}

test('queue layouts that break the rules fail at QueueReady', () => {
  for (const [size, addrOffset] of [
    [3, 0],
    [512, 0],
    [0, 0],
    [8, 2],
  ]) {
    const d = new TestDriver(countingRng());
    d.write(0x070, 1 | 2);
    d.write(0x024, 1);
    d.write(0x020, 1);
    d.write(0x070, 1 | 2 | 8);
    d.write(0x030, 0);
    d.write(0x038, size);
    d.write(0x080, RAM_BASE + 0x1000 + addrOffset);
    d.write(0x090, RAM_BASE + 0x2000);
    d.write(0x0a0, RAM_BASE + 0x3000);
    d.write(0x044, 1);
    assert.equal(d.read(0x044), 0, `size ${size} offset ${addrOffset}: queue not ready`);
    assert.equal(d.status & NEEDS_RESET, NEEDS_RESET);
  }
});

test('notifications to queues that do not exist are ignored; QueueSel out of range reads zeroes', () => {
  const d = new TestDriver(countingRng());
  d.init();
  for (const q of [1, 7, 0xffff, 0xffffffff]) d.kick(q);
  assert.equal(d.status & NEEDS_RESET, 0);
  d.write(0x030, 0xffffffff);
  assert.equal(d.read(0x034), 0);
  d.write(0x044, 1);
  d.write(0x038, 8);
  assert.equal(d.read(0x038), 0);
});

test('queue reset (VIRTIO_F_RING_RESET) disables one queue until it is set up again', () => {
  const d = new TestDriver(countingRng());
  d.init();
  d.write(0x030, 0);
  d.write(0x0c0, 1);
  assert.equal(d.read(0x0c0), 1, 'reset done');
  assert.equal(d.read(0x044), 0, 'queue no longer ready');
  d.setupQueue(0, 16);
  assert.equal(d.read(0x0c0), 0);
  d.submit(0, [], [8]);
  d.kick(0);
  assert.equal(d.takeUsed(0).length, 1);
});

test('status 0 resets the device: features, queues and interrupts are cleared', () => {
  const d = new TestDriver(countingRng());
  d.init();
  d.submit(0, [], [8]);
  d.kick(0);
  assert.equal(d.irqLevel, true);
  d.write(0x070, 0);
  assert.equal(d.status, 0);
  assert.equal(d.irqLevel, false);
  assert.equal(d.read(0x060), 0);
  d.write(0x030, 0);
  assert.equal(d.read(0x044), 0);
});

test('transport state is plain data that survives JSON', () => {
  const d = new TestDriver(countingRng());
  d.init();
  d.submit(0, [], [8]);
  d.kick(0);
  const saved = JSON.parse(JSON.stringify(d.transport.saveState()));
  const e = new TestDriver(countingRng());
  e.ram.set(d.ram);
  e.transport.restoreState(saved);
  // The device model's own state is restored by the device; the transport restores registers and queues.
  assert.deepEqual(
    { ...e.transport.saveState(), device: null },
    { ...d.transport.saveState(), device: null },
  );
  assert.equal(e.irqLevel, true, 'the interrupt line follows the restored status');
});
