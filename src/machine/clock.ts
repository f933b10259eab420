/**
 * The board's timebase (mtime): ticks at a fixed frequency derived from the host's monotonic clock,
 * so guest time follows real time whatever the emulation speed.
 */
export class GuestClock {
  readonly frequency: number;
  private readonly startMs: number;
  private offsetTicks = 0;

  constructor(frequency = 10_000_000) {
    this.frequency = frequency;
    this.startMs = performance.now();
  }

  /** Current mtime in ticks. */
  now(): number {
    return Math.floor(((performance.now() - this.startMs) * this.frequency) / 1000) + this.offsetTicks;
  }

  /** Sets the current mtime (guest writes to mtime, snapshot restore). */
  set(ticks: number): void {
    this.offsetTicks += ticks - this.now();
  }

  /** Milliseconds of host time until mtime reaches `ticks` (0 if already there). */
  msUntil(ticks: number): number {
    const delta = ticks - this.now();
    return delta <= 0 ? 0 : (delta * 1000) / this.frequency;
  }
}
