/**
 * SiFive CLINT (core-local interruptor): per-hart software interrupt (msip) and timer compare
 * (mtimecmp) registers, and the shared mtime counter. Layout as on QEMU virt and Spike.
 */
import { MIP_MSIP, MIP_MTIP } from '../../cpu/constants.js';
import type { Hart } from '../../cpu/hart.js';
import type { GuestClock } from '../clock.js';
import type { MmioDevice } from './device.js';

const MSIP_BASE = 0x0;
const MTIMECMP_BASE = 0x4000;
const MTIME = 0xbff8;
const TWO32 = 4294967296;

export interface ClintState {
  msip: number[];
  mtimecmp: number[];
}

export class Clint implements MmioDevice {
  readonly name = 'clint';
  readonly base: number;
  readonly size = 0x10000;
  private readonly harts: Hart[];
  private readonly clock: GuestClock;
  private readonly msip: Uint8Array;
  /** mtimecmp per hart as doubles: exact up to 2^53 ticks (28 years at 10 MHz); larger means never. */
  private readonly mtimecmp: Float64Array;
  private readonly cmpWords: Int32Array;

  constructor(base: number, harts: Hart[], clock: GuestClock) {
    this.base = base;
    this.harts = harts;
    this.clock = clock;
    this.msip = new Uint8Array(harts.length);
    this.cmpWords = new Int32Array(harts.length * 2).fill(-1);
    this.mtimecmp = new Float64Array(harts.length).fill(Number.POSITIVE_INFINITY);
  }

  read(offset: number, size: number, out: Int32Array): boolean {
    if (offset < MSIP_BASE + 4 * this.harts.length && size === 4) {
      if (offset & 3) return false;
      out[0] = this.msip[offset >> 2];
      return true;
    }
    if (offset >= MTIMECMP_BASE && offset < MTIMECMP_BASE + 8 * this.harts.length) {
      const word = (offset - MTIMECMP_BASE) >> 2;
      if (size === 8 && (word & 1) === 0) {
        out[0] = this.cmpWords[word];
        out[1] = this.cmpWords[word + 1];
        return true;
      }
      if (size === 4 && (offset & 3) === 0) {
        out[0] = this.cmpWords[word];
        return true;
      }
      return false;
    }
    if (offset === MTIME || offset === MTIME + 4) {
      const now = this.clock.now();
      const lo = now | 0;
      const hi = Math.floor(now / TWO32) | 0;
      if (size === 8 && offset === MTIME) {
        out[0] = lo;
        out[1] = hi;
        return true;
      }
      if (size === 4) {
        out[0] = offset === MTIME ? lo : hi;
        return true;
      }
    }
    return false;
  }

  write(offset: number, size: number, lo: number, hi: number): boolean {
    if (offset < MSIP_BASE + 4 * this.harts.length && size === 4) {
      if (offset & 3) return false;
      this.msip[offset >> 2] = lo & 1;
      this.update();
      return true;
    }
    if (offset >= MTIMECMP_BASE && offset < MTIMECMP_BASE + 8 * this.harts.length) {
      const word = (offset - MTIMECMP_BASE) >> 2;
      if (size === 8 && (word & 1) === 0) {
        this.cmpWords[word] = lo;
        this.cmpWords[word + 1] = hi;
      } else if (size === 4 && (offset & 3) === 0) {
        this.cmpWords[word] = lo;
      } else {
        return false;
      }
      const h = word >> 1;
      this.mtimecmp[h] = (this.cmpWords[2 * h + 1] >>> 0) * TWO32 + (this.cmpWords[2 * h] >>> 0);
      this.update();
      return true;
    }
    if (offset === MTIME || offset === MTIME + 4) {
      const now = this.clock.now();
      let nowLo = now | 0;
      let nowHi = Math.floor(now / TWO32) | 0;
      if (size === 8 && offset === MTIME) {
        nowLo = lo;
        nowHi = hi;
      } else if (size === 4 && offset === MTIME) {
        nowLo = lo;
      } else if (size === 4) {
        nowHi = hi;
      } else {
        return false;
      }
      this.clock.set((nowHi >>> 0) * TWO32 + (nowLo >>> 0));
      this.update();
      return true;
    }
    return false;
  }

  /** Drives each hart's MSIP and MTIP lines from the registers and the current time. */
  update(): void {
    const now = this.clock.now();
    for (let i = 0; i < this.harts.length; i++) {
      const hart = this.harts[i];
      let pins = hart.mipPins & ~(MIP_MSIP | MIP_MTIP);
      if (this.msip[i]) pins |= MIP_MSIP;
      if (now >= this.mtimecmp[i]) pins |= MIP_MTIP;
      // A newly raised line must be looked at before the hart runs on (after a CLINT store, for IPIs).
      if (pins & ~hart.mipPins) hart.yieldRequested = true;
      hart.mipPins = pins;
    }
  }

  /** The earliest mtimecmp still in the future, in ticks (Infinity when none). */
  nextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.harts.length; i++) if (this.mtimecmp[i] < next) next = this.mtimecmp[i];
    return next;
  }

  saveState(): ClintState {
    return { msip: Array.from(this.msip), mtimecmp: Array.from(this.cmpWords) };
  }
}
