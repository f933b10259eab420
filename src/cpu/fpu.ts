/**
 * The F and D extensions: IEEE 754-2008 binary32/binary64 arithmetic with all five RISC-V rounding modes
 * and exact accrued flags.
 *
 * Fast paths use the host's double arithmetic, which is correctly rounded to nearest-even, plus error-free
 * transformations (TwoSum, Dekker's TwoProduct, division/square-root remainders) that give the exact sign
 * of the rounding error. From that sign the result for the other rounding modes and the inexact flag
 * follow without BigInt. Single precision is computed as a double d together with the sign of (exact - d),
 * which always determines the correctly rounded single (see roundS). Anything outside the ranges where
 * those arguments hold (NaN/infinite operands, results near the underflow or overflow thresholds,
 * out-of-range splits) goes to the exact BigInt implementation in softfloat.ts.
 */

import { FpOp } from './fp-ops.js';
import {
  FLAG_NV,
  FLAG_NX,
  FLAG_OF,
  FLAG_UF,
  FMT_D,
  FMT_S,
  sfAdd,
  sfCvt,
  sfDiv,
  sfFma,
  sfMul,
  sfSqrt,
  sfState,
} from './softfloat.js';
import { F_I32, X_I32 } from './state-layout.js';

const RNE = 0;
const RTZ = 1;
const RDN = 2;
const RUP = 3;
const RMM = 4;

const CANON_S = 0x7fc00000;
const CANON_D_HI = 0x7ff80000;

const TWO32 = 4294967296;
const TWO63 = 2 ** 63;
const TWO64 = 2 ** 64;
/** Dekker split constant 2^27+1. */
const SPLIT = 134217729;
const MAX_S = 3.4028234663852886e38;
const MIN_NORMAL_S = 1.1754943508222875e-38;

/** 2^k for k in [-1074, 1023], index k + 1074. */
const POW2 = new Float64Array(2098);
POW2[1074] = 1;
for (let k = 1; k <= 1023; k++) POW2[1074 + k] = POW2[1073 + k]! * 2;
for (let k = 1; k <= 1074; k++) POW2[1074 - k] = POW2[1075 - k]! / 2;

const P2_M960 = POW2[1074 - 960]!;
const P2_M1021 = POW2[1074 - 1021]!;
const P2_M1022 = POW2[1074 - 1022]!;
const P2_995 = POW2[1074 + 995]!;
const P2_1000 = POW2[1074 + 1000]!;
const P2_900 = POW2[1074 + 900]!;
const P2_M900 = POW2[1074 - 900]!;
const P2_64 = POW2[1074 + 64]!;
const P2_128 = POW2[1074 + 128]!;
const P2_M150 = POW2[1074 - 150]!;

/**
 * Doubles handed to the non-inlined helpers travel through this slot: as call arguments or return values
 * V8 would box each one in a fresh heap number.
 */
const ARG = new Float64Array(1);

/** Scratch for bit access to doubles (little-endian host: word 0 is the low word). */
const SF = new Float64Array(1);
const SI = new Int32Array(SF.buffer);

/** Unbiased exponent of a positive finite nonzero double. */
function expOf(a: number): number {
  SF[0] = a;
  const ex = (SI[1]! >>> 20) & 0x7ff;
  if (ex !== 0) return ex - 1023;
  SF[0] = a * P2_64;
  return ((SI[1]! >>> 20) & 0x7ff) - 1023 - 64;
}

/** The double of next larger magnitude (MAX -> infinity). */
function nextAway(d: number): number {
  SF[0] = d;
  const lo = SI[0]!;
  SI[0] = lo + 1;
  if (lo === -1) SI[1] = SI[1]! + 1;
  return SF[0];
}

/** The double of next smaller magnitude; d must be nonzero. */
function nextToward0(d: number): number {
  SF[0] = d;
  const lo = SI[0]!;
  SI[0] = lo - 1;
  if (lo === 0) SI[1] = SI[1]! - 1;
  return SF[0];
}

/**
 * The exact error a*b - p of p = fl(a*b) (Dekker). Callers keep |a|,|b| < 2^995 so the split cannot
 * overflow, and |a*b| >= 2^-960 so no partial product loses bits to underflow.
 */
function twoProdErr(a: number, b: number, p: number): number {
  let c = SPLIT * a;
  const ah = c - (c - a);
  const al = a - ah;
  c = SPLIT * b;
  const bh = c - (c - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** Second result of rnd(): whether that rounding was inexact. */
let rndInexact = false;

/**
 * Rounds t >= 0 to an integer in magnitude mode m (0 nearest-even, 1 toward zero, 2 away, 4 nearest-away),
 * where the exact value is t plus a tiny amount of sign sm (t itself when sm is 0).
 */
function rnd(t: number, sm: number, m: number): number {
  let i = Math.floor(t);
  const f = t - i;
  // cls: 0 exact, 1 below half, 2 exactly half, 3 above half
  let cls: number;
  if (f === 0) {
    if (sm === 0) cls = 0;
    else if (sm > 0) cls = 1;
    else {
      i -= 1;
      cls = 3;
    }
  } else if (f === 0.5) {
    cls = sm === 0 ? 2 : sm > 0 ? 3 : 1;
  } else {
    cls = f < 0.5 ? 1 : 3;
  }
  rndInexact = cls !== 0;
  if (cls === 0) return i;
  switch (m) {
    case 0:
      return cls === 3 || (cls === 2 && i % 2 === 1) ? i + 1 : i;
    case 1:
      return i;
    case 2:
      return i + 1;
    default:
      return cls >= 2 ? i + 1 : i;
  }
}

export class Fpu {
  /** Accrued exception flags, fcsr bits 4..0: NV=16 DZ=8 OF=4 UF=2 NX=1. */
  fflags = 0;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly f32: Float32Array;

  constructor(i32: Int32Array) {
    this.i32 = i32;
    this.f64 = new Float64Array(i32.buffer, i32.byteOffset, i32.length >> 1);
    this.f32 = new Float32Array(i32.buffer, i32.byteOffset, i32.length);
  }

  exec(op: FpOp, rd: number, rs1: number, rs2: number, rs3: number, rm: number): void {
    const i32 = this.i32;
    const f64 = this.f64;
    const fa = F_I32 + 2 * rs1;
    const fb = F_I32 + 2 * rs2;
    const fd = F_I32 + 2 * rd;
    switch (op) {
      // ---------------------------------------------------------------- single precision arithmetic
      case FpOp.FADD_S:
      case FpOp.FSUB_S: {
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        const bb = i32[fb + 1] === -1 ? i32[fb]! : CANON_S;
        if ((ba & 0x7f800000) === 0x7f800000 || (bb & 0x7f800000) === 0x7f800000) break;
        const a = this.f32[fa]!;
        const b = op === FpOp.FADD_S ? this.f32[fb]! : -this.f32[fb]!;
        let d = a + b;
        const bv = d - a;
        const e = a - (d - bv) + (b - bv);
        if (d === 0 && rm === RDN && !(Object.is(a, 0) && Object.is(b, 0))) d = -0;
        ARG[0] = d;
        this.roundS(fd, e > 0 ? 1 : e < 0 ? -1 : 0, rm);
        return;
      }
      case FpOp.FMUL_S: {
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        const bb = i32[fb + 1] === -1 ? i32[fb]! : CANON_S;
        if ((ba & 0x7f800000) === 0x7f800000 || (bb & 0x7f800000) === 0x7f800000) break;
        // 24x24-bit products are exact in a double.
        ARG[0] = this.f32[fa]! * this.f32[fb]!;
        this.roundS(fd, 0, rm);
        return;
      }
      case FpOp.FDIV_S: {
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        const bb = i32[fb + 1] === -1 ? i32[fb]! : CANON_S;
        if ((ba & 0x7f800000) === 0x7f800000 || (bb & 0x7fffffff) === 0 || (bb & 0x7f800000) === 0x7f800000)
          break;
        // An inexact quotient of two singles is at least ~2^-49 (relative) away from every single and every
        // midpoint between singles, so its double rounding never lands on one: d can be treated as exact.
        ARG[0] = this.f32[fa]! / this.f32[fb]!;
        this.roundS(fd, 0, rm);
        return;
      }
      case FpOp.FSQRT_S: {
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        // Negative nonzero, infinities and NaNs go to the slow path; -0 stays here (sqrt(-0) = -0).
        if (ba < 0 ? ba !== (0x80000000 | 0) : (ba & 0x7f800000) === 0x7f800000) break;
        // Same argument as for division: an inexact root is far from every single and midpoint.
        ARG[0] = Math.sqrt(this.f32[fa]!);
        this.roundS(fd, 0, rm);
        return;
      }
      case FpOp.FMADD_S:
      case FpOp.FMSUB_S:
      case FpOp.FNMSUB_S:
      case FpOp.FNMADD_S: {
        const fc = F_I32 + 2 * rs3;
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        const bb = i32[fb + 1] === -1 ? i32[fb]! : CANON_S;
        const bc = i32[fc + 1] === -1 ? i32[fc]! : CANON_S;
        if (
          (ba & 0x7f800000) === 0x7f800000 ||
          (bb & 0x7f800000) === 0x7f800000 ||
          (bc & 0x7f800000) === 0x7f800000
        )
          break;
        // The product is exact in a double, so TwoSum gives the exact error of the double sum.
        let p = this.f32[fa]! * this.f32[fb]!;
        let c = this.f32[fc]!;
        if (op === FpOp.FNMSUB_S || op === FpOp.FNMADD_S) p = -p;
        if (op === FpOp.FMSUB_S || op === FpOp.FNMADD_S) c = -c;
        let d = p + c;
        const bv = d - p;
        const e = p - (d - bv) + (c - bv);
        if (d === 0 && rm === RDN && !(Object.is(p, 0) && Object.is(c, 0))) d = -0;
        ARG[0] = d;
        this.roundS(fd, e > 0 ? 1 : e < 0 ? -1 : 0, rm);
        return;
      }

      // ---------------------------------------------------------------- double precision arithmetic
      case FpOp.FADD_D:
      case FpOp.FSUB_D: {
        const a = f64[fa >> 1]!;
        const b = op === FpOp.FADD_D ? f64[fb >> 1]! : -f64[fb >> 1]!;
        let d = a + b;
        const bv = d - a;
        const e = a - (d - bv) + (b - bv);
        // Finite d and e imply finite operands; a tiny sum is always exact, so UF cannot arise here.
        if (d - d !== 0 || e - e !== 0) break;
        if (e !== 0) {
          this.fflags |= FLAG_NX;
          if (rm !== RNE) d = this.adjust(d, e, rm);
        } else if (d === 0 && rm === RDN && !(Object.is(a, 0) && Object.is(b, 0))) {
          d = -0;
        }
        f64[fd >> 1] = d;
        return;
      }
      case FpOp.FMUL_D: {
        const a = f64[fa >> 1]!;
        const b = f64[fb >> 1]!;
        let d = a * b;
        const aa = Math.abs(a);
        const ab = Math.abs(b);
        const ad = Math.abs(d);
        // Range in which Dekker's product is exact and the result is far from underflow and overflow.
        if (ad >= P2_M960 && ad < P2_1000 && aa >= P2_M1022 && aa < P2_995 && ab >= P2_M1022 && ab < P2_995) {
          const e = twoProdErr(a, b, d);
          if (e !== 0) {
            this.fflags |= FLAG_NX;
            if (rm !== RNE) d = this.adjust(d, e, rm);
          }
          f64[fd >> 1] = d;
          return;
        }
        if (d === 0 && (aa === 0 || ab === 0) && aa < Infinity && ab < Infinity) {
          f64[fd >> 1] = d;
          return;
        }
        break;
      }
      case FpOp.FDIV_D: {
        const a = f64[fa >> 1]!;
        const b = f64[fb >> 1]!;
        let d = a / b;
        const aa = Math.abs(a);
        const ab = Math.abs(b);
        const ad = Math.abs(d);
        if (aa >= P2_M960 && aa < P2_995 && ab >= P2_M960 && ab < P2_995 && ad >= P2_M1021 && ad < P2_995) {
          // a - d*b is representable and both steps below are exact (Sterbenz for a - p).
          const p = d * b;
          const rem = a - p - twoProdErr(d, b, p);
          if (rem !== 0) {
            this.fflags |= FLAG_NX;
            // Quotients are never midpoints, so no tie handling is needed.
            if (rm !== RNE && rm !== RMM) d = this.adjust(d, rem > 0 === b > 0 ? 1 : -1, rm);
          }
          f64[fd >> 1] = d;
          return;
        }
        if (aa === 0 && ab > 0 && ab < Infinity) {
          f64[fd >> 1] = d;
          return;
        }
        break;
      }
      case FpOp.FSQRT_D: {
        let a = f64[fa >> 1]!;
        if (!(a > 0 && a < Infinity)) {
          if (a === 0) {
            f64[fd >> 1] = a;
            return;
          }
          break;
        }
        // Scale by an even power of two so that the remainder computation cannot under- or overflow.
        let scale = 1;
        if (a < P2_M900) {
          a *= P2_1000;
          scale = POW2[1074 - 500]!;
        } else if (a > P2_900) {
          a *= POW2[1074 - 1000]!;
          scale = POW2[1074 + 500]!;
        }
        let r = Math.sqrt(a);
        const p = r * r;
        const rem = a - p - twoProdErr(r, r, p);
        if (rem !== 0) {
          this.fflags |= FLAG_NX;
          // Roots are never midpoints either.
          if (rm !== RNE && rm !== RMM) r = this.adjust(r, rem, rm);
        }
        f64[fd >> 1] = r * scale;
        return;
      }
      case FpOp.FMADD_D:
      case FpOp.FMSUB_D:
      case FpOp.FNMSUB_D:
      case FpOp.FNMADD_D: {
        if (this.fmaD(op, fd >> 1, fa >> 1, fb >> 1, (F_I32 >> 1) + rs3, rm)) return;
        break;
      }

      // ---------------------------------------------------------------- sign injection, min/max, moves
      case FpOp.FSGNJ_S:
      case FpOp.FSGNJN_S:
      case FpOp.FSGNJX_S: {
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        const bb = i32[fb + 1] === -1 ? i32[fb]! : CANON_S;
        const s = op === FpOp.FSGNJ_S ? bb : op === FpOp.FSGNJN_S ? ~bb : ba ^ bb;
        i32[fd] = (ba & 0x7fffffff) | (s & (0x80000000 | 0));
        i32[fd + 1] = -1;
        return;
      }
      case FpOp.FSGNJ_D:
      case FpOp.FSGNJN_D:
      case FpOp.FSGNJX_D: {
        const ha = i32[fa + 1]!;
        const hb = i32[fb + 1]!;
        const s = op === FpOp.FSGNJ_D ? hb : op === FpOp.FSGNJN_D ? ~hb : ha ^ hb;
        i32[fd] = i32[fa]!;
        i32[fd + 1] = (ha & 0x7fffffff) | (s & (0x80000000 | 0));
        return;
      }
      case FpOp.FMIN_S:
      case FpOp.FMAX_S: {
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        const bb = i32[fb + 1] === -1 ? i32[fb]! : CANON_S;
        const na = (ba & 0x7fffffff) > 0x7f800000;
        const nb = (bb & 0x7fffffff) > 0x7f800000;
        if ((na && (ba & 0x00400000) === 0) || (nb && (bb & 0x00400000) === 0)) this.fflags |= FLAG_NV;
        let r: number;
        if (na) r = nb ? CANON_S : bb;
        else if (nb) r = ba;
        else {
          // Compare as sign-magnitude integers so that -0 < +0.
          const ka = ba < 0 ? -(ba & 0x7fffffff) - 1 : ba;
          const kb = bb < 0 ? -(bb & 0x7fffffff) - 1 : bb;
          r = (op === FpOp.FMIN_S ? ka < kb : ka > kb) ? ba : bb;
        }
        i32[fd] = r;
        i32[fd + 1] = -1;
        return;
      }
      case FpOp.FMIN_D:
      case FpOp.FMAX_D: {
        const a = f64[fa >> 1]!;
        const b = f64[fb >> 1]!;
        const na = Number.isNaN(a);
        const nb = Number.isNaN(b);
        if (na || nb) {
          if ((na && (i32[fa + 1]! & 0x00080000) === 0) || (nb && (i32[fb + 1]! & 0x00080000) === 0))
            this.fflags |= FLAG_NV;
          if (na && nb) {
            i32[fd] = 0;
            i32[fd + 1] = CANON_D_HI;
          } else {
            const src = na ? fb : fa;
            i32[fd] = i32[src]!;
            i32[fd + 1] = i32[src + 1]!;
          }
          return;
        }
        let r: number;
        if (a === b) {
          // Only the zeros differ here: min prefers a set sign bit, max a clear one.
          const negA = i32[fa + 1]! < 0;
          r = (op === FpOp.FMIN_D) === negA ? a : b;
        } else {
          r = (op === FpOp.FMIN_D) === a < b ? a : b;
        }
        f64[fd >> 1] = r;
        return;
      }
      case FpOp.FMV_X_W:
        if (rd !== 0) {
          const v = i32[fa]!;
          i32[X_I32 + 2 * rd] = v;
          i32[X_I32 + 2 * rd + 1] = v >> 31;
        }
        return;
      case FpOp.FMV_W_X:
        i32[fd] = i32[X_I32 + 2 * rs1]!;
        i32[fd + 1] = -1;
        return;
      case FpOp.FMV_X_D:
        if (rd !== 0) {
          i32[X_I32 + 2 * rd] = i32[fa]!;
          i32[X_I32 + 2 * rd + 1] = i32[fa + 1]!;
        }
        return;
      case FpOp.FMV_D_X:
        i32[fd] = i32[X_I32 + 2 * rs1]!;
        i32[fd + 1] = i32[X_I32 + 2 * rs1 + 1]!;
        return;

      // ---------------------------------------------------------------- comparisons and classification
      case FpOp.FEQ_S:
      case FpOp.FLT_S:
      case FpOp.FLE_S: {
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        const bb = i32[fb + 1] === -1 ? i32[fb]! : CANON_S;
        const na = (ba & 0x7fffffff) > 0x7f800000;
        const nb = (bb & 0x7fffffff) > 0x7f800000;
        let r = 0;
        if (na || nb) {
          if (op !== FpOp.FEQ_S || (na && (ba & 0x00400000) === 0) || (nb && (bb & 0x00400000) === 0))
            this.fflags |= FLAG_NV;
        } else {
          const a = this.f32[fa]!;
          const b = this.f32[fb]!;
          r = (op === FpOp.FEQ_S ? a === b : op === FpOp.FLT_S ? a < b : a <= b) ? 1 : 0;
        }
        this.wrX(rd, r, 0);
        return;
      }
      case FpOp.FEQ_D:
      case FpOp.FLT_D:
      case FpOp.FLE_D: {
        const a = f64[fa >> 1]!;
        const b = f64[fb >> 1]!;
        let r = 0;
        if (Number.isNaN(a) || Number.isNaN(b)) {
          if (
            op !== FpOp.FEQ_D ||
            (Number.isNaN(a) && (i32[fa + 1]! & 0x00080000) === 0) ||
            (Number.isNaN(b) && (i32[fb + 1]! & 0x00080000) === 0)
          )
            this.fflags |= FLAG_NV;
        } else {
          r = (op === FpOp.FEQ_D ? a === b : op === FpOp.FLT_D ? a < b : a <= b) ? 1 : 0;
        }
        this.wrX(rd, r, 0);
        return;
      }
      case FpOp.FCLASS_S: {
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        const ex = (ba >>> 23) & 0xff;
        const frac = ba & 0x7fffff;
        this.wrX(rd, classify(ba < 0, ex === 0xff, ex === 0, frac === 0, (frac & 0x400000) !== 0), 0);
        return;
      }
      case FpOp.FCLASS_D: {
        const hi = i32[fa + 1]!;
        const ex = (hi >>> 20) & 0x7ff;
        const fracZero = (hi & 0xfffff) === 0 && i32[fa] === 0;
        this.wrX(rd, classify(hi < 0, ex === 0x7ff, ex === 0, fracZero, (hi & 0x80000) !== 0), 0);
        return;
      }

      // ---------------------------------------------------------------- conversions
      case FpOp.FCVT_W_S:
      case FpOp.FCVT_WU_S:
      case FpOp.FCVT_L_S:
      case FpOp.FCVT_LU_S: {
        ARG[0] = i32[fa + 1] === -1 ? this.f32[fa]! : Number.NaN;
        this.toInt(rm, op - FpOp.FCVT_W_S, rd);
        return;
      }
      case FpOp.FCVT_W_D:
      case FpOp.FCVT_WU_D:
      case FpOp.FCVT_L_D:
      case FpOp.FCVT_LU_D:
        ARG[0] = f64[fa >> 1]!;
        this.toInt(rm, op - FpOp.FCVT_W_D, rd);
        return;
      case FpOp.FCVT_S_W:
        ARG[0] = i32[X_I32 + 2 * rs1]!;
        this.roundS(fd, 0, rm);
        return;
      case FpOp.FCVT_S_WU:
        ARG[0] = i32[X_I32 + 2 * rs1]! >>> 0;
        this.roundS(fd, 0, rm);
        return;
      case FpOp.FCVT_S_L:
      case FpOp.FCVT_S_LU: {
        const lo = i32[X_I32 + 2 * rs1]! >>> 0;
        const hiw = i32[X_I32 + 2 * rs1 + 1]!;
        const ph = (op === FpOp.FCVT_S_L ? hiw : hiw >>> 0) * TWO32;
        const d = ph + lo;
        const e = lo - (d - ph);
        ARG[0] = d;
        this.roundS(fd, e > 0 ? 1 : e < 0 ? -1 : 0, rm);
        return;
      }
      case FpOp.FCVT_D_W:
        f64[fd >> 1] = i32[X_I32 + 2 * rs1]!;
        return;
      case FpOp.FCVT_D_WU:
        f64[fd >> 1] = i32[X_I32 + 2 * rs1]! >>> 0;
        return;
      case FpOp.FCVT_D_L:
      case FpOp.FCVT_D_LU: {
        const lo = i32[X_I32 + 2 * rs1]! >>> 0;
        const hiw = i32[X_I32 + 2 * rs1 + 1]!;
        const ph = (op === FpOp.FCVT_D_L ? hiw : hiw >>> 0) * TWO32;
        let d = ph + lo;
        // ph is a multiple of 2^32 and d is within 2^11 ulps of it, so d - ph is exact.
        const e = lo - (d - ph);
        if (e !== 0) {
          this.fflags |= FLAG_NX;
          if (rm !== RNE) d = this.adjust(d, e, rm);
        }
        f64[fd >> 1] = d;
        return;
      }
      case FpOp.FCVT_S_D: {
        const d = f64[fa >> 1]!;
        if (d - d !== 0) break;
        ARG[0] = d;
        this.roundS(fd, 0, rm);
        return;
      }
      case FpOp.FCVT_D_S: {
        const ba = i32[fa + 1] === -1 ? i32[fa]! : CANON_S;
        if ((ba & 0x7f800000) === 0x7f800000 && (ba & 0x7fffff) !== 0) {
          if ((ba & 0x400000) === 0) this.fflags |= FLAG_NV;
          i32[fd] = 0;
          i32[fd + 1] = CANON_D_HI;
          return;
        }
        f64[fd >> 1] = this.f32[fa]!;
        return;
      }
    }
    this.slow(op, rd, rs1, rs2, rs3, rm);
  }

  private wrX(rd: number, lo: number, hi: number): void {
    if (rd !== 0) {
      this.i32[X_I32 + 2 * rd] = lo;
      this.i32[X_I32 + 2 * rd + 1] = hi;
    }
  }

  /**
   * Moves the round-to-nearest-even double d one ulp in the direction of the exact result when mode rm
   * requires it. sgn has the sign of (exact - d) and is nonzero; its magnitude is the exact error when
   * rm is RMM (needed to recognise ties), otherwise only its sign matters.
   */
  private adjust(d: number, sgn: number, rm: number): number {
    let r = d;
    switch (rm) {
      case RTZ:
        if (d > 0 ? sgn < 0 : sgn > 0) r = nextToward0(d);
        break;
      case RDN:
        if (sgn < 0) r = d > 0 ? nextToward0(d) : nextAway(d);
        break;
      case RUP:
        if (sgn > 0) r = d > 0 ? nextAway(d) : nextToward0(d);
        break;
      case RMM:
        // Only a tie rounded toward zero by RNE differs: the exact value is then half an ulp further out.
        if (d > 0 === sgn > 0) {
          const n = nextAway(d);
          if (Math.abs(sgn) * 2 === Math.abs(n - d)) r = n;
        }
        break;
    }
    if (r - r !== 0) this.fflags |= FLAG_OF;
    return r;
  }

  /**
   * Writes to f[fd] (NaN-boxed) the correctly rounded single of a finite double d = ARG[0] whose exact
   * value differs from d by the sign s, setting flags. Valid whenever d is the round-to-nearest double of
   * the exact value: no single, midpoint between singles or threshold then lies strictly between them.
   */
  private roundS(fd: number, s: number, rm: number): void {
    const d = ARG[0]!;
    this.i32[fd + 1] = -1;
    if (s === 0 && rm === RNE) {
      const f = Math.fround(d);
      if (f === d) {
        this.f32[fd] = f;
        return;
      }
      const af = Math.abs(f);
      if (af > MIN_NORMAL_S && af <= MAX_S) {
        this.fflags |= FLAG_NX;
        this.f32[fd] = f;
        return;
      }
    }
    this.f32[fd] = this.roundSCareful(d, s, rm);
  }

  /** roundS for directed modes, ties, sticky inputs and results near the underflow/overflow thresholds. */
  private roundSCareful(d: number, s: number, rm: number): number {
    if (d === 0) return d;
    const neg = d < 0;
    const a = neg ? -d : d;
    const sm = neg ? -s : s;
    const m = rm === RDN ? (neg ? 2 : 1) : rm === RUP ? (neg ? 1 : 2) : rm;
    let e = expOf(a);
    if (sm < 0) {
      // Just below a power of two the exact value lives in the binade beneath.
      SF[0] = a;
      if ((SI[1]! & 0xfffff) === 0 && SI[0] === 0 && e > -1022) e -= 1;
    }
    let r: number;
    if (e > 127) {
      r = Infinity;
      rndInexact = true;
    } else {
      const qe = Math.max(e - 23, -149);
      const q = POW2[1074 + qe]!;
      r = rnd(a / q, sm, m) * q;
    }
    if (!rndInexact) return d;
    this.fflags |= FLAG_NX;
    if (r >= P2_128) {
      this.fflags |= FLAG_OF;
      r = m === 1 ? MAX_S : Infinity;
    } else if (e < -126) {
      // Tininess after rounding: with an unbounded exponent only a value in the binade just below the
      // smallest normal can round up to it.
      if (e < -127 || rnd(a / P2_M150, sm, m) < 16777216) this.fflags |= FLAG_UF;
    }
    return neg ? -r : r;
  }

  /**
   * Double fused multiply-add without BigInt (Boldo & Melquiond's emulation with rounding to odd): with
   * uh+ul = a*b exactly and th+tl = c+uh exactly, v = RO(tl+ul) keeps enough information that rounding
   * th+v in any mode equals rounding a*b+c. Returns false when outside the range where that holds.
   */
  private fmaD(op: FpOp, d: number, ia: number, ib: number, ic: number, rm: number): boolean {
    const f64 = this.f64;
    let a = f64[ia]!;
    const b = f64[ib]!;
    let c = f64[ic]!;
    if (op === FpOp.FNMSUB_D || op === FpOp.FNMADD_D) a = -a;
    if (op === FpOp.FMSUB_D || op === FpOp.FNMADD_D) c = -c;
    const aa = Math.abs(a);
    const ab = Math.abs(b);
    const uh = a * b;
    const au = Math.abs(uh);
    if (!(au >= P2_M960 && au < P2_1000 && aa >= P2_M1022 && aa < P2_995 && ab >= P2_M1022 && ab < P2_995)) {
      // An exact zero product (not one that underflowed) leaves c unchanged.
      if ((aa === 0 || ab === 0) && aa < Infinity && ab < Infinity && c !== 0 && c - c === 0) {
        f64[d] = c;
        return true;
      }
      return false;
    }
    if (!(Math.abs(c) < P2_1000)) return false;
    const ul = twoProdErr(a, b, uh);
    const th = c + uh;
    let bv = th - c;
    const tl = c - (th - bv) + (uh - bv);
    let v = tl + ul;
    bv = v - tl;
    const vErr = tl - (v - bv) + (ul - bv);
    if (vErr !== 0) {
      SF[0] = v;
      const lo = SI[0]!;
      // Round to odd: if round-to-nearest picked the even neighbour, take the other one. An even low word
      // never carries when incremented.
      if ((lo & 1) === 0) {
        if (v > 0 === vErr > 0) SI[0] = lo + 1;
        else {
          SI[0] = lo - 1;
          if (lo === 0) SI[1] = SI[1]! - 1;
        }
        v = SF[0];
      }
    }
    let z = th + v;
    bv = z - th;
    const ez = th - (z - bv) + (v - bv);
    const az = Math.abs(z);
    if (!(az >= P2_M960 && az < P2_1000)) return false;
    if (ez !== 0) {
      this.fflags |= FLAG_NX;
      // When v is inexact, th+v is never a midpoint, so adjust's tie test on ez stays correct.
      if (rm !== RNE) z = this.adjust(z, ez, rm);
    } else if (vErr !== 0) {
      return false;
    }
    f64[d] = z;
    return true;
  }

  /** Float (given in ARG[0] as a double, NaN for any NaN) to integer: kind 0=W, 1=WU, 2=L, 3=LU. */
  private toInt(rm: number, kind: number, rd: number): void {
    const x = ARG[0]!;
    let r: number;
    let inexact = false;
    if (x - x !== 0) {
      r = Number.NaN;
    } else {
      const t = Math.trunc(x);
      const f = x - t;
      r = t;
      if (f !== 0) {
        inexact = true;
        switch (rm) {
          case RNE: {
            const af = Math.abs(f);
            if (af > 0.5 || (af === 0.5 && t % 2 !== 0)) r = x > 0 ? t + 1 : t - 1;
            break;
          }
          case RDN:
            if (f < 0) r = t - 1;
            break;
          case RUP:
            if (f > 0) r = t + 1;
            break;
          case RMM:
            if (Math.abs(f) >= 0.5) r = x > 0 ? t + 1 : t - 1;
            break;
        }
      }
    }
    let ok: boolean;
    switch (kind) {
      case 0:
        ok = r >= -2147483648 && r <= 2147483647;
        break;
      case 1:
        ok = r >= 0 && r <= 4294967295;
        break;
      case 2:
        ok = r >= -TWO63 && r < TWO63;
        break;
      default:
        ok = r >= 0 && r < TWO64;
        break;
    }
    if (!ok) {
      this.fflags |= FLAG_NV;
      const neg = x < 0;
      switch (kind) {
        case 0:
          this.wrX(rd, neg ? 0x80000000 | 0 : 0x7fffffff, neg ? -1 : 0);
          return;
        case 1:
          this.wrX(rd, neg ? 0 : -1, neg ? 0 : -1);
          return;
        case 2:
          this.wrX(rd, neg ? 0 : -1, neg ? 0x80000000 | 0 : 0x7fffffff);
          return;
        default:
          this.wrX(rd, neg ? 0 : -1, neg ? 0 : -1);
          return;
      }
    }
    if (inexact) this.fflags |= FLAG_NX;
    if (kind < 2) {
      const lo = r | 0;
      this.wrX(rd, lo, lo >> 31);
      return;
    }
    const m = Math.abs(r);
    const hi = Math.floor(m / TWO32);
    const lo = m - hi * TWO32;
    if (r >= 0) this.wrX(rd, lo | 0, hi | 0);
    else this.wrX(rd, -lo | 0, (~hi + (lo === 0 ? 1 : 0)) | 0);
  }

  private rdSBits(r: number): bigint {
    const i = F_I32 + 2 * r;
    return BigInt(this.i32[i + 1] === -1 ? this.i32[i]! >>> 0 : CANON_S);
  }

  private rdDBits(r: number): bigint {
    const i = F_I32 + 2 * r;
    return (BigInt(this.i32[i + 1]! >>> 0) << 32n) | BigInt(this.i32[i]! >>> 0);
  }

  private wrSBits(rd: number, v: bigint): void {
    const i = F_I32 + 2 * rd;
    this.i32[i] = Number(v) | 0;
    this.i32[i + 1] = -1;
  }

  private wrDBits(rd: number, v: bigint): void {
    const i = F_I32 + 2 * rd;
    this.i32[i] = Number(v & 0xffffffffn) | 0;
    this.i32[i + 1] = Number(v >> 32n) | 0;
  }

  /** Exact BigInt path for everything the fast paths decline. */
  private slow(op: FpOp, rd: number, rs1: number, rs2: number, rs3: number, rm: number): void {
    sfState.flags = 0;
    const S = FMT_S;
    const D = FMT_D;
    switch (op) {
      case FpOp.FADD_S:
      case FpOp.FSUB_S:
        this.wrSBits(rd, sfAdd(S, this.rdSBits(rs1), this.rdSBits(rs2), rm, op === FpOp.FSUB_S));
        break;
      case FpOp.FMUL_S:
        this.wrSBits(rd, sfMul(S, this.rdSBits(rs1), this.rdSBits(rs2), rm));
        break;
      case FpOp.FDIV_S:
        this.wrSBits(rd, sfDiv(S, this.rdSBits(rs1), this.rdSBits(rs2), rm));
        break;
      case FpOp.FSQRT_S:
        this.wrSBits(rd, sfSqrt(S, this.rdSBits(rs1), rm));
        break;
      case FpOp.FMADD_S:
      case FpOp.FMSUB_S:
      case FpOp.FNMSUB_S:
      case FpOp.FNMADD_S:
        this.wrSBits(
          rd,
          sfFma(
            S,
            this.rdSBits(rs1),
            this.rdSBits(rs2),
            this.rdSBits(rs3),
            rm,
            op === FpOp.FNMSUB_S || op === FpOp.FNMADD_S,
            op === FpOp.FMSUB_S || op === FpOp.FNMADD_S,
          ),
        );
        break;
      case FpOp.FADD_D:
      case FpOp.FSUB_D:
        this.wrDBits(rd, sfAdd(D, this.rdDBits(rs1), this.rdDBits(rs2), rm, op === FpOp.FSUB_D));
        break;
      case FpOp.FMUL_D:
        this.wrDBits(rd, sfMul(D, this.rdDBits(rs1), this.rdDBits(rs2), rm));
        break;
      case FpOp.FDIV_D:
        this.wrDBits(rd, sfDiv(D, this.rdDBits(rs1), this.rdDBits(rs2), rm));
        break;
      case FpOp.FSQRT_D:
        this.wrDBits(rd, sfSqrt(D, this.rdDBits(rs1), rm));
        break;
      case FpOp.FMADD_D:
      case FpOp.FMSUB_D:
      case FpOp.FNMSUB_D:
      case FpOp.FNMADD_D:
        this.wrDBits(
          rd,
          sfFma(
            D,
            this.rdDBits(rs1),
            this.rdDBits(rs2),
            this.rdDBits(rs3),
            rm,
            op === FpOp.FNMSUB_D || op === FpOp.FNMADD_D,
            op === FpOp.FMSUB_D || op === FpOp.FNMADD_D,
          ),
        );
        break;
      case FpOp.FCVT_S_D:
        this.wrSBits(rd, sfCvt(D, S, this.rdDBits(rs1), rm));
        break;
      default:
        throw new Error(`Fpu: no slow path for op ${op}`);
    }
    this.fflags |= sfState.flags;
  }
}

/** The fclass bit for a value described by its fields. */
function classify(
  neg: boolean,
  expAll: boolean,
  expZero: boolean,
  fracZero: boolean,
  quiet: boolean,
): number {
  if (expAll) {
    if (fracZero) return neg ? 1 : 1 << 7;
    return quiet ? 1 << 9 : 1 << 8;
  }
  if (expZero) {
    if (fracZero) return neg ? 1 << 3 : 1 << 4;
    return neg ? 1 << 2 : 1 << 5;
  }
  return neg ? 1 << 1 : 1 << 6;
}
