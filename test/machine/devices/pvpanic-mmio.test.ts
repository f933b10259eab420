import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SystemBus } from '../../../src/machine/bus.js';
import {
  PVPANIC_CRASH_LOADED,
  PVPANIC_PANICKED,
  PvpanicMmio,
} from '../../../src/machine/devices/pvpanic-mmio.js';
import { VIRT } from '../../../src/machine/virt/memory-map.js';

function setup(): { dev: PvpanicMmio; events: string[] } {
  const events: string[] = [];
  const dev = new PvpanicMmio(VIRT.pvpanic.base, {
    panicked: (detail) => events.push(`panicked: ${detail}`),
    crashLoaded: (detail) => events.push(`crash loaded: ${detail}`),
  });
  return { dev, events };
}

test('reading the register gives the supported events: PANICKED and CRASH_LOADED', () => {
  const { dev } = setup();
  const out = new Int32Array(2);
  assert.ok(dev.read(0, 1, out));
  assert.equal(out[0], PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
  assert.ok(dev.read(0, 2, out), 'the 16-bit register of the binding');
  assert.equal(out[0], 3);
  out[0] = 7;
  assert.ok(dev.read(1, 1, out), 'the reserved byte');
  assert.equal(out[0], 0);
});

test('writing PANICKED reports a panic, once per boot; reset re-arms it', () => {
  const { dev, events } = setup();
  assert.ok(dev.write(0, 1, PVPANIC_PANICKED, 0));
  assert.deepEqual(events, ['panicked: pvpanic: guest panicked']);
  // A guest hammering the register gets no further host callbacks (nor log lines).
  for (let i = 0; i < 1000; i++) assert.ok(dev.write(0, 1, PVPANIC_PANICKED, 0));
  assert.equal(events.length, 1);
  dev.reset();
  assert.ok(dev.write(0, 2, PVPANIC_PANICKED, 0));
  assert.equal(events.length, 2);
});

test('CRASH_LOADED is reported apart from a panic; PANICKED wins when both are written', () => {
  const { dev, events } = setup();
  assert.ok(dev.write(0, 1, PVPANIC_CRASH_LOADED, 0));
  assert.deepEqual(events, ['crash loaded: pvpanic: guest crashed, its crash kernel took over']);
  const both = setup();
  assert.ok(both.dev.write(0, 1, PVPANIC_PANICKED | PVPANIC_CRASH_LOADED, 0));
  assert.deepEqual(both.events, ['panicked: pvpanic: guest panicked']);
});

test('unknown bits, zero and the reserved byte are ignored', () => {
  const { dev, events } = setup();
  for (const v of [0, 4, 0x80, 0xfc, 0x100, 0xff00, -4]) assert.ok(dev.write(0, 2, v, 0), `value ${v}`);
  assert.ok(dev.write(1, 1, 0xff, 0));
  assert.deepEqual(events, []);
  // Only the low byte holds events: bit 8 is in the reserved byte, not PANICKED.
  assert.ok(dev.write(0, 2, 0x0101, 0));
  assert.equal(events.length, 1);
});

test('accesses wider than the register, misaligned or past it fault, on the device and on the bus', () => {
  const { dev, events } = setup();
  const out = new Int32Array(2);
  for (const [offset, size] of [
    [0, 4],
    [0, 8],
    [1, 2],
    [2, 1],
    [2, 2],
  ]) {
    assert.equal(dev.read(offset, size, out), false, `read ${size}@${offset}`);
    assert.equal(dev.write(offset, size, PVPANIC_PANICKED, 0), false, `write ${size}@${offset}`);
  }
  assert.deepEqual(events, []);
  const bus = new SystemBus(VIRT.dram.base, 16 * 2 ** 20);
  bus.attach(dev);
  assert.ok(bus.readDevice(VIRT.pvpanic.base, 1));
  assert.equal(bus.valueLo, 3);
  assert.equal(bus.readDevice(VIRT.pvpanic.base, 4), false);
  assert.equal(bus.writeDevice(VIRT.pvpanic.base + 2, 1, 1, 0), false);
  assert.ok(bus.writeDevice(VIRT.pvpanic.base, 1, 1, 0));
  assert.equal(events.length, 1);
});

test('state survives save and restore', () => {
  const { dev, events } = setup();
  dev.write(0, 1, PVPANIC_PANICKED, 0);
  const copy = setup();
  copy.dev.restoreState(dev.saveState());
  copy.dev.write(0, 1, PVPANIC_PANICKED, 0);
  assert.deepEqual(copy.events, []);
  assert.equal(events.length, 1);
});
