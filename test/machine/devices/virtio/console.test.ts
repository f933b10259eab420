import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CharPort } from '../../../../src/machine/devices/virtio/char-port.js';
import {
  CONSOLE_F_MULTIPORT,
  CONTROL,
  PENDING_LIMIT,
  TX_STEP_BYTES,
  VirtioConsole,
} from '../../../../src/machine/devices/virtio/console.js';
import {
  F_INDIRECT_DESC,
  F_VERSION_1,
  featureWords,
} from '../../../../src/machine/devices/virtio/constants.js';
import { REG } from '../../../../src/machine/devices/virtio/mmio-transport.js';
import { RAM_BASE, TestDriver } from './test-driver.js';

const QSIZE = 16;
const BAD_ID = 0xffffffff;

class FakePort implements CharPort {
  readonly name: string;
  connected: boolean;
  readonly written: Uint8Array[] = [];
  onInput: (bytes: Uint8Array) => void = () => {};
  onConnectionChange: (connected: boolean) => void = () => {};
  onWritable: () => void = () => {};
  /** A host side that has stopped reading when false. */
  writable = true;
  closed = false;

  constructor(name: string, connected: boolean) {
    this.name = name;
    this.connected = connected;
  }

  write(bytes: Uint8Array): void {
    this.written.push(bytes);
  }

  setConnected(connected: boolean): void {
    this.connected = connected;
    this.onConnectionChange(connected);
  }

  text(): string {
    return this.written.map((b) => Buffer.from(b).toString('latin1')).join('');
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

type Driver = TestDriver<VirtioConsole>;

interface Used {
  head: number;
  len: number;
  /** The chain's device-writable bytes, first `len` of them. */
  bytes: Uint8Array;
}

/** A driver for a console with these ports (not started). */
function driver(ports: FakePort[]): Driver {
  return new TestDriver(new VirtioConsole(ports));
}

/** Negotiates `bits` (plus VERSION_1), sets up every queue the device has, and sets DRIVER_OK. */
function start(d: Driver, bits: number[]): void {
  const status = d.init({ features: featureWords(...bits, F_VERSION_1), size: QSIZE });
  assert.equal(status & 8, 8, 'FEATURES_OK accepted');
}

/** Chains the device completed on queue `q` since the last call, with what it wrote into them. */
function used(d: Driver, q: number): Used[] {
  return d.takeUsed(q).map((u) => ({ head: u.head, len: u.written, bytes: d.writtenBytes(q, u) }));
}

/** Sends one control message on the control transmitq. */
function control(d: Driver, id: number, event: number, value: number): void {
  const m = new Uint8Array(8);
  const v = new DataView(m.buffer);
  v.setUint32(0, id, true);
  v.setUint16(4, event, true);
  v.setUint16(6, value, true);
  d.submit(3, [m], []);
  d.kick(3);
  assert.equal(used(d, 3).length, 1, 'control message completed');
}

/** Control messages the device sent, decoded; keeps the control receiveq stocked. */
function received(d: Driver): { id: number; event: number; value: number; extra: string }[] {
  return used(d, 2).map((u) => {
    d.submit(2, [], [256]);
    const v = new DataView(u.bytes.buffer, u.bytes.byteOffset, u.bytes.byteLength);
    return {
      id: v.getUint32(0, true),
      event: v.getUint16(4, true),
      value: v.getUint16(6, true),
      extra: Buffer.from(u.bytes.subarray(8)).toString('latin1'),
    };
  });
}

function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

function text(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

/** Three ports (console connected, a named port not connected, a named port connected), multiport started. */
function threePorts(): { d: Driver; ports: FakePort[] } {
  const ports = [
    new FakePort('console', true),
    new FakePort('org.test.data', false),
    new FakePort('org.test.other', true),
  ];
  const d = driver(ports);
  start(d, [CONSOLE_F_MULTIPORT]);
  return { d, ports };
}

/** threePorts() with the handshake done. */
function handshaken(): { d: Driver; ports: FakePort[] } {
  const { d, ports } = threePorts();
  for (let i = 0; i < 8; i++) d.submit(2, [], [256]);
  d.kick(2);
  control(d, BAD_ID, CONTROL.deviceReady, 1);
  assert.deepEqual(
    received(d).map((m) => [m.id, m.event, m.value]),
    [0, 1, 2].map((id) => [id, CONTROL.deviceAdd, 1]),
  );
  for (const id of [0, 1, 2]) control(d, id, CONTROL.portReady, 1);
  return { d, ports };
}

test('identity and configuration: device id 3, multiport offered, max_nr_ports and queue count', () => {
  const ports = [new FakePort('console', true), new FakePort('a', false), new FakePort('b', false)];
  const d = driver(ports);
  assert.equal(d.read(REG.deviceId), 3);
  d.write(REG.deviceFeaturesSel, 0);
  assert.equal(d.read(REG.deviceFeatures) & 0b110, 0b110, 'MULTIPORT and EMERG_WRITE offered');
  assert.equal(d.readConfig(4, 4), 3, 'max_nr_ports');
  assert.equal(d.readConfig(0, 4), 0, 'cols and rows');
  assert.equal(d.device.queueMaxSizes.length, 8, '(ports + 1) * 2 queues');
  d.write(REG.queueSel, 7);
  assert.ok(d.read(REG.queueNumMax) > 0);
  d.write(REG.queueSel, 8);
  assert.equal(d.read(REG.queueNumMax), 0);
  assert.throws(() => new VirtioConsole([]), RangeError);
  // Host events before any transport is attached are held, not thrown.
  const early = new FakePort('console', true);
  const unattached = new VirtioConsole([early]);
  assert.doesNotThrow(() => early.onInput(bytes('x')));
  assert.doesNotThrow(() => early.setConnected(false));
  assert.equal(unattached.saveState().ports[0].pendingBytes, 1);
});

test('multiport handshake: DEVICE_ADD per port, then console, names and open state per PORT_READY', () => {
  const { d, ports } = threePorts();
  // DEVICE_READY before control buffers exist: the answers wait for buffers.
  control(d, BAD_ID, CONTROL.deviceReady, 1);
  assert.equal(d.device.saveState().pendingControl, 3);
  for (let i = 0; i < 8; i++) d.submit(2, [], [256]);
  d.kick(2);
  assert.deepEqual(
    received(d).map((m) => [m.id, m.event, m.value]),
    [
      [0, CONTROL.deviceAdd, 1],
      [1, CONTROL.deviceAdd, 1],
      [2, CONTROL.deviceAdd, 1],
    ],
  );
  assert.ok(d.irqLevel, 'control messages interrupt the driver');
  control(d, 0, CONTROL.portReady, 1);
  assert.deepEqual(
    received(d).map((m) => [m.id, m.event, m.value]),
    [
      [0, CONTROL.consolePort, 1],
      [0, CONTROL.portOpen, 1],
    ],
  );
  control(d, 1, CONTROL.portReady, 1);
  assert.deepEqual(received(d), [{ id: 1, event: CONTROL.portName, value: 1, extra: 'org.test.data' }]);
  control(d, 2, CONTROL.portReady, 1);
  assert.deepEqual(
    received(d).map((m) => [m.id, m.event, m.value, m.extra]),
    [
      [2, CONTROL.portName, 1, 'org.test.other'],
      [2, CONTROL.portOpen, 1, ''],
    ],
  );
  // A second DEVICE_READY or PORT_READY changes nothing.
  control(d, BAD_ID, CONTROL.deviceReady, 1);
  control(d, 1, CONTROL.portReady, 1);
  assert.deepEqual(received(d), []);
  // The host side connecting and leaving is told to the guest.
  ports[1].setConnected(true);
  ports[1].setConnected(false);
  assert.deepEqual(
    received(d).map((m) => [m.id, m.event, m.value]),
    [
      [1, CONTROL.portOpen, 1],
      [1, CONTROL.portOpen, 0],
    ],
  );
  assert.equal(d.status & 0x40, 0, 'no DEVICE_NEEDS_RESET');
  const s = d.device.saveState();
  assert.equal(s.multiport, true);
  assert.equal(s.badControl, 0);
  assert.deepEqual(
    s.ports.map((p) => [p.name, p.ready, p.hostConnected]),
    [
      ['console', true, true],
      ['org.test.data', true, false],
      ['org.test.other', true, true],
    ],
  );
});

test('data both ways on the console port and a named port; transmit batches are one write', () => {
  const { d, ports } = handshaken();
  received(d);
  // Port 0 (console): the driver's CONSOLE_PORT handling opens it.
  control(d, 0, CONTROL.portOpen, 1);
  d.submit(0, [], [64]);
  d.kick(0);
  ports[0].onInput(bytes('ls\r'));
  assert.deepEqual(
    used(d, 0).map((u) => text(u.bytes)),
    ['ls\r'],
  );
  d.submit(1, [bytes('hvc0 '), bytes('output')], []);
  d.kick(1);
  assert.equal(used(d, 1).length, 1);
  assert.equal(ports[0].text(), 'hvc0 output');

  // Port 1: queues 4 (receive) and 5 (transmit).
  control(d, 1, CONTROL.portOpen, 1);
  d.submit(4, [], [3, 3]);
  d.submit(4, [], [16]);
  d.kick(4);
  ports[1].onInput(bytes('hello world'));
  assert.deepEqual(
    used(d, 4).map((u) => [u.len, text(u.bytes)]),
    [
      [6, 'hello '],
      [5, 'world'],
    ],
  );
  d.submit(5, [bytes('ab')], []);
  d.submit(5, [bytes('cd')], []);
  d.kick(5);
  assert.deepEqual(
    used(d, 5).map((u) => u.len),
    [0, 0],
  );
  assert.deepEqual(ports[1].written.map(text), ['abcd'], 'one write per batch');
  const s = d.device.saveState();
  assert.equal(s.ports[1].bytesToGuest, 11);
  assert.equal(s.ports[1].bytesFromGuest, 4);
  assert.equal(s.ports[0].bytesFromGuest, 11);
  assert.equal(ports[2].written.length, 0);
});

test('host bytes wait for the guest to open the port and post buffers, bounded per port', () => {
  const { d, ports } = handshaken();
  d.submit(6, [], [64]);
  d.kick(6);
  // Port 2 is not open in the guest yet: its buffer stays untouched.
  const data = bytes('x'.repeat(100));
  ports[2].onInput(data);
  data.fill(0); // the device kept its own copy
  assert.deepEqual(used(d, 6), []);
  assert.equal(d.device.saveState().ports[2].pendingBytes, 100);
  control(d, 2, CONTROL.portOpen, 1);
  assert.deepEqual(
    used(d, 6).map((u) => u.len),
    [64],
  );
  assert.equal(d.device.saveState().ports[2].pendingBytes, 36);
  d.submit(6, [], [64]);
  d.submit(6, [], [64]);
  d.kick(6);
  const rest = used(d, 6);
  assert.deepEqual(
    rest.map((u) => text(u.bytes)),
    ['x'.repeat(36)],
    'only one buffer used; the other waits for more data',
  );
  ports[2].onInput(bytes('more'));
  assert.deepEqual(
    used(d, 6).map((u) => text(u.bytes)),
    ['more'],
  );

  // Beyond the limit bytes are dropped and counted; the guest closing the port keeps what is held.
  control(d, 2, CONTROL.portOpen, 0);
  ports[2].onInput(new Uint8Array(PENDING_LIMIT - 10));
  ports[2].onInput(new Uint8Array(30));
  const s = d.device.saveState().ports[2];
  assert.equal(s.pendingBytes, PENDING_LIMIT);
  assert.equal(s.droppedBytes, 20);

  // A device reset forgets held bytes and the handshake.
  d.write(REG.status, 0);
  const after = d.device.saveState();
  assert.equal(after.ports[2].pendingBytes, 0);
  assert.equal(after.ports[2].ready, false);
  assert.equal(after.driverReady, false);
  assert.equal(after.ports[2].droppedBytes, 20, 'counters survive');
});

test('malformed control messages and buffers are ignored or reset the device, never thrown', () => {
  const { d } = handshaken();
  received(d);
  const before = d.device.saveState().badControl;
  // Too short, unknown port, unknown event, a writable-only chain, an empty chain.
  d.submit(3, [bytes('abcd')], []);
  d.kick(3);
  assert.equal(used(d, 3).length, 1);
  control(d, 99, CONTROL.portOpen, 1);
  control(d, BAD_ID, CONTROL.portReady, 1);
  control(d, 1, 42, 1);
  control(d, 1, CONTROL.deviceAdd, 1);
  d.submit(3, [], [8]);
  d.kick(3);
  d.submit(3, [new Uint8Array(0)], []);
  d.kick(3);
  assert.equal(used(d, 3).length, 2);
  assert.equal(d.device.saveState().badControl - before, 7);
  assert.equal(d.status & 0x40, 0, 'ignored, no reset needed');

  // A transmit descriptor pointing outside RAM: DEVICE_NEEDS_RESET, no exception.
  d.submitChain(5, [{ addr: 0x1000, length: 16 }]);
  assert.doesNotThrow(() => d.kick(5));
  assert.equal(d.status & 0x40, 0x40);
  assert.match(d.transport.failure ?? '', /outside RAM/);
});

test('a control receive buffer too small for a message gets the part that fits', () => {
  const ports = [new FakePort('console', true), new FakePort('a-long-port-name', false)];
  const d = driver(ports);
  start(d, [CONSOLE_F_MULTIPORT]);
  d.submit(2, [], [4]);
  d.submit(2, [], [8]);
  d.submit(2, [], [12]);
  d.kick(2);
  control(d, BAD_ID, CONTROL.deviceReady, 1);
  control(d, 1, CONTROL.portReady, 1);
  assert.deepEqual(
    used(d, 2).map((u) => u.len),
    [4, 8, 12],
  );
  assert.equal(d.status & 0x40, 0);
});

test('a malformed receive queue met by host input marks the device for reset instead of throwing', () => {
  const { d, ports } = handshaken();
  control(d, 1, CONTROL.portOpen, 1);
  d.submitChain(4, [{ addr: RAM_BASE + d.ram.length - 8, length: 16, write: true }]);
  assert.doesNotThrow(() => ports[1].onInput(bytes('data')));
  assert.equal(d.status & 0x40, 0x40);
  // Nothing further happens while the device needs a reset.
  assert.doesNotThrow(() => ports[1].setConnected(true));
});

test('without multiport the single port works with no handshake; emerg_wr writes to port 0', () => {
  const ports = [new FakePort('console', true), new FakePort('unused', false)];
  const d = driver(ports);
  ports[0].onInput(bytes('early'));
  start(d, []);
  ports[0].onInput(bytes('typed'));
  d.submit(0, [], [32]);
  d.kick(0);
  assert.deepEqual(
    used(d, 0).map((u) => text(u.bytes)),
    ['typed'],
    'bytes from before the driver reset the device are gone',
  );
  d.submit(1, [bytes('out')], []);
  d.kick(1);
  assert.equal(ports[0].text(), 'out');
  assert.ok(d.transport.write(REG.config + 8, 4, 0x21, 0));
  assert.equal(ports[0].text(), 'out!');
  assert.equal(d.device.saveState().multiport, false);
});

test('close() closes every port', async () => {
  const ports = [new FakePort('console', true), new FakePort('a', false)];
  const dev = new VirtioConsole(ports);
  await dev.close();
  assert.ok(ports.every((p) => p.closed));
});

test('guest output moves in bounded steps, and waits in the ring while the host side is backed up', async () => {
  const port = new FakePort('console', true);
  const d = new TestDriver(new VirtioConsole([port]), 8 << 20);
  d.init({ features: featureWords(F_VERSION_1, F_INDIRECT_DESC), size: QSIZE });
  d.autoStep = false;
  // One 1 MiB chain (as 16 buffers) and one small one behind it.
  const big = new Uint8Array(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const parts = Array.from({ length: 16 }, (_, i) => big.subarray(i << 16, (i + 1) << 16));
  d.submit(1, parts, [], { indirect: true });
  d.submit(1, [new TextEncoder().encode('tail')], []);
  d.kick(1);
  assert.equal(port.written.length, 1);
  assert.equal(port.written[0].length, TX_STEP_BYTES, 'one notification moves one step');
  assert.equal(d.takeUsed(1).length, 0, 'the big chain is not done yet');
  // The host stops reading: the steps stop too, and the guest's bytes stay in its ring.
  port.writable = false;
  d.step();
  d.step();
  assert.equal(port.written.length, 1, 'nothing moves while the host side is backed up');
  assert.equal(d.transport.hasDeferred, false);
  port.writable = true;
  port.onWritable();
  while (d.transport.hasDeferred) d.step();
  const out = Buffer.concat(port.written);
  assert.equal(out.length, big.length + 4);
  assert.deepEqual(new Uint8Array(out.subarray(0, big.length)), big);
  assert.equal(out.subarray(big.length).toString(), 'tail');
  assert.equal(d.takeUsed(1).length, 2);
});
