/**
 * Exact IEEE 754-2008 binary32/binary64 arithmetic on raw bit patterns, using BigInt.
 *
 * This is the FPU's slow path and its reference: every operation is computed exactly (or, for division and
 * square root, with enough quotient bits plus a sticky bit) and then rounded once by roundPack. It is meant
 * to be obviously right rather than fast; the fast paths in fpu.ts are tested against it.
 *
 * RISC-V conventions: NaN results are always the canonical NaN, tininess is detected after rounding, and
 * the underflow flag is raised only when the tiny result is also inexact.
 */

export const FLAG_NV = 16;
export const FLAG_DZ = 8;
export const FLAG_OF = 4;
export const FLAG_UF = 2;
export const FLAG_NX = 1;

export const RM_RNE = 0;
export const RM_RTZ = 1;
export const RM_RDN = 2;
export const RM_RUP = 3;
export const RM_RMM = 4;

export interface Fmt {
  readonly width: number;
  /** Precision in bits, including the implicit bit. */
  readonly p: number;
  readonly fracBits: number;
  readonly bias: number;
  readonly emin: number;
  readonly emax: number;
  readonly expAll: number;
  readonly signBit: bigint;
  readonly canonNaN: bigint;
  readonly infBits: bigint;
  readonly maxBits: bigint;
}

function mkFmt(width: number, p: number, expBits: number): Fmt {
  const fracBits = p - 1;
  const bias = (1 << (expBits - 1)) - 1;
  const expAll = (1 << expBits) - 1;
  const infBits = BigInt(expAll) << BigInt(fracBits);
  return {
    width,
    p,
    fracBits,
    bias,
    emin: 1 - bias,
    emax: bias,
    expAll,
    signBit: 1n << BigInt(width - 1),
    canonNaN: infBits | (1n << BigInt(fracBits - 1)),
    infBits,
    maxBits: infBits - 1n,
  };
}

export const FMT_S: Fmt = mkFmt(32, 24, 8);
export const FMT_D: Fmt = mkFmt(64, 53, 11);

/** Flags raised by the operations of this module since the caller last cleared them. */
export const sfState = { flags: 0 };

/** Operand classes. */
const K = { Zero: 0, Num: 1, Inf: 2, QNaN: 3, SNaN: 4 } as const;
type K = (typeof K)[keyof typeof K];

interface Unpacked {
  k: K;
  sign: number;
  /** For Num: value = m * 2^e exactly, m > 0. */
  m: bigint;
  e: number;
}

function unpack(f: Fmt, bits: bigint): Unpacked {
  const sign = Number(bits >> BigInt(f.width - 1)) & 1;
  const ex = Number((bits >> BigInt(f.fracBits)) & BigInt(f.expAll));
  const frac = bits & ((1n << BigInt(f.fracBits)) - 1n);
  if (ex === f.expAll) {
    if (frac === 0n) return { k: K.Inf, sign, m: 0n, e: 0 };
    const quiet = (frac >> BigInt(f.fracBits - 1)) & 1n;
    return { k: quiet ? K.QNaN : K.SNaN, sign, m: 0n, e: 0 };
  }
  if (ex === 0) {
    if (frac === 0n) return { k: K.Zero, sign, m: 0n, e: 0 };
    return { k: K.Num, sign, m: frac, e: f.emin - f.fracBits };
  }
  return { k: K.Num, sign, m: frac | (1n << BigInt(f.fracBits)), e: ex - f.bias - f.fracBits };
}

export function bitLen(m: bigint): number {
  if (m < 0x20000000000000n) {
    const n = Number(m);
    if (n < 0x100000000) return 32 - Math.clz32(n);
    return 64 - Math.clz32(Math.floor(n / 0x100000000));
  }
  const hex = m.toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(Number.parseInt(hex[0]!, 16)));
}

function zero(f: Fmt, sign: number): bigint {
  return sign ? f.signBit : 0n;
}

function inf(f: Fmt, sign: number): bigint {
  return sign ? f.signBit | f.infBits : f.infBits;
}

/**
 * Whether rounding a magnitude up by one unit is required. `cmp` compares the discarded part with half a
 * unit (-1 below, 0 exactly half, 1 above) and is only meaningful when `inexact`.
 */
function roundsUp(rm: number, sign: number, odd: boolean, cmp: number, inexact: boolean): boolean {
  if (!inexact) return false;
  switch (rm) {
    case RM_RNE:
      return cmp > 0 || (cmp === 0 && odd);
    case RM_RTZ:
      return false;
    case RM_RDN:
      return sign === 1;
    case RM_RUP:
      return sign === 0;
    default:
      return cmp >= 0;
  }
}

/**
 * Rounds the value (-1)^sign * (m + t) * 2^e to format f, where t is 0 when !sticky and lies strictly in
 * (0, 1) when sticky. With sticky set, m must carry at least two bits below the rounding position, which
 * every caller guarantees (quotients and roots are computed with p+3 bits or more).
 */
export function roundPack(f: Fmt, sign: number, m: bigint, e: number, sticky: boolean, rm: number): bigint {
  if (m === 0n && !sticky) return zero(f, sign);
  const len = bitLen(m);
  const topExp = e + len - 1;
  const p = f.p;
  let qe = Math.max(topExp - (p - 1), f.emin - (p - 1));
  const drop = qe - e;
  let keep: bigint;
  let inexact: boolean;
  let cmp = -1;
  if (drop <= 0) {
    if (sticky) throw new Error('roundPack: sticky without guard bits');
    keep = m << BigInt(-drop);
    inexact = false;
  } else {
    const d = BigInt(drop);
    keep = m >> d;
    const rem = m & ((1n << d) - 1n);
    const half = 1n << (d - 1n);
    inexact = rem !== 0n || sticky;
    cmp = rem > half ? 1 : rem < half ? -1 : sticky ? 1 : 0;
  }
  if (roundsUp(rm, sign, (keep & 1n) === 1n, cmp, inexact)) keep += 1n;
  if (keep >> BigInt(p) !== 0n) {
    keep >>= 1n;
    qe += 1;
  }
  if (keep !== 0n && qe + bitLen(keep) - 1 > f.emax) {
    sfState.flags |= FLAG_OF | FLAG_NX;
    const toInf =
      rm === RM_RNE || rm === RM_RMM || (rm === RM_RDN && sign === 1) || (rm === RM_RUP && sign === 0);
    return toInf ? inf(f, sign) : (sign ? f.signBit : 0n) | f.maxBits;
  }
  if (inexact) {
    sfState.flags |= FLAG_NX;
    if (topExp < f.emin) {
      // Tininess after rounding: would the result, rounded to p bits with an unbounded exponent range,
      // still be below the smallest normal? Only a carry out of exponent emin-1 can avoid it.
      let tiny = true;
      if (topExp === f.emin - 1) {
        const dropU = topExp - (p - 1) - e;
        if (dropU > 0) {
          const d = BigInt(dropU);
          const k = m >> d;
          const rem = m & ((1n << d) - 1n);
          const half = 1n << (d - 1n);
          const c = rem > half ? 1 : rem < half ? -1 : sticky ? 1 : 0;
          const ku = roundsUp(rm, sign, (k & 1n) === 1n, c, rem !== 0n || sticky) ? k + 1n : k;
          if (ku >> BigInt(p) !== 0n) tiny = false;
        }
      }
      if (tiny) sfState.flags |= FLAG_UF;
    }
  }
  const s = sign ? f.signBit : 0n;
  if (keep === 0n) return s;
  const hidden = 1n << BigInt(p - 1);
  if (keep >= hidden) {
    const biased = BigInt(qe + (p - 1) + f.bias);
    return s | (biased << BigInt(f.fracBits)) | (keep - hidden);
  }
  return s | keep;
}

function nanResult(f: Fmt, ...ops: Unpacked[]): bigint {
  for (const o of ops) if (o.k === K.SNaN) sfState.flags |= FLAG_NV;
  return f.canonNaN;
}

function isNaNK(k: K): boolean {
  return k === K.QNaN || k === K.SNaN;
}

/** Exact signed sum of two m*2^e terms, rounded once. Zero results take the IEEE sign rule. */
function addExact(
  f: Fmt,
  sa: number,
  ma: bigint,
  ea: number,
  sb: number,
  mb: bigint,
  eb: number,
  rm: number,
): bigint {
  if (ma === 0n && mb === 0n) return sa === sb ? zero(f, sa) : zero(f, rm === RM_RDN ? 1 : 0);
  const e = ma === 0n ? eb : mb === 0n ? ea : Math.min(ea, eb);
  const va = ma === 0n ? 0n : ma << BigInt(ea - e);
  const vb = mb === 0n ? 0n : mb << BigInt(eb - e);
  const sum = (sa ? -va : va) + (sb ? -vb : vb);
  if (sum === 0n) return zero(f, rm === RM_RDN ? 1 : 0);
  return sum < 0n ? roundPack(f, 1, -sum, e, false, rm) : roundPack(f, 0, sum, e, false, rm);
}

export function sfAdd(f: Fmt, a: bigint, b: bigint, rm: number, negB = false): bigint {
  const A = unpack(f, a);
  const B = unpack(f, b);
  if (isNaNK(A.k) || isNaNK(B.k)) return nanResult(f, A, B);
  const sb = B.sign ^ (negB ? 1 : 0);
  if (A.k === K.Inf) {
    if (B.k === K.Inf && A.sign !== sb) {
      sfState.flags |= FLAG_NV;
      return f.canonNaN;
    }
    return inf(f, A.sign);
  }
  if (B.k === K.Inf) return inf(f, sb);
  return addExact(f, A.sign, A.m, A.e, sb, B.m, B.e, rm);
}

export function sfMul(f: Fmt, a: bigint, b: bigint, rm: number): bigint {
  const A = unpack(f, a);
  const B = unpack(f, b);
  if (isNaNK(A.k) || isNaNK(B.k)) return nanResult(f, A, B);
  const sign = A.sign ^ B.sign;
  if (A.k === K.Inf || B.k === K.Inf) {
    if (A.k === K.Zero || B.k === K.Zero) {
      sfState.flags |= FLAG_NV;
      return f.canonNaN;
    }
    return inf(f, sign);
  }
  if (A.k === K.Zero || B.k === K.Zero) return zero(f, sign);
  return roundPack(f, sign, A.m * B.m, A.e + B.e, false, rm);
}

export function sfDiv(f: Fmt, a: bigint, b: bigint, rm: number): bigint {
  const A = unpack(f, a);
  const B = unpack(f, b);
  if (isNaNK(A.k) || isNaNK(B.k)) return nanResult(f, A, B);
  const sign = A.sign ^ B.sign;
  if ((A.k === K.Inf && B.k === K.Inf) || (A.k === K.Zero && B.k === K.Zero)) {
    sfState.flags |= FLAG_NV;
    return f.canonNaN;
  }
  if (A.k === K.Inf) return inf(f, sign);
  if (B.k === K.Inf) return zero(f, sign);
  if (B.k === K.Zero) {
    sfState.flags |= FLAG_DZ;
    return inf(f, sign);
  }
  if (A.k === K.Zero) return zero(f, sign);
  const k = Math.max(0, f.p + 3 + bitLen(B.m) - bitLen(A.m));
  const num = A.m << BigInt(k);
  const q = num / B.m;
  return roundPack(f, sign, q, A.e - B.e - k, q * B.m !== num, rm);
}

export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLen(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export function sfSqrt(f: Fmt, a: bigint, rm: number): bigint {
  const A = unpack(f, a);
  if (isNaNK(A.k)) return nanResult(f, A);
  if (A.k === K.Zero) return a;
  if (A.sign) {
    sfState.flags |= FLAG_NV;
    return f.canonNaN;
  }
  if (A.k === K.Inf) return a;
  let k = Math.max(0, 2 * f.p + 6 - bitLen(A.m));
  if ((A.e - k) & 1) k++;
  const n = A.m << BigInt(k);
  const r = isqrt(n);
  return roundPack(f, 0, r, (A.e - k) / 2, r * r !== n, rm);
}

/** (negProd ? -(a*b) : a*b) + (negC ? -c : c), rounded once. */
export function sfFma(
  f: Fmt,
  a: bigint,
  b: bigint,
  c: bigint,
  rm: number,
  negProd: boolean,
  negC: boolean,
): bigint {
  const A = unpack(f, a);
  const B = unpack(f, b);
  const C = unpack(f, c);
  const infTimesZero = (A.k === K.Inf && B.k === K.Zero) || (A.k === K.Zero && B.k === K.Inf);
  if (isNaNK(A.k) || isNaNK(B.k) || isNaNK(C.k)) {
    // The ISA requires NV for inf*0 even when the addend is a quiet NaN.
    if (infTimesZero) sfState.flags |= FLAG_NV;
    return nanResult(f, A, B, C);
  }
  if (infTimesZero) {
    sfState.flags |= FLAG_NV;
    return f.canonNaN;
  }
  const ps = A.sign ^ B.sign ^ (negProd ? 1 : 0);
  const cs = C.sign ^ (negC ? 1 : 0);
  if (A.k === K.Inf || B.k === K.Inf) {
    if (C.k === K.Inf && cs !== ps) {
      sfState.flags |= FLAG_NV;
      return f.canonNaN;
    }
    return inf(f, ps);
  }
  if (C.k === K.Inf) return inf(f, cs);
  const pm = A.k === K.Zero || B.k === K.Zero ? 0n : A.m * B.m;
  return addExact(f, ps, pm, A.e + B.e, cs, C.m, C.e, rm);
}

/**
 * Float to integer. Returns the 64-bit destination pattern (unsigned BigInt); 32-bit results are
 * sign-extended, including the unsigned ones, as the ISA specifies for RV64.
 */
export function sfToInt(f: Fmt, a: bigint, rm: number, signed: boolean, width: 32 | 64): bigint {
  const A = unpack(f, a);
  const w = BigInt(width);
  const max = signed ? (1n << (w - 1n)) - 1n : (1n << w) - 1n;
  const min = signed ? -(1n << (w - 1n)) : 0n;
  const out = (v: bigint) => BigInt.asUintN(64, width === 32 ? BigInt.asIntN(32, v) : v);
  if (isNaNK(A.k)) {
    sfState.flags |= FLAG_NV;
    return out(max);
  }
  if (A.k === K.Inf) {
    sfState.flags |= FLAG_NV;
    return out(A.sign ? min : max);
  }
  if (A.k === K.Zero) return 0n;
  let mag: bigint;
  let inexact = false;
  if (A.e >= 0) {
    mag = A.m << BigInt(A.e);
  } else {
    const d = BigInt(-A.e);
    mag = A.m >> d;
    const rem = A.m & ((1n << d) - 1n);
    const half = 1n << (d - 1n);
    inexact = rem !== 0n;
    if (roundsUp(rm, A.sign, (mag & 1n) === 1n, rem > half ? 1 : rem < half ? -1 : 0, inexact)) mag += 1n;
  }
  const v = A.sign ? -mag : mag;
  if (v > max || v < min) {
    sfState.flags |= FLAG_NV;
    return out(A.sign ? min : max);
  }
  if (inexact) sfState.flags |= FLAG_NX;
  return out(v);
}

/** Signed integer value to float. */
export function sfFromInt(f: Fmt, v: bigint, rm: number): bigint {
  if (v === 0n) return 0n;
  return v < 0n ? roundPack(f, 1, -v, 0, false, rm) : roundPack(f, 0, v, 0, false, rm);
}

/** Conversion between the two formats. */
export function sfCvt(from: Fmt, to: Fmt, a: bigint, rm: number): bigint {
  const A = unpack(from, a);
  if (isNaNK(A.k)) return nanResult(to, A);
  if (A.k === K.Inf) return inf(to, A.sign);
  if (A.k === K.Zero) return zero(to, A.sign);
  return roundPack(to, A.sign, A.m, A.e, false, rm);
}
