import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VirtioMmioEmpty } from '../../../src/machine/devices/virtio-mmio-empty.js';

const out = new Int32Array(2);
function rd(dev: VirtioMmioEmpty, offset: number, size = 4): number {
  out[0] = -1;
  out[1] = -1;
  assert.ok(dev.read(offset, size, out), `read at 0x${offset.toString(16)}`);
  return out[0] >>> 0;
}

test('an empty slot reads as a QEMU virtio-mmio transport with device id 0', () => {
  const dev = new VirtioMmioEmpty(0x10001000);
  assert.equal(dev.size, 0x1000);
  assert.equal(rd(dev, 0x000), 0x74726976);
  assert.equal(rd(dev, 0x004), 2);
  assert.equal(rd(dev, 0x008), 0, 'DeviceID 0: no device');
  assert.equal(rd(dev, 0x00c), 0x554d4551);
  for (const reg of [0x010, 0x034, 0x044, 0x060, 0x070, 0x0fc, 0x100, 0x1fc]) assert.equal(rd(dev, reg), 0);
  assert.equal(new VirtioMmioEmpty(0x10002000, 1).version, 1);
  assert.equal(rd(new VirtioMmioEmpty(0x10002000, 1), 0x004), 1);
  assert.notEqual(dev.name, new VirtioMmioEmpty(0x10002000).name, 'slots have distinct names');
});

test('writes are ignored', () => {
  const dev = new VirtioMmioEmpty(0x10001000);
  for (const reg of [0x000, 0x008, 0x014, 0x020, 0x070]) assert.ok(dev.write(reg, 4, 0x12345678, 0));
  assert.equal(rd(dev, 0x070), 0);
  assert.equal(rd(dev, 0x000), 0x74726976);
  assert.equal(rd(dev, 0x008), 0);
});

test('access sizes: narrow reads see the register low bytes, 64-bit reads two registers', () => {
  const dev = new VirtioMmioEmpty(0x10001000);
  assert.equal(rd(dev, 0, 1), 0x76);
  assert.equal(rd(dev, 0, 2), 0x6976);
  assert.equal(rd(dev, 0, 8), 0x74726976);
  assert.equal(out[1], 2);
  assert.equal(dev.read(2, 4, out), false, 'misaligned');
  assert.equal(dev.read(0x200, 4, out), false, "past the transport's registers");
  assert.equal(dev.write(0x800, 4, 0, 0), false);
});
