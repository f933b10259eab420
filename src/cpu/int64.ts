/**
 * 64-bit integer arithmetic on (lo, hi) int32 pairs, for the instructions whose results need more than
 * JavaScript's 53-bit-exact doubles. Results are left in `result` (low word, high word): a typed array
 * rather than variables, because int32 values beyond 31 bits would be boxed on every assignment.
 */

export const result = new Int32Array(2);

const TWO32 = 4294967296;

/** Full 64-bit product of two unsigned 32-bit values into result[0]/result[1]. */
function mulU32(a: number, b: number): void {
  const lo = Math.imul(a, b);
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const cross = ah * bl + al * bh + ((al * bl) >>> 16);
  result[0] = lo;
  result[1] = (ah * bh + Math.floor(cross / 65536)) | 0;
}

/** Low 64 bits of a 64x64 product. */
export function mul64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  mulU32(aLo >>> 0, bLo >>> 0);
  result[1] = (result[1] + Math.imul(aLo, bHi) + Math.imul(aHi, bLo)) | 0;
}

/** High 64 bits of the unsigned 128-bit product. */
function mulhuInto(aLo: number, aHi: number, bLo: number, bHi: number): void {
  const a0 = aLo >>> 0;
  const a1 = aHi >>> 0;
  const b0 = bLo >>> 0;
  const b1 = bHi >>> 0;
  mulU32(a0, b0);
  const p00hi = result[1] >>> 0;
  mulU32(a0, b1);
  const p01lo = result[0] >>> 0;
  const p01hi = result[1] >>> 0;
  mulU32(a1, b0);
  const p10lo = result[0] >>> 0;
  const p10hi = result[1] >>> 0;
  mulU32(a1, b1);
  const p11lo = result[0] >>> 0;
  const p11hi = result[1] >>> 0;
  const s1 = p00hi + p01lo + p10lo;
  const c1 = Math.floor(s1 / TWO32);
  const s2 = p01hi + p10hi + p11lo + c1;
  const w2 = s2 % TWO32;
  const c2 = Math.floor(s2 / TWO32);
  result[0] = w2 | 0;
  result[1] = (p11hi + c2) | 0;
}

export function mulhu64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  mulhuInto(aLo, aHi, bLo, bHi);
}

/** Subtracts (lo, hi) from the result pair, modulo 2^64. */
function subtractFromResult(lo: number, hi: number): void {
  const rl = result[0];
  const newLo = (rl - lo) | 0;
  const borrow = rl >>> 0 < lo >>> 0 ? 1 : 0;
  result[0] = newLo;
  result[1] = (result[1] - hi - borrow) | 0;
}

export function mulh64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  mulhuInto(aLo, aHi, bLo, bHi);
  // Signed high part = unsigned high part minus the other operand for each negative operand.
  if (aHi < 0) subtractFromResult(bLo, bHi);
  if (bHi < 0) subtractFromResult(aLo, aHi);
}

export function mulhsu64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  mulhuInto(aLo, aHi, bLo, bHi);
  if (aHi < 0) subtractFromResult(bLo, bHi);
}

/** True when the signed pair is exactly representable as a double (|v| < 2^53). */
function fitsDouble(hi: number): boolean {
  return hi >= -0x200000 && hi < 0x200000;
}

function setFromDouble(v: number): void {
  result[0] = v | 0;
  result[1] = Math.floor(v / TWO32) | 0;
}

function toBigSigned(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}

function toBigUnsigned(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function setFromBig(v: bigint): void {
  result[0] = Number(BigInt.asIntN(32, v));
  result[1] = Number(BigInt.asIntN(32, v >> 32n));
}

/** Division by zero does not trap on RISC-V: the quotient is all ones and the remainder the dividend. */
function divideByZero(aLo: number, aHi: number, remainder: boolean): void {
  result[0] = remainder ? aLo : -1;
  result[1] = remainder ? aHi : -1;
}

/** Signed division with RISC-V semantics: x/0 = -1, INT64_MIN/-1 = INT64_MIN. */
export function div64(aLo: number, aHi: number, bLo: number, bHi: number, remainder: boolean): void {
  if (bLo === 0 && bHi === 0) {
    divideByZero(aLo, aHi, remainder);
    return;
  }
  if (bLo === -1 && bHi === -1 && aLo === 0 && aHi === -0x80000000) {
    if (remainder) {
      result[0] = 0;
      result[1] = 0;
    } else {
      result[0] = aLo;
      result[1] = aHi;
    }
    return;
  }
  if (fitsDouble(aHi) && fitsDouble(bHi)) {
    // Both operands are below 2^53 in magnitude, so a double quotient truncates to the exact one.
    const a = aHi * TWO32 + (aLo >>> 0);
    const b = bHi * TWO32 + (bLo >>> 0);
    const q = Math.trunc(a / b);
    setFromDouble(remainder ? a - q * b : q);
    return;
  }
  const a = toBigSigned(aLo, aHi);
  const b = toBigSigned(bLo, bHi);
  setFromBig(remainder ? a % b : a / b);
}

/** Unsigned division with RISC-V semantics: x/0 = 2^64-1, x%0 = x. */
export function divu64(aLo: number, aHi: number, bLo: number, bHi: number, remainder: boolean): void {
  if (bLo === 0 && bHi === 0) {
    divideByZero(aLo, aHi, remainder);
    return;
  }
  if (aHi >>> 0 < 0x200000 && bHi >>> 0 < 0x200000) {
    const a = (aHi >>> 0) * TWO32 + (aLo >>> 0);
    const b = (bHi >>> 0) * TWO32 + (bLo >>> 0);
    const q = Math.floor(a / b);
    setFromDouble(remainder ? a - q * b : q);
    return;
  }
  const a = toBigUnsigned(aLo, aHi);
  const b = toBigUnsigned(bLo, bHi);
  setFromBig(remainder ? a % b : a / b);
}

/** Sets result[0]/result[1] from an integral double (exact below 2^53 in magnitude). */
export function numberToPair(v: number): void {
  setFromDouble(v);
}
