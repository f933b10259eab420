/**
 * A memory-mapped device as the board sees it: a window of physical addresses and register access.
 * Offsets are relative to the device's base. 64-bit values travel as (lo, hi) int32 pairs.
 */
export interface MmioDevice {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  /** Reads a register; the value goes to `out[0]` (low word) and `out[1]` (high word). */
  read(offset: number, size: number, out: Int32Array): boolean;
  /** Writes a register. Returns false to turn the access into an access fault. */
  write(offset: number, size: number, lo: number, hi: number): boolean;
}
