import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DESC_F_NEXT, DESC_F_WRITE } from '../../../../src/machine/devices/virtio/constants.js';
import { VirtioMmioTransport } from '../../../../src/machine/devices/virtio/mmio-transport.js';
import {
  NET_F_MAC,
  NET_F_STATUS,
  NET_HDR_SIZE,
  RX_PENDING_LIMIT,
  VirtioNet,
  type VirtioNetState,
} from '../../../../src/machine/devices/virtio/net.js';
import { GuestMemory } from '../../../../src/machine/guest-memory.js';
import type { NetBackend } from '../../../../src/net/net-backend.js';

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 1 << 20;
const QUEUE_SIZE = 16;
const MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

const REG = {
  deviceId: 0x008,
  deviceFeatures: 0x010,
  deviceFeaturesSel: 0x014,
  driverFeatures: 0x020,
  driverFeaturesSel: 0x024,
  queueSel: 0x030,
  queueNumMax: 0x034,
  queueNum: 0x038,
  queueReady: 0x044,
  queueNotify: 0x050,
  interruptStatus: 0x060,
  interruptAck: 0x064,
  status: 0x070,
  queueDescLow: 0x080,
  queueDriverLow: 0x090,
  queueDeviceLow: 0x0a0,
  configGeneration: 0x0fc,
  config: 0x100,
};

class FakeBackend implements NetBackend {
  readonly name = 'fake';
  linkUp = true;
  readonly sent: Uint8Array[] = [];
  onReceive: (frame: Uint8Array) => void = () => {};
  onLinkChange: (up: boolean) => void = () => {};
  closed = false;
  send(frame: Uint8Array): void {
    this.sent.push(frame);
  }
  setLink(up: boolean): void {
    this.linkUp = up;
    this.onLinkChange(up);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A driver's side of one split queue, laid out at a fixed place in RAM. */
class DriverQueue {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  private nextDesc = 0;
  private availIdx = 0;
  private seenUsed = 0;
  constructor(
    private readonly mem: GuestMemory,
    index: number,
  ) {
    this.desc = RAM_BASE + 0x1000 + index * 0x4000;
    this.avail = this.desc + 0x1000;
    this.used = this.desc + 0x2000;
  }

  /** Posts a chain of [address, length, writable] buffers; returns its head. */
  add(buffers: [number, number, boolean][]): number {
    const head = this.nextDesc;
    buffers.forEach(([addr, len, writable], i) => {
      const d = this.desc - RAM_BASE + 16 * ((head + i) % QUEUE_SIZE);
      this.mem.setU32(d, addr >>> 0);
      this.mem.setU32(d + 4, 0);
      this.mem.setU32(d + 8, len);
      const last = i === buffers.length - 1;
      this.mem.setU16(d + 12, (writable ? DESC_F_WRITE : 0) | (last ? 0 : DESC_F_NEXT));
      this.mem.setU16(d + 14, (head + i + 1) % QUEUE_SIZE);
    });
    this.nextDesc = (head + buffers.length) % QUEUE_SIZE;
    const a = this.avail - RAM_BASE;
    this.mem.setU16(a + 4 + 2 * (this.availIdx % QUEUE_SIZE), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.mem.setU16(a + 2, this.availIdx);
    return head;
  }

  /** Used entries the device added since the last call. */
  takeUsed(): { id: number; len: number }[] {
    const u = this.used - RAM_BASE;
    const idx = this.mem.u16(u + 2);
    const out: { id: number; len: number }[] = [];
    while (this.seenUsed !== idx) {
      const slot = u + 4 + 8 * (this.seenUsed % QUEUE_SIZE);
      out.push({ id: this.mem.u32(slot), len: this.mem.u32(slot + 4) });
      this.seenUsed = (this.seenUsed + 1) & 0xffff;
    }
    return out;
  }
}

class Rig {
  readonly bytes = new Uint8Array(RAM_SIZE);
  readonly mem = new GuestMemory(RAM_BASE, this.bytes, []);
  readonly backend = new FakeBackend();
  readonly net = new VirtioNet(this.backend, { mac: MAC });
  readonly logs: string[] = [];
  /** Rising edges of the interrupt line. */
  interrupts = 0;
  private level = false;
  readonly transport: VirtioMmioTransport;
  readonly rx = new DriverQueue(this.mem, 0);
  readonly tx = new DriverQueue(this.mem, 1);
  private nextBuffer = RAM_BASE + 0x10000;

  constructor() {
    this.transport = new VirtioMmioTransport(0x1000_1000, this.net, {
      memory: this.mem,
      irq: {
        set: (level) => {
          if (level && !this.level) this.interrupts++;
          this.level = level;
        },
      },
      wake: () => {},
      log: (m) => this.logs.push(m),
    });
  }

  read(offset: number, size = 4): number {
    const out = new Int32Array(2);
    assert.ok(this.transport.read(offset, size, out));
    return out[0] >>> 0;
  }

  write(offset: number, value: number): void {
    assert.ok(this.transport.write(offset, 4, value, 0));
  }

  /** What Linux does at probe: negotiate MAC, STATUS and VERSION_1, set up both queues, DRIVER_OK. */
  start(): void {
    this.write(REG.status, 0);
    this.write(REG.status, 1 | 2);
    this.write(REG.driverFeaturesSel, 0);
    this.write(REG.driverFeatures, (1 << NET_F_MAC) | (1 << NET_F_STATUS));
    this.write(REG.driverFeaturesSel, 1);
    this.write(REG.driverFeatures, 1);
    this.write(REG.status, 1 | 2 | 8);
    assert.equal(this.read(REG.status) & 8, 8, 'features accepted');
    for (const q of [this.rx, this.tx]) {
      this.write(REG.queueSel, q === this.rx ? 0 : 1);
      this.write(REG.queueNum, QUEUE_SIZE);
      this.write(REG.queueDescLow, q.desc);
      this.write(REG.queueDriverLow, q.avail);
      this.write(REG.queueDeviceLow, q.used);
      this.write(REG.queueReady, 1);
    }
    this.write(REG.status, 1 | 2 | 8 | 4);
  }

  notify(queue: number): void {
    this.write(REG.queueNotify, queue);
  }

  ack(): number {
    const status = this.read(REG.interruptStatus);
    this.write(REG.interruptAck, status);
    return status;
  }

  /** A fresh buffer of `length` bytes in RAM, filled with `bytes` if given. */
  buffer(length: number, bytes?: Uint8Array): number {
    const addr = this.nextBuffer;
    this.nextBuffer += (length + 15) & ~15;
    if (bytes) this.bytes.set(bytes, addr - RAM_BASE);
    return addr;
  }

  at(addr: number, length: number): Uint8Array {
    return this.bytes.slice(addr - RAM_BASE, addr - RAM_BASE + length);
  }

  get needsReset(): boolean {
    return (this.read(REG.status) & 64) !== 0;
  }

  get state(): VirtioNetState {
    return this.net.saveState();
  }
}

function frame(length: number, seed: number): Uint8Array {
  const f = new Uint8Array(length);
  for (let i = 0; i < length; i++) f[i] = (i * 7 + seed) & 0xff;
  return f;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('identity, features and configuration: MAC and link status', () => {
  const r = new Rig();
  assert.equal(r.read(REG.deviceId), 1);
  r.write(REG.deviceFeaturesSel, 0);
  const low = r.read(REG.deviceFeatures);
  assert.equal(low & (1 << NET_F_MAC), 1 << NET_F_MAC);
  assert.equal(low & (1 << NET_F_STATUS), 1 << NET_F_STATUS);
  // No offloads: CSUM (0), GUEST_CSUM (1), GUEST_TSO4 (7), HOST_TSO4 (11), MRG_RXBUF (15), CTRL_VQ (17).
  for (const bit of [0, 1, 7, 11, 15, 17]) assert.equal(low & (1 << bit), 0, `feature ${bit} not offered`);
  r.write(REG.queueSel, 0);
  assert.equal(r.read(REG.queueNumMax), 256);
  r.write(REG.queueSel, 1);
  assert.equal(r.read(REG.queueNumMax), 256);
  r.write(REG.queueSel, 2);
  assert.equal(r.read(REG.queueNumMax), 0, 'no control queue');
  assert.deepEqual(
    Array.from({ length: 6 }, (_, i) => r.read(REG.config + i, 1)),
    Array.from(MAC),
  );
  assert.equal(r.read(REG.config + 6, 2), 1, 'link up');
  assert.throws(() => new VirtioNet(new FakeBackend(), { mac: new Uint8Array(5) }), RangeError);
});

test('a link change updates the status field and interrupts a running driver', () => {
  const r = new Rig();
  r.start();
  const generation = r.read(REG.configGeneration);
  r.backend.setLink(false);
  assert.equal(r.read(REG.config + 6, 2), 0);
  assert.notEqual(r.read(REG.configGeneration), generation);
  assert.equal(r.ack(), 2, 'configuration change interrupt');
  r.backend.setLink(true);
  assert.equal(r.read(REG.config + 6, 2), 1);
  assert.equal(r.ack(), 2);
  assert.equal(r.state.linkUp, true);
});

test('transmit: header stripped, frames copied out whatever the chain layout, one interrupt per batch', () => {
  const r = new Rig();
  r.start();
  const f1 = frame(60, 1);
  const f2 = frame(1514, 2);
  const whole = new Uint8Array(NET_HDR_SIZE + f1.length);
  whole.set(f1, NET_HDR_SIZE);
  const h1 = r.tx.add([[r.buffer(whole.length, whole), whole.length, false]]);
  // Header in one buffer, the frame split over two more.
  const h2 = r.tx.add([
    [r.buffer(NET_HDR_SIZE), NET_HDR_SIZE, false],
    [r.buffer(1000, f2.subarray(0, 1000)), 1000, false],
    [r.buffer(514, f2.subarray(1000)), 514, false],
  ]);
  r.notify(1);
  assert.deepEqual(r.backend.sent, [f1, f2]);
  assert.deepEqual(r.tx.takeUsed(), [
    { id: h1, len: 0 },
    { id: h2, len: 0 },
  ]);
  assert.equal(r.interrupts, 1);
  assert.equal(r.ack(), 1);
  // The device kept copies: the driver reusing its buffers changes nothing already sent.
  r.bytes.fill(0xee, 0x10000, 0x20000);
  assert.deepEqual(r.backend.sent[1], f2);
  assert.equal(r.state.txPackets, 2);
  assert.equal(r.state.txBytes, 60 + 1514);
});

test('transmit: a chain shorter than the header is dropped and returned, not fatal', () => {
  const r = new Rig();
  r.start();
  const head = r.tx.add([[r.buffer(8), 8, false]]);
  r.notify(1);
  assert.equal(r.backend.sent.length, 0);
  assert.deepEqual(r.tx.takeUsed(), [{ id: head, len: 0 }]);
  assert.equal(r.state.txDropped, 1);
  assert.equal(r.needsReset, false);
});

test('transmit while the link is down drops the frame', () => {
  const r = new Rig();
  r.start();
  r.backend.setLink(false);
  const bytes = new Uint8Array(NET_HDR_SIZE + 60);
  r.tx.add([[r.buffer(bytes.length, bytes), bytes.length, false]]);
  r.notify(1);
  assert.equal(r.backend.sent.length, 0);
  assert.equal(r.tx.takeUsed().length, 1);
  assert.equal(r.state.txDropped, 1);
});

test('transmit: a descriptor outside RAM makes the device need a reset, never a host exception', () => {
  const r = new Rig();
  r.start();
  r.tx.add([[RAM_BASE + RAM_SIZE - 8, 64, false]]);
  r.notify(1);
  assert.equal(r.needsReset, true);
  assert.match(r.logs.join('\n'), /outside RAM/);
});

test('receive: frames arriving together are written after the current tick, with one interrupt', async () => {
  const r = new Rig();
  r.start();
  const bufs = [r.buffer(2048), r.buffer(2048), r.buffer(2048)];
  const heads = bufs.map((b) => r.rx.add([[b, 2048, true]]));
  r.notify(0);
  const f1 = frame(60, 3);
  const f2 = frame(1514, 4);
  r.backend.onReceive(f1);
  r.backend.onReceive(f2);
  assert.deepEqual(r.rx.takeUsed(), [], 'nothing written while the sender is still running');
  await tick();
  assert.deepEqual(r.rx.takeUsed(), [
    { id: heads[0], len: NET_HDR_SIZE + 60 },
    { id: heads[1], len: NET_HDR_SIZE + 1514 },
  ]);
  const header = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual(r.at(bufs[0], NET_HDR_SIZE), header, 'zero header with num_buffers = 1');
  assert.deepEqual(r.at(bufs[0] + NET_HDR_SIZE, 60), f1);
  assert.deepEqual(r.at(bufs[1], NET_HDR_SIZE), header);
  assert.deepEqual(r.at(bufs[1] + NET_HDR_SIZE, 1514), f2);
  assert.equal(r.interrupts, 1);
  assert.equal(r.state.rxPackets, 2);
  assert.equal(r.state.rxBytes, 60 + 1514);
});

test('receive: a buffer chain of several descriptors is filled in order', async () => {
  const r = new Rig();
  r.start();
  const a = r.buffer(NET_HDR_SIZE);
  const b = r.buffer(40);
  const c = r.buffer(100);
  const head = r.rx.add([
    [a, NET_HDR_SIZE, true],
    [b, 40, true],
    [c, 100, true],
  ]);
  const f = frame(100, 5);
  r.backend.onReceive(f);
  await tick();
  assert.deepEqual(r.rx.takeUsed(), [{ id: head, len: NET_HDR_SIZE + 100 }]);
  assert.equal(r.at(a, NET_HDR_SIZE)[10], 1);
  assert.deepEqual(r.at(b, 40), f.subarray(0, 40));
  assert.deepEqual(r.at(c, 60), f.subarray(40));
});

test('receive without buffers: frames wait (bounded) and go out when the driver posts buffers', async () => {
  const r = new Rig();
  r.start();
  const frames = Array.from({ length: RX_PENDING_LIMIT + 10 }, (_, i) => frame(64, i));
  for (const f of frames) r.backend.onReceive(f);
  await tick();
  assert.deepEqual(r.rx.takeUsed(), []);
  assert.equal(r.state.pendingRx, RX_PENDING_LIMIT);
  assert.equal(r.state.rxDropped, 10);
  assert.equal(r.interrupts, 0);
  const bufs = [r.buffer(2048), r.buffer(2048)];
  for (const b of bufs) r.rx.add([[b, 2048, true]]);
  r.notify(0);
  assert.equal(r.rx.takeUsed().length, 2);
  assert.deepEqual(r.at(bufs[0] + NET_HDR_SIZE, 64), frames[0], 'oldest first');
  assert.deepEqual(r.at(bufs[1] + NET_HDR_SIZE, 64), frames[1]);
  assert.equal(r.state.pendingRx, RX_PENDING_LIMIT - 2);
  assert.equal(r.interrupts, 1);
  // Drain the rest in ring-sized rounds.
  let got = 2;
  while (r.state.pendingRx > 0) {
    for (let i = 0; i < QUEUE_SIZE; i++) r.rx.add([[r.buffer(128), 128, true]]);
    r.notify(0);
    got += r.rx.takeUsed().length;
  }
  assert.equal(got, RX_PENDING_LIMIT);
  assert.equal(r.state.rxPackets, RX_PENDING_LIMIT);
});

test('receive: a frame larger than the chain is dropped and the chain serves the next frame', async () => {
  const r = new Rig();
  r.start();
  const buf = r.buffer(100);
  const head = r.rx.add([[buf, 100, true]]);
  r.backend.onReceive(frame(200, 6));
  const small = frame(50, 7);
  r.backend.onReceive(small);
  await tick();
  assert.deepEqual(r.rx.takeUsed(), [{ id: head, len: NET_HDR_SIZE + 50 }]);
  assert.deepEqual(r.at(buf + NET_HDR_SIZE, 50), small);
  assert.equal(r.state.rxDropped, 1);
  assert.equal(r.state.rxPackets, 1);
});

test('receive: a chain without room for the header makes the device need a reset', async () => {
  const r = new Rig();
  r.start();
  r.rx.add([[r.buffer(64), 64, false]]);
  r.backend.onReceive(frame(60, 8));
  await tick();
  assert.equal(r.needsReset, true);
  assert.deepEqual(r.rx.takeUsed(), []);
  // Frames arriving after that are dropped, and a reset brings the device back.
  r.backend.onReceive(frame(60, 9));
  await tick();
  r.start();
  assert.equal(r.needsReset, false);
  assert.equal(r.state.pendingRx, 0);
});

test('frames before the driver is ready are dropped, and a reset drops waiting frames', async () => {
  const r = new Rig();
  r.backend.onReceive(frame(60, 10));
  assert.equal(r.state.rxDropped, 1);
  r.start();
  r.backend.onReceive(frame(60, 11));
  r.backend.onReceive(frame(60, 12));
  await tick();
  assert.equal(r.state.pendingRx, 2);
  r.write(REG.status, 0);
  assert.equal(r.state.pendingRx, 0);
  assert.equal(r.state.rxDropped, 3);
  // After a new start nothing stale arrives.
  r.start();
  r.rx.add([[r.buffer(2048), 2048, true]]);
  r.notify(0);
  await tick();
  assert.equal(r.state.rxPackets, 0);
});

test('close closes the backend; saveState reports identity and counters', async () => {
  const r = new Rig();
  const s = r.state;
  assert.equal(s.mac, '52:54:00:12:34:56');
  assert.equal(s.backend, 'fake');
  assert.equal(r.net.name, 'virtio-net (fake)');
  await r.net.close();
  assert.equal(r.backend.closed, true);
});
