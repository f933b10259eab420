/**
 * Physical memory protection: 16 entries (pmpcfg0/pmpcfg2 and pmpaddr0..15), granularity 4 bytes.
 *
 * The CSR values are turned into plain [start, end) ranges whenever they change, so a check is a short
 * scan over doubles. Checks happen when a TLB entry is filled (whole page) and on every slow-path access,
 * never on the fast path: a page whose PMP outcome is not uniform is simply never cached in a TLB.
 */
import { ACCESS_FETCH, ACCESS_LOAD, PRIV_M } from './constants.js';

export const PMP_ENTRIES = 16;

const PMP_R = 1;
const PMP_W = 2;
const PMP_X = 4;
const PMP_A_SHIFT = 3;
const PMP_L = 0x80;
const A_OFF = 0;
const A_TOR = 1;
const A_NA4 = 2;

export class Pmp {
  /** Raw configuration byte per entry. */
  readonly cfg = new Uint8Array(PMP_ENTRIES);
  /** pmpaddr values (address bits 55..2) as low and high words: 54 bits do not fit a double exactly. */
  readonly addrLo = new Int32Array(PMP_ENTRIES);
  readonly addrHi = new Int32Array(PMP_ENTRIES);
  private readonly start = new Float64Array(PMP_ENTRIES);
  private readonly end = new Float64Array(PMP_ENTRIES);
  private active = 0;

  isLocked(i: number): boolean {
    return (this.cfg[i] & PMP_L) !== 0;
  }

  /** A locked TOR entry also locks the pmpaddr register below it. */
  addrIsLocked(i: number): boolean {
    if (this.isLocked(i)) return true;
    return i + 1 < PMP_ENTRIES && this.isLocked(i + 1) && ((this.cfg[i + 1] >> PMP_A_SHIFT) & 3) === A_TOR;
  }

  setCfg(i: number, value: number): void {
    if (this.isLocked(i)) return;
    let v = value & 0x9f;
    // R=0, W=1 is reserved; keep such an entry from granting write without read.
    if ((v & (PMP_R | PMP_W)) === PMP_W) v &= ~PMP_W;
    this.cfg[i] = v;
    this.recompute();
  }

  setAddr(i: number, lo: number, hi: number): void {
    if (this.addrIsLocked(i)) return;
    this.addrLo[i] = lo;
    this.addrHi[i] = hi & 0x3fffff;
    this.recompute();
  }

  private addrBig(i: number): bigint {
    return (BigInt(this.addrHi[i]) << 32n) | BigInt(this.addrLo[i] >>> 0);
  }

  /** Turns the registers into byte ranges. Exact in BigInt; the doubles only round far above RAM. */
  private recompute(): void {
    this.active = 0;
    for (let i = 0; i < PMP_ENTRIES; i++) {
      const mode = (this.cfg[i] >> PMP_A_SHIFT) & 3;
      const a = this.addrBig(i);
      let s = 0n;
      let e = 0n;
      if (mode === A_TOR) {
        s = i === 0 ? 0n : this.addrBig(i - 1) << 2n;
        e = a << 2n;
      } else if (mode === A_NA4) {
        s = a << 2n;
        e = s + 4n;
      } else if (mode !== A_OFF) {
        // NAPOT: the number of trailing ones in pmpaddr gives the size.
        let ones = 0n;
        while ((a >> ones) & 1n) ones++;
        const size = 1n << (ones + 3n);
        s = (a << 2n) & ~(size - 1n);
        e = s + size;
      }
      this.start[i] = Number(s);
      this.end[i] = Number(e);
      if (mode !== A_OFF) this.active++;
    }
  }

  private permits(i: number, access: number, priv: number): boolean {
    const c = this.cfg[i];
    if (priv === PRIV_M && (c & PMP_L) === 0) return true;
    const need = access === ACCESS_FETCH ? PMP_X : access === ACCESS_LOAD ? PMP_R : PMP_W;
    return (c & need) !== 0;
  }

  /** Whether an access of `size` bytes at physical address `pa` is allowed. */
  check(pa: number, size: number, access: number, priv: number): boolean {
    if (this.active === 0) return priv === PRIV_M;
    const last = pa + size;
    for (let i = 0; i < PMP_ENTRIES; i++) {
      const s = this.start[i];
      const e = this.end[i];
      if (e <= s) continue;
      if (last <= s || pa >= e) continue;
      // Matching only part of the access fails it, whatever the permissions.
      if (pa < s || last > e) return false;
      return this.permits(i, access, priv);
    }
    return priv === PRIV_M;
  }

  /**
   * Whether every byte of the 4 KiB page at `base` gets the same allowed outcome, so the page may be
   * cached in a TLB. A page cut by an entry's boundary is never cached.
   */
  pageIsUniformlyAllowed(base: number, access: number, priv: number): boolean {
    if (this.active === 0) return priv === PRIV_M;
    const last = base + 4096;
    for (let i = 0; i < PMP_ENTRIES; i++) {
      const s = this.start[i];
      const e = this.end[i];
      if (e <= s) continue;
      if (last <= s || base >= e) continue;
      if (base < s || last > e) return false;
      return this.permits(i, access, priv);
    }
    return priv === PRIV_M;
  }
}
