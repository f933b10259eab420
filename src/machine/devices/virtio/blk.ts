/**
 * virtio-blk (block device, VIRTIO 1.2 section 5.2) on a BlockBackend. One request queue; every request
 * becomes one asynchronous host operation that reads into or writes from guest RAM in place, so the vCPU
 * never waits for the host disk and data is never copied. Requests complete in whatever order the host
 * finishes them (the driver tags each by its head descriptor), and completions are announced to the
 * driver in batches: one interrupt for everything that finished in the same turn of the event loop.
 *
 * Whatever a driver puts in a request (short headers, sectors past the end, writes to a read-only
 * disk, unknown types) is answered with a status byte, never with a host exception.
 */
import type { BlockBackend } from '../../../storage/block-backend.js';
import { DEVICE_ID, type FeatureWords, featureWords, hasFeature } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';
import type { DescriptorChain } from './virtqueue.js';

/** Feature bits (5.2.3). */
export const BLK_F_SEG_MAX = 2;
export const BLK_F_RO = 5;
export const BLK_F_BLK_SIZE = 6;
export const BLK_F_FLUSH = 9;
export const BLK_F_DISCARD = 13;
export const BLK_F_WRITE_ZEROES = 14;

/** Request types (5.2.6). */
export const BLK_T_IN = 0;
export const BLK_T_OUT = 1;
export const BLK_T_FLUSH = 4;
export const BLK_T_GET_ID = 8;
export const BLK_T_DISCARD = 11;
export const BLK_T_WRITE_ZEROES = 13;

/** Status byte values. */
export const BLK_S_OK = 0;
export const BLK_S_IOERR = 1;
export const BLK_S_UNSUPP = 2;

/** The discard/write-zeroes segment flag that allows deallocation. */
const SEG_F_UNMAP = 1;

const SECTOR = 512;
const QUEUE_SIZE = 256;
/** The header (type, reserved, sector) every request starts with. */
const HEADER = 16;
/** struct virtio_blk_discard_write_zeroes: sector (u64), num_sectors (u32), flags (u32). */
const SEGMENT = 16;
const ID_BYTES = 20;
/** Data segments per request: the queue size less the header and status descriptors, as QEMU offers. */
const SEG_MAX = QUEUE_SIZE - 2;
/** Discard is free (see raw-file.ts), so ranges may be large; Linux caps a request at UINT_MAX bytes. */
const MAX_DISCARD_SECTORS = 0x3fffff;
const MAX_DISCARD_SEG = 32;
/** Write-zeroes really writes, so keep one request to a few seconds of host I/O at worst. */
const MAX_WRITE_ZEROES_SECTORS = 0x10000;
const MAX_WRITE_ZEROES_SEG = 1;
/**
 * Host operations one disk keeps in flight. The guest may queue a whole ring; what is beyond this waits
 * in the ring, costing the host nothing, and is taken as earlier requests complete.
 */
export const BLK_MAX_IN_FLIGHT = 64;
/** Configuration space up to and including write_zeroes_may_unmap and its padding (5.2.4). */
const CONFIG_SIZE = 60;

export interface VirtioBlkCounters {
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  flushes: number;
  discards: number;
  writeZeroes: number;
  /** Requests answered IOERR: malformed, out of range, or failed on the host. */
  errors: number;
  /** Requests answered UNSUPP. */
  unsupported: number;
}

export interface VirtioBlkState {
  backend: string;
  capacitySectors: number;
  readOnly: boolean;
  serial: string | null;
  inFlight: number;
  counters: VirtioBlkCounters;
}

/**
 * A request's outcome: on success the number of data bytes the device wrote into the chain (before the
 * status byte), else FAIL_IOERR or FAIL_UNSUPP. A plain number, so that completing allocates nothing.
 */
type Outcome = number;
const FAIL_IOERR = -1;
const FAIL_UNSUPP = -2;

export class VirtioBlk implements VirtioDevice {
  readonly deviceId = DEVICE_ID.block;
  readonly name: string;
  readonly features: FeatureWords;
  readonly queueMaxSizes = [QUEUE_SIZE];
  readonly config = new Uint8Array(CONFIG_SIZE);
  private readonly backend: BlockBackend;
  private readonly serial: string | null;
  private readonly capacity: number;
  private ctx!: VirtioContext;
  /** Bumped by every reset: a request started in an older epoch must not complete into the new queue. */
  private epoch = 0;
  private inFlight = 0;
  /** The ring was left non-empty because BLK_MAX_IN_FLIGHT was reached: a completion resumes it. */
  private saturated = false;
  /** Set while a rate-limited backend holds requests back: its end resumes the ring. */
  private admitTimer: ReturnType<typeof setTimeout> | null = null;
  private idle: (() => void)[] = [];
  private batchScheduled = false;
  private closed = false;
  private readonly header = new Uint8Array(HEADER);
  private readonly headerView = new DataView(this.header.buffer);
  private readonly segments = new Uint8Array(SEGMENT * MAX_DISCARD_SEG);
  private readonly segmentView = new DataView(this.segments.buffer);
  private readonly counters: VirtioBlkCounters = {
    reads: 0,
    writes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    flushes: 0,
    discards: 0,
    writeZeroes: 0,
    errors: 0,
    unsupported: 0,
  };

  constructor(backend: BlockBackend, options: { serial?: string }) {
    if (backend.size % SECTOR !== 0) throw new Error(`${backend.name}: size is not a multiple of 512`);
    this.backend = backend;
    this.serial = options.serial ?? null;
    this.capacity = backend.size / SECTOR;
    this.name = `virtio-blk (${backend.name})`;
    const bits = [BLK_F_SEG_MAX, BLK_F_BLK_SIZE, BLK_F_FLUSH, BLK_F_DISCARD, BLK_F_WRITE_ZEROES];
    if (backend.readOnly) bits.push(BLK_F_RO);
    this.features = featureWords(...bits);
    const c = new DataView(this.config.buffer);
    c.setUint32(0, this.capacity >>> 0, true);
    c.setUint32(4, Math.floor(this.capacity / 2 ** 32), true);
    c.setUint32(12, SEG_MAX, true);
    c.setUint32(20, SECTOR, true);
    c.setUint32(36, MAX_DISCARD_SECTORS, true);
    c.setUint32(40, MAX_DISCARD_SEG, true);
    c.setUint32(44, 1, true);
    c.setUint32(48, MAX_WRITE_ZEROES_SECTORS, true);
    c.setUint32(52, MAX_WRITE_ZEROES_SEG, true);
    // write_zeroes_may_unmap stays 0: zeroes are always written, never deallocated.
  }

  attach(ctx: VirtioContext): void {
    this.ctx = ctx;
  }

  activate(): void {}

  notify(index: number): void {
    if (this.closed) return;
    const q = this.ctx.queue(index);
    while (this.inFlight < BLK_MAX_IN_FLIGHT) {
      const wait = this.backend.admitInMs?.() ?? 0;
      if (wait > 0) {
        this.admitLater(index, wait);
        return;
      }
      const chain = q.pop();
      if (chain === null) return;
      this.start(index, chain);
    }
    this.saturated = true;
  }

  private admitLater(queue: number, ms: number): void {
    if (this.admitTimer !== null) return;
    this.admitTimer = setTimeout(
      () => {
        this.admitTimer = null;
        if (!this.closed && this.ctx.active) this.ctx.defer(queue);
      },
      Math.max(1, ms),
    );
  }

  private cancelAdmit(): void {
    if (this.admitTimer !== null) clearTimeout(this.admitTimer);
    this.admitTimer = null;
    this.saturated = false;
  }

  reset(): void {
    this.epoch++;
    this.cancelAdmit();
  }

  resetQueue(_index: number): void {
    this.epoch++;
    this.cancelAdmit();
  }

  /** Resolves once no host I/O is in flight, then closes the backend. */
  async close(): Promise<void> {
    this.closed = true;
    this.epoch++;
    this.cancelAdmit();
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    await this.backend.close();
  }

  saveState(): VirtioBlkState {
    return {
      backend: this.backend.name,
      capacitySectors: this.capacity,
      readOnly: this.backend.readOnly,
      serial: this.serial,
      inFlight: this.inFlight,
      counters: { ...this.counters },
    };
  }

  // --- Requests --------------------------------------------------------------------------------------

  private lastError = '';

  private start(queue: number, chain: DescriptorChain): void {
    const status = this.statusOffset(chain);
    if (status < 0) {
      // Nowhere to put a status: the request cannot even be failed, so hand the buffers back untouched.
      this.counters.errors++;
      this.ctx.queue(queue).push(chain.head, 0);
      this.ctx.usedBuffers(queue);
      return;
    }
    const epoch = this.epoch;
    let result: Outcome | Promise<Outcome>;
    try {
      result = this.execute(chain);
    } catch {
      // A backend that throws instead of rejecting still only fails this request.
      result = FAIL_IOERR;
    }
    if (typeof result === 'number') {
      this.finish(queue, chain, status, epoch, result);
      return;
    }
    this.inFlight++;
    result.then(
      (outcome) => this.settle(queue, chain, status, epoch, outcome),
      (e: unknown) => {
        // The guest gets IOERR; the user is told why, once per distinct message so a dead disk does not flood.
        const message = `host I/O error on ${this.backend.name}: ${e instanceof Error ? e.message : String(e)}`;
        if (message !== this.lastError) this.ctx.log(message);
        this.lastError = message;
        this.settle(queue, chain, status, epoch, FAIL_IOERR);
      },
    );
  }

  private settle(
    queue: number,
    chain: DescriptorChain,
    status: number,
    epoch: number,
    outcome: Outcome,
  ): void {
    this.inFlight--;
    this.finish(queue, chain, status, epoch, outcome);
    if (this.saturated && epoch === this.epoch && !this.closed) {
      this.saturated = false;
      this.ctx.defer(queue);
    }
    if (this.inFlight === 0 && this.idle.length > 0) {
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Writes the status byte and returns the chain to the driver, unless the driver reset the device (or
   * stopped it) since the request started: then its buffers belong to nobody and the completion is dropped.
   */
  private finish(
    queue: number,
    chain: DescriptorChain,
    status: number,
    epoch: number,
    outcome: Outcome,
  ): void {
    if (epoch !== this.epoch || !this.ctx.active) return;
    const memory = this.ctx.memory;
    let code = BLK_S_OK;
    if (outcome === FAIL_IOERR) {
      code = BLK_S_IOERR;
      this.counters.errors++;
    } else if (outcome === FAIL_UNSUPP) {
      code = BLK_S_UNSUPP;
      this.counters.unsupported++;
    }
    memory.bytes[status] = code;
    memory.written(status, 1);
    this.ctx.queue(queue).push(chain.head, (code === BLK_S_OK ? outcome : 0) + 1);
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      // Every completion that lands in this turn of the event loop shares one interrupt.
      setImmediate(() => {
        this.batchScheduled = false;
        if (this.ctx.active) this.ctx.usedBuffers(queue);
      });
    }
  }

  /** RAM offset of the request's last device-writable byte (the status), or -1 if there is none. */
  private statusOffset(chain: DescriptorChain): number {
    for (let i = chain.offsets.length - 1; i >= chain.readableCount; i--) {
      if (chain.lengths[i] > 0) return chain.offsets[i] + chain.lengths[i] - 1;
    }
    return -1;
  }

  /** Starts the request: a number is an immediate outcome, a promise one once host I/O is done. */
  private execute(chain: DescriptorChain): Outcome | Promise<Outcome> {
    const memory = this.ctx.memory;
    if (chain.readableLength < HEADER || chain.read(memory, this.header) < HEADER) return FAIL_IOERR;
    const h = this.headerView;
    const type = h.getUint32(0, true);
    const sector = h.getUint32(8, true) + h.getUint32(12, true) * 2 ** 32;
    const negotiated = this.ctx.negotiated;
    switch (type) {
      case BLK_T_IN: {
        const length = chain.writableLength - 1;
        if (!this.inRange(sector, length)) return FAIL_IOERR;
        if (length === 0) return 0;
        const views = this.dataViews(chain, chain.readableCount, chain.offsets.length, 0, length);
        this.counters.reads++;
        this.counters.bytesRead += length;
        return this.backend.readv(views, sector * SECTOR).then(() => {
          // The views are subarrays of guest RAM, so their byteOffset locates them in it.
          const base = memory.bytes.byteOffset;
          for (const v of views) memory.written(v.byteOffset - base, v.length);
          return length;
        });
      }
      case BLK_T_OUT: {
        const length = chain.readableLength - HEADER;
        if (this.backend.readOnly || !this.inRange(sector, length)) return FAIL_IOERR;
        if (length === 0) return 0;
        const views = this.dataViews(chain, 0, chain.readableCount, HEADER, length);
        this.counters.writes++;
        this.counters.bytesWritten += length;
        return this.backend.writev(views, sector * SECTOR).then(() => 0);
      }
      case BLK_T_FLUSH:
        this.counters.flushes++;
        return this.backend.flush().then(() => 0);
      case BLK_T_GET_ID: {
        const room = Math.min(ID_BYTES, chain.writableLength - 1);
        const id = new Uint8Array(room);
        if (this.serial !== null) {
          for (let i = 0; i < room && i < this.serial.length; i++) id[i] = this.serial.charCodeAt(i) & 0xff;
        }
        return chain.write(memory, id);
      }
      case BLK_T_DISCARD:
        if (!hasFeature(negotiated, BLK_F_DISCARD)) return FAIL_UNSUPP;
        return this.ranges(chain, MAX_DISCARD_SEG, MAX_DISCARD_SECTORS, true);
      case BLK_T_WRITE_ZEROES:
        if (!hasFeature(negotiated, BLK_F_WRITE_ZEROES)) return FAIL_UNSUPP;
        return this.ranges(chain, MAX_WRITE_ZEROES_SEG, MAX_WRITE_ZEROES_SECTORS, false);
      default:
        return FAIL_UNSUPP;
    }
  }

  /** True when `length` bytes (whole sectors) starting at `sector` lie on the disk. */
  private inRange(sector: number, length: number): boolean {
    return length % SECTOR === 0 && sector <= this.capacity && length / SECTOR <= this.capacity - sector;
  }

  /**
   * Views of `length` bytes of the chain's buffers [from, to), skipping `skip` bytes first: the request's
   * data wherever the driver split it across descriptors.
   */
  private dataViews(
    chain: DescriptorChain,
    from: number,
    to: number,
    skip: number,
    length: number,
  ): Uint8Array[] {
    const bytes = this.ctx.memory.bytes;
    const views: Uint8Array[] = [];
    let left = length;
    let drop = skip;
    for (let i = from; i < to && left > 0; i++) {
      let len = chain.lengths[i];
      let at = chain.offsets[i];
      if (drop >= len) {
        drop -= len;
        continue;
      }
      at += drop;
      len -= drop;
      drop = 0;
      const n = Math.min(len, left);
      views.push(bytes.subarray(at, at + n));
      left -= n;
    }
    return views;
  }

  /** Discard or write-zeroes: the segments after the header, checked, then done one after another. */
  private ranges(
    chain: DescriptorChain,
    maxSegments: number,
    maxSectors: number,
    discard: boolean,
  ): Outcome | Promise<Outcome> {
    if (this.backend.readOnly) return FAIL_IOERR;
    const bytes = chain.readableLength - HEADER;
    if (bytes === 0 || bytes % SEGMENT !== 0) return FAIL_IOERR;
    const count = bytes / SEGMENT;
    if (count > maxSegments) return FAIL_IOERR;
    chain.read(this.ctx.memory, this.segments.subarray(0, bytes), HEADER);
    const s = this.segmentView;
    const work: number[] = [];
    for (let i = 0; i < count; i++) {
      const at = i * SEGMENT;
      const sector = s.getUint32(at, true) + s.getUint32(at + 4, true) * 2 ** 32;
      const sectors = s.getUint32(at + 8, true);
      const flags = s.getUint32(at + 12, true);
      // Discard must refuse UNMAP, and both refuse flags the spec does not define (5.2.6.2).
      if ((flags & ~SEG_F_UNMAP) !== 0 || (discard && flags & SEG_F_UNMAP)) return FAIL_UNSUPP;
      if (sectors > maxSectors || !this.inRange(sector, sectors * SECTOR)) return FAIL_IOERR;
      work.push(sector * SECTOR, sectors * SECTOR);
    }
    if (discard) this.counters.discards++;
    else this.counters.writeZeroes++;
    return (async () => {
      for (let i = 0; i < work.length; i += 2) {
        if (discard) await this.backend.discard(work[i], work[i + 1]);
        else await this.backend.writeZeroes(work[i], work[i + 1]);
      }
      return 0;
    })();
  }
}
