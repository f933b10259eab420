import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  BLK_F_BLK_SIZE,
  BLK_F_DISCARD,
  BLK_F_FLUSH,
  BLK_F_RO,
  BLK_F_SEG_MAX,
  BLK_F_WRITE_ZEROES,
  BLK_MAX_IN_FLIGHT,
  BLK_S_IOERR,
  BLK_S_OK,
  BLK_S_UNSUPP,
  BLK_T_DISCARD,
  BLK_T_FLUSH,
  BLK_T_GET_ID,
  BLK_T_IN,
  BLK_T_OUT,
  BLK_T_WRITE_ZEROES,
  VirtioBlk,
  type VirtioBlkState,
} from '../../../../src/machine/devices/virtio/blk.js';
import {
  F_VERSION_1,
  featureWords,
  hasFeature,
  STATUS_DEVICE_NEEDS_RESET,
} from '../../../../src/machine/devices/virtio/constants.js';
import { REG } from '../../../../src/machine/devices/virtio/mmio-transport.js';
import { openRawDisk } from '../../../../src/storage/raw-file.js';
import { RateLimitedDisk, TokenBucket } from '../../../../src/vmm/token-bucket.js';
import { MemoryDisk } from './memory-disk.js';
import { type ChainBuffer, RAM_BASE, TestDriver } from './test-driver.js';

const dir = mkdtempSync(join(tmpdir(), 'typervisor-blk-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return out;
}

function imageFile(bytes: Uint8Array): string {
  const path = join(dir, `disk${fileCount++}.img`);
  writeFileSync(path, bytes);
  return path;
}

type Driver = TestDriver<VirtioBlk>;

/** A driver for `device`, not started; fresh buffers hold 0xee, so that bytes the device did not write stand out. */
function driver(device: VirtioBlk): Driver {
  const d = new TestDriver(device);
  d.fill = 0xee;
  return d;
}

/** A 16-byte request header. */
function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, BigInt(sector), true);
  return h;
}

/**
 * Makes one request available in one chain (without notifying): the header, `payload` (device-readable)
 * if any, `dataLength` device-writable bytes if any, and the status byte. Returns the chain's head and
 * the addresses of its data and status buffers.
 */
function submitRequest(
  d: Driver,
  type: number,
  sector: number,
  payload?: Uint8Array,
  dataLength = 0,
): { head: number; data: number; status: number } {
  const chain: ChainBuffer[] = [{ addr: d.put(header(type, sector)), length: 16 }];
  if (payload) chain.push({ addr: d.put(payload), length: payload.length });
  const data = d.alloc(dataLength);
  if (dataLength > 0) chain.push({ addr: data, length: dataLength, write: true });
  const status = d.alloc(1);
  chain.push({ addr: status, length: 1, write: true });
  return { head: d.submitChain(0, chain), data, status };
}

/** One request (see submitRequest), served: resolves with the status byte, the data and the used length. */
async function request(
  d: Driver,
  type: number,
  sector: number,
  payload?: Uint8Array,
  dataLength = 0,
): Promise<{ status: number; data: Uint8Array; len: number }> {
  const { data, status } = submitRequest(d, type, sector, payload, dataLength);
  d.kick(0);
  const [used] = await d.waitUsed(0, 1);
  return { status: byte(d, status), data: d.bytesAt(data, dataLength), len: used.written };
}

function byte(d: Driver, addr: number): number {
  return d.ram[addr - RAM_BASE];
}

/** Reads `length` bytes at `sector` in one request. */
function readSectors(d: Driver, sector: number, length: number) {
  return request(d, BLK_T_IN, sector, undefined, length);
}

/** Writes `bytes` at `sector` in one request; resolves with the status byte. */
async function writeSectors(d: Driver, sector: number, bytes: Uint8Array): Promise<number> {
  return (await request(d, BLK_T_OUT, sector, bytes)).status;
}

/** A request of any type with only a header and a status; resolves with the status byte. */
async function simple(d: Driver, type: number, sector = 0): Promise<number> {
  return (await request(d, type, sector)).status;
}

/** A discard or write-zeroes request with these segments; resolves with the status byte. */
async function ranges(
  d: Driver,
  type: number,
  segments: { sector: number; sectors: number; flags?: number }[],
): Promise<number> {
  const bytes = new Uint8Array(16 * segments.length);
  const v = new DataView(bytes.buffer);
  segments.forEach((s, i) => {
    v.setBigUint64(16 * i, BigInt(s.sector), true);
    v.setUint32(16 * i + 8, s.sectors, true);
    v.setUint32(16 * i + 12, s.flags ?? 0, true);
  });
  return (await request(d, type, 0, bytes)).status;
}

/** A started driver on a memory disk of `sectors` sectors. */
function memoryDevice(sectors = 64, options: { readOnly?: boolean; serial?: string } = {}) {
  const disk = new MemoryDisk(sectors * 512, options.readOnly);
  const drv = driver(new VirtioBlk(disk, { serial: options.serial }));
  drv.init();
  return { disk, drv };
}

test('identity, features and configuration space', async () => {
  const disk = new MemoryDisk((1 << 20) + 512);
  const drv = driver(new VirtioBlk(disk, {}));
  assert.equal(drv.read(REG.deviceId), 2, 'device id 2: block');
  const f = drv.deviceFeatures();
  for (const bit of [
    BLK_F_SEG_MAX,
    BLK_F_BLK_SIZE,
    BLK_F_FLUSH,
    BLK_F_DISCARD,
    BLK_F_WRITE_ZEROES,
    F_VERSION_1,
  ])
    assert.ok(hasFeature(f, bit), `feature ${bit} offered`);
  assert.ok(!hasFeature(f, BLK_F_RO), 'a writable disk is not RO');
  assert.equal(drv.readConfig(0, 8), 2049, 'capacity in 512-byte sectors');
  assert.equal(drv.readConfig(12, 4), 254, 'seg_max');
  assert.equal(drv.readConfig(20, 4), 512, 'blk_size');
  assert.ok(drv.readConfig(36, 4) > 0, 'max_discard_sectors');
  assert.ok(drv.readConfig(40, 4) >= 1, 'max_discard_seg');
  assert.equal(drv.readConfig(44, 4), 1, 'discard_sector_alignment');
  assert.ok(drv.readConfig(48, 4) > 0, 'max_write_zeroes_sectors');
  assert.equal(drv.readConfig(52, 4), 1, 'max_write_zeroes_seg');
  assert.equal(drv.readConfig(56, 1), 0, 'write_zeroes_may_unmap');

  const ro = driver(new VirtioBlk(new MemoryDisk(512, true), {}));
  assert.ok(hasFeature(ro.deviceFeatures(), BLK_F_RO), 'a read-only disk offers RO');
  assert.match(drv.device.name, /virtio-blk \(memory\)/);
  assert.throws(() => new VirtioBlk({ ...disk, size: 1000, name: 'odd' } as never, {}), /odd/);
});

test('writes and reads through a raw file land at the right bytes', async () => {
  const path = imageFile(new Uint8Array(128 * 512));
  const backend = await openRawDisk(path, { readOnly: false });
  const drv = driver(new VirtioBlk(backend, {}));
  drv.init();
  const data = pattern(3 * 512, 1);
  assert.equal(await writeSectors(drv, 5, data), BLK_S_OK);
  const file = readFileSync(path);
  assert.deepEqual(new Uint8Array(file.subarray(5 * 512, 8 * 512)), data);
  assert.ok(file.subarray(0, 5 * 512).every((b) => b === 0) && file.subarray(8 * 512).every((b) => b === 0));

  drv.invalidated.length = 0;
  const r = await readSectors(drv, 4, 5 * 512);
  assert.equal(r.status, BLK_S_OK);
  assert.equal(r.len, 5 * 512 + 1, 'used length counts data and status');
  assert.deepEqual(r.data.subarray(512, 4 * 512), data);
  assert.ok(r.data.subarray(0, 512).every((b) => b === 0));
  // The device reports the RAM it wrote, so that harts drop stale decoded code from it.
  const covered = drv.invalidated.reduce((n, [, len]) => n + len, 0);
  assert.ok(covered >= 5 * 512 + 1, `written() covered ${covered} bytes`);

  // The last sector of the disk is in range, the one after it is not.
  assert.equal((await readSectors(drv, 127, 512)).status, BLK_S_OK);
  assert.equal((await readSectors(drv, 128, 512)).status, BLK_S_IOERR);
  assert.equal(await writeSectors(drv, 127, pattern(1024, 2)), BLK_S_IOERR, 'a write running off the end');
  assert.equal((await readSectors(drv, 2 ** 40, 512)).status, BLK_S_IOERR, 'a sector far beyond the disk');
  assert.equal((await readSectors(drv, 2 ** 53 - 1, 512)).status, BLK_S_IOERR);
  assert.equal(await writeSectors(drv, 0, pattern(100, 3)), BLK_S_IOERR, 'not a whole number of sectors');
  assert.equal(drv.status & STATUS_DEVICE_NEEDS_RESET, 0, 'bad requests fail alone, not the device');
  await drv.device.close();
});

test('headers, data and status may be split across descriptors any way', async () => {
  const { disk, drv } = memoryDevice();
  disk.data.set(pattern(2048, 9), 1024);
  // Header in three pieces, data in odd-sized pieces, the status byte sharing the last data buffer.
  const h = drv.put(header(0, 2));
  const a = drv.alloc(700);
  const b = drv.alloc(1348 + 1);
  drv.submitChain(0, [
    { addr: h, length: 5 },
    { addr: h + 5, length: 0 },
    { addr: h + 5, length: 11 },
    { addr: a, length: 700, write: true },
    { addr: b, length: 1349, write: true },
  ]);
  drv.kick(0);
  const [used] = await drv.waitUsed(0, 1);
  assert.equal(used.written, 2049);
  assert.equal(byte(drv, b + 1348), BLK_S_OK);
  const got = new Uint8Array(2048);
  got.set(drv.bytesAt(a, 700));
  got.set(drv.bytesAt(b, 1348), 700);
  assert.deepEqual(got, pattern(2048, 9));

  // A write whose header and data share one buffer.
  const whole = new Uint8Array(16 + 1024);
  whole.set(header(BLK_T_OUT, 10));
  whole.set(pattern(1024, 4), 16);
  const w = drv.put(whole);
  const s = drv.alloc(1);
  drv.submitChain(0, [
    { addr: w, length: 1040 },
    { addr: s, length: 1, write: true },
  ]);
  drv.kick(0);
  await drv.waitUsed(0, 1);
  assert.equal(byte(drv, s), BLK_S_OK);
  assert.deepEqual(disk.data.subarray(5120, 6144), pattern(1024, 4));
});

test('malformed requests get a status, never a host exception', async () => {
  const { disk, drv } = memoryDevice();
  // A header shorter than 16 bytes.
  const h = drv.put(header(0, 0));
  const s = drv.alloc(1);
  drv.submitChain(0, [
    { addr: h, length: 8 },
    { addr: s, length: 1, write: true },
  ]);
  drv.kick(0);
  const [short] = await drv.waitUsed(0, 1);
  assert.equal(byte(drv, s), BLK_S_IOERR);
  assert.equal(short.written, 1);

  // No writable byte for the status: handed back with nothing written.
  const h2 = drv.put(header(0, 0));
  const head = drv.submitChain(0, [{ addr: h2, length: 16 }]);
  drv.kick(0);
  assert.deepEqual(await drv.waitUsed(0, 1), [{ head, written: 0 }]);

  // Unknown request types are UNSUPP; GET_LIFETIME (10) and SECURE_ERASE (14) are not offered.
  for (const type of [2, 10, 14, 0xffffffff])
    assert.equal(await simple(drv, type), BLK_S_UNSUPP, `type ${type}`);
  // A read with no data is valid and empty.
  assert.equal(await simple(drv, 0, 3), BLK_S_OK);
  assert.equal(await simple(drv, 0, 65), BLK_S_IOERR, 'even an empty read must name a sector on the disk');
  assert.equal(drv.status & STATUS_DEVICE_NEEDS_RESET, 0);
  assert.deepEqual(drv.logs, []);
  assert.equal(disk.calls.length, 0, 'none of these reached the backend');
  const state = drv.device.saveState() as VirtioBlkState;
  assert.equal(state.counters.errors, 3);
  assert.equal(state.counters.unsupported, 4);
});

test('a read-only disk refuses writes, discards and write-zeroes, and serves reads', async () => {
  const { disk, drv } = memoryDevice(16, { readOnly: true });
  disk.data.set(pattern(512, 5), 512);
  assert.equal(await writeSectors(drv, 0, pattern(512, 1)), BLK_S_IOERR);
  assert.equal(await ranges(drv, BLK_T_DISCARD, [{ sector: 0, sectors: 1 }]), BLK_S_IOERR);
  assert.equal(await ranges(drv, BLK_T_WRITE_ZEROES, [{ sector: 0, sectors: 1 }]), BLK_S_IOERR);
  const r = await readSectors(drv, 1, 512);
  assert.equal(r.status, BLK_S_OK);
  assert.deepEqual(r.data, pattern(512, 5));
  assert.equal(await simple(drv, BLK_T_FLUSH), BLK_S_OK);
  assert.deepEqual(disk.calls, ['readv 512', 'flush']);
});

test('GET_ID returns the serial zero-padded to 20 bytes', async () => {
  for (const serial of ['ABC123', undefined, '12345678901234567890']) {
    const { drv } = memoryDevice(8, { serial });
    const r = await request(drv, BLK_T_GET_ID, 0, undefined, 20);
    assert.equal(r.status, BLK_S_OK);
    assert.equal(r.len, 21);
    const expected = new Uint8Array(20);
    expected.set(new TextEncoder().encode(serial ?? ''));
    assert.deepEqual(r.data, expected);
  }
});

test('flush reaches the backend; discard and write-zeroes check their segments', async () => {
  const { disk, drv } = memoryDevice(64);
  disk.data.fill(0xaa);
  assert.equal(await simple(drv, BLK_T_FLUSH), BLK_S_OK);
  assert.deepEqual(disk.calls, ['flush']);

  assert.equal(await ranges(drv, BLK_T_WRITE_ZEROES, [{ sector: 2, sectors: 3, flags: 1 }]), BLK_S_OK);
  assert.ok(disk.data.subarray(1024, 2560).every((b) => b === 0));
  assert.equal(disk.data[1023], 0xaa);
  assert.equal(disk.data[2560], 0xaa);

  assert.equal(
    await ranges(drv, BLK_T_DISCARD, [
      { sector: 0, sectors: 8 },
      { sector: 32, sectors: 32 },
    ]),
    BLK_S_OK,
  );
  assert.deepEqual(disk.calls.slice(-2), ['discard 0 4096', 'discard 16384 16384']);
  const before = disk.calls.length;
  assert.equal(
    await ranges(drv, BLK_T_DISCARD, [{ sector: 0, sectors: 1, flags: 1 }]),
    BLK_S_UNSUPP,
    'discard with UNMAP',
  );
  assert.equal(
    await ranges(drv, BLK_T_WRITE_ZEROES, [{ sector: 0, sectors: 1, flags: 2 }]),
    BLK_S_UNSUPP,
    'unknown flag',
  );
  assert.equal(await ranges(drv, BLK_T_DISCARD, [{ sector: 60, sectors: 5 }]), BLK_S_IOERR, 'past the end');
  assert.equal(
    await ranges(drv, BLK_T_WRITE_ZEROES, [
      { sector: 0, sectors: 1 },
      { sector: 2, sectors: 1 },
    ]),
    BLK_S_IOERR,
    'more segments than max_write_zeroes_seg',
  );
  assert.equal(
    await ranges(
      drv,
      BLK_T_DISCARD,
      Array.from({ length: 33 }, (_, i) => ({ sector: i, sectors: 1 })),
    ),
    BLK_S_IOERR,
    'more segments than max_discard_seg',
  );
  assert.equal(disk.calls.length, before, 'refused requests never reach the backend');

  // Without the features negotiated, the commands are unsupported.
  drv.init({ features: featureWords(F_VERSION_1, BLK_F_FLUSH) });
  assert.equal(await ranges(drv, BLK_T_DISCARD, [{ sector: 0, sectors: 1 }]), BLK_S_UNSUPP);
  assert.equal(await ranges(drv, BLK_T_WRITE_ZEROES, [{ sector: 0, sectors: 1 }]), BLK_S_UNSUPP);
});

test('requests run concurrently and complete in the order the host finishes them, batched', async () => {
  const { disk, drv } = memoryDevice(64);
  for (let i = 0; i < 4; i++) disk.data.fill(i + 1, i * 512, (i + 1) * 512);
  disk.hold = true;
  const heads: number[] = [];
  const bufs: number[] = [];
  for (let i = 0; i < 4; i++) {
    const { head, data } = submitRequest(drv, BLK_T_IN, i, undefined, 512);
    heads.push(head);
    bufs.push(data);
  }
  drv.kick(0);
  await new Promise((r) => setImmediate(r));
  assert.equal(disk.pending, 4, 'all four requests are at the host at once');
  assert.equal(drv.usedIndex(0), 0);
  assert.equal((drv.device.saveState() as VirtioBlkState).inFlight, 4);

  const calls = drv.usedBufferCalls;
  disk.release(2); // request 2 finishes first
  const [first] = await drv.waitUsed(0, 1);
  assert.equal(first.head, heads[2]);
  assert.equal(byte(drv, bufs[2]), 3);
  assert.equal(drv.usedBufferCalls, calls + 1);

  // Two that finish in the same turn of the event loop share one interrupt.
  disk.release(0);
  disk.release(0);
  const both = await drv.waitUsed(0, 2);
  assert.deepEqual(
    both.map((u) => u.head),
    [heads[0], heads[1]],
  );
  assert.equal(drv.usedBufferCalls, calls + 2);
  assert.ok(drv.irqLevel, 'the driver was interrupted');
  disk.release(0);
  assert.equal((await drv.waitUsed(0, 1))[0].head, heads[3]);
});

test('a driver re-posting requests in flight gets at most BLK_MAX_IN_FLIGHT host operations, then a reset', async () => {
  const { disk, drv } = memoryDevice(64);
  disk.hold = true;
  drv.init({ size: 256 });
  drv.strict = false;
  // One request (header, data, status), made available again and again without waiting for it: the
  // hostile pattern that used to put thousands of operations in flight on a 256-entry queue.
  const { head } = submitRequest(drv, BLK_T_IN, 0, undefined, 512);
  let maxPending = 0;
  for (let round = 0; round < 40 && !(drv.status & STATUS_DEVICE_NEEDS_RESET); round++) {
    for (let i = 0; i < 64; i++) drv.publish(0, head);
    drv.kick(0);
    await new Promise((r) => setImmediate(r));
    maxPending = Math.max(maxPending, disk.pending);
    // The host finishes a few, which frees room only for as many more.
    for (let i = 0; i < 8; i++) disk.release();
  }
  assert.equal(maxPending, BLK_MAX_IN_FLIGHT, 'host operations in flight are capped, not unbounded');
  assert.ok(drv.status & STATUS_DEVICE_NEEDS_RESET, 'a driver that keeps posting beyond its ring is stopped');
  assert.match(drv.logs.join('\n'), /avail\.idx \d+ is \d+ ahead of the device|virtqueue size exceeded/);
  disk.hold = false;
  while (disk.pending > 0) disk.release();
});

test('the queue refuses a chain beyond its size in flight ("virtqueue size exceeded")', async () => {
  const { disk, drv } = memoryDevice(64);
  disk.hold = true;
  drv.init({ size: 4 });
  drv.strict = false;
  const { head } = submitRequest(drv, BLK_T_FLUSH, 0);
  const q = drv.transport.queue(0);
  // Four chains taken by the device and not returned (a device may hold as many as the ring has).
  for (let i = 0; i < 3; i++) drv.publish(0, head);
  for (let i = 0; i < 4; i++) assert.ok(q.pop());
  assert.equal(q.inUse, 4);
  drv.publish(0, head);
  assert.throws(() => q.pop(), /virtqueue size exceeded/);
  while (disk.pending > 0) disk.release();
});

test('a rate-limited disk leaves waiting requests in the ring, not in host memory', async () => {
  const disk = new MemoryDisk(1 << 20);
  // 32 KiB a second with a burst of 32 KiB: one 32 KiB read goes at once, the next waits a second.
  const limited = new RateLimitedDisk(disk, new TokenBucket(32768, 32768));
  const drv = driver(new VirtioBlk(limited, {}));
  drv.init({ size: 256 });
  const heads: number[] = [];
  for (let i = 0; i < 64; i++) heads.push(submitRequest(drv, BLK_T_IN, i * 64, undefined, 32768).head);
  drv.kick(0);
  await new Promise((r) => setTimeout(r, 300));
  const state = drv.device.saveState() as VirtioBlkState;
  // The first read went through; the second holds its reservation; 62 are still only ring entries.
  assert.ok(state.inFlight >= 0 && state.inFlight <= 1, `${state.inFlight} in flight`);
  assert.ok(drv.transport.queue(0).inUse <= 2, `${drv.transport.queue(0).inUse} taken from the ring`);
  assert.equal(drv.usedIndex(0), 1);
  const second = await drv.completion(0, heads[1], 3000);
  assert.equal(second.written, 32768 + 1);
  await drv.device.close();
});

test('host I/O errors fail the request with IOERR', async () => {
  const { disk, drv } = memoryDevice(8);
  disk.fail = true;
  assert.equal((await readSectors(drv, 0, 512)).status, BLK_S_IOERR);
  assert.equal(await writeSectors(drv, 0, pattern(512, 1)), BLK_S_IOERR);
  assert.equal(await simple(drv, BLK_T_FLUSH), BLK_S_IOERR);
  assert.equal(drv.status & STATUS_DEVICE_NEEDS_RESET, 0);
});

test('requests in flight across a reset never complete into the new queue; close waits for them', async () => {
  const { disk, drv } = memoryDevice(8);
  disk.hold = true;
  const { status: s } = submitRequest(drv, BLK_T_IN, 0, undefined, 512);
  drv.kick(0);
  await new Promise((r) => setImmediate(r));
  assert.equal(disk.pending, 1);
  drv.init(); // resets the device and sets up a fresh queue
  disk.hold = false;
  disk.release();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(drv.usedIndex(0), 0, 'the stale completion was dropped');
  assert.equal(byte(drv, s), 0xee, 'and its status byte left alone');
  // The new queue works.
  assert.equal((await readSectors(drv, 0, 512)).status, BLK_S_OK);

  // A request in flight when the driver stops: dropped, and close() waits for it before closing.
  disk.hold = true;
  submitRequest(drv, BLK_T_OUT, 0, new Uint8Array(512));
  drv.kick(0);
  await new Promise((r) => setImmediate(r));
  const usedBefore = drv.usedIndex(0);
  drv.write(REG.status, 0);
  let closed = false;
  const closing = drv.device.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(closed, false, 'close waits for the write in flight');
  assert.ok(!disk.closed);
  disk.release();
  await closing;
  assert.ok(disk.closed, 'then closes the backend');
  assert.equal(drv.usedIndex(0), usedBefore, 'and the write was not completed into the stopped queue');
});

test('saveState is plain data with the counters', async () => {
  const { drv } = memoryDevice(16, { serial: 'S1' });
  await writeSectors(drv, 0, pattern(1024, 1));
  await readSectors(drv, 0, 1536);
  await readSectors(drv, 1, 512);
  await simple(drv, BLK_T_FLUSH);
  const state = drv.device.saveState() as VirtioBlkState;
  assert.deepEqual(JSON.parse(JSON.stringify(state)), state);
  assert.equal(state.serial, 'S1');
  assert.equal(state.capacitySectors, 16);
  assert.equal(state.counters.reads, 2);
  assert.equal(state.counters.writes, 1);
  assert.equal(state.counters.bytesRead, 2048);
  assert.equal(state.counters.bytesWritten, 1024);
  assert.equal(state.counters.flushes, 1);
});

test('openRawDisk refuses what is not a raw image, naming the file', async () => {
  const missing = join(dir, 'missing.img');
  await assert.rejects(
    openRawDisk(missing, { readOnly: false }),
    (e: Error) => e.message.includes(missing) && /no such file/.test(e.message),
  );
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  for (const readOnly of [false, true]) {
    await assert.rejects(
      openRawDisk(folder, { readOnly }),
      (e: Error) => e.message.includes(folder) && /directory/.test(e.message),
    );
  }
  const odd = imageFile(new Uint8Array(1000));
  await assert.rejects(
    openRawDisk(odd, { readOnly: false }),
    (e: Error) => e.message.includes(odd) && /1000 bytes is not a multiple of 512/.test(e.message),
  );
});

test('raw files: vectored I/O, short reads at EOF, write-zeroes, read-only', async () => {
  const path = imageFile(pattern(8 << 20, 3));
  const disk = await openRawDisk(path, { readOnly: false });
  assert.equal(disk.size, 8 << 20);
  assert.equal(disk.readOnly, false);
  // More iovecs than a single readv/writev takes (IOV_MAX is 1024 on Linux).
  const views = Array.from({ length: 2000 }, () => new Uint8Array(512));
  await disk.readv(views, 4096);
  const joined = new Uint8Array(2000 * 512);
  for (const [i, v] of views.entries()) joined.set(v, i * 512);
  assert.deepEqual(joined, pattern(8 << 20, 3).subarray(4096, 4096 + joined.length));
  for (const [i, v] of views.entries()) v.fill(i & 0xff);
  await disk.writev(views, 512);
  const file = readFileSync(path);
  for (const i of [0, 1023, 1024, 1999]) assert.equal(file[512 + i * 512 + 7], i & 0xff, `view ${i}`);

  // Zeroes over several chunks, ending mid-chunk and not on a chunk boundary.
  await disk.writeZeroes(512, (3 << 20) + 1536);
  const z = readFileSync(path);
  assert.equal(z[511], pattern(8 << 20, 3)[511]);
  assert.ok(z.subarray(512, 512 + (3 << 20) + 1536).every((b) => b === 0));
  assert.equal(z[512 + (3 << 20) + 1536], pattern(8 << 20, 3)[512 + (3 << 20) + 1536]);
  await disk.flush();
  await disk.discard(0, 4096);

  // Someone truncates the file behind our back: the part past EOF reads as zeroes, not stale bytes.
  truncateSync(path, 1024);
  const tail = [new Uint8Array(512).fill(0x55), new Uint8Array(1024).fill(0x55)];
  await disk.readv(tail, 512);
  assert.ok(tail[1].every((b) => b === 0));
  await disk.close();
  await disk.close();
  await assert.rejects(disk.readv([new Uint8Array(512)], 0), 'I/O after close rejects');

  const ro = await openRawDisk(path, { readOnly: true });
  assert.equal(ro.readOnly, true);
  assert.equal(ro.size, 1024);
  await assert.rejects(ro.writev([new Uint8Array(512)], 0));
  await assert.rejects(ro.writeZeroes(0, 512));
  await ro.close();
});
