/**
 * Shared by the FPU tests: the table of operations with their assembly forms, a reproducible generator of
 * operand vectors biased toward hard cases, a runner that pushes a vector through our Fpu, and a runner
 * that pushes many vectors through QEMU (a bare-metal RV64GC program on the virt machine).
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FpOp } from '../../src/cpu/fp-ops.js';
import { Fpu } from '../../src/cpu/fpu.js';
import {
  FMT_D,
  FMT_S,
  sfAdd,
  sfCvt,
  sfDiv,
  sfFma,
  sfFromInt,
  sfMul,
  sfSqrt,
  sfState,
  sfToInt,
} from '../../src/cpu/softfloat.js';
import { F_I32, X_I32 } from '../../src/cpu/state-layout.js';

/** Operand shapes: f = FP register, x = integer register. */
export interface OpInfo {
  op: FpOp;
  name: string;
  /** Sources: 'f', 'ff', 'fff' or 'x'. */
  src: string;
  /** Destination: 'f' or 'x'. */
  dst: 'f' | 'x';
  /** Whether the instruction has a rounding-mode field that matters. */
  rm: boolean;
  /** 's' or 'd': the precision of the FP sources. */
  fmt: 's' | 'd';
}

function info(op: FpOp, name: string, src: string, dst: 'f' | 'x', rm: boolean): OpInfo {
  const fmt =
    name.endsWith('.s') || /\.s\.[wld]u?$/.test(name) || name === 'fmv.w.x' || name === 'fmv.x.w' ? 's' : 'd';
  // Sources of fcvt.s.d and fcvt.d.s are the other precision.
  if (name === 'fcvt.s.d') return { op, name, src, dst, rm, fmt: 'd' };
  if (name === 'fcvt.d.s') return { op, name, src, dst, rm, fmt: 's' };
  return { op, name, src, dst, rm, fmt };
}

export const OPS: OpInfo[] = [];
for (const p of ['s', 'd'] as const) {
  const S = p === 's';
  const o = (s: FpOp, d: FpOp) => (S ? s : d);
  OPS.push(
    info(o(FpOp.FADD_S, FpOp.FADD_D), `fadd.${p}`, 'ff', 'f', true),
    info(o(FpOp.FSUB_S, FpOp.FSUB_D), `fsub.${p}`, 'ff', 'f', true),
    info(o(FpOp.FMUL_S, FpOp.FMUL_D), `fmul.${p}`, 'ff', 'f', true),
    info(o(FpOp.FDIV_S, FpOp.FDIV_D), `fdiv.${p}`, 'ff', 'f', true),
    info(o(FpOp.FSQRT_S, FpOp.FSQRT_D), `fsqrt.${p}`, 'f', 'f', true),
    info(o(FpOp.FMIN_S, FpOp.FMIN_D), `fmin.${p}`, 'ff', 'f', false),
    info(o(FpOp.FMAX_S, FpOp.FMAX_D), `fmax.${p}`, 'ff', 'f', false),
    info(o(FpOp.FSGNJ_S, FpOp.FSGNJ_D), `fsgnj.${p}`, 'ff', 'f', false),
    info(o(FpOp.FSGNJN_S, FpOp.FSGNJN_D), `fsgnjn.${p}`, 'ff', 'f', false),
    info(o(FpOp.FSGNJX_S, FpOp.FSGNJX_D), `fsgnjx.${p}`, 'ff', 'f', false),
    info(o(FpOp.FMADD_S, FpOp.FMADD_D), `fmadd.${p}`, 'fff', 'f', true),
    info(o(FpOp.FMSUB_S, FpOp.FMSUB_D), `fmsub.${p}`, 'fff', 'f', true),
    info(o(FpOp.FNMSUB_S, FpOp.FNMSUB_D), `fnmsub.${p}`, 'fff', 'f', true),
    info(o(FpOp.FNMADD_S, FpOp.FNMADD_D), `fnmadd.${p}`, 'fff', 'f', true),
    info(o(FpOp.FCVT_W_S, FpOp.FCVT_W_D), `fcvt.w.${p}`, 'f', 'x', true),
    info(o(FpOp.FCVT_WU_S, FpOp.FCVT_WU_D), `fcvt.wu.${p}`, 'f', 'x', true),
    info(o(FpOp.FCVT_L_S, FpOp.FCVT_L_D), `fcvt.l.${p}`, 'f', 'x', true),
    info(o(FpOp.FCVT_LU_S, FpOp.FCVT_LU_D), `fcvt.lu.${p}`, 'f', 'x', true),
    info(o(FpOp.FCVT_S_W, FpOp.FCVT_D_W), `fcvt.${p}.w`, 'x', 'f', S),
    info(o(FpOp.FCVT_S_WU, FpOp.FCVT_D_WU), `fcvt.${p}.wu`, 'x', 'f', S),
    info(o(FpOp.FCVT_S_L, FpOp.FCVT_D_L), `fcvt.${p}.l`, 'x', 'f', true),
    info(o(FpOp.FCVT_S_LU, FpOp.FCVT_D_LU), `fcvt.${p}.lu`, 'x', 'f', true),
    info(o(FpOp.FMV_X_W, FpOp.FMV_X_D), S ? 'fmv.x.w' : 'fmv.x.d', 'f', 'x', false),
    info(o(FpOp.FMV_W_X, FpOp.FMV_D_X), S ? 'fmv.w.x' : 'fmv.d.x', 'x', 'f', false),
    info(o(FpOp.FEQ_S, FpOp.FEQ_D), `feq.${p}`, 'ff', 'x', false),
    info(o(FpOp.FLT_S, FpOp.FLT_D), `flt.${p}`, 'ff', 'x', false),
    info(o(FpOp.FLE_S, FpOp.FLE_D), `fle.${p}`, 'ff', 'x', false),
    info(o(FpOp.FCLASS_S, FpOp.FCLASS_D), `fclass.${p}`, 'f', 'x', false),
  );
}
OPS.push(info(FpOp.FCVT_S_D, 'fcvt.s.d', 'f', 'f', true), info(FpOp.FCVT_D_S, 'fcvt.d.s', 'f', 'f', false));

export const OP_BY_ID = new Map<FpOp, OpInfo>(OPS.map((o) => [o.op, o]));

export interface Vec {
  op: FpOp;
  rm: number;
  a: bigint;
  b: bigint;
  c: bigint;
}

export interface Res {
  value: bigint;
  flags: number;
}

const M64 = (1n << 64n) - 1n;

/** A small deterministic PRNG (xorshift128+ on BigInt-free 32-bit halves). */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed: number) {
    this.s0 = seed | 1;
    this.s1 = 0x9e3779b9;
    this.s2 = 0x243f6a88;
    this.s3 = 0xb7e15162;
    for (let i = 0; i < 16; i++) this.u32();
  }
  u32(): number {
    // xoshiro128**
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const F64 = new Float64Array(1);
const U64 = new BigUint64Array(F64.buffer);
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

export function dbits(x: number): bigint {
  F64[0] = x;
  return U64[0]!;
}

export function sbits(x: number): bigint {
  F32[0] = x;
  return BigInt(U32[0]!) | 0xffffffff00000000n;
}

interface FmtP {
  w: number;
  frac: number;
  expAll: number;
  bias: number;
}
const PS: FmtP = { w: 32, frac: 23, expAll: 0xff, bias: 127 };
const PD: FmtP = { w: 64, frac: 52, expAll: 0x7ff, bias: 1023 };

function pack(f: FmtP, sign: number, exp: number, frac: bigint): bigint {
  return (BigInt(sign) << BigInt(f.w - 1)) | (BigInt(exp) << BigInt(f.frac)) | frac;
}

/** A random float of format f, biased toward special and boundary values. */
function randFloat(r: Rng, f: FmtP, near?: bigint): bigint {
  const fracMask = (1n << BigInt(f.frac)) - 1n;
  const sign = r.int(2);
  const k = r.int(20);
  switch (k) {
    case 0:
      return pack(f, sign, 0, 0n);
    case 1:
      return pack(f, sign, f.expAll, 0n);
    case 2: // NaNs: quiet or signalling, random payload
      return pack(f, sign, f.expAll, (r.u64() & fracMask) | (r.int(2) ? 1n << BigInt(f.frac - 1) : 1n));
    case 3: // subnormal
      return pack(f, sign, 0, r.int(3) === 0 ? BigInt(r.int(8) + 1) : (r.u64() & fracMask) | 1n);
    case 4: // near the smallest normal or the largest finite
      return r.int(2)
        ? pack(f, sign, 1, r.int(2) ? 0n : BigInt(r.int(4)))
        : pack(f, sign, f.expAll - 1, fracMask - BigInt(r.int(4)));
    case 5: // small integers and halves
      return f.w === 64 ? dbits((sign ? -1 : 1) * (r.int(64) / 2)) : sbits((sign ? -1 : 1) * (r.int(64) / 2));
    case 6: {
      // integers near conversion limits
      const e = r.pick([30, 31, 32, 52, 53, 62, 63, 64]);
      const x = (sign ? -1 : 1) * (2 ** e + (r.int(5) - 2) * 2 ** Math.max(0, e - (f.w === 64 ? 52 : 23)));
      const fr = r.int(3) === 0 ? (r.int(3) - 1) / 2 : 0;
      return f.w === 64 ? dbits(x + fr) : sbits(x + fr);
    }
    case 7: // few significant bits, exponent near 0 (products/sums hit ties)
    case 8: {
      const bits = r.int(f.frac) + 1;
      const m = (r.u64() & ((1n << BigInt(bits)) - 1n)) | (1n << BigInt(bits - 1));
      const e = r.int(60) - 30 + f.bias;
      const fr = (m << BigInt(f.frac + 1 - bits)) & fracMask;
      return pack(f, sign, e, fr);
    }
    case 9: // near another operand's exponent
      if (near !== undefined) {
        const ne = Number((near >> BigInt(f.frac)) & BigInt(f.expAll));
        const e = Math.min(f.expAll - 1, Math.max(0, ne + r.int(60) - 30));
        return pack(f, sign, e, r.u64() & fracMask);
      }
      return pack(f, sign, r.int(f.expAll), r.u64() & fracMask);
    case 10: // extreme exponents
      return pack(f, sign, r.int(2) ? r.int(60) : f.expAll - 1 - r.int(60), r.u64() & fracMask);
    default:
      return pack(f, sign, r.int(f.expAll), r.u64() & fracMask);
  }
}

function randInt(r: Rng): bigint {
  switch (r.int(6)) {
    case 0:
      return BigInt.asUintN(64, BigInt(r.int(2000) - 1000));
    case 1:
      return BigInt.asUintN(64, BigInt.asIntN(32, BigInt(r.u32())));
    case 2:
      return BigInt(r.u32());
    case 3: {
      // around powers of two, where rounding to 24/53 bits matters
      const e = BigInt(r.int(64));
      return BigInt.asUintN(
        64,
        (1n << e) + BigInt(r.int(2000) - 1000) * (r.int(2) ? 1n : 1n << BigInt(r.int(20))),
      );
    }
    default:
      return r.u64();
  }
}

/** Exact value of a double as BigInt-free: used only to build near-cancelling fma addends. */
function negProdApprox(f: FmtP, a: bigint, b: bigint, r: Rng): bigint {
  if (f.w === 64) {
    F64[0] = 0;
    U64[0] = a;
    const x = F64[0]!;
    U64[0] = b;
    const y = F64[0]!;
    let p = -(x * y);
    if (p - p !== 0) return dbits(p);
    const j = r.int(4);
    F64[0] = p;
    U64[0] = U64[0]! + BigInt(j - 2) * (r.int(2) ? 1n : 1n << 26n);
    p = F64[0]!;
    return dbits(p);
  }
  F32[0] = 0;
  U32[0] = Number(a & 0xffffffffn);
  const x = F32[0]!;
  U32[0] = Number(b & 0xffffffffn);
  const y = F32[0]!;
  const p = Math.fround(-(x * y));
  if (p - p !== 0) return sbits(p);
  F32[0] = p;
  U32[0] = (U32[0]! + r.int(5) - 2) >>> 0;
  return BigInt(U32[0]!) | 0xffffffff00000000n;
}

function box(r: Rng, v: bigint): bigint {
  // Mostly properly NaN-boxed; sometimes not, to exercise the boxing rule.
  if (r.int(40) === 0) return (v & 0xffffffffn) | (BigInt(r.u32() & 0x7fffffff) << 32n);
  return v | 0xffffffff00000000n;
}

export function randVec(r: Rng, o: OpInfo): Vec {
  const rm = o.rm ? r.int(5) : 0;
  if (o.src === 'x') return { op: o.op, rm, a: randInt(r), b: 0n, c: 0n };
  const f = o.fmt === 's' ? PS : PD;
  const a = randFloat(r, f);
  const b = randFloat(r, f, a);
  let c = r.int(3) === 0 && o.src === 'fff' ? negProdApprox(f, a, b, r) : randFloat(r, f, a);
  if (o.src === 'fff' && r.int(4) === 0) c = randFloat(r, f, (a & ((1n << BigInt(f.w)) - 1n)) + 0n);
  if (f === PS) return { op: o.op, rm, a: box(r, a), b: box(r, b), c: box(r, c) };
  return { op: o.op, rm, a: a & M64, b: b & M64, c: c & M64 };
}

/** Runs one vector through a fresh-ish Fpu (registers f1..f3 and x1 hold the operands). */
export class FpuRunner {
  readonly i32 = new Int32Array(1024);
  readonly fpu = new Fpu(this.i32);

  private set(idx: number, v: bigint): void {
    this.i32[idx] = Number(v & 0xffffffffn) | 0;
    this.i32[idx + 1] = Number(v >> 32n) | 0;
  }

  private get(idx: number): bigint {
    return (BigInt(this.i32[idx + 1]! >>> 0) << 32n) | BigInt(this.i32[idx]! >>> 0);
  }

  run(v: Vec): Res {
    const o = OP_BY_ID.get(v.op)!;
    this.set(F_I32 + 2, v.a);
    this.set(F_I32 + 4, v.b);
    this.set(F_I32 + 6, v.c);
    this.set(X_I32 + 2, v.a);
    this.set(F_I32 + 8, 0n);
    this.set(X_I32 + 10, 0n);
    this.fpu.fflags = 0;
    const rd = o.dst === 'f' ? 4 : 5;
    this.fpu.exec(v.op, rd, 1, 2, 3, v.rm);
    return { value: this.get(o.dst === 'f' ? F_I32 + 8 : X_I32 + 10), flags: this.fpu.fflags };
  }
}

const RM_NAMES = ['rne', 'rtz', 'rdn', 'rup', 'rmm'];

function asmFor(o: OpInfo, rm: number): string {
  const r = o.rm ? `, ${RM_NAMES[rm]}` : '';
  const d = o.dst === 'f' ? 'f4' : 't0';
  switch (o.src) {
    case 'x':
      return `${o.name} ${d}, a1${r}`;
    case 'f':
      return `${o.name} ${d}, f1${r}`;
    case 'ff':
      return `${o.name} ${d}, f1, f2${r}`;
    default:
      return `${o.name} ${d}, f1, f2, f3${r}`;
  }
}

/** Whether riscv64-unknown-elf-gcc and qemu-system-riscv64 are usable here. */
export function haveQemu(): boolean {
  try {
    execFileSync('riscv64-unknown-elf-gcc', ['--version'], { stdio: 'ignore' });
    execFileSync('qemu-system-riscv64', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs the vectors on QEMU. The program walks a table of (stub index, a, b, c) records, clears fflags,
 * calls the stub for (op, rm), and records the destination register and fflags; at the end it prints
 * every record in hex on the UART and powers off through the virt test device.
 */
export function runQemu(vecs: Vec[]): Res[] {
  const stubs: string[] = [];
  const stubIndex = new Map<string, number>();
  const table = Buffer.alloc(vecs.length * 32);
  vecs.forEach((v, i) => {
    const o = OP_BY_ID.get(v.op)!;
    const key = `${v.op}/${o.rm ? v.rm : 0}`;
    let idx = stubIndex.get(key);
    if (idx === undefined) {
      idx = stubs.length;
      stubIndex.set(key, idx);
      const res = o.dst === 'f' ? '\n  fmv.x.d t0, f4' : '';
      stubs.push(`stub${idx}:\n  ${asmFor(o, v.rm)}${res}\n  ret`);
    }
    table.writeBigUInt64LE(BigInt(idx), i * 32);
    table.writeBigUInt64LE(v.a, i * 32 + 8);
    table.writeBigUInt64LE(v.b, i * 32 + 16);
    table.writeBigUInt64LE(v.c, i * 32 + 24);
  });
  const asm = `
  .section .text
  .globl _start
_start:
  li t0, 0x2000
  csrs mstatus, t0
  csrwi frm, 0
  la s0, vecs
  la s1, vecs_end
  la s2, outbuf
  la s3, jtab
1:
  bgeu s0, s1, 2f
  ld t2, 0(s0)
  fld f1, 8(s0)
  fld f2, 16(s0)
  fld f3, 24(s0)
  ld a1, 8(s0)
  slli t2, t2, 3
  add t2, t2, s3
  ld t2, 0(t2)
  li t0, 0
  csrwi fflags, 0
  jalr ra, t2
  csrr t1, fflags
  sd t0, 0(s2)
  sd t1, 8(s2)
  addi s0, s0, 32
  addi s2, s2, 16
  j 1b
2:
  la s2, outbuf
  la s4, hexdigits
  li s5, 0x10000000
3:
  bgeu s0, s1, 6f
  ld t0, 0(s2)
  li t3, 60
4:
  srl t4, t0, t3
  andi t4, t4, 15
  add t4, t4, s4
  lbu t4, 0(t4)
  call putc
  addi t3, t3, -4
  bgez t3, 4b
  li t4, 32
  call putc
  ld t0, 8(s2)
  li t3, 4
5:
  srl t4, t0, t3
  andi t4, t4, 15
  add t4, t4, s4
  lbu t4, 0(t4)
  call putc
  addi t3, t3, -4
  bgez t3, 5b
  li t4, 10
  call putc
  addi s2, s2, 16
  addi s0, s0, 32
  j 3b
6:
  li t1, 0x100000
  li t2, 0x5555
  sw t2, 0(t1)
7:
  j 7b
putc:
  lbu t5, 5(s5)
  andi t5, t5, 0x20
  beqz t5, putc
  sb t4, 0(s5)
  ret
${stubs.join('\n')}
  .section .rodata
  .balign 8
jtab:
${stubs.map((_, i) => `  .dword stub${i}`).join('\n')}
hexdigits:
  .ascii "0123456789abcdef"
  .balign 8
vecs:
  .incbin "vecs.bin"
vecs_end:
  .section .bss
  .balign 8
outbuf:
  .zero ${vecs.length * 16}
`;
  // The printing loop reuses s0 as its record counter: rewind it first.
  const fixed = asm.replace('2:\n  la s2, outbuf', '2:\n  la s0, vecs\n  la s2, outbuf');
  const dir = mkdtempSync(join(tmpdir(), 'fpu-qemu-'));
  try {
    writeFileSync(join(dir, 'vecs.bin'), table);
    writeFileSync(join(dir, 'prog.S'), fixed);
    execFileSync(
      'riscv64-unknown-elf-gcc',
      [
        '-march=rv64gc',
        '-mabi=lp64d',
        '-nostdlib',
        '-nostartfiles',
        '-Wl,-Ttext=0x80000000',
        '-o',
        'prog.elf',
        'prog.S',
      ],
      { cwd: dir },
    );
    const out = execFileSync(
      'qemu-system-riscv64',
      ['-M', 'virt', '-nographic', '-bios', 'none', '-kernel', 'prog.elf'],
      { cwd: dir, maxBuffer: 1 << 28, timeout: 120_000 },
    ).toString('latin1');
    const lines = out.split('\n').filter((l) => /^[0-9a-f]{16} [0-9a-f]{2}\r?$/.test(l));
    if (lines.length !== vecs.length)
      throw new Error(`qemu produced ${lines.length} of ${vecs.length} results`);
    return lines.map((l) => ({
      value: BigInt(`0x${l.slice(0, 16)}`),
      flags: Number.parseInt(l.slice(17, 19), 16),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function hex(v: bigint): string {
  return `0x${v.toString(16).padStart(16, '0')}`;
}

export function describe(v: Vec): string {
  const o = OP_BY_ID.get(v.op)!;
  return `${o.name} rm=${RM_NAMES[v.rm]} a=${hex(v.a)} b=${hex(v.b)} c=${hex(v.c)}`;
}

const SFS = FMT_S;
const SFD = FMT_D;

function unboxS(v: bigint): bigint {
  return v >> 32n === 0xffffffffn ? v & 0xffffffffn : 0x7fc00000n;
}

/**
 * Reference result from the BigInt implementation alone, for the operations that round; undefined for
 * the bit-manipulating ones (those are covered by the hand-written vectors and QEMU).
 */
export function refExec(v: Vec): Res | undefined {
  sfState.flags = 0;
  const rm = v.rm;
  const S = (x: bigint) => x | 0xffffffff00000000n;
  const sa = unboxS(v.a);
  const sb = unboxS(v.b);
  const sc = unboxS(v.c);
  const xs32 = BigInt.asIntN(32, v.a & 0xffffffffn);
  const xu32 = v.a & 0xffffffffn;
  const xs64 = BigInt.asIntN(64, v.a);
  let r: bigint;
  switch (v.op) {
    case FpOp.FADD_S:
      r = S(sfAdd(SFS, sa, sb, rm));
      break;
    case FpOp.FSUB_S:
      r = S(sfAdd(SFS, sa, sb, rm, true));
      break;
    case FpOp.FMUL_S:
      r = S(sfMul(SFS, sa, sb, rm));
      break;
    case FpOp.FDIV_S:
      r = S(sfDiv(SFS, sa, sb, rm));
      break;
    case FpOp.FSQRT_S:
      r = S(sfSqrt(SFS, sa, rm));
      break;
    case FpOp.FMADD_S:
      r = S(sfFma(SFS, sa, sb, sc, rm, false, false));
      break;
    case FpOp.FMSUB_S:
      r = S(sfFma(SFS, sa, sb, sc, rm, false, true));
      break;
    case FpOp.FNMSUB_S:
      r = S(sfFma(SFS, sa, sb, sc, rm, true, false));
      break;
    case FpOp.FNMADD_S:
      r = S(sfFma(SFS, sa, sb, sc, rm, true, true));
      break;
    case FpOp.FADD_D:
      r = sfAdd(SFD, v.a, v.b, rm);
      break;
    case FpOp.FSUB_D:
      r = sfAdd(SFD, v.a, v.b, rm, true);
      break;
    case FpOp.FMUL_D:
      r = sfMul(SFD, v.a, v.b, rm);
      break;
    case FpOp.FDIV_D:
      r = sfDiv(SFD, v.a, v.b, rm);
      break;
    case FpOp.FSQRT_D:
      r = sfSqrt(SFD, v.a, rm);
      break;
    case FpOp.FMADD_D:
      r = sfFma(SFD, v.a, v.b, v.c, rm, false, false);
      break;
    case FpOp.FMSUB_D:
      r = sfFma(SFD, v.a, v.b, v.c, rm, false, true);
      break;
    case FpOp.FNMSUB_D:
      r = sfFma(SFD, v.a, v.b, v.c, rm, true, false);
      break;
    case FpOp.FNMADD_D:
      r = sfFma(SFD, v.a, v.b, v.c, rm, true, true);
      break;
    case FpOp.FCVT_W_S:
      r = sfToInt(SFS, sa, rm, true, 32);
      break;
    case FpOp.FCVT_WU_S:
      r = sfToInt(SFS, sa, rm, false, 32);
      break;
    case FpOp.FCVT_L_S:
      r = sfToInt(SFS, sa, rm, true, 64);
      break;
    case FpOp.FCVT_LU_S:
      r = sfToInt(SFS, sa, rm, false, 64);
      break;
    case FpOp.FCVT_W_D:
      r = sfToInt(SFD, v.a, rm, true, 32);
      break;
    case FpOp.FCVT_WU_D:
      r = sfToInt(SFD, v.a, rm, false, 32);
      break;
    case FpOp.FCVT_L_D:
      r = sfToInt(SFD, v.a, rm, true, 64);
      break;
    case FpOp.FCVT_LU_D:
      r = sfToInt(SFD, v.a, rm, false, 64);
      break;
    case FpOp.FCVT_S_W:
      r = S(sfFromInt(SFS, xs32, rm));
      break;
    case FpOp.FCVT_S_WU:
      r = S(sfFromInt(SFS, xu32, rm));
      break;
    case FpOp.FCVT_S_L:
      r = S(sfFromInt(SFS, xs64, rm));
      break;
    case FpOp.FCVT_S_LU:
      r = S(sfFromInt(SFS, v.a, rm));
      break;
    case FpOp.FCVT_D_W:
      r = sfFromInt(SFD, xs32, rm);
      break;
    case FpOp.FCVT_D_WU:
      r = sfFromInt(SFD, xu32, rm);
      break;
    case FpOp.FCVT_D_L:
      r = sfFromInt(SFD, xs64, rm);
      break;
    case FpOp.FCVT_D_LU:
      r = sfFromInt(SFD, v.a, rm);
      break;
    case FpOp.FCVT_S_D:
      r = S(sfCvt(SFD, SFS, v.a, rm));
      break;
    case FpOp.FCVT_D_S:
      r = sfCvt(SFS, SFD, sa, rm);
      break;
    default:
      return undefined;
  }
  return { value: r, flags: sfState.flags };
}

/** Random odd integer with exactly `bits` significant bits. */
function oddBits(r: Rng, bits: number): bigint {
  if (bits <= 1) return 1n;
  const m = r.u64() | (r.u64() << 64n);
  return (m & ((1n << BigInt(bits)) - 1n)) | (1n << BigInt(bits - 1)) | 1n;
}

/** Float of format f with value sign * m * 2^e (m must fit; normal or subnormal as it falls). */
function fromParts(f: FmtP, sign: number, m: bigint, e: number): bigint | undefined {
  const p = f.frac + 1;
  const len = m.toString(2).length;
  if (len > p) return undefined;
  const sh = p - len;
  const mm = m << BigInt(sh);
  const ee = e - sh; // value = mm * 2^ee, mm has p bits
  const biased = ee + f.frac + f.bias;
  if (biased >= f.expAll) return undefined;
  if (biased >= 1) return pack(f, sign, biased, mm & ((1n << BigInt(f.frac)) - 1n));
  const shift = 1 - biased;
  if (shift >= p || (mm & ((1n << BigInt(shift)) - 1n)) !== 0n) return undefined;
  return pack(f, sign, 0, mm >> BigInt(shift));
}

/**
 * Operands built so that the exact result is a tie, a hair off a tie, or lies at the edge of the
 * subnormal/overflow range, for the operations whose rounding is hardest to get right.
 */
export function hardVec(r: Rng, o: OpInfo): Vec {
  const rm = r.int(5);
  const f = o.fmt === 's' ? PS : PD;
  const p = f.frac + 1;
  const fin = (x: bigint | undefined, fb: () => bigint) => (x === undefined ? fb() : x);
  const boxIf = (x: bigint) => (f === PS ? x | 0xffffffff00000000n : x);
  const expRange = () => {
    const k = r.int(4);
    if (k === 0) return -(f.bias + p + r.int(p)) + 1; // subnormal results
    if (k === 1) return f.bias - p - r.int(4); // near overflow
    return r.int(40) - 20 - p;
  };
  const rnd = () => randFloat(r, f);
  switch (o.src) {
    case 'ff': {
      if (o.name.startsWith('fmul')) {
        const ba = 1 + r.int(p);
        const bb = Math.max(1, Math.min(p, p + 1 + (r.int(3) - 1) - ba));
        const ea = expRange();
        const a = fin(fromParts(f, r.int(2), oddBits(r, ba), Math.floor(ea / 2)), rnd);
        const b = fin(fromParts(f, r.int(2), oddBits(r, bb), ea - Math.floor(ea / 2)), rnd);
        return { op: o.op, rm, a: boxIf(a), b: boxIf(b), c: 0n };
      }
      if (o.name.startsWith('fadd') || o.name.startsWith('fsub')) {
        const e = expRange();
        const a = fin(fromParts(f, r.int(2), oddBits(r, p - r.int(3)), e), rnd);
        // b near half an ulp of a, or straddling a's binade boundary after cancellation
        const d = r.int(4) === 0 ? p + r.int(6) - 2 : 1 + r.int(3);
        const b = fin(fromParts(f, r.int(2), oddBits(r, 1 + r.int(4)), e - d), rnd);
        return { op: o.op, rm, a: boxIf(a), b: boxIf(b), c: 0n };
      }
      if (o.name.startsWith('fdiv')) {
        // q * b with q a p+1-bit value: the quotient is exact or a near-tie
        const e = expRange();
        const q = oddBits(r, p + r.int(2));
        const bm = oddBits(r, 1 + r.int(8));
        const a = fromParts(f, r.int(2), q * bm, e);
        const b = fromParts(f, r.int(2), bm, r.int(20) - 10);
        return { op: o.op, rm, a: boxIf(fin(a, rnd)), b: boxIf(fin(b, rnd)), c: 0n };
      }
      return randVec(r, o);
    }
    case 'fff': {
      // c large, a*b a few ulps of c or exactly at half an ulp of c
      // expRange() can put c in the subnormal range: then a*b is tiny too and results underflow.
      const ec = expRange() + p;
      const c = fin(fromParts(f, r.int(2), oddBits(r, p - r.int(2)), ec - p + 1), rnd);
      const ba = 1 + r.int(8);
      const bb = 1 + r.int(8);
      const eab = ec - p - ba - bb + r.int(8) - 3;
      const a = fin(fromParts(f, r.int(2), oddBits(r, ba), eab), rnd);
      const b = fin(fromParts(f, r.int(2), oddBits(r, bb), 0), rnd);
      if (r.int(3) === 0)
        return { op: o.op, rm, a: boxIf(a), b: boxIf(b), c: boxIf(negProdApprox(f, a, b, r)) };
      if (r.int(4) === 0) {
        // tiny operands whose product lands around the smallest normal
        const t = fromParts(f, r.int(2), oddBits(r, 1 + r.int(p)), -(f.bias + p) + 2 + r.int(p + 4));
        const one = fromParts(f, r.int(2), oddBits(r, 1 + r.int(3)), -r.int(3));
        return {
          op: o.op,
          rm,
          a: boxIf(fin(t, rnd)),
          b: boxIf(fin(one, rnd)),
          c: boxIf(r.int(2) ? c : fin(t, rnd)),
        };
      }
      return { op: o.op, rm, a: boxIf(a), b: boxIf(b), c: boxIf(c) };
    }
    case 'x': {
      // integers with p+1 or so significant bits: ties and near-ties when converting
      const bits = p + r.int(4) - 1;
      let v = oddBits(r, Math.min(bits, 63)) << BigInt(r.int(Math.max(1, 64 - bits)));
      v = BigInt.asUintN(64, v);
      if (r.int(2)) v = BigInt.asUintN(64, -v);
      return { op: o.op, rm, a: v, b: 0n, c: 0n };
    }
    case 'f': {
      if (o.name === 'fcvt.s.d') {
        const k = r.int(3);
        const e = k === 0 ? -(126 + 24 + r.int(26)) : k === 1 ? 127 - 24 : r.int(40) - 40;
        const a = fromParts(PD, r.int(2), oddBits(r, 24 + r.int(4)), e);
        return { op: o.op, rm, a: fin(a, () => randFloat(r, PD)), b: 0n, c: 0n };
      }
      if (o.dst === 'x') {
        // values with fractional part 0.5 or close to it, and near the integer limits
        const ip = BigInt(r.int(1000)) * (r.int(2) ? 1n : 1n << BigInt(r.int(60)));
        const m = (ip << 2n) | BigInt(r.int(4));
        const a = fromParts(f, r.int(2), m === 0n ? 1n : m, -2);
        return { op: o.op, rm, a: boxIf(fin(a, rnd)), b: 0n, c: 0n };
      }
      return randVec(r, o);
    }
  }
  return randVec(r, o);
}
