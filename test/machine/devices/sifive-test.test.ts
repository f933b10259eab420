import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SifiveTest } from '../../../src/machine/devices/sifive-test.js';

function setup(): { dev: SifiveTest; events: string[] } {
  const events: string[] = [];
  const dev = new SifiveTest(0x100000, {
    powerOff: (code) => events.push(`off ${code}`),
    reset: () => events.push('reset'),
  });
  return { dev, events };
}

test('0x5555 powers off with code 0, 0x3333 with the code in the high half, 0x7777 resets', () => {
  const { dev, events } = setup();
  assert.ok(dev.write(0, 4, 0x5555, 0));
  assert.ok(dev.write(0, 4, 0x3333 | (42 << 16), 0));
  assert.ok(dev.write(0, 4, 0x3333 | (0xffff << 16), 0));
  assert.ok(dev.write(0, 4, 0x7777, 0));
  assert.deepEqual(events, ['off 0', 'off 42', 'off 65535', 'reset']);
});

test('a pass ignores the high half; other values and other offsets do nothing', () => {
  const { dev, events } = setup();
  assert.ok(dev.write(0, 4, 0x0001_5555, 0));
  assert.deepEqual(events, ['off 0']);
  events.length = 0;
  for (const v of [0, 1, 0x5556, 0x4444, 0x7777_0000, 0x3334]) assert.ok(dev.write(0, 4, v, 0));
  assert.ok(dev.write(4, 4, 0x5555, 0));
  assert.ok(dev.write(0x800, 4, 0x7777, 0));
  assert.deepEqual(events, []);
});

test('16- and 32-bit accesses only; reads return 0', () => {
  const { dev, events } = setup();
  const out = new Int32Array(2);
  out[0] = 7;
  assert.ok(dev.read(0, 4, out));
  assert.equal(out[0], 0);
  assert.ok(dev.read(2, 2, out));
  assert.equal(dev.read(0, 1, out), false);
  assert.equal(dev.read(0, 8, out), false);
  assert.equal(dev.read(2, 4, out), false);
  assert.equal(dev.write(0, 8, 0x5555, 0), false);
  assert.equal(dev.write(0, 1, 0x55, 0), false);
  assert.deepEqual(events, []);
  assert.ok(dev.write(0, 2, 0x7777, 0));
  assert.deepEqual(events, ['reset']);
  assert.equal(dev.size, 0x1000);
});
