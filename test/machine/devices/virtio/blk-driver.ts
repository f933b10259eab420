/**
 * A minimal virtio-blk driver for unit tests: guest RAM as a Uint8Array, the device behind a real
 * VirtioMmioTransport, and requests built by hand as descriptor chains, so that tests can split
 * headers, data and status across descriptors any way they like.
 */

import {
  type FeatureWords,
  STATUS_ACKNOWLEDGE,
  STATUS_DRIVER,
  STATUS_DRIVER_OK,
  STATUS_FEATURES_OK,
} from '../../../../src/machine/devices/virtio/constants.js';
import type { VirtioDevice } from '../../../../src/machine/devices/virtio/device.js';
import { VirtioMmioTransport } from '../../../../src/machine/devices/virtio/mmio-transport.js';
import { GuestMemory } from '../../../../src/machine/guest-memory.js';
import type { BlockBackend } from '../../../../src/storage/block-backend.js';

export const RAM_BASE = 0x8000_0000;
const QUEUE_SIZE = 256;
const DESC = 0x0000;
const AVAIL = 0x1000;
const USED = 0x2000;
const HEAP = 0x4000;

/** One buffer of a chain: `length` bytes at RAM offset `at`, device-writable when `write`. */
export interface ChainBuffer {
  at: number;
  length: number;
  write?: boolean;
}

export class BlkDriver {
  readonly ram: Uint8Array;
  readonly memory: GuestMemory;
  readonly transport: VirtioMmioTransport;
  readonly device: VirtioDevice;
  /** Ranges the device reported writing (GuestMemory.written). */
  readonly invalidated: [number, number][] = [];
  readonly logs: string[] = [];
  /** How many times the device asked to interrupt for used buffers (one per batch). */
  usedBufferCalls = 0;
  irqLevel = false;
  private heap = HEAP;
  private nextDesc = 0;
  private availIdx = 0;
  private lastUsed = 0;
  private readonly out = new Int32Array(2);

  constructor(device: VirtioDevice, ramSize = 4 << 20) {
    this.ram = new Uint8Array(ramSize);
    this.memory = new GuestMemory(RAM_BASE, this.ram, [
      { invalidateCode: (offset, length) => this.invalidated.push([offset, length]) },
    ]);
    this.device = device;
    this.transport = new VirtioMmioTransport(0x1000_1000, device, {
      memory: this.memory,
      irq: { set: (level) => (this.irqLevel = level) },
      wake: () => {},
      log: (m) => this.logs.push(m),
    });
    const t = this.transport;
    const usedBuffers = t.usedBuffers.bind(t);
    t.usedBuffers = (q: number) => {
      this.usedBufferCalls++;
      usedBuffers(q);
    };
  }

  reg(offset: number): number {
    this.transport.read(offset, 4, this.out);
    return this.out[0] >>> 0;
  }

  setReg(offset: number, value: number): void {
    this.transport.write(offset, 4, value | 0, 0);
  }

  configU8(offset: number): number {
    this.transport.read(0x100 + offset, 1, this.out);
    return this.out[0] & 0xff;
  }

  configU32(offset: number): number {
    return this.reg(0x100 + offset);
  }

  configU64(offset: number): number {
    return this.reg(0x100 + offset) + this.reg(0x104 + offset) * 2 ** 32;
  }

  get offered(): FeatureWords {
    this.setReg(0x014, 0);
    const lo = this.reg(0x010);
    this.setReg(0x014, 1);
    return [lo, this.reg(0x010)];
  }

  /** Negotiates `features` (all offered by default), sets up queue 0 and starts the device. */
  start(features: FeatureWords = this.offered): void {
    this.setReg(0x070, 0);
    this.ram.fill(0, 0, HEAP);
    this.nextDesc = 0;
    this.availIdx = 0;
    this.lastUsed = 0;
    this.setReg(0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    this.setReg(0x024, 0);
    this.setReg(0x020, features[0]);
    this.setReg(0x024, 1);
    this.setReg(0x020, features[1]);
    this.setReg(0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    this.setReg(0x030, 0);
    this.setReg(0x038, QUEUE_SIZE);
    this.setReg(0x080, RAM_BASE + DESC);
    this.setReg(0x090, RAM_BASE + AVAIL);
    this.setReg(0x0a0, RAM_BASE + USED);
    this.setReg(0x044, 1);
    this.setReg(0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  }

  get status(): number {
    return this.reg(0x070);
  }

  /** `length` bytes of fresh RAM (filled with 0xee so that untouched bytes stand out). */
  alloc(length: number): number {
    const at = this.heap;
    this.heap = (this.heap + length + 15) & ~15;
    if (this.heap > this.ram.length) throw new Error('test RAM exhausted');
    this.ram.fill(0xee, at, at + length);
    return at;
  }

  /** Makes a chain available (without notifying); returns its head descriptor index. */
  submit(buffers: ChainBuffer[]): number {
    const v = this.memory.view;
    const head = this.nextDesc;
    buffers.forEach((b, i) => {
      const d = DESC + 16 * ((head + i) % QUEUE_SIZE);
      v.setUint32(d, RAM_BASE + b.at, true);
      v.setUint32(d + 4, 0, true);
      v.setUint32(d + 8, b.length, true);
      v.setUint16(d + 12, (i + 1 < buffers.length ? 1 : 0) | (b.write ? 2 : 0), true);
      v.setUint16(d + 14, (head + i + 1) % QUEUE_SIZE, true);
    });
    this.nextDesc = (head + buffers.length) % QUEUE_SIZE;
    v.setUint16(AVAIL + 4 + 2 * (this.availIdx % QUEUE_SIZE), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    v.setUint16(AVAIL + 2, this.availIdx, true);
    return head;
  }

  notify(): void {
    this.setReg(0x050, 0);
  }

  get usedIdx(): number {
    return this.memory.u16(USED + 2);
  }

  /** Used entries the driver has not collected yet. */
  takeUsed(): { id: number; len: number }[] {
    const entries: { id: number; len: number }[] = [];
    const now = this.usedIdx;
    while (this.lastUsed !== now) {
      const slot = USED + 4 + 8 * (this.lastUsed % QUEUE_SIZE);
      entries.push({ id: this.memory.u32(slot), len: this.memory.u32(slot + 4) });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return entries;
  }

  /** Waits (turning the event loop) until `count` used entries are pending, then takes them. */
  async waitUsed(count: number, timeoutMs = 5000): Promise<{ id: number; len: number }[]> {
    const started = Date.now();
    while (((this.usedIdx - this.lastUsed) & 0xffff) < count) {
      if (Date.now() - started > timeoutMs)
        throw new Error(
          `timed out waiting for ${count} used entries (have ${(this.usedIdx - this.lastUsed) & 0xffff})`,
        );
      await new Promise((r) => setTimeout(r, 1));
    }
    // Let the batched interrupt go out too.
    await new Promise((r) => setImmediate(r));
    return this.takeUsed();
  }

  /** A 16-byte request header in fresh RAM. */
  header(type: number, sector: number): number {
    const at = this.alloc(16);
    const v = this.memory.view;
    v.setUint32(at, type, true);
    v.setUint32(at + 4, 0, true);
    v.setUint32(at + 8, sector >>> 0, true);
    v.setUint32(at + 12, Math.floor(sector / 2 ** 32), true);
    return at;
  }

  /** Reads `sectors` sectors at `sector` in one request; resolves with the status and the data. */
  async read(sector: number, length: number): Promise<{ status: number; data: Uint8Array; len: number }> {
    const h = this.header(0, sector);
    const data = this.alloc(length);
    const status = this.alloc(1);
    this.submit([
      { at: h, length: 16 },
      { at: data, length, write: true },
      { at: status, length: 1, write: true },
    ]);
    this.notify();
    const [used] = await this.waitUsed(1);
    return { status: this.ram[status], data: this.ram.slice(data, data + length), len: used.len };
  }

  /** Writes `bytes` at `sector` in one request; resolves with the status byte. */
  async write(sector: number, bytes: Uint8Array): Promise<number> {
    const h = this.header(1, sector);
    const data = this.alloc(bytes.length);
    this.ram.set(bytes, data);
    const status = this.alloc(1);
    this.submit([
      { at: h, length: 16 },
      { at: data, length: bytes.length },
      { at: status, length: 1, write: true },
    ]);
    this.notify();
    await this.waitUsed(1);
    return this.ram[status];
  }

  /** A request of any type with only a header and a status; resolves with the status byte. */
  async simple(type: number, sector = 0): Promise<number> {
    const h = this.header(type, sector);
    const status = this.alloc(1);
    this.submit([
      { at: h, length: 16 },
      { at: status, length: 1, write: true },
    ]);
    this.notify();
    await this.waitUsed(1);
    return this.ram[status];
  }

  /** A discard (11) or write-zeroes (13) request with these segments; resolves with the status byte. */
  async ranges(
    type: number,
    segments: { sector: number; sectors: number; flags?: number }[],
  ): Promise<number> {
    const h = this.header(type, 0);
    const seg = this.alloc(16 * segments.length);
    const v = this.memory.view;
    segments.forEach((s, i) => {
      v.setUint32(seg + 16 * i, s.sector >>> 0, true);
      v.setUint32(seg + 16 * i + 4, Math.floor(s.sector / 2 ** 32), true);
      v.setUint32(seg + 16 * i + 8, s.sectors, true);
      v.setUint32(seg + 16 * i + 12, s.flags ?? 0, true);
    });
    const status = this.alloc(1);
    this.submit([
      { at: h, length: 16 },
      { at: seg, length: 16 * segments.length },
      { at: status, length: 1, write: true },
    ]);
    this.notify();
    await this.waitUsed(1);
    return this.ram[status];
  }
}

/**
 * A disk in host memory whose operations can be held back (to finish in a chosen order) or made to
 * fail, and which records what it was asked to do.
 */
export class MemoryDisk implements BlockBackend {
  readonly name = 'memory';
  readonly data: Uint8Array;
  readonly readOnly: boolean;
  readonly calls: string[] = [];
  /** When true, operations wait until release() is called. */
  hold = false;
  fail = false;
  closed = false;
  private held: (() => void)[] = [];

  constructor(size: number, readOnly = false) {
    this.data = new Uint8Array(size);
    this.readOnly = readOnly;
  }

  get size(): number {
    return this.data.length;
  }

  get pending(): number {
    return this.held.length;
  }

  /** Lets the held operation with this index (in order of arrival among those held) finish. */
  release(index = 0): void {
    const [go] = this.held.splice(index, 1);
    go?.();
  }

  private async gate(what: string): Promise<void> {
    this.calls.push(what);
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.fail) throw new Error(`${what}: EIO`);
  }

  async readv(views: Uint8Array[], position: number): Promise<void> {
    await this.gate(`readv ${position}`);
    let at = position;
    for (const v of views) {
      v.set(this.data.subarray(at, at + v.length));
      at += v.length;
    }
  }

  async writev(views: Uint8Array[], position: number): Promise<void> {
    await this.gate(`writev ${position}`);
    let at = position;
    for (const v of views) {
      this.data.set(v, at);
      at += v.length;
    }
  }

  async flush(): Promise<void> {
    await this.gate('flush');
  }

  async discard(position: number, length: number): Promise<void> {
    await this.gate(`discard ${position} ${length}`);
  }

  async writeZeroes(position: number, length: number): Promise<void> {
    await this.gate(`writeZeroes ${position} ${length}`);
    this.data.fill(0, position, position + length);
  }

  async close(): Promise<void> {
    this.calls.push('close');
    this.closed = true;
  }
}
