/**
 * What a hart needs from the board: guest RAM location and the slow path to devices.
 *
 * Addresses are physical and passed as doubles (exact: physical addresses are below 2^56 and every
 * mapped one is far below 2^53). 64-bit values travel as (lo, hi) int32 pairs.
 */
export interface PhysicalBus {
  /** Physical address where RAM starts (QEMU virt and Spike: 0x8000_0000). */
  readonly ramBase: number;
  /** RAM size in bytes; a multiple of 4 KiB. */
  readonly ramSize: number;
  /**
   * Reads `size` bytes (1, 2, 4 or 8) of a device register. Returns false when nothing is mapped there,
   * which the hart turns into an access fault. The value is left in `valueLo`/`valueHi`.
   */
  readDevice(pa: number, size: number): boolean;
  /** Writes a device register; returns false when nothing is mapped there. */
  writeDevice(pa: number, size: number, lo: number, hi: number): boolean;
  valueLo: number;
  valueHi: number;
}
