/**
 * Guest RAM as devices see it for DMA: one byte view of the whole RAM and bounds checks that turn a
 * guest-supplied physical address into an offset in that view. Every address a guest hands a device
 * (descriptor tables, buffers) goes through `offsetOf`, so no device can touch host memory beyond
 * the guest's RAM, whatever the guest writes.
 */

export interface CodeInvalidator {
  /** Forgets cached decoded instructions for RAM bytes [offset, offset + length). */
  invalidateCode(offset: number, length: number): void;
}

export class GuestMemory {
  /** Guest physical address of RAM byte 0. */
  readonly base: number;
  readonly size: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private readonly harts: readonly CodeInvalidator[];

  constructor(base: number, bytes: Uint8Array, harts: readonly CodeInvalidator[]) {
    this.base = base;
    this.size = bytes.length;
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.harts = harts;
  }

  /**
   * RAM offset of the guest physical range [lo + hi * 2^32, +length), or -1 when any byte of it lies
   * outside RAM. `lo` and `hi` are the unsigned halves of a 64-bit address as read from guest memory.
   */
  offsetOf(lo: number, hi: number, length: number): number {
    if (hi !== 0) return -1;
    const offset = (lo >>> 0) - this.base;
    if (offset < 0 || length < 0 || offset + length > this.size) return -1;
    return offset;
  }

  /** Call after a device wrote guest RAM, so harts do not run stale pre-decoded code from it. */
  written(offset: number, length: number): void {
    if (length <= 0) return;
    for (const h of this.harts) h.invalidateCode(offset, length);
  }

  u16(offset: number): number {
    return this.view.getUint16(offset, true);
  }

  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  setU16(offset: number, value: number): void {
    this.view.setUint16(offset, value, true);
  }

  setU32(offset: number, value: number): void {
    this.view.setUint32(offset, value, true);
  }
}
