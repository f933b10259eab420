import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CharPort } from '../../../../src/machine/devices/virtio/char-port.js';
import {
  CONSOLE_F_MULTIPORT,
  CONTROL,
  PENDING_LIMIT,
  VirtioConsole,
  type VirtioConsoleState,
} from '../../../../src/machine/devices/virtio/console.js';
import { DESC_F_NEXT, DESC_F_WRITE, F_VERSION_1 } from '../../../../src/machine/devices/virtio/constants.js';
import { VirtioMmioTransport } from '../../../../src/machine/devices/virtio/mmio-transport.js';
import { GuestMemory } from '../../../../src/machine/guest-memory.js';

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 4 << 20;
const QSIZE = 16;
const BAD_ID = 0xffffffff;

class FakePort implements CharPort {
  readonly name: string;
  connected: boolean;
  readonly written: Uint8Array[] = [];
  onInput: (bytes: Uint8Array) => void = () => {};
  onConnectionChange: (connected: boolean) => void = () => {};
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

interface Part {
  data?: Uint8Array;
  writable?: number;
}

interface Used {
  head: number;
  len: number;
  /** The chain's device-writable bytes, first `len` of them. */
  bytes: Uint8Array;
}

interface DriverQueue {
  desc: number;
  avail: number;
  used: number;
  availIdx: number;
  lastUsed: number;
  free: number[];
  /** Per head: the descriptors of the chain and its writable buffers (address, length). */
  chains: Map<number, { descs: number[]; writable: [number, number][] }>;
}

/** A minimal split-queue driver over the MMIO registers, enough to speak to one console device. */
class Driver {
  readonly memory = new GuestMemory(RAM_BASE, new Uint8Array(RAM_SIZE), []);
  readonly transport: VirtioMmioTransport;
  readonly logs: string[] = [];
  irq = false;
  private next = RAM_BASE + 0x1000;
  private readonly queues: DriverQueue[] = [];

  constructor(readonly device: VirtioConsole) {
    this.transport = new VirtioMmioTransport(0x1000_1000, device, {
      memory: this.memory,
      irq: { set: (level) => (this.irq = level) },
      wake: () => {},
      log: (m) => this.logs.push(m),
    });
  }

  read(offset: number): number {
    const out = new Int32Array(2);
    assert.ok(this.transport.read(offset, 4, out));
    return out[0] >>> 0;
  }

  write(offset: number, value: number): void {
    assert.ok(this.transport.write(offset, 4, value, 0));
  }

  alloc(length: number, align = 16): number {
    const at = Math.ceil(this.next / align) * align;
    this.next = at + length;
    assert.ok(this.next <= RAM_BASE + RAM_SIZE, 'test RAM exhausted');
    return at;
  }

  off(address: number): number {
    return address - RAM_BASE;
  }

  /** Negotiates `bits` (plus VERSION_1), sets up every queue the device has, and sets DRIVER_OK. */
  start(bits: number[]): void {
    this.write(0x070, 0);
    this.write(0x070, 1 | 2);
    const words = [0, 0];
    for (const b of [...bits, F_VERSION_1]) words[b >> 5] |= 1 << (b & 31);
    for (const sel of [0, 1]) {
      this.write(0x024, sel);
      this.write(0x020, words[sel] >>> 0);
    }
    this.write(0x070, 1 | 2 | 8);
    assert.equal(this.read(0x070) & 8, 8, 'FEATURES_OK accepted');
    this.queues.length = 0;
    for (let i = 0; i < this.device.queueMaxSizes.length; i++) {
      const q: DriverQueue = {
        desc: this.alloc(16 * QSIZE),
        avail: this.alloc(6 + 2 * QSIZE, 2),
        used: this.alloc(6 + 8 * QSIZE, 4),
        availIdx: 0,
        lastUsed: 0,
        free: Array.from({ length: QSIZE }, (_, k) => k),
        chains: new Map(),
      };
      this.queues.push(q);
      this.write(0x030, i);
      this.write(0x038, QSIZE);
      this.write(0x080, q.desc);
      this.write(0x084, 0);
      this.write(0x090, q.avail);
      this.write(0x094, 0);
      this.write(0x0a0, q.used);
      this.write(0x0a4, 0);
      this.write(0x044, 1);
    }
    this.write(0x070, 1 | 2 | 8 | 4);
  }

  get status(): number {
    return this.read(0x070);
  }

  /** Makes a chain available on queue `qi` (without notifying); returns its head. */
  add(qi: number, parts: Part[], rawAddress?: number): number {
    const q = this.queues[qi];
    const descs = parts.map(() => {
      const d = q.free.shift();
      assert.ok(d !== undefined, `queue ${qi} out of descriptors`);
      return d;
    });
    const writable: [number, number][] = [];
    parts.forEach((part, k) => {
      const len = part.data ? part.data.length : (part.writable ?? 0);
      const addr = rawAddress ?? this.alloc(Math.max(len, 1));
      if (part.data && rawAddress === undefined) this.memory.bytes.set(part.data, this.off(addr));
      if (!part.data) writable.push([addr, len]);
      const d = this.off(q.desc) + 16 * descs[k];
      const last = k === parts.length - 1;
      this.memory.setU32(d, addr >>> 0);
      this.memory.setU32(d + 4, 0);
      this.memory.setU32(d + 8, len);
      this.memory.setU16(d + 12, (part.data ? 0 : DESC_F_WRITE) | (last ? 0 : DESC_F_NEXT));
      this.memory.setU16(d + 14, last ? 0 : descs[k + 1]);
    });
    q.chains.set(descs[0], { descs, writable });
    const a = this.off(q.avail);
    this.memory.setU16(a + 4 + 2 * (q.availIdx % QSIZE), descs[0]);
    q.availIdx = (q.availIdx + 1) & 0xffff;
    this.memory.setU16(a + 2, q.availIdx);
    return descs[0];
  }

  notify(qi: number): void {
    this.write(0x050, qi);
  }

  /** Chains the device completed on queue `qi` since the last call, and returns their descriptors. */
  used(qi: number): Used[] {
    const q = this.queues[qi];
    const u = this.off(q.used);
    const out: Used[] = [];
    while (q.lastUsed !== this.memory.u16(u + 2)) {
      const slot = u + 4 + 8 * (q.lastUsed % QSIZE);
      const head = this.memory.u32(slot);
      const len = this.memory.u32(slot + 4);
      const chain = q.chains.get(head);
      assert.ok(chain, `used head ${head} on queue ${qi} was not available`);
      const bytes = new Uint8Array(len);
      let at = 0;
      for (const [addr, l] of chain.writable) {
        const n = Math.min(l, len - at);
        bytes.set(this.memory.bytes.subarray(this.off(addr), this.off(addr) + n), at);
        at += n;
      }
      q.free.push(...chain.descs);
      q.chains.delete(head);
      out.push({ head, len, bytes });
      q.lastUsed = (q.lastUsed + 1) & 0xffff;
    }
    return out;
  }

  /** Sends one control message on the control transmitq. */
  control(id: number, event: number, value: number): void {
    const m = new Uint8Array(8);
    const v = new DataView(m.buffer);
    v.setUint32(0, id, true);
    v.setUint16(4, event, true);
    v.setUint16(6, value, true);
    this.add(3, [{ data: m }]);
    this.notify(3);
    assert.equal(this.used(3).length, 1, 'control message completed');
  }

  /** Control messages the device sent, decoded; keeps the control receiveq stocked. */
  received(): { id: number; event: number; value: number; extra: string }[] {
    return this.used(2).map((u) => {
      this.add(2, [{ writable: 256 }]);
      const v = new DataView(u.bytes.buffer);
      return {
        id: v.getUint32(0, true),
        event: v.getUint16(4, true),
        value: v.getUint16(6, true),
        extra: Buffer.from(u.bytes.subarray(8)).toString('latin1'),
      };
    });
  }

  state(): VirtioConsoleState {
    return this.device.saveState();
  }
}

function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

function text(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

/** Three ports (console connected, a named port not connected, a named port connected), handshake done. */
function handshaken(): { d: Driver; ports: FakePort[] } {
  const ports = [
    new FakePort('console', true),
    new FakePort('org.test.data', false),
    new FakePort('org.test.other', true),
  ];
  const d = new Driver(new VirtioConsole(ports));
  d.start([CONSOLE_F_MULTIPORT]);
  for (let i = 0; i < 8; i++) d.add(2, [{ writable: 256 }]);
  d.notify(2);
  d.control(BAD_ID, CONTROL.deviceReady, 1);
  assert.deepEqual(
    d.received().map((m) => [m.id, m.event, m.value]),
    [0, 1, 2].map((id) => [id, CONTROL.deviceAdd, 1]),
  );
  for (const id of [0, 1, 2]) d.control(id, CONTROL.portReady, 1);
  return { d, ports };
}

test('identity and configuration: device id 3, multiport offered, max_nr_ports and queue count', () => {
  const ports = [new FakePort('console', true), new FakePort('a', false), new FakePort('b', false)];
  const d = new Driver(new VirtioConsole(ports));
  assert.equal(d.read(0x008), 3);
  d.write(0x014, 0);
  assert.equal(d.read(0x010) & 0b110, 0b110, 'MULTIPORT and EMERG_WRITE offered');
  assert.equal(d.read(0x104), 3, 'max_nr_ports');
  assert.equal(d.read(0x100), 0, 'cols and rows');
  assert.equal(d.device.queueMaxSizes.length, 8, '(ports + 1) * 2 queues');
  d.write(0x030, 7);
  assert.ok(d.read(0x034) > 0);
  d.write(0x030, 8);
  assert.equal(d.read(0x034), 0);
  assert.throws(() => new VirtioConsole([]), RangeError);
  // Host events before any transport is attached are held, not thrown.
  const early = new FakePort('console', true);
  const unattached = new VirtioConsole([early]);
  assert.doesNotThrow(() => early.onInput(bytes('x')));
  assert.doesNotThrow(() => early.setConnected(false));
  assert.equal(unattached.saveState().ports[0].pendingBytes, 1);
});

test('multiport handshake: DEVICE_ADD per port, then console, names and open state per PORT_READY', () => {
  const ports = [
    new FakePort('console', true),
    new FakePort('org.test.data', false),
    new FakePort('org.test.other', true),
  ];
  const d = new Driver(new VirtioConsole(ports));
  d.start([CONSOLE_F_MULTIPORT]);
  // DEVICE_READY before control buffers exist: the answers wait for buffers.
  d.control(BAD_ID, CONTROL.deviceReady, 1);
  assert.equal(d.state().pendingControl, 3);
  for (let i = 0; i < 8; i++) d.add(2, [{ writable: 256 }]);
  d.notify(2);
  assert.deepEqual(
    d.received().map((m) => [m.id, m.event, m.value]),
    [
      [0, CONTROL.deviceAdd, 1],
      [1, CONTROL.deviceAdd, 1],
      [2, CONTROL.deviceAdd, 1],
    ],
  );
  assert.ok(d.irq, 'control messages interrupt the driver');
  d.control(0, CONTROL.portReady, 1);
  assert.deepEqual(
    d.received().map((m) => [m.id, m.event, m.value]),
    [
      [0, CONTROL.consolePort, 1],
      [0, CONTROL.portOpen, 1],
    ],
  );
  d.control(1, CONTROL.portReady, 1);
  assert.deepEqual(d.received(), [{ id: 1, event: CONTROL.portName, value: 1, extra: 'org.test.data' }]);
  d.control(2, CONTROL.portReady, 1);
  assert.deepEqual(
    d.received().map((m) => [m.id, m.event, m.value, m.extra]),
    [
      [2, CONTROL.portName, 1, 'org.test.other'],
      [2, CONTROL.portOpen, 1, ''],
    ],
  );
  // A second DEVICE_READY or PORT_READY changes nothing.
  d.control(BAD_ID, CONTROL.deviceReady, 1);
  d.control(1, CONTROL.portReady, 1);
  assert.deepEqual(d.received(), []);
  // The host side connecting and leaving is told to the guest.
  ports[1].setConnected(true);
  ports[1].setConnected(false);
  assert.deepEqual(
    d.received().map((m) => [m.id, m.event, m.value]),
    [
      [1, CONTROL.portOpen, 1],
      [1, CONTROL.portOpen, 0],
    ],
  );
  assert.equal(d.status & 0x40, 0, 'no DEVICE_NEEDS_RESET');
  const s = d.state();
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
  d.received();
  // Port 0 (console): the driver's CONSOLE_PORT handling opens it.
  d.control(0, CONTROL.portOpen, 1);
  d.add(0, [{ writable: 64 }]);
  d.notify(0);
  ports[0].onInput(bytes('ls\r'));
  assert.deepEqual(
    d.used(0).map((u) => text(u.bytes)),
    ['ls\r'],
  );
  d.add(1, [{ data: bytes('hvc0 ') }, { data: bytes('output') }]);
  d.notify(1);
  assert.equal(d.used(1).length, 1);
  assert.equal(ports[0].text(), 'hvc0 output');

  // Port 1: queues 4 (receive) and 5 (transmit).
  d.control(1, CONTROL.portOpen, 1);
  d.add(4, [{ writable: 3 }, { writable: 3 }]);
  d.add(4, [{ writable: 16 }]);
  d.notify(4);
  ports[1].onInput(bytes('hello world'));
  assert.deepEqual(
    d.used(4).map((u) => [u.len, text(u.bytes)]),
    [
      [6, 'hello '],
      [5, 'world'],
    ],
  );
  d.add(5, [{ data: bytes('ab') }]);
  d.add(5, [{ data: bytes('cd') }]);
  d.notify(5);
  assert.deepEqual(
    d.used(5).map((u) => u.len),
    [0, 0],
  );
  assert.deepEqual(ports[1].written.map(text), ['abcd'], 'one write per batch');
  const s = d.state();
  assert.equal(s.ports[1].bytesToGuest, 11);
  assert.equal(s.ports[1].bytesFromGuest, 4);
  assert.equal(s.ports[0].bytesFromGuest, 11);
  assert.equal(ports[2].written.length, 0);
});

test('host bytes wait for the guest to open the port and post buffers, bounded per port', () => {
  const { d, ports } = handshaken();
  d.add(6, [{ writable: 64 }]);
  d.notify(6);
  // Port 2 is not open in the guest yet: its buffer stays untouched.
  const data = bytes('x'.repeat(100));
  ports[2].onInput(data);
  data.fill(0); // the device kept its own copy
  assert.deepEqual(d.used(6), []);
  assert.equal(d.state().ports[2].pendingBytes, 100);
  d.control(2, CONTROL.portOpen, 1);
  assert.deepEqual(
    d.used(6).map((u) => u.len),
    [64],
  );
  assert.equal(d.state().ports[2].pendingBytes, 36);
  d.add(6, [{ writable: 64 }]);
  d.add(6, [{ writable: 64 }]);
  d.notify(6);
  const rest = d.used(6);
  assert.deepEqual(
    rest.map((u) => text(u.bytes)),
    ['x'.repeat(36)],
    'only one buffer used; the other waits for more data',
  );
  ports[2].onInput(bytes('more'));
  assert.deepEqual(
    d.used(6).map((u) => text(u.bytes)),
    ['more'],
  );

  // Beyond the limit bytes are dropped and counted; the guest closing the port keeps what is held.
  d.control(2, CONTROL.portOpen, 0);
  ports[2].onInput(new Uint8Array(PENDING_LIMIT - 10));
  ports[2].onInput(new Uint8Array(30));
  const s = d.state().ports[2];
  assert.equal(s.pendingBytes, PENDING_LIMIT);
  assert.equal(s.droppedBytes, 20);

  // A device reset forgets held bytes and the handshake.
  d.write(0x070, 0);
  const after = d.state();
  assert.equal(after.ports[2].pendingBytes, 0);
  assert.equal(after.ports[2].ready, false);
  assert.equal(after.driverReady, false);
  assert.equal(after.ports[2].droppedBytes, 20, 'counters survive');
});

test('malformed control messages and buffers are ignored or reset the device, never thrown', () => {
  const { d } = handshaken();
  d.received();
  const before = d.state().badControl;
  // Too short, unknown port, unknown event, a writable-only chain, an empty chain.
  d.add(3, [{ data: bytes('abcd') }]);
  d.notify(3);
  assert.equal(d.used(3).length, 1);
  d.control(99, CONTROL.portOpen, 1);
  d.control(BAD_ID, CONTROL.portReady, 1);
  d.control(1, 42, 1);
  d.control(1, CONTROL.deviceAdd, 1);
  d.add(3, [{ writable: 8 }]);
  d.notify(3);
  d.add(3, [{ data: new Uint8Array(0) }]);
  d.notify(3);
  assert.equal(d.used(3).length, 2);
  assert.equal(d.state().badControl - before, 7);
  assert.equal(d.status & 0x40, 0, 'ignored, no reset needed');

  // A transmit descriptor pointing outside RAM: DEVICE_NEEDS_RESET, no exception.
  d.add(5, [{ data: new Uint8Array(16) }], 0x1000);
  assert.doesNotThrow(() => d.notify(5));
  assert.equal(d.status & 0x40, 0x40);
  assert.match(d.transport.failure ?? '', /outside RAM/);
});

test('a control receive buffer too small for a message gets the part that fits', () => {
  const ports = [new FakePort('console', true), new FakePort('a-long-port-name', false)];
  const d = new Driver(new VirtioConsole(ports));
  d.start([CONSOLE_F_MULTIPORT]);
  d.add(2, [{ writable: 4 }]);
  d.add(2, [{ writable: 8 }]);
  d.add(2, [{ writable: 12 }]);
  d.notify(2);
  d.control(BAD_ID, CONTROL.deviceReady, 1);
  d.control(1, CONTROL.portReady, 1);
  assert.deepEqual(
    d.used(2).map((u) => u.len),
    [4, 8, 12],
  );
  assert.equal(d.status & 0x40, 0);
});

test('a malformed receive queue met by host input marks the device for reset instead of throwing', () => {
  const { d, ports } = handshaken();
  d.control(1, CONTROL.portOpen, 1);
  d.add(4, [{ writable: 16 }], RAM_BASE + RAM_SIZE - 8);
  assert.doesNotThrow(() => ports[1].onInput(bytes('data')));
  assert.equal(d.status & 0x40, 0x40);
  // Nothing further happens while the device needs a reset.
  assert.doesNotThrow(() => ports[1].setConnected(true));
});

test('without multiport the single port works with no handshake; emerg_wr writes to port 0', () => {
  const ports = [new FakePort('console', true), new FakePort('unused', false)];
  const d = new Driver(new VirtioConsole(ports));
  ports[0].onInput(bytes('early'));
  d.start([]);
  ports[0].onInput(bytes('typed'));
  d.add(0, [{ writable: 32 }]);
  d.notify(0);
  assert.deepEqual(
    d.used(0).map((u) => text(u.bytes)),
    ['typed'],
    'bytes from before the driver reset the device are gone',
  );
  d.add(1, [{ data: bytes('out') }]);
  d.notify(1);
  assert.equal(ports[0].text(), 'out');
  assert.ok(d.transport.write(0x108, 4, 0x21, 0));
  assert.equal(ports[0].text(), 'out!');
  assert.equal(d.state().multiport, false);
});

test('close() closes every port', async () => {
  const ports = [new FakePort('console', true), new FakePort('a', false)];
  const dev = new VirtioConsole(ports);
  await dev.close();
  assert.ok(ports.every((p) => p.closed));
});
