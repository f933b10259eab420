// Random RV64GC instruction sequences for the differential test against QEMU.
//
// A sequence is a list of items (one instruction, or a few that only make sense together, such
// as "point a register at scratch memory, then load from it") plus the initial state of every
// register, fcsr and a 256-byte scratch area. The runtime (runtime/start.S) loads that state,
// runs the items, and dumps the state again; traps are logged and skipped.
//
// Rules that keep the outcome fully specified by the ISA, so that any difference between QEMU
// and Typervisor is a bug in one of them:
// - control flow only goes forward, so every sequence terminates;
// - ordinary loads/stores are naturally aligned, except in the 'misaligned' category (see its
//   weight);
// - code is only modified in place with a fence.i before the new code runs;
// - memory is only touched inside the scratch area, except deliberate access faults near 0;
// - an SC only follows an LR to the same address with no store, trap or branch in between
//   (reservation-set size and what happens after intervening stores are implementation
//   defined), or stands alone, where it must fail;
// - no CSR whose value is implementation- or time-dependent is read.

import { Rng } from './prng.js';

export const SCRATCH_BYTES = 256;

export type Category =
  | 'alu'
  | 'aluImm'
  | 'shift'
  | 'upper'
  | 'li'
  | 'mul'
  | 'div'
  | 'compressed'
  | 'load'
  | 'store'
  | 'amo'
  | 'lrsc'
  | 'branch'
  | 'jump'
  | 'fpArith'
  | 'fpFma'
  | 'fpCvt'
  | 'fpCmp'
  | 'fpSgnj'
  | 'fpMinMax'
  | 'fpClass'
  | 'fpMove'
  | 'fpMem'
  | 'fpCsr'
  | 'fpConst'
  | 'fence'
  | 'trap'
  | 'accessFault'
  | 'hint'
  | 'misaligned'
  | 'smc'
  | 'csr'
  | 'vm';

export const DEFAULT_WEIGHTS: Readonly<Record<Category, number>> = {
  alu: 10,
  aluImm: 8,
  shift: 6,
  upper: 2,
  li: 3,
  mul: 5,
  div: 6,
  compressed: 8,
  load: 6,
  store: 5,
  amo: 5,
  lrsc: 2,
  branch: 5,
  jump: 3,
  fpArith: 10,
  fpFma: 6,
  fpCvt: 10,
  fpCmp: 4,
  fpSgnj: 4,
  fpMinMax: 4,
  fpClass: 2,
  fpMove: 4,
  fpMem: 4,
  fpCsr: 3,
  fpConst: 3,
  fence: 1,
  trap: 3,
  accessFault: 1,
  hint: 2,
  // Misaligned ordinary loads/stores may either trap or be performed (the execution
  // environment's choice). QEMU 7.2 and Typervisor both perform them, so they are compared;
  // should Typervisor choose to trap instead, set this weight to 0.
  misaligned: 2,
  smc: 1.5,
  csr: 1,
  // Only in sequences that run with Sv39 translation (see generateSequence).
  vm: 6,
};

/** Groups used to give some sequences a focus, so that rare interactions get dense coverage. */
const FOCUS_GROUPS: readonly (readonly Category[])[] = [
  ['alu', 'aluImm', 'shift', 'upper', 'li'],
  ['mul', 'div', 'li'],
  ['compressed', 'load', 'store'],
  ['amo', 'lrsc', 'load', 'store'],
  ['branch', 'jump', 'alu'],
  ['fpArith', 'fpFma', 'fpConst'],
  ['fpCvt', 'fpConst', 'li'],
  ['fpCmp', 'fpSgnj', 'fpMinMax', 'fpClass', 'fpConst'],
  ['fpMove', 'fpMem', 'fpCsr'],
  ['trap', 'accessFault', 'fpCsr', 'hint'],
  ['misaligned', 'load', 'store', 'fpMem'],
  ['smc', 'fence', 'csr', 'jump'],
];

/** Privilege mode a sequence runs in (bare translation; M-mode takes every trap). */
export type PrivMode = 'M' | 'S' | 'U';

export interface GenOptions {
  /** Fixed privilege mode; by default M for 60% of sequences, S or U for the rest. */
  mode?: PrivMode;
  /** Instruction items per sequence (labels and multi-instruction setup do not count). */
  length: number;
  /** Overrides of DEFAULT_WEIGHTS; a weight of 0 disables a category. */
  weights?: Partial<Record<Category, number>>;
}

export interface Item {
  /** Assembly lines; `%L` stands for the sequence's private label prefix. */
  lines: string[];
  kind: string;
  /** Labels are never removed when shrinking (branches may still point at them). */
  label?: boolean;
}

export interface InitState {
  /** x0..x31 as unsigned 64-bit values (x0 is ignored). */
  x: bigint[];
  /** f0..f31 raw 64-bit patterns (singles NaN-boxed or deliberately not). */
  f: bigint[];
  fcsr: number;
  mem: Uint8Array;
}

export interface Sequence {
  /** "seed#index": enough to regenerate it with generateSequence. */
  id: string;
  items: Item[];
  init: InitState;
  /**
   * Where in a 4 KiB page the sequence starts, when that must be reproduced (replays of a
   * sequence whose instructions straddled a page boundary in the original batch).
   */
  pageOffset?: number;
  /** Privilege mode; M when absent. */
  mode?: PrivMode;
  /** S/U only: run with Sv39 translation (runtime.c's tables), and mstatus.SUM / MXR. */
  vm?: boolean;
  sum?: boolean;
  mxr?: boolean;
}

// Layout of the translation window that runtime.c builds (keep the two in sync).
const WINDOW_VA = 0x40000000;
const WINDOW_PAIRS = 10;
/** Page offset of the scratch area: its first 128 bytes end a page, the rest start the next. */
const SCRATCH_PAGE_OFFSET = 0xf80;
/** Megapages: misaligned (always faults), U = 1 and U = 0 views of the first 2 MiB of RAM. */
const MEGA_VA = [0x40200000, 0x40400000, 0x40600000];

const M64 = (1n << 64n) - 1n;
const u64 = (v: bigint): bigint => v & M64;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

// ---------------------------------------------------------------- values

const INT_EDGES: readonly bigint[] = [
  0n,
  1n,
  2n,
  3n,
  -1n,
  -2n,
  0x7fffffffffffffffn,
  -0x8000000000000000n,
  -0x7fffffffffffffffn,
  0x7fffffffn,
  -0x80000000n,
  0x80000000n,
  0xffffffffn,
  0x7ffffffen,
  -0x7fffffffn,
  0x100000000n,
  0xffffffff80000000n,
  0x00000000ffff8000n,
  0x8000000000000001n,
  31n,
  32n,
  63n,
  64n,
  0x55555555aaaaaaaan,
  0x0123456789abcdefn,
].map(u64);

function f64Bits(x: number): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x, true);
  return dv.getBigUint64(0, true);
}

function f32Bits(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x, true);
  return dv.getUint32(0, true);
}

/** Numbers that sit on rounding and conversion boundaries. */
const INTERESTING_NUMBERS: readonly number[] = [
  1,
  -1,
  0.5,
  -0.5,
  1.5,
  -1.5,
  2.5,
  -2.5,
  3.5,
  0.49999999999999994,
  0.9999999999999999,
  -0.9999999999999999,
  2 ** 31,
  2 ** 31 - 1,
  2 ** 31 - 0.5,
  -(2 ** 31),
  -(2 ** 31) - 1,
  -(2 ** 31) - 0.5,
  2 ** 32,
  2 ** 32 - 1,
  2 ** 32 - 0.5,
  2 ** 52,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  -(2 ** 63),
  2 ** 64,
  2 ** 63 - 1024,
  2 ** 64 - 2048,
  -(2 ** 63) - 2048,
  Math.PI,
  -Math.E,
  1e308,
  -1e-308,
  1 / 3,
  16777216,
  16777217,
  3.4028234663852886e38,
  3.4028235677973366e38,
  1.1754943508222875e-38,
  1e-45,
  100,
  -7,
];

const F64_SPECIALS: readonly bigint[] = [
  0x0000000000000000n, // +0
  0x8000000000000000n, // -0
  0x7ff0000000000000n, // +inf
  0xfff0000000000000n, // -inf
  0x7ff8000000000000n, // canonical qNaN
  0xfff8000000000000n, // negative qNaN
  0x7ff8000000000123n, // qNaN with payload
  0x7ff0000000000001n, // sNaN
  0x7ff4000000000000n, // sNaN
  0xfff0000000000001n, // negative sNaN
  0x0000000000000001n, // min subnormal
  0x8000000000000001n,
  0x000fffffffffffffn, // max subnormal
  0x0008000000000000n,
  0x0010000000000000n, // min normal
  0x8010000000000000n,
  0x7fefffffffffffffn, // max normal
  0xffefffffffffffffn,
  0x3ff0000000000000n, // 1.0
  0xbff0000000000000n,
];

const F32_SPECIALS: readonly number[] = [
  0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fc00123, 0x7f800001, 0x7fa00000,
  0xff800001, 0x00000001, 0x80000001, 0x007fffff, 0x00400000, 0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff,
  0x3f800000, 0xbf800000,
];

const BOX = 0xffffffff00000000n;

function randomInt(rng: Rng): bigint {
  switch (rng.int(8)) {
    case 0:
    case 1:
    case 2:
      return rng.pick(INT_EDGES);
    case 3:
      return u64(BigInt(rng.range(-2048, 2047)));
    case 4:
      return BigInt.asUintN(64, BigInt.asIntN(32, BigInt(rng.u32())));
    case 5: {
      const p = 1n << BigInt(rng.int(64));
      return rng.chance(0.5) ? p : u64(-p);
    }
    case 6:
      return rng.chance(0.5)
        ? BigInt(rng.u32())
        : // Edge value in the low word under a random upper word: W-form ops must ignore it.
          (BigInt(rng.u32()) << 32n) | (rng.pick(INT_EDGES) & 0xffffffffn);
    default:
      return rng.u64();
  }
}

function randomF64(rng: Rng): bigint {
  switch (rng.int(7)) {
    case 0:
    case 1:
      return rng.pick(F64_SPECIALS);
    case 2:
      return f64Bits(rng.pick(INTERESTING_NUMBERS));
    case 6: {
      // A few ulps around a boundary value, or a random integer plus a tie-ish fraction.
      if (rng.chance(0.5)) return u64(f64Bits(rng.pick(INTERESTING_NUMBERS)) + BigInt(rng.range(-2, 2)));
      const k = rng.range(-100000, 100000) * 2 ** rng.range(0, 40);
      return f64Bits(k + rng.pick([0.5, -0.5, 0.25, 0.75, 0.5 + 2 ** -30, 0.5 - 2 ** -30]));
    }
    case 3: {
      // Random number of moderate magnitude, often with an exactly representable fraction.
      const x = (rng.u32() / 0x10000 - 32768) * 2 ** rng.range(-20, 20);
      return f64Bits(rng.chance(0.5) ? x : Math.trunc(x));
    }
    case 4: {
      // Exponent near the subnormal boundary or near overflow.
      const sign = BigInt(rng.int(2)) << 63n;
      const exp = BigInt(rng.chance(0.5) ? rng.range(0, 3) : rng.range(0x7fc, 0x7fe)) << 52n;
      return sign | exp | (rng.u64() & 0xfffffffffffffn);
    }
    default:
      return rng.u64();
  }
}

function randomF32(rng: Rng): number {
  switch (rng.int(7)) {
    case 0:
    case 1:
      return rng.pick(F32_SPECIALS);
    case 2:
      return f32Bits(rng.pick(INTERESTING_NUMBERS));
    case 6: {
      if (rng.chance(0.5)) return (f32Bits(rng.pick(INTERESTING_NUMBERS)) + rng.range(-2, 2)) >>> 0;
      const k = rng.range(-1000, 1000) * 2 ** rng.range(0, 12);
      return f32Bits(k + rng.pick([0.5, -0.5, 0.25, 0.75, 0.5 + 2 ** -10, 0.5 - 2 ** -10]));
    }
    case 3: {
      const x = (rng.u32() / 0x10000 - 32768) * 2 ** rng.range(-10, 10);
      return f32Bits(rng.chance(0.5) ? x : Math.trunc(x));
    }
    case 4: {
      const sign = rng.int(2) << 31;
      const exp = (rng.chance(0.5) ? rng.range(0, 3) : rng.range(0xfc, 0xfe)) << 23;
      return (sign | exp | (rng.u32() & 0x7fffff)) >>> 0;
    }
    default:
      return rng.u32();
  }
}

type FType = 's' | 'd';

/** A register value for an FP register, and the format it mostly "is". */
function randomFReg(rng: Rng): { bits: bigint; type: FType } {
  const r = rng.int(100);
  if (r < 50) return { bits: randomF64(rng), type: 'd' };
  const single = BigInt(randomF32(rng));
  if (r < 93) return { bits: BOX | single, type: 's' };
  // Improperly NaN-boxed single: must read as the canonical NaN in single-precision ops.
  const upper = rng.pick([0n, 0xfffffffen, 0x7fffffffn, BigInt(rng.u32())]);
  return { bits: ((upper === 0xffffffffn ? 0n : upper) << 32n) | single, type: 's' };
}

// ---------------------------------------------------------------- encodings

const RM_NAMES = ['rne', 'rtz', 'rdn', 'rup', 'rmm', '', '', 'dyn'] as const;

function encR(opcode: number, funct3: number, funct7: number, rd: number, rs1: number, rs2: number): number {
  return ((funct7 << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode) >>> 0;
}

const insn32 = (w: number): string => `.insn 4, ${hex(w >>> 0)}`;
const insn16 = (w: number): string => `.insn 2, ${hex(w & 0xffff)}`;

// ---------------------------------------------------------------- generator

const ALU_R = ['add', 'sub', 'sll', 'slt', 'sltu', 'xor', 'srl', 'sra', 'or', 'and'];
const ALU_RW = ['addw', 'subw', 'sllw', 'srlw', 'sraw'];
const ALU_I = ['addi', 'slti', 'sltiu', 'xori', 'ori', 'andi', 'addiw'];
const MUL_OPS = ['mul', 'mulh', 'mulhsu', 'mulhu', 'mulw'];
const DIV_OPS = ['div', 'divu', 'rem', 'remu', 'divw', 'divuw', 'remw', 'remuw'];
const AMO_OPS = ['swap', 'add', 'xor', 'and', 'or', 'min', 'max', 'minu', 'maxu'];
const ORDERING = ['', '', '', '.aq', '.rl', '.aqrl'];
const BRANCHES = ['beq', 'bne', 'blt', 'bge', 'bltu', 'bgeu', 'bgt', 'ble', 'bgtu', 'bleu'];

class SeqGen {
  private items: Item[] = [];
  private insnCount = 0;
  private labelCounter = 0;
  private pendingLabels = new Map<number, number[]>();
  private ftype: FType[] = [];

  constructor(
    private rng: Rng,
    private weights: Record<Category, number>,
    private mode: PrivMode,
  ) {}

  // -- registers

  /** Any integer register; biased towards x8-x15 so the assembler can pick compressed forms. */
  private x(allowZero = true): number {
    const r = this.rng.int(10);
    if (r < 3) return this.rng.range(8, 15);
    if (r === 3 && allowZero) return 0;
    return this.rng.range(1, 31);
  }

  /** A destination: usually not x0, sometimes equal to a source. */
  private xd(src?: number): number {
    if (src !== undefined && this.rng.chance(0.3)) return src;
    return this.rng.chance(0.04) ? 0 : this.x(false);
  }

  private cx(): number {
    return this.rng.range(8, 15);
  }

  private f(type?: FType): number {
    if (type && this.rng.chance(0.85)) {
      const candidates: number[] = [];
      for (let i = 0; i < 32; i++) if (this.ftype[i] === type) candidates.push(i);
      if (candidates.length > 0) return this.rng.pick(candidates);
    }
    return this.rng.chance(0.25) ? this.rng.range(8, 15) : this.rng.int(32);
  }

  private fd(type: FType, src?: number): number {
    const r = src !== undefined && this.rng.chance(0.3) ? src : this.f();
    this.ftype[r] = type;
    return r;
  }

  private rm(): string {
    const r = this.rng.int(8);
    if (r >= 5) return ''; // default: dynamic
    return `, ${RM_NAMES[this.rng.chance(0.15) ? 7 : r]}`;
  }

  private rmNum(): number {
    return this.rng.chance(0.2) ? 7 : this.rng.int(5);
  }

  private imm12(): number {
    return this.rng.chance(0.3)
      ? this.rng.pick([-2048, 2047, -1, 0, 1, 2, 31, 32, 63, -32])
      : this.rng.range(-2048, 2047);
  }

  // -- emission

  private emit(kind: string, lines: string[], allowNoRvc = true): void {
    const due = this.pendingLabels.get(this.insnCount);
    if (due) {
      this.pendingLabels.delete(this.insnCount);
      for (const l of due) this.items.push({ kind: 'label', lines: [`%L${l}:`], label: true });
    }
    // Some items are forced to their 4-byte encodings, so that both forms of instructions the
    // assembler would compress get executed.
    if (allowNoRvc && this.rng.chance(0.2)) {
      lines = ['.option push', '.option norvc', ...lines, '.option pop'];
    }
    this.items.push({ kind, lines });
    this.insnCount++;
  }

  /** A fresh label placed `distance` instruction items ahead. */
  private forwardLabel(distance: number): string {
    const n = this.labelCounter++;
    const at = this.insnCount + 1 + distance;
    const list = this.pendingLabels.get(at) ?? [];
    list.push(n);
    this.pendingLabels.set(at, list);
    return `%L${n}`;
  }

  finish(): Item[] {
    const rest = [...this.pendingLabels.entries()].sort((a, b) => a[0] - b[0]);
    for (const [, list] of rest) {
      for (const l of list) this.items.push({ kind: 'label', lines: [`%L${l}:`], label: true });
    }
    this.pendingLabels.clear();
    return this.items;
  }

  initFTypes(types: FType[]): void {
    this.ftype = types.slice();
  }

  // -- scratch addressing

  /** Lines that leave a pointer into scratch in `base`, and the offset to use with it. */
  private scratchAddr(
    size: number,
    base: number,
    addr = this.rng.int(SCRATCH_BYTES / size) * size,
  ): { setup: string; offset: number } {
    let baseOff: number;
    switch (this.rng.int(4)) {
      case 0:
        baseOff = 0;
        break;
      case 1:
        baseOff = 128;
        break;
      case 2:
        baseOff = addr;
        break;
      default:
        baseOff = this.rng.range(-1000, 1000);
    }
    return { setup: `lla x${base}, scratch${baseOff < 0 ? '' : '+'}${baseOff}`, offset: addr - baseOff };
  }

  private nonZeroBase(): number {
    const r = this.rng.int(10);
    if (r < 4) return this.rng.range(8, 15);
    if (r < 5) return 2;
    return this.rng.range(1, 31);
  }

  // -- item generators

  step(): void {
    const cat = this.rng.weighted(this.weights);
    this.gen(cat);
  }

  private gen(cat: Category): void {
    const rng = this.rng;
    switch (cat) {
      case 'alu': {
        const op = rng.pick(rng.chance(0.7) ? ALU_R : ALU_RW);
        const a = this.x();
        const b = rng.chance(0.1) ? a : this.x();
        const d = this.xd(a);
        this.emit(op, [`${op} x${d}, x${a}, x${b}`]);
        return;
      }
      case 'aluImm': {
        const op = rng.pick(ALU_I);
        const a = this.x();
        const d = this.xd(a);
        if (rng.chance(0.1)) {
          const pseudo = rng.pick(['neg', 'negw', 'not', 'seqz', 'snez', 'sltz', 'sgtz', 'sext.w', 'mv']);
          this.emit(pseudo, [`${pseudo} x${d}, x${a}`]);
          return;
        }
        this.emit(op, [`${op} x${d}, x${a}, ${this.imm12()}`]);
        return;
      }
      case 'shift': {
        const word = rng.chance(0.4);
        const op = rng.pick(word ? ['slliw', 'srliw', 'sraiw'] : ['slli', 'srli', 'srai']);
        const a = this.x();
        const d = this.xd(a);
        const sh = rng.int(word ? 32 : 64);
        this.emit(op, [`${op} x${d}, x${a}, ${sh}`]);
        return;
      }
      case 'upper': {
        const op = rng.pick(['lui', 'auipc']);
        const imm = rng.chance(0.3) ? rng.pick([0, 1, 0x7ffff, 0x80000, 0xfffff]) : rng.int(0x100000);
        this.emit(op, [`${op} x${this.xd()}, ${hex(imm)}`]);
        return;
      }
      case 'li': {
        this.emit('li', [`li x${this.xd()}, ${hex(randomInt(rng))}`], false);
        return;
      }
      case 'mul':
      case 'div': {
        const op = rng.pick(cat === 'mul' ? MUL_OPS : DIV_OPS);
        const a = this.x();
        const b = rng.chance(0.1) ? a : this.x();
        this.emit(op, [`${op} x${this.xd(a)}, x${a}, x${b}`]);
        return;
      }
      case 'compressed':
        this.genCompressed();
        return;
      case 'load': {
        const [op, size] = rng.pick([
          ['lb', 1],
          ['lbu', 1],
          ['lh', 2],
          ['lhu', 2],
          ['lw', 4],
          ['lwu', 4],
          ['ld', 8],
        ] as const);
        const base = this.nonZeroBase();
        const { setup, offset } = this.scratchAddr(size, base);
        this.emit(op, [setup, `${op} x${this.xd(base)}, ${offset}(x${base})`]);
        return;
      }
      case 'store': {
        const [op, size] = rng.pick([
          ['sb', 1],
          ['sh', 2],
          ['sw', 4],
          ['sd', 8],
        ] as const);
        const base = this.nonZeroBase();
        const { setup, offset } = this.scratchAddr(size, base);
        this.emit(op, [setup, `${op} x${this.x()}, ${offset}(x${base})`]);
        return;
      }
      case 'fpMem': {
        const [op, size] = rng.pick([
          ['flw', 4],
          ['fld', 8],
          ['fsw', 4],
          ['fsd', 8],
        ] as const);
        const base = this.nonZeroBase();
        const { setup, offset } = this.scratchAddr(size, base);
        const reg = op.startsWith('fl') ? this.fd(size === 4 ? 's' : 'd') : this.f(size === 4 ? 's' : 'd');
        this.emit(op, [setup, `${op} f${reg}, ${offset}(x${base})`]);
        return;
      }
      case 'amo': {
        const w = rng.chance(0.5) ? 'w' : 'd';
        const size = w === 'w' ? 4 : 8;
        const op = `amo${rng.pick(AMO_OPS)}.${w}${rng.pick(ORDERING)}`;
        const base = this.nonZeroBase();
        const addr = rng.int(SCRATCH_BYTES / size) * size;
        this.emit(op, [`lla x${base}, scratch+${addr}`, `${op} x${this.xd()}, x${this.x()}, (x${base})`]);
        return;
      }
      case 'lrsc':
        this.genLrSc();
        return;
      case 'branch': {
        const op = rng.pick(BRANCHES);
        const dist = rng.range(0, 4);
        if (rng.chance(0.25)) {
          const z = rng.pick(['beqz', 'bnez', 'blez', 'bgez', 'bltz', 'bgtz']);
          const a = rng.chance(0.6) ? this.cx() : this.x();
          this.emit(z, [`${z} x${a}, ${this.forwardLabel(dist)}`]);
          return;
        }
        if (rng.chance(0.15)) {
          // Explicit compressed branch; the target stays well within its +-256 byte range.
          const z = rng.pick(['c.beqz', 'c.bnez']);
          this.emit(z, [`${z} x${this.cx()}, ${this.forwardLabel(rng.range(0, 2))}`], false);
          return;
        }
        const a = this.x();
        const b = rng.chance(0.2) ? a : this.x();
        this.emit(op, [`${op} x${a}, x${b}, ${this.forwardLabel(dist)}`]);
        return;
      }
      case 'jump':
        this.genJump();
        return;
      case 'fpArith': {
        const t: FType = rng.chance(0.5) ? 's' : 'd';
        if (rng.chance(0.2)) {
          const a = this.f(t);
          this.emit('fsqrt', [`fsqrt.${t} f${this.fd(t, a)}, f${a}${this.rm()}`]);
          return;
        }
        const op = rng.pick(['fadd', 'fsub', 'fmul', 'fdiv']);
        const a = this.f(t);
        const b = rng.chance(0.1) ? a : this.f(t);
        this.emit(op, [`${op}.${t} f${this.fd(t, a)}, f${a}, f${b}${this.rm()}`]);
        return;
      }
      case 'fpFma': {
        const t: FType = rng.chance(0.5) ? 's' : 'd';
        const op = rng.pick(['fmadd', 'fmsub', 'fnmsub', 'fnmadd']);
        const a = this.f(t);
        const b = this.f(t);
        const c = this.f(t);
        this.emit(op, [`${op}.${t} f${this.fd(t, a)}, f${a}, f${b}, f${c}${this.rm()}`]);
        return;
      }
      case 'fpCvt':
        this.genCvt();
        return;
      case 'fpCmp': {
        const t: FType = rng.chance(0.5) ? 's' : 'd';
        const op = rng.pick(['feq', 'flt', 'fle', 'fgt', 'fge']);
        const a = this.f(t);
        const b = rng.chance(0.15) ? a : this.f(t);
        this.emit(op, [`${op}.${t} x${this.xd()}, f${a}, f${b}`]);
        return;
      }
      case 'fpSgnj': {
        const t: FType = rng.chance(0.5) ? 's' : 'd';
        if (rng.chance(0.2)) {
          const op = rng.pick(['fmv', 'fneg', 'fabs']);
          const a = this.f(t);
          this.emit(op, [`${op}.${t} f${this.fd(t, a)}, f${a}`]);
          return;
        }
        const op = rng.pick(['fsgnj', 'fsgnjn', 'fsgnjx']);
        const a = this.f(t);
        const b = rng.chance(0.15) ? a : this.f(t);
        this.emit(op, [`${op}.${t} f${this.fd(t, a)}, f${a}, f${b}`]);
        return;
      }
      case 'fpMinMax': {
        const t: FType = rng.chance(0.5) ? 's' : 'd';
        const op = rng.pick(['fmin', 'fmax']);
        const a = this.f(t);
        const b = rng.chance(0.1) ? a : this.f(t);
        this.emit(op, [`${op}.${t} f${this.fd(t, a)}, f${a}, f${b}`]);
        return;
      }
      case 'fpClass': {
        const t: FType = rng.chance(0.5) ? 's' : 'd';
        this.emit('fclass', [`fclass.${t} x${this.xd()}, f${this.f(t)}`]);
        return;
      }
      case 'fpMove': {
        switch (rng.int(4)) {
          case 0:
            this.emit('fmv.x.w', [`fmv.x.w x${this.xd()}, f${this.f()}`]);
            return;
          case 1:
            this.emit('fmv.x.d', [`fmv.x.d x${this.xd()}, f${this.f()}`]);
            return;
          case 2:
            this.emit('fmv.w.x', [`fmv.w.x f${this.fd('s')}, x${this.x()}`]);
            return;
          default:
            this.emit('fmv.d.x', [`fmv.d.x f${this.fd('d')}, x${this.x()}`]);
            return;
        }
      }
      case 'fpConst': {
        // Reload an FP register with a fresh edge value mid-sequence, via an integer register.
        const tmp = this.x(false);
        const { bits, type } = randomFReg(rng);
        this.emit('fpconst', [`li x${tmp}, ${hex(bits)}`, `fmv.d.x f${this.fd(type)}, x${tmp}`], false);
        return;
      }
      case 'fpCsr':
        this.genFpCsr();
        return;
      case 'fence': {
        // The last entry is `pause`, which gas only accepts with Zihintpause in -march.
        const op = rng.pick([
          'fence',
          'fence.i',
          'fence rw, rw',
          'fence r, w',
          'fence.tso',
          'nop',
          insn32(0x0100000f),
          // With satp = 0 a no-op in M and S; illegal in U.
          `sfence.vma x${this.x()}, x${this.x()}`,
        ]);
        this.emit('fence', [op]);
        return;
      }
      case 'trap':
        this.genTrap();
        return;
      case 'accessFault':
        this.genAccessFault();
        return;
      case 'hint':
        this.genHint();
        return;
      case 'misaligned': {
        const [op, size] = rng.pick([
          ['lh', 2],
          ['lhu', 2],
          ['lw', 4],
          ['lwu', 4],
          ['ld', 8],
          ['sh', 2],
          ['sw', 4],
          ['sd', 8],
          ['flw', 4],
          ['fld', 8],
          ['fsw', 4],
          ['fsd', 8],
        ] as const);
        // Often across the middle of scratch, which is also a page boundary.
        let addr = rng.chance(0.4) ? rng.range(128 - size + 1, 127) : rng.int(SCRATCH_BYTES - size + 1);
        if (addr % size === 0) addr += 1;
        const base = this.nonZeroBase();
        const { setup, offset } = this.scratchAddr(size, base, addr);
        let reg: string;
        if (op === 'flw' || op === 'fld') reg = `f${this.fd(op === 'flw' ? 's' : 'd')}`;
        else if (op === 'fsw' || op === 'fsd') reg = `f${this.f()}`;
        else if (op.startsWith('l')) reg = `x${this.xd(base)}`;
        else reg = `x${this.x()}`;
        this.emit(`misaligned-${op}`, [setup, `${op} ${reg}, ${offset}(x${base})`]);
        return;
      }
      case 'smc':
        this.genSmc();
        return;
      case 'csr':
        this.genCsr();
        return;
      case 'vm':
        this.genVm();
        return;
    }
  }

  /**
   * Accesses through the translation window and megapages (page faults with their tval,
   * SUM/MXR), and PTE rewrites followed by sfence.vma (stale TLB entries).
   */
  private genVm(): void {
    const rng = this.rng;
    const base = this.nonZeroBase();
    const r = rng.int(10);
    if (r < 6) {
      const [op, size] = rng.pick([
        ['lb', 1],
        ['lhu', 2],
        ['lw', 4],
        ['ld', 8],
        ['sb', 1],
        ['sh', 2],
        ['sw', 4],
        ['sd', 8],
        ['fld', 8],
        ['fsw', 4],
        ['amoadd.w', 4],
        ['amoor.d', 8],
        ['lr.d', 8],
      ] as const);
      // Misaligned accesses stay inside one page pair, whose two pages share permissions.
      let a = rng.int(SCRATCH_BYTES / size) * size;
      if (rng.chance(0.15) && !op.startsWith('amo') && !op.startsWith('lr')) a = rng.range(120, 127);
      let setup: string[];
      if (rng.chance(0.75)) {
        const pair = rng.int(WINDOW_PAIRS);
        const page = 2 * pair + ((SCRATCH_PAGE_OFFSET + a) >> 12);
        const va = WINDOW_VA + page * 4096 + ((SCRATCH_PAGE_OFFSET + a) & 0xfff);
        setup = [`li x${base}, ${hex(va)}`];
      } else {
        // The scratch area seen through a megapage: same physical address, VA moved.
        let t = this.x(false);
        while (t === base) t = this.x(false);
        const mega = rng.pick(MEGA_VA);
        setup = [
          `lla x${base}, scratch+${a}`,
          `li x${t}, ${mega - 0x80000000}`,
          `add x${base}, x${base}, x${t}`,
        ];
      }
      let line: string;
      if (op.startsWith('amo')) line = `${op} x${this.xd()}, x${this.x()}, (x${base})`;
      else if (op === 'lr.d') {
        // A successful LR here would leave a reservation for a later lone SC (which must then
        // fail) to trip over, with the outcome depending on how the reservation is tracked
        // (virtual or physical address). Any SC invalidates it; this one's result is discarded.
        let t = this.x(false);
        while (t === base) t = this.x(false);
        this.emit('vm-lr.d', [
          ...setup,
          `lr.d x${this.xd()}, (x${base})`,
          `lla x${t}, resv_dummy`,
          `sc.d x0, x0, (x${t})`,
        ]);
        return;
      } else if (op === 'fld') line = `fld f${this.fd('d')}, 0(x${base})`;
      else if (op === 'fsw') line = `fsw f${this.f()}, 0(x${base})`;
      else if (op.startsWith('s')) line = `${op} x${this.x()}, 0(x${base})`;
      else line = `${op} x${this.xd()}, 0(x${base})`;
      this.emit(`vm-${op}`, [...setup, line]);
      return;
    }
    if (r < 8 && this.mode === 'S') {
      // Rewrite both PTEs of a pair: flip some of V/R/W/X/U (A/D stay set), then flush.
      const pair = rng.int(WINDOW_PAIRS);
      let v = this.x(false);
      while (v === base) v = this.x(false);
      const flip = rng.range(1, 31);
      const va = WINDOW_VA + 2 * pair * 4096;
      const flush = rng.pick([
        ['sfence.vma'],
        [`li x${v}, ${hex(va + rng.int(2) * 4096 + rng.int(4096))}`, `sfence.vma x${v}`],
        [`li x${v}, ${hex(va + rng.int(2) * 4096)}`, `sfence.vma x${v}, x0`],
        [`li x${v}, 0`, `sfence.vma x0, x${v}`],
      ]);
      // Touch the page first so a stale translation would be cached, when the old PTE allows it.
      this.emit('vm-pte', [
        `li x${base}, ${hex(va + SCRATCH_PAGE_OFFSET)}`,
        `lb x0, 0(x${base})`,
        `lla x${base}, l0_win+${16 * pair}`,
        `ld x${v}, 0(x${base})`,
        `xori x${v}, x${v}, ${flip}`,
        `sd x${v}, 0(x${base})`,
        `ld x${v}, 8(x${base})`,
        `xori x${v}, x${v}, ${flip}`,
        `sd x${v}, 8(x${base})`,
        ...flush,
      ]);
      return;
    }
    // SUM / MXR: writable through sstatus in S-mode, an illegal-instruction trap in U-mode.
    const bit = rng.pick([18, 19]);
    this.emit('vm-sstatus', [
      `li x${base}, ${hex(1 << bit)}`,
      `${rng.pick(['csrs', 'csrc'])} sstatus, x${base}`,
    ]);
  }

  /** HINT encodings: they must execute as no-ops, never trap. */
  private genHint(): void {
    const rng = this.rng;
    const bits6 = (): number => {
      const v = rng.int(64);
      return ((v >> 5) << 12) | ((v & 31) << 2);
    };
    const nz6 = (): number => {
      const v = rng.range(1, 63);
      return ((v >> 5) << 12) | ((v & 31) << 2);
    };
    const nzReg = (): number => rng.range(1, 31);
    if (rng.chance(0.6)) {
      const w = rng.pick([
        () => 0x0001 | nz6(), // c.nop with a non-zero immediate
        () => 0x0001 | (nzReg() << 7), // c.addi rd, 0
        () => 0x4001 | bits6(), // c.li x0
        () => 0x6001 | nz6(), // c.lui x0
        () => 0x8002 | (nzReg() << 2), // c.mv x0, rs2
        () => 0x9002 | (nzReg() << 2), // c.add x0, rs2
        () => 0x0002 | bits6(), // c.slli x0
        () => 0x0002 | (nzReg() << 7), // c.slli rd, 0
        () => 0x8001 | (rng.int(8) << 7), // c.srli rd', 0
        () => 0x8401 | (rng.int(8) << 7), // c.srai rd', 0
      ])();
      this.emit('hint-c', [insn16(w)], false);
      return;
    }
    const r = (): number => rng.int(32);
    const w = rng.pick([
      () => ((rng.range(1, 4095) << 20) | (r() << 15) | 0x13) >>> 0, // addi x0, rs1, imm
      () => ((rng.u32() & 0xfffff000) | 0x37) >>> 0, // lui x0
      () => ((rng.u32() & 0xfffff000) | 0x17) >>> 0, // auipc x0
      () => {
        // add/sub/sll/slt/sltu/xor/srl/sra/or/and x0, rs1, rs2
        const f3 = rng.int(8);
        const f7 = (f3 === 0 || f3 === 5) && rng.chance(0.5) ? 0x20 : 0;
        return encR(0x33, f3, f7, 0, r(), r());
      },
      // FENCE with arbitrary fm/pred/succ/rs1/rd: reserved fields must be ignored.
      () => ((rng.u32() & 0xffff8000) | (r() << 7) | 0x0f) >>> 0,
      // FENCE.I with non-zero imm/rs1/rd, likewise.
      () => ((rng.u32() & 0xffff8000) | (1 << 12) | (r() << 7) | 0x0f) >>> 0,
    ])();
    this.emit('hint', [insn32(w)], false);
  }

  /**
   * Self-modifying code: a two-pass loop runs an instruction, overwrites it (fence.i makes the
   * store visible to fetch) and runs the new one. Stale pre-decoded code shows up here.
   */
  private genSmc(): void {
    const rng = this.rng;
    const counter = this.x(false);
    let addrReg = this.x(false);
    while (addrReg === counter) addrReg = this.x(false);
    let valReg = this.x(false);
    while (valReg === counter || valReg === addrReg) valReg = this.x(false);
    const dest = (): number => {
      let d = this.x(false);
      while (d === counter) d = this.x(false);
      return d;
    };
    const src = (): number => this.x();
    const alu32 = (): number => {
      switch (rng.int(5)) {
        case 0:
          return (((rng.range(-2048, 2047) & 0xfff) << 20) | (src() << 15) | (dest() << 7) | 0x13) >>> 0; // addi
        case 1:
          return encR(0x33, rng.pick([0, 4, 6, 7]), 0, dest(), src(), src()); // add/xor/or/and
        case 2:
          return encR(0x33, 0, 0x20, dest(), src(), src()); // sub
        case 3:
          return encR(0x33, rng.int(8), 1, dest(), src(), src()); // M extension
        default:
          return encR(0x3b, 0, rng.pick([0, 0x20]), dest(), src(), src()); // addw/subw
      }
    };
    const cPair = (): number => {
      // Two 16-bit instructions in one 32-bit slot: c.addi rd, nzimm and c.mv rd, rs2.
      const imm = rng.range(1, 31);
      const a = 0x0001 | (dest() << 7) | (imm << 2);
      const b = 0x8002 | (dest() << 7) | (rng.range(1, 31) << 2);
      return ((b << 16) | a) >>> 0;
    };
    const original = rng.chance(0.25) ? cPair() : alu32();
    const patched = rng.chance(0.25) ? cPair() : alu32();
    const slot =
      (original & 3) === 3 ? [insn32(original)] : [insn16(original & 0xffff), insn16(original >>> 16)];
    if (rng.chance(0.3)) {
      // Straight line: patch an instruction that has not run yet.
      this.emit('smc-fwd', [
        `lla x${addrReg}, 8f`,
        `li x${valReg}, ${hex(patched)}`,
        `sw x${valReg}, 0(x${addrReg})`,
        'fence.i',
        '.balign 4',
        '8:',
        ...slot,
      ]);
      return;
    }
    this.emit('smc-loop', [
      `li x${counter}, 2`,
      '7:',
      '.balign 4',
      '8:',
      ...slot,
      `lla x${addrReg}, 8b`,
      `li x${valReg}, ${hex(patched)}`,
      `sw x${valReg}, 0(x${addrReg})`,
      'fence.i',
      `addi x${counter}, x${counter}, -1`,
      `bnez x${counter}, 7b`,
    ]);
  }

  /** Read/write CSRs whose contents are fully specified for the values written here. */
  private genCsr(): void {
    const rng = this.rng;
    const csr = rng.pick(['sscratch', 'sepc', 'mepc', 'stval', 'mtval']);
    const a = this.x(false);
    let d = this.xd();
    // *epc and *tval need only hold valid addresses (WARL), so write small or canonical ones.
    let value: bigint;
    if (csr === 'sscratch') value = randomInt(rng);
    else {
      value = BigInt(rng.u32()) | (BigInt(rng.int(64)) << 32n);
      if (rng.chance(0.3)) value = u64(-value);
    }
    let second = rng.chance(0.5) ? randomInt(rng) & 0xffffn : value;
    if (csr.endsWith('epc')) {
      // mepc[0]/sepc[0] are always zero per the ISA, but QEMU 7.2 stores and returns bit 0;
      // writing only even values keeps that QEMU deviation out of the comparison.
      value &= ~1n;
      second &= ~1n;
    }
    if (d === a) d = 0;
    const op = rng.pick(['csrrw', 'csrrs', 'csrrc']);
    this.emit('csr', [
      `li x${a}, ${hex(value)}`,
      `csrw ${csr}, x${a}`,
      `li x${a}, ${hex(second)}`,
      `${op} x${d}, ${csr}, x${a}`,
      `csrr x${this.xd()}, ${csr}`,
    ]);
  }

  private genCompressed(): void {
    const rng = this.rng;
    const d = this.x(false);
    const cd = this.cx();
    const nz6 = (): number => {
      const v = rng.range(-32, 30);
      return v >= 0 ? v + 1 : v;
    };
    const lines: string[] = [];
    switch (rng.int(17)) {
      case 0:
        lines.push(`c.li x${d}, ${rng.range(-32, 31)}`);
        break;
      case 1: {
        let r = d;
        if (r === 2) r = 1;
        const imm = rng.chance(0.5) ? rng.range(1, 31) : rng.range(0xfffe0, 0xfffff);
        lines.push(`c.lui x${r}, ${hex(imm)}`);
        break;
      }
      case 2:
        lines.push(`c.addi x${d}, ${nz6()}`);
        break;
      case 3:
        lines.push(`c.addiw x${d}, ${rng.range(-32, 31)}`);
        break;
      case 4: {
        let v = rng.range(-32, 30);
        if (v >= 0) v++;
        lines.push(`c.addi16sp sp, ${v * 16}`);
        break;
      }
      case 5:
        lines.push(`c.addi4spn x${cd}, sp, ${rng.range(1, 255) * 4}`);
        break;
      case 6:
        lines.push(`c.slli x${d}, ${rng.range(1, 63)}`);
        break;
      case 7:
        lines.push(`${rng.pick(['c.srli', 'c.srai'])} x${cd}, ${rng.range(1, 63)}`);
        break;
      case 8:
        lines.push(`c.andi x${cd}, ${rng.range(-32, 31)}`);
        break;
      case 9:
        lines.push(`${rng.pick(['c.mv', 'c.add'])} x${d}, x${this.x(false)}`);
        break;
      case 10:
        lines.push(
          `${rng.pick(['c.and', 'c.or', 'c.xor', 'c.sub', 'c.addw', 'c.subw'])} x${cd}, x${this.cx()}`,
        );
        break;
      case 11: {
        // Register-based compressed loads/stores: both registers in x8-x15, scaled offsets.
        const [op, size] = rng.pick([
          ['c.lw', 4],
          ['c.ld', 8],
          ['c.sw', 4],
          ['c.sd', 8],
          ['c.fld', 8],
          ['c.fsd', 8],
        ] as const);
        const base = this.cx();
        const off = rng.int((size === 4 ? 128 : 256) / size) * size;
        let reg = `x${this.cx()}`;
        if (op.includes('f')) {
          const fr = this.rng.range(8, 15);
          if (op === 'c.fld') this.ftype[fr] = 'd';
          reg = `f${fr}`;
        }
        this.emit(op, [`lla x${base}, scratch`, `${op} ${reg}, ${off}(x${base})`], false);
        return;
      }
      case 12: {
        const [op, size] = rng.pick([
          ['c.lwsp', 4],
          ['c.ldsp', 8],
          ['c.swsp', 4],
          ['c.sdsp', 8],
          ['c.fldsp', 8],
          ['c.fsdsp', 8],
        ] as const);
        const off = rng.int(SCRATCH_BYTES / size) * size;
        let reg: string;
        if (op === 'c.fldsp') reg = `f${this.fd('d')}`;
        else if (op === 'c.fsdsp') reg = `f${this.f('d')}`;
        else if (op.startsWith('c.l')) reg = `x${d}`;
        else reg = `x${this.x()}`;
        this.emit(op, ['lla sp, scratch', `${op} ${reg}, ${off}(sp)`], false);
        return;
      }
      case 13:
        lines.push('c.nop');
        break;
      case 14:
        lines.push(`c.addi x${d}, ${nz6()}`, `c.slli x${d}, ${rng.range(1, 63)}`);
        break;
      case 15: {
        // 16-bit integer ops that gas chooses itself when rd == rs1.
        const op = rng.pick(['add', 'and', 'or', 'xor', 'sub', 'addw', 'subw']);
        lines.push(`${op} x${cd}, x${cd}, x${this.cx()}`);
        break;
      }
      default:
        lines.push(`addi x${d}, x${d}, ${rng.range(-32, 31)}`);
        break;
    }
    this.emit('compressed', lines, false);
  }

  private genLrSc(): void {
    const rng = this.rng;
    const w = rng.chance(0.5) ? 'w' : 'd';
    const size = w === 'w' ? 4 : 8;
    const base = this.nonZeroBase();
    const addr = rng.int(SCRATCH_BYTES / size) * size;
    const lines = [`lla x${base}, scratch+${addr}`];
    if (rng.chance(0.15)) {
      // No reservation is outstanding here, so this SC must fail and leave memory alone.
      lines.push(`sc.${w}${rng.pick(ORDERING)} x${this.xd()}, x${this.x()}, (x${base})`);
      this.emit('sc-alone', lines, false);
      return;
    }
    let lrd = this.xd();
    if (lrd === base) lrd = 0;
    lines.push(`lr.${w}${rng.pick(ORDERING)} x${lrd}, (x${base})`);
    const between = rng.int(3);
    for (let i = 0; i < between; i++) {
      let d = this.xd();
      if (d === base) d = 0;
      const op = rng.pick(['add', 'xor', 'sub', 'mul', 'or', 'sltu']);
      lines.push(`${op} x${d}, x${lrd}, x${this.x()}`);
    }
    // The SC result must not replace the address a second SC would use.
    let scd = this.xd();
    if (scd === base) scd = 0;
    lines.push(`sc.${w}${rng.pick(ORDERING)} x${scd}, x${rng.chance(0.3) ? lrd : this.x()}, (x${base})`);
    if (rng.chance(0.25)) {
      // The first SC consumed the reservation, whatever its outcome: a second one must fail.
      lines.push(`sc.${w} x${this.xd()}, x${this.x()}, (x${base})`);
    }
    this.emit('lrsc', lines, false);
  }

  private genJump(): void {
    const rng = this.rng;
    const dist = rng.range(0, 4);
    switch (rng.int(6)) {
      case 0:
        this.emit('j', [`j ${this.forwardLabel(dist)}`]);
        return;
      case 1:
        this.emit('jal', [`jal x${this.xd()}, ${this.forwardLabel(dist)}`]);
        return;
      case 2:
        this.emit('c.j', [`c.j ${this.forwardLabel(rng.range(0, 2))}`], false);
        return;
      case 3: {
        const t = this.x(false);
        const off = rng.pick([0, 0, 4, -8, 2046, -2048]);
        const label = this.forwardLabel(dist);
        this.emit('jalr', [
          `lla x${t}, ${label}${off > 0 ? '-' : '+'}${Math.abs(off)}`,
          `jalr x${this.xd(t)}, ${off}(x${t})`,
        ]);
        return;
      }
      case 4: {
        // jalr ignores bit 0 of the computed target.
        const t = this.x(false);
        const label = this.forwardLabel(dist);
        this.emit('jalr-odd', [`lla x${t}, ${label}+1`, `jalr x${this.xd(t)}, 0(x${t})`]);
        return;
      }
      default: {
        const t = this.x(false);
        const label = this.forwardLabel(dist);
        const op = rng.pick(['c.jr', 'c.jalr', 'jr', 'jalr']);
        this.emit(op, [`lla x${t}, ${label}`, `${op} x${t}`], !op.startsWith('c.'));
        return;
      }
    }
  }

  private genCvt(): void {
    const rng = this.rng;
    const ints = ['w', 'wu', 'l', 'lu'];
    switch (rng.int(5)) {
      case 0:
      case 1: {
        const t: FType = rng.chance(0.5) ? 's' : 'd';
        const i = rng.pick(ints);
        this.emit(`fcvt.${i}.${t}`, [`fcvt.${i}.${t} x${this.xd()}, f${this.f(t)}${this.rm()}`]);
        return;
      }
      case 2: {
        const t: FType = rng.chance(0.5) ? 's' : 'd';
        const i = rng.pick(ints);
        const src = this.x();
        if (t === 'd' && (i === 'w' || i === 'wu')) {
          // Exact conversion: gas refuses a rounding mode, yet the field exists and must be
          // accepted for every valid value; encode it by hand.
          const rd = this.fd('d');
          this.emit(`fcvt.d.${i}`, [insn32(encR(0x53, this.rmNum(), 0x69, rd, src, i === 'w' ? 0 : 1))]);
          return;
        }
        this.emit(`fcvt.${t}.${i}`, [`fcvt.${t}.${i} f${this.fd(t)}, x${src}${this.rm()}`]);
        return;
      }
      case 3: {
        const a = this.f('d');
        this.emit('fcvt.s.d', [`fcvt.s.d f${this.fd('s', a)}, f${a}${this.rm()}`]);
        return;
      }
      default: {
        const a = this.f('s');
        const rd = this.fd('d', a);
        if (rng.chance(0.5)) this.emit('fcvt.d.s', [`fcvt.d.s f${rd}, f${a}`]);
        else this.emit('fcvt.d.s', [insn32(encR(0x53, this.rmNum(), 0x21, rd, a, 0))]);
        return;
      }
    }
  }

  private genFpCsr(): void {
    const rng = this.rng;
    const d = this.xd();
    const s = this.x();
    const csr = rng.pick(['fflags', 'frm', 'fcsr']);
    let lines: string[];
    switch (rng.int(9)) {
      case 0:
        lines = [`frcsr x${d}`];
        break;
      case 1:
        lines = [`fscsr x${d}, x${s}`];
        break;
      case 2:
        lines = [`frflags x${d}`];
        break;
      case 3:
        lines = [`fsflags x${d}, x${s}`];
        break;
      case 4:
        lines = [`fsflagsi x${d}, ${rng.int(32)}`];
        break;
      case 5:
        lines = [`frrm x${d}`];
        break;
      case 6:
        lines = [`fsrmi x${d}, ${rng.chance(0.85) ? rng.int(5) : rng.range(5, 7)}`];
        break;
      case 7:
        lines = [`${rng.pick(['csrrs', 'csrrc', 'csrrw'])} x${d}, ${csr}, x${s}`];
        break;
      default:
        lines = [`${rng.pick(['csrrsi', 'csrrci', 'csrrwi'])} x${d}, ${csr}, ${rng.int(32)}`];
        break;
    }
    // A register value may have left frm invalid (5-7), which makes every dynamic-rounding op
    // trap; usually restore a valid mode so that the rest of the sequence still does FP work.
    if (rng.chance(0.7)) lines.push(`fsrmi ${rng.int(5)}`);
    this.emit('fpcsr', lines);
  }

  private genTrap(): void {
    const rng = this.rng;
    const r = () => rng.int(32);
    if (this.mode !== 'M' && rng.chance(0.15)) {
      // Instructions and CSRs above the current privilege level. mcounteren is 0, so the
      // counters are out of reach below M too (and in M they are never read: not deterministic).
      // No wfi: in U-mode it may trap or complete, the implementation's choice.
      const ops =
        this.mode === 'U'
          ? ['sret', 'mret', `csrr x${r()}, sscratch`, `csrr x${r()}, cycle`, `csrr x${r()}, time`]
          : [
              'mret',
              `csrr x${r()}, mscratch`,
              `csrr x${r()}, instret`,
              `csrr x${r()}, time`,
              `csrw mtvec, x${r()}`,
            ];
      this.emit('privileged', [rng.pick(ops)]);
      return;
    }
    switch (rng.int(14)) {
      case 0:
        this.emit('ecall', ['ecall']);
        return;
      case 1:
        this.emit('ebreak', [rng.chance(0.5) ? 'ebreak' : 'c.ebreak'], false);
        return;
      case 2: {
        // Reserved compressed encodings (c.illegal, c.addi4spn/c.lui/c.addi16sp with a zero
        // immediate, c.lwsp/c.ldsp with rd = x0, c.jr with rs1 = x0).
        const w = rng.pick([
          0x0000,
          0x0004 | (rng.range(1, 7) << 2),
          0x6001 | (5 << 7),
          0x6101,
          0x4002,
          0x6002,
          0x8002,
        ]);
        this.emit('illegal-c', [insn16(w)], false);
        return;
      }
      case 3: {
        // custom-0..3 major opcodes: nothing of RV64GC lives there.
        const opcode = rng.pick([0x0b, 0x2b, 0x5b, 0x7b]);
        this.emit('illegal-custom', [insn32((rng.u32() & ~0x7f) | opcode)], false);
        return;
      }
      case 4: {
        // A rounding-mode field holding a reserved value (5 or 6).
        const t = rng.int(2);
        const funct7 = rng.pick([0x00, 0x04, 0x08, 0x0c]) | t;
        this.emit('illegal-rm', [insn32(encR(0x53, rng.range(5, 6), funct7, r(), r(), r()))], false);
        return;
      }
      case 5: {
        // Dynamic rounding with frm holding a reserved value; frm is put back afterwards.
        const t = rng.chance(0.5) ? 's' : 'd';
        const a = this.f();
        this.emit('illegal-frm', [
          `fsrmi ${rng.range(5, 7)}`,
          `fadd.${t} f${this.fd(t)}, f${a}, f${this.f()}, dyn`,
          `fsrmi ${rng.int(5)}`,
        ]);
        return;
      }
      case 6: {
        // Half- and quad-precision formats are not part of RV64GC.
        const fmt = rng.pick([2, 3]);
        const funct7 = rng.pick([0x00, 0x04, 0x08, 0x0c, 0x10]) | fmt;
        this.emit('illegal-fmt', [insn32(encR(0x53, rng.int(3), funct7, r(), r(), r()))], false);
        return;
      }
      case 7: {
        // slliw/srliw/sraiw with shamt[5] set; OP-32 with an unassigned funct7.
        const w =
          rng.int(2) === 0
            ? encR(0x1b, rng.pick([1, 5]), rng.pick([0x01, 0x21]), r(), r(), r())
            : encR(0x3b, rng.pick([0, 1, 5]), 0x7f, r(), r(), r());
        this.emit('illegal-op32', [insn32(w)], false);
        return;
      }
      case 8: {
        // Writes to read-only CSRs, and a CSR number nothing implements. csrrs/csrrc with
        // rs1 != x0 count as writes whatever the register holds, but QEMU 7.2 only traps when
        // the value is non-zero, so the source register is given a non-zero value first.
        const src = rng.range(1, 31);
        const lines = rng.pick([
          [`csrw mhartid, x${r()}`],
          [
            `li x${src}, ${rng.range(1, 2047)}`,
            `${rng.pick(['csrrs', 'csrrc'])} x${r()}, mvendorid, x${src}`,
          ],
          [`csrrwi x${r()}, marchid, 0`],
          [`csrr x${r()}, 0x8ff`],
          [`csrr x${r()}, 0x7ff`],
        ]);
        this.emit('illegal-csr', lines);
        return;
      }
      case 9:
      case 10: {
        // Misaligned AMO: address-misaligned or access fault, never performed.
        const w = rng.chance(0.5) ? 'w' : 'd';
        const size = w === 'w' ? 4 : 8;
        const base = this.nonZeroBase();
        const addr = rng.int(SCRATCH_BYTES / size - 1) * size + rng.range(1, size - 1);
        this.emit('amo-misaligned', [
          `lla x${base}, scratch+${addr}`,
          `amo${rng.pick(AMO_OPS)}.${w} x${this.xd()}, x${this.x()}, (x${base})`,
        ]);
        return;
      }
      case 11: {
        const w = rng.chance(0.5) ? 'w' : 'd';
        const size = w === 'w' ? 4 : 8;
        const base = this.nonZeroBase();
        const addr = rng.int(SCRATCH_BYTES / size - 1) * size + rng.range(1, size - 1);
        // A misaligned LR traps and so takes no reservation: an SC after it must fail. That SC
        // goes to an aligned address: QEMU 7.2 checks the reservation before alignment, so a
        // misaligned SC just fails there, where the ISA requires a misaligned/access trap.
        let rd = this.xd();
        if (rd === base) rd = 0;
        const base2 = this.nonZeroBase();
        this.emit('lr-misaligned', [
          `lla x${base}, scratch+${addr}`,
          `lr.${w} x${rd}, (x${base})`,
          `lla x${base2}, scratch+${addr - (addr % size)}`,
          `sc.${w} x${this.xd()}, x${this.x()}, (x${base2})`,
        ]);
        return;
      }
      case 12: {
        // OP-FP encodings that RV64GC leaves unassigned: free funct7 values, and reserved
        // funct3/rs2 sub-fields of assigned ones.
        const t = rng.int(2);
        let w: number;
        switch (rng.int(6)) {
          case 0:
            w = encR(0x53, rng.int(5), rng.pick([0x18, 0x24, 0x30, 0x3c, 0x4c, 0x7c]) | t, r(), r(), r());
            break;
          case 1:
            w = encR(0x53, rng.int(5), 0x2c | t, r(), r(), rng.range(1, 31)); // fsqrt, rs2 != 0
            break;
          case 2:
            w = encR(0x53, rng.int(5), rng.pick([0x60, 0x68]) | t, r(), r(), rng.range(4, 31)); // fcvt int
            break;
          case 3:
            w = encR(0x53, rng.range(3, 7), rng.pick([0x10, 0x50]) | t, r(), r(), r()); // fsgnj, fcmp
            break;
          case 4:
            w = encR(0x53, rng.range(2, 7), rng.pick([0x14, 0x70, 0x78]) | t, r(), r(), 0); // fmin, fmv, fclass
            break;
          default:
            w = encR(0x53, rng.int(5), 0x20 | t, r(), r(), rng.pick([0, 4, 5, 6, 7, 12, 31]) ^ t); // fcvt.s.d/d.s
            break;
        }
        this.emit('illegal-opfp', [insn32(w)], false);
        return;
      }
      default: {
        // fence.i / fence with reserved bits are hints, not traps; use a MISC-MEM funct3 with no
        // instruction instead.
        this.emit(
          'illegal-miscmem',
          [insn32(encR(0x0f, rng.pick([3, 4, 5, 6, 7]), rng.int(128), r(), r(), r()))],
          false,
        );
        return;
      }
    }
  }

  private genAccessFault(): void {
    const rng = this.rng;
    // The page at physical address 0 is empty on QEMU's spike machine and on Typervisor's.
    const base = this.nonZeroBase();
    const [op, size] = rng.pick([
      ['ld', 8],
      ['lw', 4],
      ['lbu', 1],
      ['sd', 8],
      ['sb', 1],
      ['fld', 8],
      ['fsw', 4],
      ['amoadd.d', 8],
      ['lr.d', 8],
    ] as const);
    const addr = rng.int(512 / size) * size;
    let line: string;
    if (op.startsWith('amo')) line = `${op} x${this.xd()}, x${this.x()}, (x${base})`;
    else if (op.startsWith('lr')) line = `${op} x${this.xd()}, (x${base})`;
    else if (op === 'fld') line = `fld f${this.fd('d')}, 0(x${base})`;
    else if (op === 'fsw') line = `fsw f${this.f()}, 0(x${base})`;
    else if (op.startsWith('s')) line = `${op} x${this.x()}, 0(x${base})`;
    else line = `${op} x${this.xd()}, 0(x${base})`;
    this.emit(`fault-${op}`, [`li x${base}, ${hex(addr)}`, line]);
  }

  /** A jump to an address with no memory: the fetch fault cannot be resumed, ending the sequence. */
  fetchFault(): void {
    const t = this.x(false);
    this.emit('fetch-fault', [`li x${t}, ${hex(this.rng.int(64) * 4)}`, `jalr x${this.xd()}, 0(x${t})`]);
  }
}

function bitsToF64(bits: bigint): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setBigUint64(0, bits, true);
  return dv.getFloat64(0, true);
}

function bitsToF32(bits: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, bits >>> 0, true);
  return dv.getFloat32(0, true);
}

/**
 * A value related to another register's: its negation, a neighbour a few ulps away, or a
 * partner whose product with it lands next to the underflow or overflow threshold. Independent
 * random operands almost never produce these cases (tininess after rounding, cancellation).
 */
function relatedValue(rng: Rng, bits: bigint, type: FType): bigint {
  const single = type === 's';
  const raw = single ? Number(bits & 0xffffffffn) : 0;
  const x = single ? bitsToF32(raw) : bitsToF64(bits);
  const box = (v: number): bigint => BOX | BigInt(v >>> 0);
  const pack = (v: number): bigint => (single ? box(f32Bits(v)) : f64Bits(v));
  const nudge = (b: bigint): bigint => {
    const d = rng.range(-3, 3);
    return single ? box((Number(b & 0xffffffffn) + d) >>> 0) : u64(b + BigInt(d));
  };
  switch (rng.int(5)) {
    case 0:
      return single ? box((raw ^ 0x80000000) >>> 0) : bits ^ (1n << 63n);
    case 1:
      return nudge(bits);
    case 2:
    case 3: {
      if (!Number.isFinite(x) || x === 0) return bits;
      const minExp = single ? -126 : -1022;
      const maxExp = single ? 127 : 1023;
      const target =
        rng.int(5) < 2 + (rng.int(4) === 0 ? 0 : 1)
          ? 2 ** (minExp + rng.range(-2, 1)) * (1 + rng.u32() / 2 ** 40)
          : 2 ** maxExp * (2 - rng.u32() / 2 ** 40);
      const y = (rng.chance(0.5) ? target : -target) / x;
      if (!Number.isFinite(y) || y === 0) return bits;
      return nudge(pack(y));
    }
    default:
      // Opposite sign, nearly the same magnitude: addition cancels.
      return nudge(single ? box((raw ^ 0x80000000) >>> 0) : bits ^ (1n << 63n));
  }
}

function scaleWeights(rng: Rng, base: Record<Category, number>): Record<Category, number> {
  const out = { ...base };
  // Vary the mix per sequence: sometimes one group dominates, every weight wobbles.
  const focus = rng.chance(0.35) ? rng.pick(FOCUS_GROUPS) : [];
  for (const k of Object.keys(out) as Category[]) {
    if (out[k] <= 0) continue;
    out[k] *= 0.25 + (rng.u32() / 0x100000000) * 1.5;
    if (focus.includes(k)) out[k] *= 6;
  }
  return out;
}

export function generateInit(rng: Rng): { init: InitState; ftypes: FType[] } {
  const x: bigint[] = [0n];
  for (let i = 1; i < 32; i++) x.push(randomInt(rng));
  const f: bigint[] = [];
  const ftypes: FType[] = [];
  for (let i = 0; i < 32; i++) {
    const { bits, type } = randomFReg(rng);
    f.push(bits);
    ftypes.push(type);
  }
  for (let i = 0; i < 32; i++) {
    if (!rng.chance(0.3)) continue;
    const j = rng.int(32);
    if (j !== i && ftypes[j] === ftypes[i]) f[i] = relatedValue(rng, f[j], ftypes[j]);
  }
  const frm = rng.chance(0.97) ? rng.int(5) : rng.range(5, 7);
  const flags = rng.chance(0.7) ? 0 : rng.int(32);
  const mem = new Uint8Array(SCRATCH_BYTES);
  const dv = new DataView(mem.buffer);
  for (let off = 0; off < SCRATCH_BYTES; off += 8) {
    const r = rng.int(4);
    const v =
      r === 0
        ? randomInt(rng)
        : r === 1
          ? randomF64(rng)
          : r === 2
            ? BOX | BigInt(randomF32(rng))
            : rng.u64();
    dv.setBigUint64(off, v, true);
  }
  return { init: { x, f, fcsr: (frm << 5) | flags, mem }, ftypes };
}

/** Deterministic: the same (seed, index, options) always gives the same sequence. */
export function generateSequence(seed: string, index: number, opts: GenOptions): Sequence {
  const rng = new Rng(`${seed}#${index}`);
  const weights = scaleWeights(rng, { ...DEFAULT_WEIGHTS, ...opts.weights });
  const { init, ftypes } = generateInit(rng);
  const mode = opts.mode ?? (rng.chance(0.6) ? 'M' : rng.chance(0.5) ? 'S' : 'U');
  const vm = mode !== 'M' && rng.chance(0.6);
  if (!vm) weights.vm = 0;
  const gen = new SeqGen(rng, weights, mode);
  gen.initFTypes(ftypes);
  const length = Math.max(1, Math.round(opts.length * (0.5 + rng.u32() / 0x100000000)));
  for (let i = 0; i < length; i++) gen.step();
  if ((opts.weights?.accessFault ?? DEFAULT_WEIGHTS.accessFault) > 0 && rng.chance(0.03)) gen.fetchFault();
  const seq: Sequence = { id: `${seed}#${index}`, items: gen.finish(), init, mode };
  if (vm) {
    seq.vm = true;
    seq.sum = rng.chance(0.5);
    seq.mxr = rng.chance(0.5);
  }
  // Start some sequences just below a page boundary, so that instructions straddling two pages
  // (fetch, decode caches, mtval) are exercised routinely.
  if (rng.chance(0.1)) seq.pageOffset = 4096 - 2 * rng.range(1, 48);
  return seq;
}
