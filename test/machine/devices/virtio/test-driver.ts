/**
 * A minimal virtio driver for tests: it plays the guest's part against a VirtioMmioTransport, writing
 * descriptor tables and rings into a plain RAM buffer and programming the registers as Linux does.
 * It can also write whatever garbage a test asks for, to check that the device survives it.
 */
import {
  DESC_F_INDIRECT,
  DESC_F_NEXT,
  DESC_F_WRITE,
  type FeatureWords,
  STATUS_ACKNOWLEDGE,
  STATUS_DRIVER,
  STATUS_DRIVER_OK,
  STATUS_FEATURES_OK,
} from '../../../../src/machine/devices/virtio/constants.js';
import type { VirtioDevice } from '../../../../src/machine/devices/virtio/device.js';
import { REG, VirtioMmioTransport } from '../../../../src/machine/devices/virtio/mmio-transport.js';
import { GuestMemory } from '../../../../src/machine/guest-memory.js';

export const RAM_BASE = 0x80000000;

export interface UsedEntry {
  head: number;
  written: number;
}

/** One buffer of a chain: `length` bytes at guest address `addr`, device-writable when `write`. */
export interface ChainBuffer {
  addr: number;
  length: number;
  write?: boolean;
}

interface QueueLayout {
  size: number;
  desc: number;
  avail: number;
  used: number;
  /** Next free descriptor (handed out in ring order; completions must keep up with submissions). */
  nextDesc: number;
  availIdx: number;
  lastUsed: number;
  /** Writable buffers of each chain made available and not completed yet, by head. */
  inFlight: Map<number, ChainBuffer[]>;
  /** Completed chains, by head, with their writable buffers (until the head is made available again). */
  done: Map<number, { entry: UsedEntry; writable: ChainBuffer[] }>;
  /** completion() callers, by head. */
  waiters: Map<number, { resolve(e: UsedEntry): void; reject(e: Error): void; deadline: number }>;
  polling: boolean;
}

export class TestDriver<D extends VirtioDevice = VirtioDevice> {
  readonly device: D;
  readonly memory: GuestMemory;
  readonly ram: Uint8Array;
  readonly transport: VirtioMmioTransport;
  readonly logs: string[] = [];
  /** Ranges of RAM the device reported writing (GuestMemory.written), as [offset, length]. */
  readonly invalidated: [number, number][] = [];
  irqLevel = false;
  /** Rising edges of the interrupt line. */
  interrupts = 0;
  /** Times the device reported used buffers (once per batch, whether or not that interrupted). */
  usedBufferCalls = 0;
  /**
   * When set, takeUsed throws on a used head that is not a chain this driver made available and has not
   * seen completed yet. Tests that scribble on the rings themselves turn it off.
   */
  strict = true;
  /** Byte fresh buffers are filled with: set it to make bytes the device did not write stand out. */
  fill = 0;
  /** Run deferred device work on its own, as the board's run loop does; off, a test calls step(). */
  autoStep = true;
  /** Steps of deferred device work that ran (each a runDeferred with something due). */
  deferredSteps = 0;
  private stepScheduled = false;
  private heap = 0x1000;
  private readonly queues = new Map<number, QueueLayout>();
  private readonly out = new Int32Array(2);

  constructor(device: D, ramSize = 4 << 20) {
    this.device = device;
    this.ram = new Uint8Array(ramSize);
    this.memory = new GuestMemory(RAM_BASE, this.ram, [
      { invalidateCode: (offset, length) => this.invalidated.push([offset, length]) },
    ]);
    const transport = new VirtioMmioTransport(0x10001000, device, {
      memory: this.memory,
      irq: {
        set: (level) => {
          if (level && !this.irqLevel) this.interrupts++;
          this.irqLevel = level;
        },
      },
      // Plays the run loop's part for deferred device work: one step per turn of the event loop.
      wake: () => {
        if (this.stepScheduled || !this.autoStep) return;
        this.stepScheduled = true;
        setImmediate(() => {
          this.stepScheduled = false;
          this.step();
        });
      },
      log: (m) => this.logs.push(m),
    });
    const usedBuffers = transport.usedBuffers.bind(transport);
    transport.usedBuffers = (q: number) => {
      this.usedBufferCalls++;
      usedBuffers(q);
    };
    this.transport = transport;
  }

  read(offset: number): number {
    if (!this.transport.read(offset, 4, this.out)) throw new Error(`read of ${offset} refused`);
    return this.out[0] >>> 0;
  }

  write(offset: number, value: number): void {
    if (!this.transport.write(offset, 4, value | 0, 0)) throw new Error(`write of ${offset} refused`);
  }

  /** A field of the device's configuration space, little-endian. */
  readConfig(offset: number, size: 1 | 2 | 4 | 8): number {
    if (!this.transport.read(REG.config + offset, size, this.out))
      throw new Error(`configuration read of ${offset} refused`);
    const [lo, hi] = this.out;
    if (size === 8) return (lo >>> 0) + (hi >>> 0) * 2 ** 32;
    return size === 4 ? lo >>> 0 : lo & (size === 1 ? 0xff : 0xffff);
  }

  get status(): number {
    return this.read(REG.status);
  }

  deviceFeatures(): FeatureWords {
    this.write(REG.deviceFeaturesSel, 0);
    const lo = this.read(REG.deviceFeatures);
    this.write(REG.deviceFeaturesSel, 1);
    return [lo, this.read(REG.deviceFeatures)];
  }

  /** Bump-allocates guest RAM (filled with `fill`); returns the guest physical address. */
  alloc(length: number, align = 16): number {
    this.heap = (this.heap + align - 1) & ~(align - 1);
    const at = this.heap;
    this.heap += length;
    if (this.heap > this.ram.length) throw new Error('test RAM exhausted');
    this.ram.fill(this.fill, at, this.heap);
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
   * Resets the device, negotiates (all offered features, or `features`), sets up the first `queues`
   * queues (all by default) with `size` entries and sets DRIVER_OK. Returns the final status.
   */
  init(options: { features?: FeatureWords; size?: number; queues?: number } = {}): number {
    this.write(REG.status, 0);
    this.queues.clear();
    this.write(REG.status, STATUS_ACKNOWLEDGE);
    this.write(REG.status, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    const features = options.features ?? this.deviceFeatures();
    this.write(REG.driverFeaturesSel, 0);
    this.write(REG.driverFeatures, features[0]);
    this.write(REG.driverFeaturesSel, 1);
    this.write(REG.driverFeatures, features[1]);
    this.write(REG.status, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    const count = options.queues ?? this.device.queueMaxSizes.length;
    for (let q = 0; q < count; q++)
      this.setupQueue(q, options.size ?? Math.min(64, this.device.queueMaxSizes[q]));
    this.write(REG.status, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
    return this.status;
  }

  setupQueue(q: number, size: number): void {
    const desc = this.alloc(16 * size, 16);
    const avail = this.alloc(6 + 2 * size, 2);
    const used = this.alloc(6 + 8 * size, 4);
    this.ram.fill(0, desc - RAM_BASE, used - RAM_BASE + 6 + 8 * size);
    this.write(REG.queueSel, q);
    this.write(REG.queueNum, size);
    this.write(REG.queueDescLow, desc);
    this.write(REG.queueDescHigh, 0);
    this.write(REG.queueDriverLow, avail);
    this.write(REG.queueDriverHigh, 0);
    this.write(REG.queueDeviceLow, used);
    this.write(REG.queueDeviceHigh, 0);
    this.write(REG.queueReady, 1);
    this.queues.set(q, {
      size,
      desc,
      avail,
      used,
      nextDesc: 0,
      availIdx: 0,
      lastUsed: 0,
      inFlight: new Map(),
      done: new Map(),
      waiters: new Map(),
      polling: false,
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
    return this.submitChain(
      q,
      [
        ...readable.map((b) => ({ addr: this.put(b), length: b.length })),
        ...writableLengths.map((n) => ({ addr: this.alloc(n || 1), length: n, write: true })),
      ],
      options,
    );
  }

  /**
   * Makes a chain of exactly these buffers available on queue q (without notifying), as a direct chain
   * or through one indirect table. Returns the head index.
   */
  submitChain(q: number, buffers: ChainBuffer[], options: { indirect?: boolean } = {}): number {
    const l = this.layout(q);
    const head = l.nextDesc;
    const flags = (b: ChainBuffer, i: number) =>
      (b.write ? DESC_F_WRITE : 0) | (i < buffers.length - 1 ? DESC_F_NEXT : 0);
    if (options.indirect) {
      const table = this.alloc(16 * buffers.length, 16);
      buffers.forEach((b, i) => {
        this.writeDescriptor(table, i, b.addr, b.length, flags(b, i), i < buffers.length - 1 ? i + 1 : 0);
      });
      this.writeDescriptor(l.desc, head, table, 16 * buffers.length, DESC_F_INDIRECT, 0);
      l.nextDesc = (l.nextDesc + 1) % l.size;
    } else {
      buffers.forEach((b, i) => {
        const index = (head + i) % l.size;
        this.writeDescriptor(l.desc, index, b.addr, b.length, flags(b, i), (index + 1) % l.size);
      });
      l.nextDesc = (l.nextDesc + buffers.length) % l.size;
    }
    l.inFlight.set(
      head,
      buffers.filter((b) => b.write),
    );
    l.done.delete(head);
    this.publish(q, head);
    return head;
  }

  kick(q: number): void {
    this.write(REG.queueNotify, q);
  }

  /** One step of the device's deferred work, as the run loop takes it between guest batches. */
  step(): void {
    if (!this.transport.hasDeferred) return;
    this.deferredSteps++;
    this.transport.runDeferred();
  }

  /** The used ring's index: how many chains the device has completed on queue q (mod 2^16). */
  usedIndex(q: number): number {
    return this.memory.u16(this.layout(q).used - RAM_BASE + 2);
  }

  /** Used entries the device added since the last call. */
  takeUsed(q: number): UsedEntry[] {
    const l = this.layout(q);
    const usedIdx = this.usedIndex(q);
    const entries: UsedEntry[] = [];
    while (l.lastUsed !== usedIdx) {
      const slot = l.used - RAM_BASE + 4 + 8 * (l.lastUsed % l.size);
      const entry = { head: this.memory.u32(slot), written: this.memory.u32(slot + 4) };
      const writable = l.inFlight.get(entry.head);
      if (writable) l.inFlight.delete(entry.head);
      else if (this.strict) throw new Error(`queue ${q}: used head ${entry.head} was not available`);
      l.done.set(entry.head, { entry, writable: writable ?? [] });
      entries.push(entry);
      l.lastUsed = (l.lastUsed + 1) & 0xffff;
    }
    return entries;
  }

  /** What the device wrote into the writable buffers of a request, concatenated. */
  writtenBytes(q: number, entry: UsedEntry): Uint8Array {
    const l = this.layout(q);
    const parts = l.done.get(entry.head)?.writable ?? l.inFlight.get(entry.head) ?? [];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(this.bytesAt(p.addr, p.length), at);
      at += p.length;
    }
    return out.subarray(0, entry.written);
  }

  /**
   * Waits (on the event loop) until queue q has at least n new used entries, then for a turn more so
   * that a batched interrupt goes out too.
   */
  async waitUsed(q: number, n: number, timeoutMs = 5000): Promise<UsedEntry[]> {
    const got: UsedEntry[] = [];
    const started = Date.now();
    for (;;) {
      got.push(...this.takeUsed(q));
      if (got.length >= n) break;
      if (Date.now() - started > timeoutMs)
        throw new Error(`queue ${q}: ${got.length} of ${n} completions after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setImmediate(r));
    return got;
  }

  /**
   * Resolves with the used entry of the chain at `head` on queue q once the device completes it, so that
   * several requests may be awaited at once: completions resolve in the order of the used ring. Rejects
   * if the queue is set up again first, or after `timeoutMs`.
   */
  completion(q: number, head: number, timeoutMs = 5000): Promise<UsedEntry> {
    const l = this.layout(q);
    const done = l.done.get(head);
    if (done) return Promise.resolve(done.entry);
    return new Promise((resolve, reject) => {
      l.waiters.set(head, { resolve, reject, deadline: Date.now() + timeoutMs });
      this.poll(q, l);
    });
  }

  /** Collects used entries of queue q for completion() waiters until none is left waiting. */
  private poll(q: number, l: QueueLayout): void {
    if (l.polling) return;
    l.polling = true;
    const fail = (reason: Error) => {
      for (const w of l.waiters.values()) w.reject(reason);
      l.waiters.clear();
    };
    const tick = (): void => {
      if (this.queues.get(q) !== l) fail(new Error(`queue ${q} was set up again before completing`));
      else {
        try {
          for (const entry of this.takeUsed(q)) {
            l.waiters.get(entry.head)?.resolve(entry);
            l.waiters.delete(entry.head);
          }
        } catch (e) {
          fail(e as Error);
        }
        const now = Date.now();
        for (const [head, w] of l.waiters) {
          if (now < w.deadline) continue;
          l.waiters.delete(head);
          w.reject(new Error(`queue ${q}: head ${head} not completed in time`));
        }
      }
      if (l.waiters.size > 0) setTimeout(tick, 1);
      else l.polling = false;
    };
    setTimeout(tick, 0);
  }

  /** Acknowledges every pending interrupt reason. */
  ack(): number {
    const status = this.read(REG.interruptStatus);
    this.write(REG.interruptAck, status);
    return status;
  }

  /** Guest address of queue q's areas, for tests that scribble on them. */
  queueAreas(q: number): { desc: number; avail: number; used: number; size: number } {
    const l = this.layout(q);
    return { desc: l.desc, avail: l.avail, used: l.used, size: l.size };
  }
}
