import assert from 'node:assert/strict';
import { test } from 'node:test';
import { F_VERSION_1, featureWords } from '../../../../src/machine/devices/virtio/constants.js';
import { REG } from '../../../../src/machine/devices/virtio/mmio-transport.js';
import {
  NET_F_MAC,
  NET_F_STATUS,
  NET_HDR_SIZE,
  RX_PENDING_LIMIT,
  VirtioNet,
  type VirtioNetState,
} from '../../../../src/machine/devices/virtio/net.js';
import type { NetBackend } from '../../../../src/net/net-backend.js';
import { RAM_BASE, TestDriver } from './test-driver.js';

const QUEUE_SIZE = 16;
const RX = 0;
const TX = 1;
const MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

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

class Rig extends TestDriver<VirtioNet> {
  readonly backend: FakeBackend;

  constructor() {
    const backend = new FakeBackend();
    super(new VirtioNet(backend, { mac: MAC }), 1 << 20);
    this.backend = backend;
  }

  /** What Linux does at probe: negotiate MAC, STATUS and VERSION_1, set up both queues, DRIVER_OK. */
  start(): void {
    const status = this.init({
      features: featureWords(NET_F_MAC, NET_F_STATUS, F_VERSION_1),
      size: QUEUE_SIZE,
    });
    assert.equal(status & 8, 8, 'features accepted');
  }

  get needsReset(): boolean {
    return (this.status & 64) !== 0;
  }

  get state(): VirtioNetState {
    return this.device.saveState();
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
    Array.from({ length: 6 }, (_, i) => r.readConfig(i, 1)),
    Array.from(MAC),
  );
  assert.equal(r.readConfig(6, 2), 1, 'link up');
  assert.throws(() => new VirtioNet(new FakeBackend(), { mac: new Uint8Array(5) }), RangeError);
});

test('a link change updates the status field and interrupts a running driver', () => {
  const r = new Rig();
  r.start();
  const generation = r.read(REG.configGeneration);
  r.backend.setLink(false);
  assert.equal(r.readConfig(6, 2), 0);
  assert.notEqual(r.read(REG.configGeneration), generation);
  assert.equal(r.ack(), 2, 'configuration change interrupt');
  r.backend.setLink(true);
  assert.equal(r.readConfig(6, 2), 1);
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
  const h1 = r.submit(TX, [whole], []);
  // Header in one buffer, the frame split over two more.
  const parts = [new Uint8Array(NET_HDR_SIZE), f2.subarray(0, 1000), f2.subarray(1000)].map((p) => ({
    addr: r.put(p),
    length: p.length,
  }));
  const h2 = r.submitChain(TX, parts);
  r.kick(TX);
  assert.deepEqual(r.backend.sent, [f1, f2]);
  assert.deepEqual(r.takeUsed(TX), [
    { head: h1, written: 0 },
    { head: h2, written: 0 },
  ]);
  assert.equal(r.interrupts, 1);
  assert.equal(r.ack(), 1);
  // The device kept copies: the driver reusing its buffers changes nothing already sent.
  for (const p of parts) r.ram.fill(0xee, p.addr - RAM_BASE, p.addr - RAM_BASE + p.length);
  assert.deepEqual(r.backend.sent[1], f2);
  assert.equal(r.state.txPackets, 2);
  assert.equal(r.state.txBytes, 60 + 1514);
});

test('transmit: a chain shorter than the header is dropped and returned, not fatal', () => {
  const r = new Rig();
  r.start();
  const head = r.submit(TX, [new Uint8Array(8)], []);
  r.kick(TX);
  assert.equal(r.backend.sent.length, 0);
  assert.deepEqual(r.takeUsed(TX), [{ head: head, written: 0 }]);
  assert.equal(r.state.txDropped, 1);
  assert.equal(r.needsReset, false);
});

test('transmit while the link is down drops the frame', () => {
  const r = new Rig();
  r.start();
  r.backend.setLink(false);
  const bytes = new Uint8Array(NET_HDR_SIZE + 60);
  r.submit(TX, [bytes], []);
  r.kick(TX);
  assert.equal(r.backend.sent.length, 0);
  assert.equal(r.takeUsed(TX).length, 1);
  assert.equal(r.state.txDropped, 1);
});

test('transmit: a descriptor outside RAM makes the device need a reset, never a host exception', () => {
  const r = new Rig();
  r.start();
  r.submitChain(TX, [{ addr: RAM_BASE + r.ram.length - 8, length: 64 }]);
  r.kick(TX);
  assert.equal(r.needsReset, true);
  assert.match(r.logs.join('\n'), /outside RAM/);
});

test('receive: frames arriving together are written after the current tick, with one interrupt', async () => {
  const r = new Rig();
  r.start();
  const bufs = [r.alloc(2048), r.alloc(2048), r.alloc(2048)];
  const heads = bufs.map((b) => r.submitChain(RX, [{ addr: b, length: 2048, write: true }]));
  r.kick(RX);
  const f1 = frame(60, 3);
  const f2 = frame(1514, 4);
  r.backend.onReceive(f1);
  r.backend.onReceive(f2);
  assert.deepEqual(r.takeUsed(RX), [], 'nothing written while the sender is still running');
  await tick();
  assert.deepEqual(r.takeUsed(RX), [
    { head: heads[0], written: NET_HDR_SIZE + 60 },
    { head: heads[1], written: NET_HDR_SIZE + 1514 },
  ]);
  const header = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual(r.bytesAt(bufs[0], NET_HDR_SIZE), header, 'zero header with num_buffers = 1');
  assert.deepEqual(r.bytesAt(bufs[0] + NET_HDR_SIZE, 60), f1);
  assert.deepEqual(r.bytesAt(bufs[1], NET_HDR_SIZE), header);
  assert.deepEqual(r.bytesAt(bufs[1] + NET_HDR_SIZE, 1514), f2);
  assert.equal(r.interrupts, 1);
  assert.equal(r.state.rxPackets, 2);
  assert.equal(r.state.rxBytes, 60 + 1514);
});

test('receive: a buffer chain of several descriptors is filled in order', async () => {
  const r = new Rig();
  r.start();
  const a = r.alloc(NET_HDR_SIZE);
  const b = r.alloc(40);
  const c = r.alloc(100);
  const head = r.submitChain(RX, [
    { addr: a, length: NET_HDR_SIZE, write: true },
    { addr: b, length: 40, write: true },
    { addr: c, length: 100, write: true },
  ]);
  const f = frame(100, 5);
  r.backend.onReceive(f);
  await tick();
  assert.deepEqual(r.takeUsed(RX), [{ head: head, written: NET_HDR_SIZE + 100 }]);
  assert.equal(r.bytesAt(a, NET_HDR_SIZE)[10], 1);
  assert.deepEqual(r.bytesAt(b, 40), f.subarray(0, 40));
  assert.deepEqual(r.bytesAt(c, 60), f.subarray(40));
});

test('receive without buffers: frames wait (bounded) and go out when the driver posts buffers', async () => {
  const r = new Rig();
  r.start();
  const frames = Array.from({ length: RX_PENDING_LIMIT + 10 }, (_, i) => frame(64, i));
  for (const f of frames) r.backend.onReceive(f);
  await tick();
  assert.deepEqual(r.takeUsed(RX), []);
  assert.equal(r.state.pendingRx, RX_PENDING_LIMIT);
  assert.equal(r.state.rxDropped, 10);
  assert.equal(r.interrupts, 0);
  const bufs = [r.alloc(2048), r.alloc(2048)];
  for (const b of bufs) r.submitChain(RX, [{ addr: b, length: 2048, write: true }]);
  r.kick(RX);
  assert.equal(r.takeUsed(RX).length, 2);
  assert.deepEqual(r.bytesAt(bufs[0] + NET_HDR_SIZE, 64), frames[0], 'oldest first');
  assert.deepEqual(r.bytesAt(bufs[1] + NET_HDR_SIZE, 64), frames[1]);
  assert.equal(r.state.pendingRx, RX_PENDING_LIMIT - 2);
  assert.equal(r.interrupts, 1);
  // Drain the rest in ring-sized rounds.
  let got = 2;
  while (r.state.pendingRx > 0) {
    for (let i = 0; i < QUEUE_SIZE; i++) r.submit(RX, [], [128]);
    r.kick(RX);
    got += r.takeUsed(RX).length;
  }
  assert.equal(got, RX_PENDING_LIMIT);
  assert.equal(r.state.rxPackets, RX_PENDING_LIMIT);
});

test('receive: a frame larger than the chain is dropped and the chain serves the next frame', async () => {
  const r = new Rig();
  r.start();
  const buf = r.alloc(100);
  const head = r.submitChain(RX, [{ addr: buf, length: 100, write: true }]);
  r.backend.onReceive(frame(200, 6));
  const small = frame(50, 7);
  r.backend.onReceive(small);
  await tick();
  assert.deepEqual(r.takeUsed(RX), [{ head: head, written: NET_HDR_SIZE + 50 }]);
  assert.deepEqual(r.bytesAt(buf + NET_HDR_SIZE, 50), small);
  assert.equal(r.state.rxDropped, 1);
  assert.equal(r.state.rxPackets, 1);
});

test('receive: a chain without room for the header makes the device need a reset', async () => {
  const r = new Rig();
  r.start();
  r.submit(RX, [new Uint8Array(64)], []);
  r.backend.onReceive(frame(60, 8));
  await tick();
  assert.equal(r.needsReset, true);
  assert.deepEqual(r.takeUsed(RX), []);
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
  r.submit(RX, [], [2048]);
  r.kick(RX);
  await tick();
  assert.equal(r.state.rxPackets, 0);
});

test('close closes the backend; saveState reports identity and counters', async () => {
  const r = new Rig();
  const s = r.state;
  assert.equal(s.mac, '52:54:00:12:34:56');
  assert.equal(s.backend, 'fake');
  assert.equal(r.device.name, 'virtio-net (fake)');
  await r.device.close();
  assert.equal(r.backend.closed, true);
});
