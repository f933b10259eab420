import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe as suite, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { FpOp } from '../../src/cpu/fp-ops.js';
import { Fpu } from '../../src/cpu/fpu.js';
import { F_I32, X_I32 } from '../../src/cpu/state-layout.js';
import {
  describe,
  FpuRunner,
  hardVec,
  haveQemu,
  hex,
  OP_BY_ID,
  OPS,
  type Res,
  Rng,
  randVec,
  refExec,
  runQemu,
  type Vec,
} from './fpu-harness.js';

const NV = 16;
const DZ = 8;
const OF = 4;
const UF = 2;
const NX = 1;
const RNE = 0;
const RTZ = 1;
const RDN = 2;
const RUP = 3;
const RMM = 4;

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Double bits. */
function D(x: number): bigint {
  f64[0] = x;
  return u64[0]!;
}
/** NaN-boxed single bits (x is rounded to single first). */
function S(x: number): bigint {
  f32[0] = x;
  return 0xffffffff00000000n | BigInt(u32[0]!);
}
/** NaN-boxed single from raw 32-bit pattern. */
function SB(bits: number): bigint {
  return 0xffffffff00000000n | BigInt(bits >>> 0);
}
/** 64-bit integer register pattern. */
function I(n: number | bigint): bigint {
  return BigInt.asUintN(64, BigInt(n));
}

const QS = SB(0x7fc00000); // canonical single NaN
const SNS = SB(0x7f800001); // signalling single NaN
const QNS_PAY = SB(0xffc12345); // quiet single NaN with payload and sign
const INF_S = SB(0x7f800000);
const NINF_S = SB(0xff800000);
const QD = 0x7ff8000000000000n;
const SND = 0x7ff0000000000001n;
const QND_PAY = 0xfff8000000012345n;
const MAX_D = 0x7fefffffffffffffn;
const MIN_NORM_D = 0x0010000000000000n;
const MIN_SUB_D = 0x0000000000000001n;
const MAX_S = SB(0x7f7fffff);
const MIN_NORM_S = SB(0x00800000);

type Row = [name: string, rm: number, a: bigint, b: bigint, c: bigint, want: bigint, flags: number];

const n = 0n;
// The rv64uf/rv64ud tests' operands: decimal literals that merely resemble pi and e.
// biome-ignore lint/suspicious/noApproximativeNumericConstant: test data, not meant as Math.PI
const PI8 = 3.14159265;
// biome-ignore lint/suspicious/noApproximativeNumericConstant: test data, not meant as Math.E
const E8 = 2.71828183;
// biome-ignore lint/suspicious/noApproximativeNumericConstant: test data, not meant as Math.PI
const PI14 = 3.14159265358979;
// biome-ignore lint/suspicious/noApproximativeNumericConstant: test data, not meant as Math.E
const E14 = 2.71828182845904;
/** Concrete vectors; expected values follow from the ISA text and IEEE 754 (several are riscv-tests'). */
const ROWS: Row[] = [
  // ---- basic arithmetic (values from the rv64uf/rv64ud tests)
  ['fadd.s', RNE, S(2.5), S(1.0), n, S(3.5), 0],
  ['fadd.s', RNE, S(-1235.1), S(1.1), n, S(-1234), NX],
  ['fadd.s', RNE, S(PI8), S(0.00000001), n, S(PI8), NX],
  ['fsub.s', RNE, S(2.5), S(1.0), n, S(1.5), 0],
  ['fsub.s', RNE, S(-1235.1), S(-1.1), n, S(-1234), NX],
  ['fmul.s', RNE, S(2.5), S(1.0), n, S(2.5), 0],
  ['fmul.s', RNE, S(-1235.1), S(-1.1), n, S(1358.61), NX],
  ['fmul.s', RNE, S(PI8), S(0.00000001), n, S(314159265e-16), NX],
  ['fadd.s', RNE, INF_S, NINF_S, n, QS, NV],
  ['fsub.s', RNE, INF_S, INF_S, n, QS, NV],
  ['fmul.s', RNE, INF_S, S(0), n, QS, NV],
  ['fadd.d', RNE, D(2.5), D(1.0), n, D(3.5), 0],
  ['fadd.d', RNE, D(-1235.1), D(1.1), n, D(-1234), NX],
  ['fadd.d', RNE, D(PI8), D(0.00000001), n, D(PI8 + 1e-8), NX],
  ['fsub.d', RNE, D(-1235.1), D(-1.1), n, D(-1234), NX],
  ['fmul.d', RNE, D(-1235.1), D(-1.1), n, D(1358.61), NX],
  ['fmul.d', RNE, D(PI8), D(0.00000001), n, D(PI8 * 1e-8), NX],
  ['fadd.d', RNE, 0x7ff0000000000000n, 0xfff0000000000000n, n, QD, NV],
  ['fdiv.s', RNE, S(E8), S(PI8), n, S(0.86525595), NX],
  ['fdiv.s', RNE, S(-1234), S(1235.1), n, S(-0.99910939), NX],
  ['fdiv.s', RNE, S(PI8), S(1.0), n, S(PI8), 0],
  ['fsqrt.s', RNE, S(PI8), n, n, S(1.7724539), NX],
  ['fsqrt.s', RNE, S(10000), n, n, S(100), 0],
  ['fsqrt.s', RNE, S(-1.0), n, n, QS, NV],
  ['fsqrt.s', RNE, S(171.0), n, n, S(13.076696), NX],
  ['fdiv.d', RNE, D(E14), D(PI14), n, D(E14 / PI14), NX],
  ['fdiv.d', RNE, D(-1234), D(1235.1), n, D(-0.9991093838555584), NX],
  ['fsqrt.d', RNE, D(PI14), n, n, D(Math.sqrt(PI14)), NX],
  ['fsqrt.d', RNE, D(10000), n, n, D(100), 0],
  ['fsqrt.d', RNE, D(-1.0), n, n, QD, NV],
  ['fsqrt.d', RNE, D(171.0), n, n, D(Math.sqrt(171)), NX],
  ['fsqrt.d', RNE, D(-0), n, n, D(-0), 0],
  ['fsqrt.s', RNE, S(-0), n, n, S(-0), 0],
  ['fsqrt.d', RNE, 0xfff0000000000000n, n, n, QD, NV],
  ['fsqrt.d', RNE, 0x7ff0000000000000n, n, n, 0x7ff0000000000000n, 0],
  ['fsqrt.d', RNE, SND, n, n, QD, NV],
  ['fsqrt.d', RNE, MIN_SUB_D, n, n, D(2 ** -537), 0],
  // the double nearest sqrt(2) lies above it
  ['fsqrt.d', RUP, D(2), n, n, D(Math.SQRT2), NX],
  ['fsqrt.d', RTZ, D(2), n, n, D(Math.SQRT2) - 1n, NX],
  ['fsqrt.d', RDN, D(3), n, n, D(Math.sqrt(3)), NX],

  // ---- division by zero and invalid division
  ['fdiv.s', RNE, S(1), S(0), n, INF_S, DZ],
  ['fdiv.s', RNE, S(-1), S(0), n, NINF_S, DZ],
  ['fdiv.s', RNE, S(0), S(0), n, QS, NV],
  ['fdiv.d', RNE, D(1), D(-0), n, 0xfff0000000000000n, DZ],
  ['fdiv.d', RNE, 0x7ff0000000000000n, 0x7ff0000000000000n, n, QD, NV],
  ['fdiv.d', RNE, 0x7ff0000000000000n, D(0), n, 0x7ff0000000000000n, 0],
  ['fdiv.d', RNE, D(5), 0xfff0000000000000n, n, D(-0), 0],

  // ---- signed zero sums: +0 except in RDN
  ['fadd.d', RNE, D(1), D(-1), n, D(0), 0],
  ['fadd.d', RDN, D(1), D(-1), n, D(-0), 0],
  ['fsub.d', RDN, D(0), D(0), n, D(-0), 0],
  ['fadd.d', RDN, D(0), D(0), n, D(0), 0],
  ['fadd.d', RUP, D(-0), D(-0), n, D(-0), 0],
  ['fadd.s', RDN, S(2.5), S(-2.5), n, S(-0), 0],
  ['fadd.s', RTZ, S(2.5), S(-2.5), n, S(0), 0],
  ['fmadd.d', RDN, D(2), D(3), D(-6), D(-0), 0],
  ['fmadd.d', RNE, D(2), D(3), D(-6), D(0), 0],
  ['fmadd.d', RNE, D(-0), D(3), D(-0), D(-0), 0],
  ['fmadd.d', RNE, D(0), D(3), D(-0), D(0), 0],
  ['fmadd.s', RDN, S(0), S(3), S(0), S(0), 0],
  ['fnmadd.s', RNE, S(0), S(3), S(0), S(-0), 0],

  // ---- rounding modes on a tie and off a tie (1 + 2^-53 is a tie in double)
  ['fadd.d', RNE, D(1), D(2 ** -53), n, D(1), NX],
  ['fadd.d', RMM, D(1), D(2 ** -53), n, D(1 + 2 ** -52), NX],
  ['fadd.d', RUP, D(1), D(2 ** -53), n, D(1 + 2 ** -52), NX],
  ['fadd.d', RDN, D(1), D(2 ** -53), n, D(1), NX],
  ['fadd.d', RTZ, D(1), D(2 ** -53), n, D(1), NX],
  ['fadd.d', RNE, D(1 + 2 ** -52), D(2 ** -53), n, D(1 + 2 ** -51), NX],
  ['fadd.d', RMM, D(-1), D(-(2 ** -53)), n, D(-1 - 2 ** -52), NX],
  ['fadd.d', RDN, D(-1), D(-(2 ** -53)), n, D(-1 - 2 ** -52), NX],
  ['fadd.d', RUP, D(-1), D(-(2 ** -53)), n, D(-1), NX],
  ['fsub.d', RDN, D(1), D(2 ** -80), n, D(1 - 2 ** -53), NX],
  ['fsub.d', RTZ, D(1), D(2 ** -80), n, D(1 - 2 ** -53), NX],
  ['fsub.d', RNE, D(1), D(2 ** -80), n, D(1), NX],
  ['fadd.s', RNE, S(1), S(2 ** -24), n, S(1), NX],
  ['fadd.s', RMM, S(1), S(2 ** -24), n, S(1 + 2 ** -23), NX],
  ['fadd.s', RUP, S(1), S(2 ** -60), n, S(1 + 2 ** -23), NX],
  ['fsub.s', RDN, S(1), S(2 ** -60), n, S(1 - 2 ** -24), NX],
  ['fsub.s', RTZ, S(1), S(2 ** -60), n, S(1 - 2 ** -24), NX],
  ['fsub.s', RNE, S(1), S(2 ** -60), n, S(1), NX],
  ['fmul.d', RMM, D(1 + 2 ** -52), D(1 + 2 ** -1), n, D(1.5 + 2 ** -51), NX],
  ['fmul.d', RNE, D(1 + 2 ** -52), D(1 + 2 ** -1), n, D(1.5 + 2 ** -51), NX],
  ['fmul.d', RTZ, D(1 + 2 ** -52), D(1 + 2 ** -1), n, D(1.5 + 2 ** -52), NX], // exact: 1.5 + 1.5 ulp
  ['fdiv.d', RNE, D(1), D(3), n, D(1 / 3), NX],
  ['fdiv.d', RUP, D(1), D(3), n, D(1 / 3) + 1n, NX],
  ['fdiv.d', RDN, D(-1), D(3), n, D(-1 / 3) + 1n, NX],
  ['fdiv.d', RTZ, D(2), D(3), n, D(2 / 3), NX], // nearest is below 2/3
  ['fdiv.d', RUP, D(2), D(3), n, D(2 / 3) + 1n, NX],
  ['fdiv.s', RUP, S(1), S(3), n, SB(0x3eaaaaab), NX],
  ['fdiv.s', RTZ, S(1), S(3), n, SB(0x3eaaaaaa), NX],

  // ---- overflow: infinity or the largest finite value depending on the mode
  ['fmul.d', RNE, MAX_D, D(2), n, 0x7ff0000000000000n, OF | NX],
  ['fmul.d', RTZ, MAX_D, D(2), n, MAX_D, OF | NX],
  ['fmul.d', RDN, MAX_D, D(2), n, MAX_D, OF | NX],
  ['fmul.d', RUP, MAX_D, D(2), n, 0x7ff0000000000000n, OF | NX],
  ['fmul.d', RMM, MAX_D, D(2), n, 0x7ff0000000000000n, OF | NX],
  ['fmul.d', RDN, MAX_D, D(-2), n, 0xfff0000000000000n, OF | NX],
  ['fmul.d', RUP, MAX_D, D(-2), n, 0xffefffffffffffffn, OF | NX],
  ['fadd.d', RUP, MAX_D, D(1), n, 0x7ff0000000000000n, OF | NX],
  ['fadd.d', RNE, MAX_D, D(1), n, MAX_D, NX],
  ['fadd.d', RTZ, MAX_D, MAX_D, n, MAX_D, OF | NX],
  ['fmul.s', RNE, MAX_S, S(2), n, INF_S, OF | NX],
  ['fmul.s', RTZ, MAX_S, S(2), n, MAX_S, OF | NX],
  ['fmul.s', RDN, MAX_S, S(-2), n, NINF_S, OF | NX],
  ['fmul.s', RUP, MAX_S, S(-2), n, SB(0xff7fffff), OF | NX],
  ['fadd.s', RUP, MAX_S, S(1), n, INF_S, OF | NX],
  ['fcvt.s.d', RNE, D(1e39), n, n, INF_S, OF | NX],
  ['fcvt.s.d', RTZ, D(1e39), n, n, MAX_S, OF | NX],
  ['fcvt.s.d', RNE, D(3.4028235677973366e38), n, n, INF_S, OF | NX], // MAX + half ulp: ties to even = 2^128
  ['fcvt.s.d', RNE, D(3.4028235677973366e38) - 1n, n, n, MAX_S, NX],
  ['fcvt.s.d', RMM, D(3.4028235677973366e38) - 1n, n, n, MAX_S, NX],
  ['fcvt.s.d', RUP, D(3.4028234663852886e38 + 2 ** 80), n, n, INF_S, OF | NX],
  ['fcvt.s.d', RNE, D(3.4028235677973366e38 + 2 ** 75), n, n, INF_S, OF | NX],

  // ---- underflow: tininess is detected after rounding
  ['fmul.d', RNE, MIN_NORM_D, D(1 - 2 ** -53), n, MIN_NORM_D, UF | NX],
  ['fmul.d', RTZ, MIN_NORM_D, D(1 - 2 ** -53), n, 0x000fffffffffffffn, UF | NX],
  ['fmul.d', RNE, MIN_NORM_D, D(0.5), n, 0x0008000000000000n, 0],
  ['fmul.d', RNE, MIN_SUB_D, D(0.5), n, D(0), UF | NX],
  ['fmul.d', RUP, MIN_SUB_D, D(0.5), n, MIN_SUB_D, UF | NX],
  ['fmul.d', RDN, MIN_SUB_D, D(-0.5), n, 0x8000000000000001n, UF | NX],
  ['fmul.d', RNE, MIN_SUB_D, D(0.75), n, MIN_SUB_D, UF | NX],
  ['fdiv.d', RNE, MIN_NORM_D, D(3), n, D(2 ** -1022 / 3), UF | NX],
  ['fmadd.d', RNE, D(2 ** -538), D(-(2 ** -538)), MIN_NORM_D, MIN_NORM_D, NX],
  ['fmadd.d', RTZ, D(2 ** -538), D(-(2 ** -538)), MIN_NORM_D, 0x000fffffffffffffn, UF | NX],
  ['fmadd.s', RNE, S(2 ** -76), S(-(2 ** -75)), MIN_NORM_S, MIN_NORM_S, NX],
  ['fmadd.s', RTZ, S(2 ** -76), S(-(2 ** -75)), MIN_NORM_S, SB(0x007fffff), UF | NX],
  ['fmul.s', RNE, MIN_NORM_S, S(1 - 2 ** -24), n, MIN_NORM_S, UF | NX],
  ['fmul.s', RNE, SB(1), S(0.5), n, S(0), UF | NX],
  ['fmul.s', RMM, SB(1), S(0.5), n, SB(1), UF | NX],
  ['fcvt.s.d', RNE, D(2 ** -150), n, n, S(0), UF | NX],
  ['fcvt.s.d', RNE, D(2 ** -150 + 2 ** -170), n, n, SB(1), UF | NX],
  ['fcvt.s.d', RNE, D(2 ** -149), n, n, SB(1), 0],
  ['fcvt.s.d', RNE, MIN_SUB_D, n, n, S(0), UF | NX],
  ['fcvt.s.d', RUP, MIN_SUB_D, n, n, SB(1), UF | NX],
  ['fcvt.s.d', RNE, D(2 ** -126 * (1 - 2 ** -25)), n, n, MIN_NORM_S, NX],
  ['fcvt.s.d', RTZ, D(2 ** -126 * (1 - 2 ** -25)), n, n, SB(0x007fffff), UF | NX],
  ['fadd.d', RNE, MIN_SUB_D, 0x000fffffffffffffn, n, MIN_NORM_D, 0], // subnormal sums are exact
  ['fsub.d', RNE, MIN_NORM_D, MIN_SUB_D, n, 0x000fffffffffffffn, 0],

  // ---- fused multiply-add: single rounding, signs, invalid cases
  ['fmadd.s', RNE, S(1.0), S(2.5), S(1.0), S(3.5), 0],
  ['fmadd.s', RNE, S(-1.0), S(-1235.1), S(1.1), S(1236.2), NX],
  ['fmadd.s', RNE, S(2.0), S(-5.0), S(-2.0), S(-12.0), 0],
  ['fnmadd.s', RNE, S(1.0), S(2.5), S(1.0), S(-3.5), 0],
  ['fnmadd.s', RNE, S(-1.0), S(-1235.1), S(1.1), S(-1236.2), NX],
  ['fnmadd.s', RNE, S(2.0), S(-5.0), S(-2.0), S(12.0), 0],
  ['fmsub.s', RNE, S(1.0), S(2.5), S(1.0), S(1.5), 0],
  ['fmsub.s', RNE, S(-1.0), S(-1235.1), S(1.1), S(1234), NX],
  ['fmsub.s', RNE, S(2.0), S(-5.0), S(-2.0), S(-8.0), 0],
  ['fnmsub.s', RNE, S(1.0), S(2.5), S(1.0), S(-1.5), 0],
  ['fnmsub.s', RNE, S(-1.0), S(-1235.1), S(1.1), S(-1234), NX],
  ['fnmsub.s', RNE, S(2.0), S(-5.0), S(-2.0), S(8.0), 0],
  ['fmadd.d', RNE, D(-1.0), D(-1235.1), D(1.1), D(1236.1999999999998), NX],
  ['fnmadd.d', RNE, D(2.0), D(-5.0), D(-2.0), D(12.0), 0],
  ['fmsub.d', RNE, D(-1.0), D(-1235.1), D(1.1), D(1234.0), NX],
  ['fnmsub.d', RNE, D(2.0), D(-5.0), D(-2.0), D(8.0), 0],
  // a*b + c with a*b = 1 + 2^-52 + 2^-104 style products: only a fused operation sees the low part
  ['fmadd.d', RNE, D(1 + 2 ** -52), D(1 + 2 ** -52), D(-1), D(2 ** -51), NX], // 2^-51 + 2^-104 needs 54 bits
  ['fmsub.d', RNE, D(1 + 2 ** -30), D(1 - 2 ** -30), D(1), D(-(2 ** -60)), 0],
  ['fmadd.d', RUP, D(1 + 2 ** -52), D(1 + 2 ** -52), D(1), D(2 + 2 ** -50), NX], // 2 + 1 ulp + 2^-104
  ['fmadd.d', RNE, D(1 + 2 ** -52), D(1 + 2 ** -52), D(1), D(2 + 2 ** -51), NX],
  ['fmadd.d', RDN, D(1 + 2 ** -52), D(1 + 2 ** -52), D(1), D(2 + 2 ** -51), NX],
  ['fmadd.d', RTZ, D(-1 - 2 ** -52), D(1 + 2 ** -52), D(-1), D(-2 - 2 ** -51), NX],
  ['fmadd.s', RNE, S(1 + 2 ** -12), S(1 + 2 ** -12), S(-(2 ** -24)), S(1 + 2 ** -11), 0],
  // (1+2^-12)^2 = 1 + 2^-11 + half an ulp: a tie that only the fused operation sees
  ['fmadd.s', RNE, S(1 + 2 ** -12), S(1 + 2 ** -12), S(0), S(1 + 2 ** -11), NX],
  ['fmadd.s', RMM, S(1 + 2 ** -12), S(1 + 2 ** -12), S(0), S(1 + 2 ** -11 + 2 ** -23), NX],
  ['fmsub.s', RMM, S(1 + 2 ** -12), S(1 + 2 ** -12), S(-0), S(1 + 2 ** -11 + 2 ** -23), NX],
  ['fnmadd.s', RMM, S(1 + 2 ** -12), S(1 + 2 ** -12), S(0), S(-1 - 2 ** -11 - 2 ** -23), NX],
  ['fnmadd.s', RUP, S(1 + 2 ** -12), S(1 + 2 ** -12), S(0), S(-1 - 2 ** -11), NX],
  ['fmadd.s', RUP, S(1 + 2 ** -12), S(1 + 2 ** -12), S(0), S(1 + 2 ** -11 + 2 ** -23), NX],
  ['fmadd.d', RNE, 0x7ff0000000000000n, D(0), QD, QD, NV],
  ['fmadd.d', RNE, D(0), 0xfff0000000000000n, QND_PAY, QD, NV],
  ['fmadd.s', RNE, INF_S, S(0), QS, QS, NV],
  ['fmadd.s', RNE, S(0), INF_S, S(1), QS, NV],
  ['fmadd.d', RNE, D(1), QD, D(1), QD, 0],
  ['fmadd.d', RNE, D(1), D(1), SND, QD, NV],
  ['fmadd.d', RNE, 0x7ff0000000000000n, D(1), 0xfff0000000000000n, QD, NV],
  ['fmsub.d', RNE, 0x7ff0000000000000n, D(1), 0x7ff0000000000000n, QD, NV],
  ['fmadd.d', RNE, 0x7ff0000000000000n, D(-1), D(5), 0xfff0000000000000n, 0],
  // the product overflows on its own but the fused sum does not
  ['fmadd.d', RNE, MAX_D, D(2), 0xffefffffffffffffn, MAX_D, 0],
  ['fmadd.d', RNE, MAX_D, D(2), D(-(2 ** 1023)), 0x7ff0000000000000n, OF | NX],
  ['fmadd.d', RTZ, MAX_D, D(2), D(-(2 ** 1023)), MAX_D, OF | NX],
  ['fmadd.d', RNE, D(1e300), D(1e300), D(1), 0x7ff0000000000000n, OF | NX],

  // ---- NaN results are canonical; signalling NaN operands raise NV
  ['fadd.d', RNE, QND_PAY, D(1), n, QD, 0],
  ['fadd.d', RNE, SND, D(1), n, QD, NV],
  ['fmul.d', RNE, D(1), SND, n, QD, NV],
  ['fadd.s', RNE, QNS_PAY, S(1), n, QS, 0],
  ['fadd.s', RNE, SNS, S(1), n, QS, NV],
  ['fdiv.s', RNE, S(1), SNS, n, QS, NV],
  ['fcvt.d.s', RNE, SNS, n, n, QD, NV],
  ['fcvt.d.s', RNE, QNS_PAY, n, n, QD, 0],
  ['fcvt.s.d', RNE, SND, n, n, QS, NV],
  ['fcvt.s.d', RNE, QND_PAY, n, n, QS, 0],
  ['fcvt.s.d', RNE, 0xfff0000000000000n, n, n, NINF_S, 0],
  ['fcvt.d.s', RNE, NINF_S, n, n, 0xfff0000000000000n, 0],
  ['fcvt.d.s', RNE, SB(1), n, n, D(2 ** -149), 0],
  ['fcvt.d.s', RNE, S(-1.5), n, n, D(-1.5), 0],

  // ---- NaN boxing: a single whose upper half is not all ones reads as the canonical NaN
  ['fadd.s', RNE, D(1), S(1), n, QS, 0],
  ['fadd.s', RNE, 0x000000003f800000n, S(1), n, QS, 0],
  ['fsgnj.s', RNE, 0x000000003f800000n, S(-1), n, SB(0xffc00000), 0],
  ['fsgnjn.s', RNE, S(1), 0x7fffffff3f800000n, n, SB(0xbf800000), 0], // b reads as +qNaN
  ['fsgnjx.s', RNE, S(-2), 0xbf800000n, n, SB(0xc0000000), 0],
  ['fmv.x.w', RNE, 0x12345678bf800000n, n, n, I(-1082130432), 0],
  ['fmv.x.w', RNE, 0xffffffff7f800000n, n, n, I(0x7f800000), 0],
  ['fmv.w.x', RNE, 0x123456789abcdef0n, n, n, SB(0x9abcdef0), 0],
  ['fmv.x.d', RNE, 0x123456789abcdef0n, n, n, 0x123456789abcdef0n, 0],
  ['fmv.d.x', RNE, 0x7ff0000000000001n, n, n, 0x7ff0000000000001n, 0],
  ['fclass.s', RNE, 0x000000003f800000n, n, n, I(1 << 9), 0],
  ['feq.s', RNE, 0x000000003f800000n, 0x000000003f800000n, n, I(0), 0],
  ['flt.s', RNE, 0x000000003f800000n, S(2), n, I(0), NV],
  ['fcvt.w.s', RNE, 0x00000000bf800000n, n, n, I(0x7fffffff), NV],
  ['fcvt.d.s', RNE, 0x000000003f800000n, n, n, QD, 0],

  // ---- sign injection
  ['fsgnj.s', RNE, S(-6.3), S(-1), n, S(-6.3), 0],
  ['fsgnj.s', RNE, S(-6.3), S(2), n, S(6.3), 0],
  ['fsgnjn.s', RNE, S(-6.3), S(-1), n, S(6.3), 0],
  ['fsgnjx.s', RNE, S(-6.3), S(-1), n, S(6.3), 0],
  ['fsgnjx.s', RNE, S(6.3), S(-1), n, S(-6.3), 0],
  ['fsgnj.s', RNE, SNS, S(-1), n, SB(0xff800001), 0],
  ['fsgnj.d', RNE, D(1), D(-0), n, D(-1), 0],
  ['fsgnjn.d', RNE, SND, D(1), n, 0xfff0000000000001n, 0],
  ['fsgnjx.d', RNE, D(-3), D(-5), n, D(3), 0],

  // ---- min/max: -0 < +0, one NaN yields the other operand, NV only for signalling NaNs
  ['fmin.s', RNE, S(2.5), S(1.0), n, S(1.0), 0],
  ['fmin.s', RNE, S(-1235.1), S(1.1), n, S(-1235.1), 0],
  ['fmin.s', RNE, QS, S(-1), n, S(-1), 0],
  ['fmin.s', RNE, SNS, S(1), n, S(1), NV],
  ['fmin.s', RNE, QS, QS, n, QS, 0],
  ['fmin.s', RNE, QNS_PAY, SNS, n, QS, NV],
  ['fmin.s', RNE, S(-0), S(0), n, S(-0), 0],
  ['fmin.s', RNE, S(0), S(-0), n, S(-0), 0],
  ['fmax.s', RNE, S(-0), S(0), n, S(0), 0],
  ['fmax.s', RNE, S(0), S(-0), n, S(0), 0],
  ['fmax.s', RNE, S(2.5), S(1.0), n, S(2.5), 0],
  ['fmax.s', RNE, S(1), SNS, n, S(1), NV],
  ['fmin.d', RNE, D(-0), D(0), n, D(-0), 0],
  ['fmin.d', RNE, D(0), D(-0), n, D(-0), 0],
  ['fmax.d', RNE, D(-0), D(0), n, D(0), 0],
  ['fmax.d', RNE, D(0), D(-0), n, D(0), 0],
  ['fmax.d', RNE, QND_PAY, D(-7), n, D(-7), 0],
  ['fmax.d', RNE, D(3), SND, n, D(3), NV],
  ['fmax.d', RNE, SND, SND, n, QD, NV],
  ['fmin.d', RNE, 0xfff0000000000000n, D(-1e308), n, 0xfff0000000000000n, 0],

  // ---- comparisons: feq is quiet, flt/fle signal on any NaN
  ['feq.s', RNE, S(-1.36), S(-1.36), n, I(1), 0],
  ['fle.s', RNE, S(-1.36), S(-1.36), n, I(1), 0],
  ['flt.s', RNE, S(-1.36), S(-1.36), n, I(0), 0],
  ['flt.s', RNE, S(-1.37), S(-1.36), n, I(1), 0],
  ['feq.s', RNE, S(0), S(-0), n, I(1), 0],
  ['fle.s', RNE, S(-0), S(0), n, I(1), 0],
  ['flt.s', RNE, S(-0), S(0), n, I(0), 0],
  ['feq.s', RNE, QS, S(0), n, I(0), 0],
  ['feq.s', RNE, QS, QS, n, I(0), 0],
  ['feq.s', RNE, SNS, S(0), n, I(0), NV],
  ['flt.s', RNE, QS, S(0), n, I(0), NV],
  ['fle.s', RNE, S(0), QS, n, I(0), NV],
  ['feq.d', RNE, D(-1.36), D(-1.36), n, I(1), 0],
  ['flt.d', RNE, D(-1.37), D(-1.36), n, I(1), 0],
  ['fle.d', RNE, D(-1.36), D(-1.37), n, I(0), 0],
  ['feq.d', RNE, QD, D(0), n, I(0), 0],
  ['feq.d', RNE, SND, D(0), n, I(0), NV],
  ['flt.d', RNE, QD, D(0), n, I(0), NV],
  ['fle.d', RNE, D(0), SND, n, I(0), NV],
  ['fle.d', RNE, 0xfff0000000000000n, MAX_D, n, I(1), 0],

  // infinities produced by arithmetic compare equal to loaded ones (rv64uf recoding)
  ['fmul.s', RNE, S(3), NINF_S, n, NINF_S, 0],
  ['feq.s', RNE, NINF_S, NINF_S, n, I(1), 0],
  ['fle.s', RNE, NINF_S, NINF_S, n, I(1), 0],
  ['flt.s', RNE, NINF_S, NINF_S, n, I(0), 0],
  // a quiet NaN payload does not survive narrowing (rv64ud fcvt)
  ['fcvt.s.d', RNE, 0x7ffcffffffff8004n, n, n, QS, 0],

  // ---- classification
  ['fclass.s', RNE, NINF_S, n, n, I(1 << 0), 0],
  ['fclass.s', RNE, S(-1), n, n, I(1 << 1), 0],
  ['fclass.s', RNE, SB(0x807fffff), n, n, I(1 << 2), 0],
  ['fclass.s', RNE, S(-0), n, n, I(1 << 3), 0],
  ['fclass.s', RNE, S(0), n, n, I(1 << 4), 0],
  ['fclass.s', RNE, SB(0x007fffff), n, n, I(1 << 5), 0],
  ['fclass.s', RNE, S(1), n, n, I(1 << 6), 0],
  ['fclass.s', RNE, INF_S, n, n, I(1 << 7), 0],
  ['fclass.s', RNE, SNS, n, n, I(1 << 8), 0],
  ['fclass.s', RNE, QS, n, n, I(1 << 9), 0],
  ['fclass.d', RNE, 0xfff0000000000000n, n, n, I(1 << 0), 0],
  ['fclass.d', RNE, D(-1), n, n, I(1 << 1), 0],
  ['fclass.d', RNE, 0x800fffffffffffffn, n, n, I(1 << 2), 0],
  ['fclass.d', RNE, D(-0), n, n, I(1 << 3), 0],
  ['fclass.d', RNE, D(0), n, n, I(1 << 4), 0],
  ['fclass.d', RNE, MIN_SUB_D, n, n, I(1 << 5), 0],
  ['fclass.d', RNE, D(1), n, n, I(1 << 6), 0],
  ['fclass.d', RNE, 0x7ff0000000000000n, n, n, I(1 << 7), 0],
  ['fclass.d', RNE, SND, n, n, I(1 << 8), 0],
  ['fclass.d', RNE, QD, n, n, I(1 << 9), 0],
  ['fclass.d', RNE, 0x7ff0000000000000n | (1n << 51n), n, n, I(1 << 9), 0],

  // ---- float -> integer
  ['fcvt.w.s', RTZ, S(-1.1), n, n, I(-1), NX],
  ['fcvt.w.s', RTZ, S(-1.0), n, n, I(-1), 0],
  ['fcvt.w.s', RTZ, S(-0.9), n, n, I(0), NX],
  ['fcvt.w.s', RTZ, S(0.9), n, n, I(0), NX],
  ['fcvt.w.s', RTZ, S(1.0), n, n, I(1), 0],
  ['fcvt.w.s', RTZ, S(1.1), n, n, I(1), NX],
  ['fcvt.w.s', RTZ, S(-3e9), n, n, I(-(2 ** 31)), NV],
  ['fcvt.w.s', RTZ, S(3e9), n, n, I(2 ** 31 - 1), NV],
  ['fcvt.w.s', RNE, QS, n, n, I(2 ** 31 - 1), NV],
  ['fcvt.w.s', RNE, SB(0xffc00000), n, n, I(2 ** 31 - 1), NV],
  ['fcvt.w.s', RNE, NINF_S, n, n, I(-(2 ** 31)), NV],
  ['fcvt.w.s', RNE, INF_S, n, n, I(2 ** 31 - 1), NV],
  ['fcvt.w.s', RNE, S(-(2 ** 31)), n, n, I(-(2 ** 31)), 0],
  ['fcvt.w.s', RNE, S(2 ** 31), n, n, I(2 ** 31 - 1), NV],
  ['fcvt.wu.s', RTZ, S(-3.0), n, n, I(0), NV],
  ['fcvt.wu.s', RTZ, S(-1.0), n, n, I(0), NV],
  ['fcvt.wu.s', RTZ, S(-0.9), n, n, I(0), NX],
  ['fcvt.wu.s', RNE, S(-0.3), n, n, I(0), NX],
  ['fcvt.wu.s', RDN, S(-0.3), n, n, I(0), NV],
  ['fcvt.wu.s', RNE, S(-0.5), n, n, I(0), NX],
  ['fcvt.wu.s', RMM, S(-0.5), n, n, I(0), NV],
  ['fcvt.wu.s', RTZ, S(0.9), n, n, I(0), NX],
  ['fcvt.wu.s', RTZ, S(1.1), n, n, I(1), NX],
  ['fcvt.wu.s', RTZ, S(-3e9), n, n, I(0), NV],
  ['fcvt.wu.s', RTZ, S(3e9), n, n, I(-1294967296), 0], // 3000000000 sign-extended from 32 bits
  ['fcvt.wu.s', RTZ, S(5e9), n, n, I(-1), NV],
  ['fcvt.wu.s', RNE, QS, n, n, I(-1), NV],
  ['fcvt.l.s', RTZ, S(-3e9), n, n, I(-3000000000), 0],
  ['fcvt.l.s', RTZ, S(3e9), n, n, I(3000000000), 0],
  ['fcvt.l.s', RTZ, S(-3e19), n, n, I(-(2n ** 63n)), NV],
  ['fcvt.l.s', RTZ, S(3e19), n, n, I(2n ** 63n - 1n), NV],
  ['fcvt.l.s', RNE, S(-(2 ** 63)), n, n, I(-(2n ** 63n)), 0],
  ['fcvt.lu.s', RTZ, S(-3e9), n, n, I(0), NV],
  ['fcvt.lu.s', RTZ, S(3e9), n, n, I(3000000000), 0],
  ['fcvt.lu.s', RTZ, S(3e19), n, n, I(-1), NV],
  ['fcvt.lu.s', RTZ, S(1.5e19), n, n, I(0xd02ab5n << 40n), 0],
  ['fcvt.lu.s', RNE, QS, n, n, I(-1), NV],
  ['fcvt.w.d', RTZ, D(-1.1), n, n, I(-1), NX],
  ['fcvt.w.d', RTZ, D(2147483647.9), n, n, I(2147483647), NX],
  ['fcvt.w.d', RNE, D(2147483647.5), n, n, I(2147483647), NV],
  ['fcvt.w.d', RDN, D(-2147483648.5), n, n, I(-2147483648), NV],
  ['fcvt.w.d', RUP, D(-2147483648.5), n, n, I(-2147483648), NX],
  ['fcvt.w.d', RNE, D(2.5), n, n, I(2), NX],
  ['fcvt.w.d', RNE, D(3.5), n, n, I(4), NX],
  ['fcvt.w.d', RNE, D(-2.5), n, n, I(-2), NX],
  ['fcvt.w.d', RMM, D(2.5), n, n, I(3), NX],
  ['fcvt.w.d', RMM, D(-2.5), n, n, I(-3), NX],
  ['fcvt.w.d', RDN, D(-2.1), n, n, I(-3), NX],
  ['fcvt.w.d', RUP, D(-2.9), n, n, I(-2), NX],
  ['fcvt.w.d', RUP, D(2.1), n, n, I(3), NX],
  ['fcvt.w.d', RNE, QD, n, n, I(2 ** 31 - 1), NV],
  ['fcvt.w.d', RNE, QND_PAY, n, n, I(2 ** 31 - 1), NV],
  ['fcvt.wu.d', RTZ, D(4294967295.9), n, n, I(-1), NX],
  ['fcvt.wu.d', RNE, D(4294967295.5), n, n, I(-1), NV],
  ['fcvt.wu.d', RTZ, D(2147483648), n, n, I(-2147483648), 0],
  ['fcvt.wu.d', RTZ, D(-0.9), n, n, I(0), NX],
  ['fcvt.wu.d', RTZ, D(-1), n, n, I(0), NV],
  ['fcvt.l.d', RTZ, D(-3e19), n, n, I(-(2n ** 63n)), NV],
  ['fcvt.l.d', RTZ, D(2 ** 63 - 1024), n, n, I(9223372036854774784n), 0],
  ['fcvt.l.d', RTZ, D(-(2 ** 63)), n, n, I(-(2n ** 63n)), 0],
  ['fcvt.l.d', RTZ, D(2 ** 63), n, n, I(2n ** 63n - 1n), NV],
  ['fcvt.l.d', RNE, D(-4503599627370495.5), n, n, I(-4503599627370496n), NX],
  ['fcvt.l.d', RNE, D(-4503599627370494.5), n, n, I(-4503599627370494n), NX],
  ['fcvt.l.d', RNE, D(-1), n, n, I(-1), 0],
  ['fcvt.l.d', RNE, 0xfff0000000000000n, n, n, I(-(2n ** 63n)), NV],
  ['fcvt.lu.d', RTZ, D(2 ** 64 - 2048), n, n, I(18446744073709549568n), 0],
  ['fcvt.lu.d', RTZ, D(2 ** 64), n, n, I(-1), NV],
  ['fcvt.lu.d', RTZ, D(-3e9), n, n, I(0), NV],
  ['fcvt.lu.d', RUP, D(-0.5), n, n, I(0), NX],
  ['fcvt.lu.d', RDN, D(-0.5), n, n, I(0), NV],
  ['fcvt.lu.d', RNE, QD, n, n, I(-1), NV],
  ['fcvt.lu.d', RNE, 0x7ff0000000000000n, n, n, I(-1), NV],
  ['fcvt.lu.d', RNE, 0xfff0000000000000n, n, n, I(0), NV],
  ['fcvt.l.d', RNE, MIN_SUB_D, n, n, I(0), NX],
  ['fcvt.l.d', RUP, MIN_SUB_D, n, n, I(1), NX],
  ['fcvt.l.d', RDN, MIN_SUB_D | (1n << 63n), n, n, I(-1), NX],

  // ---- integer -> float
  ['fcvt.s.w', RNE, I(2), n, n, S(2), 0],
  ['fcvt.s.w', RNE, I(-2), n, n, S(-2), 0],
  ['fcvt.s.w', RNE, I(0), n, n, S(0), 0],
  ['fcvt.s.w', RNE, 0x12345678ffffffffn, n, n, S(-1), 0], // upper half of x ignored
  ['fcvt.s.wu', RNE, I(-2), n, n, S(4294967294), NX],
  ['fcvt.s.wu', RTZ, I(-2), n, n, SB(0x4f7fffff), NX],
  ['fcvt.s.w', RNE, I(16777217), n, n, S(16777216), NX],
  ['fcvt.s.w', RMM, I(16777217), n, n, S(16777218), NX],
  ['fcvt.s.w', RNE, I(16777219), n, n, S(16777220), NX],
  ['fcvt.s.w', RTZ, I(-16777219), n, n, S(-16777218), NX],
  ['fcvt.s.w', RDN, I(-16777217), n, n, S(-16777218), NX],
  ['fcvt.s.l', RNE, I(-2), n, n, S(-2), 0],
  ['fcvt.s.l', RNE, I(-(2n ** 63n)), n, n, S(-(2 ** 63)), 0],
  ['fcvt.s.l', RNE, I(2n ** 63n - 1n), n, n, S(2 ** 63), NX],
  ['fcvt.s.l', RTZ, I(2n ** 63n - 1n), n, n, SB(0x5effffff), NX],
  ['fcvt.s.l', RUP, I((1n << 40n) + (1n << 16n) + 1n), n, n, S(2 ** 40 + 2 ** 17), NX],
  ['fcvt.s.l', RNE, I((1n << 40n) + (1n << 16n)), n, n, S(2 ** 40), NX],
  ['fcvt.s.l', RNE, I((1n << 40n) + (1n << 16n) + 1n), n, n, S(2 ** 40 + 2 ** 17), NX],
  ['fcvt.s.lu', RNE, I(-1), n, n, S(2 ** 64), NX],
  ['fcvt.s.lu', RTZ, I(-1), n, n, SB(0x5f7fffff), NX],
  ['fcvt.d.w', RNE, I(-2), n, n, D(-2), 0],
  ['fcvt.d.w', RNE, 0x7fffffff80000000n, n, n, D(-(2 ** 31)), 0],
  ['fcvt.d.wu', RNE, I(-2), n, n, D(4294967294), 0],
  ['fcvt.d.l', RNE, I(-2), n, n, D(-2), 0],
  ['fcvt.d.l', RNE, I((1n << 53n) + 1n), n, n, D(2 ** 53), NX],
  ['fcvt.d.l', RMM, I((1n << 53n) + 1n), n, n, D(2 ** 53 + 2), NX],
  ['fcvt.d.l', RUP, I((1n << 53n) + 1n), n, n, D(2 ** 53 + 2), NX],
  ['fcvt.d.l', RNE, I((1n << 53n) + 3n), n, n, D(2 ** 53 + 4), NX],
  ['fcvt.d.l', RDN, I(-(1n << 53n) - 1n), n, n, D(-(2 ** 53) - 2), NX],
  ['fcvt.d.l', RTZ, I(-(1n << 53n) - 1n), n, n, D(-(2 ** 53)), NX],
  ['fcvt.d.l', RNE, I(2n ** 63n - 1n), n, n, D(2 ** 63), NX],
  ['fcvt.d.l', RTZ, I(2n ** 63n - 1n), n, n, D(2 ** 63) - 1n, NX],
  ['fcvt.d.l', RNE, I(-(2n ** 63n)), n, n, D(-(2 ** 63)), 0],
  ['fcvt.d.lu', RNE, I(-1), n, n, D(2 ** 64), NX],
  ['fcvt.d.lu', RTZ, I(-1), n, n, D(2 ** 64) - 1n, NX],
  ['fcvt.d.lu', RNE, I(-2), n, n, D(2 ** 64), NX],

  // ---- double <-> single
  ['fcvt.s.d', RNE, D(-1.5), n, n, S(-1.5), 0],
  ['fcvt.s.d', RNE, D(1 + 2 ** -24), n, n, S(1), NX],
  ['fcvt.s.d', RMM, D(1 + 2 ** -24), n, n, S(1 + 2 ** -23), NX],
  ['fcvt.s.d', RNE, D(1 + 3 * 2 ** -24), n, n, S(1 + 2 ** -22), NX],
  ['fcvt.s.d', RUP, D(1 + 2 ** -50), n, n, S(1 + 2 ** -23), NX],
  ['fcvt.s.d', RDN, D(-1 - 2 ** -50), n, n, S(-1 - 2 ** -23), NX],
  ['fcvt.s.d', RTZ, D(-1 - 2 ** -50), n, n, S(-1), NX],
  ['fcvt.s.d', RNE, D(Math.PI), n, n, S(Math.PI), NX],
];

function runRow(run: FpuRunner, row: Row): Res {
  const o = OPS.find((x) => x.name === row[0]);
  assert.ok(o, `unknown op ${row[0]}`);
  return run.run({ op: o.op, rm: row[1], a: row[2], b: row[3], c: row[4] });
}

function flagStr(f: number): string {
  return (['NV', 'DZ', 'OF', 'UF', 'NX'] as const).filter((_, i) => f & (16 >> i)).join('|') || '-';
}

test(`hand-written vectors (${ROWS.length})`, () => {
  const run = new FpuRunner();
  const errors: string[] = [];
  for (const row of ROWS) {
    const got = runRow(run, row);
    if (got.value !== row[5] || got.flags !== row[6]) {
      const o = OPS.find((x) => x.name === row[0])!;
      errors.push(
        `${describe({ op: o.op, rm: row[1], a: row[2], b: row[3], c: row[4] })}: want ${hex(row[5])} ${flagStr(row[6])}, got ${hex(got.value)} ${flagStr(got.flags)}`,
      );
    }
  }
  assert.deepEqual(errors, []);
});

suite('interface details', () => {
  test('integer destination x0 is never written', () => {
    const i32 = new Int32Array(1024);
    const fpu = new Fpu(i32);
    i32[F_I32 + 2] = 5;
    i32[F_I32 + 3] = 0x40140000; // 5.0
    fpu.exec(FpOp.FCVT_W_D, 0, 1, 0, 0, RNE);
    fpu.exec(FpOp.FMV_X_D, 0, 1, 0, 0, RNE);
    fpu.exec(FpOp.FCLASS_D, 0, 1, 0, 0, RNE);
    fpu.exec(FpOp.FEQ_D, 0, 1, 1, 0, RNE);
    assert.equal(i32[X_I32], 0);
    assert.equal(i32[X_I32 + 1], 0);
  });

  test('flags accumulate and are only ever set', () => {
    const run = new FpuRunner();
    run.fpu.fflags = 0;
    const i32 = run.i32;
    const fpu = run.fpu;
    const f64v = new Float64Array(i32.buffer);
    f64v[(F_I32 >> 1) + 1] = 1;
    f64v[(F_I32 >> 1) + 2] = 0;
    f64v[(F_I32 >> 1) + 3] = 3;
    fpu.exec(FpOp.FDIV_D, 4, 1, 2, 0, RNE);
    fpu.exec(FpOp.FDIV_D, 4, 1, 3, 0, RNE);
    fpu.exec(FpOp.FADD_D, 4, 1, 3, 0, RNE);
    assert.equal(fpu.fflags, DZ | NX);
  });

  test('rd may alias sources', () => {
    const i32 = new Int32Array(1024);
    const fpu = new Fpu(i32);
    const f = new Float64Array(i32.buffer);
    f[(F_I32 >> 1) + 7] = 1.5;
    fpu.exec(FpOp.FMADD_D, 7, 7, 7, 7, RNE);
    assert.equal(f[(F_I32 >> 1) + 7], 3.75);
  });
});

/** Fast paths against the BigInt implementation alone, on random and purpose-built hard operands. */
test('fast paths agree with the exact BigInt reference', () => {
  const r = new Rng(0x5eed);
  const run = new FpuRunner();
  const rounding = OPS.filter((o) => refExec({ op: o.op, rm: 0, a: 0n, b: 0n, c: 0n }) !== undefined);
  const errors: string[] = [];
  let checked = 0;
  for (let i = 0; i < 160_000; i++) {
    const o = rounding[i % rounding.length]!;
    const v = i & 1 ? hardVec(r, o) : randVec(r, o);
    const want = refExec(v)!;
    const got = run.run(v);
    checked++;
    if ((got.value !== want.value || got.flags !== want.flags) && errors.length < 20)
      errors.push(
        `${describe(v)}: ref ${hex(want.value)} ${flagStr(want.flags)}, got ${hex(got.value)} ${flagStr(got.flags)}`,
      );
  }
  assert.deepEqual(errors, []);
  assert.ok(checked > 100_000);
});

// ---- QEMU: recorded results (always checked) and a live comparison (when the tools are installed)

const GOLDEN = fileURLToPath(new URL('../../../test/cpu/fpu-qemu-golden.bin.gz', import.meta.url));
const REC = 1 + 1 + 8 * 3 + 8 + 1;

function goldenVectors(): Vec[] {
  const r = new Rng(0x90d1);
  const vecs: Vec[] = [];
  for (let i = 0; i < 24_000; i++) {
    const o = OPS[i % OPS.length]!;
    vecs.push(i % 3 === 2 && o.rm ? hardVec(r, o) : randVec(r, o));
  }
  return vecs;
}

function encodeGolden(vecs: Vec[], res: Res[]): Buffer {
  const b = Buffer.alloc(vecs.length * REC);
  vecs.forEach((v, i) => {
    const o = i * REC;
    b[o] = v.op;
    b[o + 1] = v.rm;
    b.writeBigUInt64LE(v.a, o + 2);
    b.writeBigUInt64LE(v.b, o + 10);
    b.writeBigUInt64LE(v.c, o + 18);
    b.writeBigUInt64LE(res[i]!.value, o + 26);
    b[o + 34] = res[i]!.flags;
  });
  return gzipSync(b, { level: 9 });
}

function decodeGolden(gz: Buffer): { vecs: Vec[]; res: Res[] } {
  const b = gunzipSync(gz);
  const vecs: Vec[] = [];
  const res: Res[] = [];
  for (let o = 0; o + REC <= b.length; o += REC) {
    vecs.push({
      op: b[o]! as FpOp,
      rm: b[o + 1]!,
      a: b.readBigUInt64LE(o + 2),
      b: b.readBigUInt64LE(o + 10),
      c: b.readBigUInt64LE(o + 18),
    });
    res.push({ value: b.readBigUInt64LE(o + 26), flags: b[o + 34]! });
  }
  return { vecs, res };
}

function compareAll(vecs: Vec[], want: Res[]): string[] {
  const run = new FpuRunner();
  const errors: string[] = [];
  vecs.forEach((v, i) => {
    const got = run.run(v);
    const w = want[i]!;
    if ((got.value !== w.value || got.flags !== w.flags) && errors.length < 20)
      errors.push(
        `${describe(v)}: qemu ${hex(w.value)} ${flagStr(w.flags)}, got ${hex(got.value)} ${flagStr(got.flags)}`,
      );
  });
  return errors;
}

const qemuOk = haveQemu();
const mustRunQemu = !!process.env.CI;

test('results recorded from QEMU', () => {
  if (process.env.TYPERVISOR_FPU_REGEN_GOLDEN === '1') {
    assert.ok(qemuOk, 'regenerating the golden file needs riscv64-unknown-elf-gcc and qemu-system-riscv64');
    const vecs = goldenVectors();
    writeFileSync(GOLDEN, encodeGolden(vecs, runQemu(vecs)));
  }
  assert.ok(existsSync(GOLDEN), `missing ${GOLDEN}`);
  const { vecs, res } = decodeGolden(readFileSync(GOLDEN));
  assert.ok(vecs.length >= 20_000);
  for (const v of vecs) assert.ok(OP_BY_ID.has(v.op));
  assert.deepEqual(compareAll(vecs, res), []);
});

test('live differential test against QEMU', {
  skip: !qemuOk && !mustRunQemu && 'qemu/gcc not installed',
}, () => {
  assert.ok(qemuOk, 'CI must provide riscv64-unknown-elf-gcc and qemu-system-riscv64');
  // A fresh seed each run widens coverage over time; a failure prints the operands to reproduce it.
  const seed = Number(process.env.TYPERVISOR_FPU_SEED ?? Date.now() % 1_000_000);
  const r = new Rng(seed);
  const vecs: Vec[] = [];
  for (let i = 0; i < 16_000; i++) {
    const o = OPS[i % OPS.length]!;
    vecs.push(i & 1 && o.rm ? hardVec(r, o) : randVec(r, o));
  }
  // The hand-written expectations are checked against QEMU too, so they cannot drift from real behaviour.
  const hand = ROWS.map((row) => ({
    op: OPS.find((x) => x.name === row[0])!.op,
    rm: row[1],
    a: row[2],
    b: row[3],
    c: row[4],
  }));
  const q = runQemu([...hand, ...vecs]);
  const handErrors: string[] = [];
  ROWS.forEach((row, i) => {
    if (q[i]!.value !== row[5] || q[i]!.flags !== row[6])
      handErrors.push(
        `${describe(hand[i]!)}: table ${hex(row[5])} ${flagStr(row[6])}, qemu ${hex(q[i]!.value)} ${flagStr(q[i]!.flags)}`,
      );
  });
  assert.deepEqual(handErrors, []);
  const errors = compareAll(vecs, q.slice(ROWS.length));
  assert.deepEqual(errors, [], `seed ${seed}`);
});
