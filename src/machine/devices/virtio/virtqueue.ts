/**
 * A split virtqueue (VIRTIO 1.2, 2.7) read and written in place in guest RAM. Everything the guest
 * wrote is untrusted: ring indices, descriptor addresses, lengths and `next` links are checked before
 * use, and anything malformed throws VirtqueueError, which the transport turns into
 * DEVICE_NEEDS_RESET. Nothing a guest writes can make the host read or write outside guest RAM or
 * loop forever (a chain longer than its table is a loop), nor make the device hold more requests than
 * the ring has entries, nor hand it a chain of more than MAX_CHAIN_DESCRIPTORS buffers.
 */
import type { GuestMemory } from '../../guest-memory.js';
import {
  AVAIL_F_NO_INTERRUPT,
  DESC_F_INDIRECT,
  DESC_F_NEXT,
  DESC_F_WRITE,
  MAX_QUEUE_SIZE,
  USED_F_NO_NOTIFY,
} from './constants.js';

export class VirtqueueError extends Error {}

/**
 * The most buffers one chain may have, indirect tables included: what QEMU accepts (VIRTQUEUE_MAX_SIZE)
 * and more than Linux ever builds. It bounds the host work and memory of a single request.
 */
export const MAX_CHAIN_DESCRIPTORS = 1024;

/** The registers a driver programs for one queue, as plain data. */
export interface VirtqueueState {
  size: number;
  ready: boolean;
  /** Guest physical addresses as [low, high] words of the descriptor table, driver and device areas. */
  desc: [number, number];
  driver: [number, number];
  device: [number, number];
  /** Next avail ring slot the device will take (free-running 16-bit). */
  lastAvail: number;
  /** Next used ring slot the device will fill (free-running 16-bit). */
  usedIdx: number;
  /** used.idx when the driver was last interrupted, for EVENT_IDX suppression. */
  signalledUsed: number;
}

export function emptyQueueState(maxSize: number): VirtqueueState {
  return {
    size: maxSize,
    ready: false,
    desc: [0, 0],
    driver: [0, 0],
    device: [0, 0],
    lastAvail: 0,
    usedIdx: 0,
    signalledUsed: 0,
  };
}

/**
 * One request: the head index to complete it with, then its buffers in order, the device-readable ones
 * first. Offsets are into GuestMemory.bytes and were checked to lie inside RAM.
 */
export class DescriptorChain {
  readonly head: number;
  readonly offsets: number[] = [];
  readonly lengths: number[] = [];
  /** Buffers [0, readableCount) are device-readable, the rest device-writable. */
  readableCount = 0;
  readableLength = 0;
  writableLength = 0;

  constructor(head: number) {
    this.head = head;
  }

  /** Copies device-readable bytes, starting `from` bytes in, into `dest`; returns how many were copied. */
  read(memory: GuestMemory, dest: Uint8Array, from = 0): number {
    let copied = 0;
    let skip = from;
    for (let i = 0; i < this.readableCount && copied < dest.length; i++) {
      const len = this.lengths[i];
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const n = Math.min(len - skip, dest.length - copied);
      dest.set(memory.bytes.subarray(this.offsets[i] + skip, this.offsets[i] + skip + n), copied);
      copied += n;
      skip = 0;
    }
    return copied;
  }

  /** Copies `src` into the device-writable buffers starting `at` bytes in; returns how many fit. */
  write(memory: GuestMemory, src: Uint8Array, at = 0): number {
    let copied = 0;
    let skip = at;
    for (let i = this.readableCount; i < this.offsets.length && copied < src.length; i++) {
      const len = this.lengths[i];
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const n = Math.min(len - skip, src.length - copied);
      const offset = this.offsets[i] + skip;
      memory.bytes.set(src.subarray(copied, copied + n), offset);
      memory.written(offset, n);
      copied += n;
      skip = 0;
    }
    return copied;
  }

  /** Views of the device-writable buffers, for host I/O straight into guest RAM (call written() after). */
  writableViews(memory: GuestMemory): Uint8Array[] {
    const views: Uint8Array[] = [];
    for (let i = this.readableCount; i < this.offsets.length; i++) {
      views.push(memory.bytes.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]));
    }
    return views;
  }

  /** Views of the device-readable buffers, for host I/O straight from guest RAM. */
  readableViews(memory: GuestMemory): Uint8Array[] {
    const views: Uint8Array[] = [];
    for (let i = 0; i < this.readableCount; i++) {
      views.push(memory.bytes.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]));
    }
    return views;
  }
}

export class Virtqueue {
  readonly index: number;
  readonly maxSize: number;
  state: VirtqueueState;
  private readonly memory: GuestMemory;
  private eventIdx = false;
  private indirect = false;
  /** RAM offsets of the three areas, valid while the queue is enabled. */
  private descOff = 0;
  private availOff = 0;
  private usedOff = 0;

  constructor(index: number, maxSize: number, memory: GuestMemory) {
    this.index = index;
    this.maxSize = maxSize;
    this.memory = memory;
    this.state = emptyQueueState(maxSize);
  }

  get ready(): boolean {
    return this.state.ready;
  }

  reset(): void {
    this.state = emptyQueueState(this.maxSize);
  }

  /**
   * Checks the driver's layout and starts using the queue (QueueReady = 1). Throws VirtqueueError for a
   * size that is not a power of two within the maximum, or areas that are misaligned or outside RAM.
   */
  enable(eventIdx: boolean, indirect: boolean): void {
    const s = this.state;
    const size = s.size;
    if (!(size >= 1 && size <= this.maxSize && size <= MAX_QUEUE_SIZE && (size & (size - 1)) === 0)) {
      throw new VirtqueueError(
        `queue ${this.index}: size ${size} is not a power of two in 1..${this.maxSize}`,
      );
    }
    const extra = eventIdx ? 2 : 0;
    this.descOff = this.area('descriptor table', s.desc, 16 * size, 16);
    this.availOff = this.area('driver area', s.driver, 4 + 2 * size + extra, 2);
    this.usedOff = this.area('device area', s.device, 4 + 8 * size + extra, 4);
    this.eventIdx = eventIdx;
    this.indirect = indirect;
    s.ready = true;
  }

  /** Re-derives RAM offsets after restoreState (the state holds only what the driver wrote). */
  restore(state: VirtqueueState, eventIdx: boolean, indirect: boolean): void {
    this.state = { ...state, desc: [...state.desc], driver: [...state.driver], device: [...state.device] };
    if (state.ready) this.enable(eventIdx, indirect);
  }

  private area(what: string, address: [number, number], length: number, align: number): number {
    const offset = this.memory.offsetOf(address[0], address[1], length);
    if (offset < 0 || (address[0] & (align - 1)) !== 0) {
      const hex = (address[1] * 2 ** 32 + address[0]).toString(16);
      throw new VirtqueueError(
        `queue ${this.index}: ${what} at 0x${hex} (${length} bytes) is ${offset < 0 ? 'outside RAM' : `not ${align}-byte aligned`}`,
      );
    }
    return offset;
  }

  /**
   * Chains taken and not yet returned. Each pop advances lastAvail and each push usedIdx by one, so the
   * difference is exact without more state (and survives save/restore).
   */
  get inUse(): number {
    return (this.state.lastAvail - this.state.usedIdx) & 0xffff;
  }

  /** True when the driver has made buffers available that the device has not taken yet. */
  hasAvailable(): boolean {
    if (!this.state.ready) return false;
    return this.memory.u16(this.availOff + 2) !== this.state.lastAvail;
  }

  /**
   * Takes the next available descriptor chain, or returns null when the ring is empty. With EVENT_IDX,
   * an empty ring also tells the driver to notify again as soon as it adds a buffer.
   */
  pop(): DescriptorChain | null {
    const s = this.state;
    if (!s.ready) return null;
    const mem = this.memory;
    const availIdx = mem.u16(this.availOff + 2);
    const pending = (availIdx - s.lastAvail) & 0xffff;
    if (pending === 0) {
      if (this.eventIdx) mem.setU16(this.usedOff + 4 + 8 * s.size, s.lastAvail);
      return null;
    }
    if (pending > s.size) {
      throw new VirtqueueError(
        `queue ${this.index}: avail.idx ${availIdx} is ${pending} ahead of the device, more than the ${s.size} entries of the ring`,
      );
    }
    // A driver cannot have more chains outstanding than it has descriptors: one that posts another while
    // `size` are with the device is re-posting buffers in flight, which would let it queue unbounded work.
    if (this.inUse >= s.size) {
      throw new VirtqueueError(
        `queue ${this.index}: virtqueue size exceeded (${s.size} requests already in flight, avail.idx ${availIdx})`,
      );
    }
    const head = mem.u16(this.availOff + 4 + 2 * (s.lastAvail % s.size));
    s.lastAvail = (s.lastAvail + 1) & 0xffff;
    if (this.eventIdx) mem.setU16(this.usedOff + 4 + 8 * s.size, s.lastAvail);
    return this.walk(head);
  }

  private walk(head: number): DescriptorChain {
    const s = this.state;
    const mem = this.memory;
    if (head >= s.size)
      throw new VirtqueueError(`queue ${this.index}: head descriptor ${head} >= size ${s.size}`);
    const chain = new DescriptorChain(head);
    let table = this.descOff;
    let tableSize = s.size;
    let index = head;
    let steps = 0;
    let inIndirect = false;
    for (;;) {
      if (++steps > tableSize) {
        throw new VirtqueueError(
          `queue ${this.index}: descriptor chain from ${head} loops or exceeds its table`,
        );
      }
      if (chain.offsets.length >= MAX_CHAIN_DESCRIPTORS) {
        throw new VirtqueueError(
          `queue ${this.index}: descriptor chain from ${head} has more than ${MAX_CHAIN_DESCRIPTORS} buffers`,
        );
      }
      const d = table + 16 * index;
      const addrLo = mem.u32(d);
      const addrHi = mem.u32(d + 4);
      const len = mem.u32(d + 8);
      const flags = mem.u16(d + 12);
      const next = mem.u16(d + 14);
      if (flags & DESC_F_INDIRECT) {
        if (!this.indirect || inIndirect || flags & DESC_F_NEXT) {
          throw new VirtqueueError(
            `queue ${this.index}: descriptor ${index} is an indirect table where none is allowed`,
          );
        }
        if (len === 0 || len % 16 !== 0 || len / 16 > MAX_QUEUE_SIZE) {
          throw new VirtqueueError(`queue ${this.index}: indirect table of ${len} bytes`);
        }
        const offset = mem.offsetOf(addrLo, addrHi, len);
        if (offset < 0) throw new VirtqueueError(`queue ${this.index}: indirect table outside RAM`);
        table = offset;
        tableSize = len / 16;
        index = 0;
        steps = 0;
        inIndirect = true;
        continue;
      }
      const offset = mem.offsetOf(addrLo, addrHi, len);
      if (offset < 0) {
        const hex = (addrHi * 2 ** 32 + addrLo).toString(16);
        throw new VirtqueueError(`queue ${this.index}: buffer at 0x${hex} (${len} bytes) is outside RAM`);
      }
      if (flags & DESC_F_WRITE) {
        chain.writableLength += len;
      } else {
        if (chain.offsets.length > chain.readableCount) {
          throw new VirtqueueError(`queue ${this.index}: a device-readable buffer follows a writable one`);
        }
        chain.readableCount++;
        chain.readableLength += len;
      }
      chain.offsets.push(offset);
      chain.lengths.push(len);
      if (!(flags & DESC_F_NEXT)) return chain;
      if (next >= tableSize) {
        throw new VirtqueueError(`queue ${this.index}: descriptor ${index} links to ${next} >= ${tableSize}`);
      }
      index = next;
    }
  }

  /** Returns a chain to the driver with the number of bytes the device wrote into it. */
  push(head: number, written: number): void {
    const s = this.state;
    if (!s.ready) return;
    const mem = this.memory;
    const slot = this.usedOff + 4 + 8 * (s.usedIdx % s.size);
    mem.setU32(slot, head);
    mem.setU32(slot + 4, written);
    s.usedIdx = (s.usedIdx + 1) & 0xffff;
    mem.setU16(this.usedOff + 2, s.usedIdx);
    mem.written(slot, 8);
  }

  /**
   * Whether the driver wants an interrupt for what was pushed since the last one (2.7.10): with EVENT_IDX
   * only when used.idx crossed the driver's used_event, else unless avail.flags says NO_INTERRUPT.
   */
  takeInterrupt(): boolean {
    const s = this.state;
    if (!s.ready) return false;
    const old = s.signalledUsed;
    const now = s.usedIdx;
    if (old === now) return false;
    s.signalledUsed = now;
    if (this.eventIdx) {
      const usedEvent = this.memory.u16(this.availOff + 4 + 2 * s.size);
      return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (this.memory.u16(this.availOff) & AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** Asks the driver not to notify (while the device polls the ring itself anyway). */
  setNoNotify(on: boolean): void {
    if (!this.state.ready || this.eventIdx) return;
    this.memory.setU16(this.usedOff, on ? USED_F_NO_NOTIFY : 0);
  }
}
