/**
 * A minimal virtio driver for tests: it plays the guest's part against a VirtioMmioTransport, writing
 * descriptor tables and rings into a plain RAM buffer and programming the registers as Linux does.
 * It can also write whatever garbage a test asks for, to check that the device survives it.
 */
import type { FeatureWords } from '../../../../src/machine/devices/virtio/constants.js';
import type { VirtioDevice } from '../../../../src/machine/devices/virtio/device.js';
import { VirtioMmioTransport } from '../../../../src/machine/devices/virtio/mmio-transport.js';
import { GuestMemory } from '../../../../src/machine/guest-memory.js';

export const RAM_BASE = 0x80000000;
const F_NEXT = 1;
const F_WRITE = 2;
const F_INDIRECT = 4;

export interface UsedEntry {
  head: number;
  written: number;
}

interface QueueLayout {
  size: number;
  desc: number;
  avail: number;
  used: number;
  /** Next free descriptor (the driver here never recycles within one test queue). */
  nextDesc: number;
  availIdx: number;
  lastUsed: number;
  /** Writable buffers of each submitted head, to read back what the device wrote. */
  writable: Map<number, { addr: number; length: number }[]>;
}

export class TestDriver {
  readonly memory: GuestMemory;
  readonly ram: Uint8Array;
  readonly transport: VirtioMmioTransport;
  readonly logs: string[] = [];
  irqLevel = false;
  interrupts = 0;
  private heap = 0x1000;
  private readonly queues = new Map<number, QueueLayout>();
  private readonly out = new Int32Array(2);

  constructor(device: VirtioDevice, ramSize = 4 << 20) {
    this.ram = new Uint8Array(ramSize);
    this.memory = new GuestMemory(RAM_BASE, this.ram, []);
    this.transport = new VirtioMmioTransport(0x10001000, device, {
      memory: this.memory,
      irq: {
        set: (level) => {
          if (level && !this.irqLevel) this.interrupts++;
          this.irqLevel = level;
        },
      },
      wake: () => {},
      log: (m) => this.logs.push(m),
    });
  }

  read(offset: number): number {
    this.transport.read(offset, 4, this.out);
    return this.out[0] >>> 0;
  }

  write(offset: number, value: number): void {
    this.transport.write(offset, 4, value | 0, 0);
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    this.transport.read(0x100 + offset, size, this.out);
    return size === 4 ? this.out[0] >>> 0 : this.out[0] & (size === 1 ? 0xff : 0xffff);
  }

  get status(): number {
    return this.read(0x070);
  }

  deviceFeatures(): FeatureWords {
    this.write(0x014, 0);
    const lo = this.read(0x010);
    this.write(0x014, 1);
    return [lo, this.read(0x010)];
  }

  /** Bump-allocates guest RAM; returns the guest physical address. */
  alloc(length: number, align = 16): number {
    this.heap = (this.heap + align - 1) & ~(align - 1);
    const at = this.heap;
    this.heap += length;
    if (this.heap > this.ram.length) throw new Error('test RAM exhausted');
    return RAM_BASE + at;
  }

  put(bytes: Uint8Array): number {
    const addr = this.alloc(bytes.length || 1);
    this.ram.set(bytes, addr - RAM_BASE);
    return addr;
  }

  bytesAt(addr: number, length: number): Uint8Array {
    return this.ram.slice(addr - RAM_BASE, addr - RAM_BASE + length);
  }

  /**
   * Negotiates (all offered features, or `features`), sets up every queue with `size` entries and sets
   * DRIVER_OK. Returns the final status.
   */
  init(options: { features?: FeatureWords; size?: number; queues?: number } = {}): number {
    this.write(0x070, 0);
    this.write(0x070, 1);
    this.write(0x070, 1 | 2);
    const features = options.features ?? this.deviceFeatures();
    this.write(0x024, 0);
    this.write(0x020, features[0]);
    this.write(0x024, 1);
    this.write(0x020, features[1]);
    this.write(0x070, 1 | 2 | 8);
    const count = options.queues ?? this.transport.device.queueMaxSizes.length;
    for (let q = 0; q < count; q++)
      this.setupQueue(q, options.size ?? Math.min(64, this.transport.device.queueMaxSizes[q]));
    this.write(0x070, 1 | 2 | 8 | 4);
    return this.status;
  }

  setupQueue(q: number, size: number): void {
    const desc = this.alloc(16 * size, 16);
    const avail = this.alloc(6 + 2 * size, 2);
    const used = this.alloc(6 + 8 * size, 4);
    this.write(0x030, q);
    this.write(0x038, size);
    this.write(0x080, desc);
    this.write(0x084, 0);
    this.write(0x090, avail);
    this.write(0x094, 0);
    this.write(0x0a0, used);
    this.write(0x0a4, 0);
    this.write(0x044, 1);
    this.queues.set(q, {
      size,
      desc,
      avail,
      used,
      nextDesc: 0,
      availIdx: 0,
      lastUsed: 0,
      writable: new Map(),
    });
  }

  private layout(q: number): QueueLayout {
    const l = this.queues.get(q);
    if (!l) throw new Error(`queue ${q} not set up`);
    return l;
  }

  /** Writes descriptor `index` of a table at guest address `table`. */
  writeDescriptor(
    table: number,
    index: number,
    addr: number,
    len: number,
    flags: number,
    next: number,
  ): void {
    const o = table - RAM_BASE + 16 * index;
    const v = this.memory.view;
    v.setUint32(o, addr >>> 0, true);
    v.setUint32(o + 4, Math.floor(addr / 2 ** 32), true);
    v.setUint32(o + 8, len >>> 0, true);
    v.setUint16(o + 12, flags, true);
    v.setUint16(o + 14, next, true);
  }

  /** Makes head `head` available on queue q (without notifying). */
  publish(q: number, head: number): void {
    const l = this.layout(q);
    this.memory.setU16(l.avail - RAM_BASE + 4 + 2 * (l.availIdx % l.size), head);
    l.availIdx = (l.availIdx + 1) & 0xffff;
    this.memory.setU16(l.avail - RAM_BASE + 2, l.availIdx);
  }

  /**
   * Puts a request on queue q: device-readable buffers, then device-writable buffers of the given
   * lengths, as a direct chain or through one indirect table. Returns the head index.
   */
  submit(
    q: number,
    readable: Uint8Array[],
    writableLengths: number[],
    options: { indirect?: boolean } = {},
  ): number {
    const l = this.layout(q);
    const buffers = [
      ...readable.map((b) => ({ addr: this.put(b), length: b.length, write: false })),
      ...writableLengths.map((n) => ({ addr: this.alloc(n || 1), length: n, write: true })),
    ];
    const head = l.nextDesc;
    if (options.indirect) {
      const table = this.alloc(16 * buffers.length, 16);
      buffers.forEach((b, i) => {
        const last = i === buffers.length - 1;
        this.writeDescriptor(
          table,
          i,
          b.addr,
          b.length,
          (b.write ? F_WRITE : 0) | (last ? 0 : F_NEXT),
          last ? 0 : i + 1,
        );
      });
      this.writeDescriptor(l.desc, head, table, 16 * buffers.length, F_INDIRECT, 0);
      l.nextDesc = (l.nextDesc + 1) % l.size;
    } else {
      buffers.forEach((b, i) => {
        const index = (head + i) % l.size;
        const last = i === buffers.length - 1;
        this.writeDescriptor(
          l.desc,
          index,
          b.addr,
          b.length,
          (b.write ? F_WRITE : 0) | (last ? 0 : F_NEXT),
          (index + 1) % l.size,
        );
      });
      l.nextDesc = (l.nextDesc + buffers.length) % l.size;
    }
    l.writable.set(
      head,
      buffers.filter((b) => b.write),
    );
    this.publish(q, head);
    return head;
  }

  kick(q: number): void {
    this.write(0x050, q);
  }

  /** Used entries the device added since the last call. */
  takeUsed(q: number): UsedEntry[] {
    const l = this.layout(q);
    const usedIdx = this.memory.u16(l.used - RAM_BASE + 2);
    const entries: UsedEntry[] = [];
    while (l.lastUsed !== usedIdx) {
      const slot = l.used - RAM_BASE + 4 + 8 * (l.lastUsed % l.size);
      entries.push({ head: this.memory.u32(slot), written: this.memory.u32(slot + 4) });
      l.lastUsed = (l.lastUsed + 1) & 0xffff;
    }
    return entries;
  }

  /** What the device wrote into the writable buffers of a request, concatenated. */
  writtenBytes(q: number, entry: UsedEntry): Uint8Array {
    const parts = this.layout(q).writable.get(entry.head) ?? [];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(this.bytesAt(p.addr, p.length), at);
      at += p.length;
    }
    return out.subarray(0, entry.written);
  }

  /** Waits (on the event loop) until queue q has at least n new used entries. */
  async waitUsed(q: number, n: number, timeoutMs = 5000): Promise<UsedEntry[]> {
    const got: UsedEntry[] = [];
    const started = Date.now();
    for (;;) {
      got.push(...this.takeUsed(q));
      if (got.length >= n) return got;
      if (Date.now() - started > timeoutMs)
        throw new Error(`queue ${q}: ${got.length} of ${n} completions after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Acknowledges every pending interrupt reason. */
  ack(): number {
    const status = this.read(0x060);
    this.write(0x064, status);
    return status;
  }

  /** Guest address of queue q's areas, for tests that scribble on them. */
  queueAreas(q: number): { desc: number; avail: number; used: number; size: number } {
    const l = this.layout(q);
    return { desc: l.desc, avail: l.avail, used: l.used, size: l.size };
  }
}
