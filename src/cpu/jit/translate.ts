/**
 * Translates a region (region.ts) into one WebAssembly module with one exported function,
 * `run(entryBlock) -> exit code`, that executes the region's blocks on the hart's state in place.
 *
 * Contract with the runtime (jit.ts), all through the hart's state memory (state-layout.ts):
 * - On entry: the pc scalar holds the pc of the entry block (its page's virtual base is pc & ~4095),
 *   the budget scalar how many instructions may run, the TLB-set scalar the current privilege's TLBs.
 * - Integer registers live in i64 locals, loaded on entry and written back on exit. The budget is
 *   taken per block before it runs; a block that does not fit exits before its first instruction, so
 *   the budget is never overrun and instret is exact at every exit.
 * - On exit: the pc scalar holds the next pc, the budget scalar what is left; the result is EXIT_NEXT
 *   (continue at pc), EXIT_JUMP (pc is an indirect target the runtime must check) or EXIT_STOP.
 * - Loads and stores look up the same software TLB as the interpreter, inline. On a miss (page walk,
 *   device, misaligned, PMP) an integer load or store leaves the region before it (EXIT_STOP) and the
 *   interpreter runs it; FP loads and stores call the interpreter's slow path through an imported
 *   helper with the access's position and the budget at it. A trap there is taken by the helper, which
 *   returns; the region then leaves (EXIT_TRAP) writing its registers back, which the trap did not
 *   change, so the state is exactly what the interpreter would have left.
 * - Pages holding decoded code never have fast store TLB entries (see Hart.translate), so compiled
 *   stores into code always take the slow path, which invalidates what they overwrite.
 */
import { MSTATUS_FS, MSTATUS_HI_SD } from '../constants.js';
import {
  CSR_FCSR,
  CSR_FFLAGS,
  CSR_FRM,
  CSR_MCAUSE,
  CSR_MCOUNTEREN,
  CSR_MEDELEG,
  CSR_MEPC,
  CSR_MIDELEG,
  CSR_MIE,
  CSR_MIP,
  CSR_MSCRATCH,
  CSR_MSTATUS,
  CSR_MTVAL,
  CSR_MTVEC,
  CSR_SCAUSE,
  CSR_SCOUNTEREN,
  CSR_SEPC,
  CSR_SIE,
  CSR_SIP,
  CSR_SSCRATCH,
  CSR_SSTATUS,
  CSR_STVAL,
  CSR_STVEC,
} from '../csr-numbers.js';
import { FpOp } from '../fp-ops.js';
import { Amo, Op } from '../opcodes.js';
import {
  CSR_BYTE,
  F_REGS_BYTE,
  RAM_BYTE,
  SCALAR_BUDGET,
  SCALAR_HELPER_HI,
  SCALAR_HELPER_TRAPPED,
  SCALAR_PC_LO,
  SCALAR_TLB_SET,
  TLB_BYTE,
  TLB_ENTRIES,
  X_SINK,
} from '../state-layout.js';
import { BY_HELPER, isBranch, type Region, SLOTS_PER_PAGE, slotLength, staticTarget } from './region.js';
import { type ByteWriter, I32, I64, ModuleBuilder, VOID, W } from './wasm-encoder.js';

export const EXIT_NEXT = 0;
export const EXIT_JUMP = 1;
/** A helper took a trap: the hart's pc is the handler's; the budget scalar is as before the access. */
export const EXIT_TRAP = 2;
/**
 * Left for the runtime to look at before anything runs on: a helper asked to stop (a yield, a store
 * into the running region, a write that changes fetching), or the instruction at pc must be run by the
 * interpreter (an FP operation that traps). Regions never chain past it (chain.ts).
 */
export const EXIT_STOP = 3;
/** What the store helper returns besides 0 (carry on). */
export const STORE_STOP = 1;
export const STORE_TRAPPED = 2;

/** Bytes of one TLB (tag lo, tag hi, RAM offset arrays of TLB_ENTRIES int32 each). */
const TLB_STRIDE = 3 * 4 * TLB_ENTRIES;
const TAG_HI = 4 * TLB_ENTRIES;
const TLB_OFF = 8 * TLB_ENTRIES;
const ACCESS_LOAD = 1;
const ACCESS_STORE = 2;

const PC_BYTE = SCALAR_PC_LO * 4;
const BUDGET_BYTE = SCALAR_BUDGET * 4;
const TLB_SET_BYTE = SCALAR_TLB_SET * 4;
const HELPER_HI_BYTE = SCALAR_HELPER_HI * 4;
const HELPER_TRAPPED_BYTE = SCALAR_HELPER_TRAPPED * 4;

// Fixed locals (param 0 is the entry block index).
const L_ENTRY = 0;
const L_N = 1;
const L_NEXT = 2;
const L_VBASE = 3;
const L_TLB_LOAD = 4;
const L_TLB_STORE = 5;
const L_EXIT_PC = 6;
const L_CODE = 7;
const L_EA = 8;
const L_LO = 9;
const L_HI = 10;
const L_ENT = 11;
const FIXED_LOCALS: number[] = [I32, I32, I64, I32, I32, I64, I32, I64, I32, I32, I32];

/** Function indices a region's code calls. */
interface RegionFunctions {
  mulhu: number;
  load: number;
  store: number;
  fp: number;
  rare: number;
}

/** What the rare-instruction helper returns: carry on, leave after it, or it trapped. */
export const HELPER_CONTINUE = 0;
export const HELPER_STOP = 1;
export const HELPER_TRAPPED = 2;

/**
 * CSRs whose writes compiled code can run past: they change nothing about how the next instruction
 * is fetched (satp and PMP do), and the TLBs they flush are read live by the inline lookups. An
 * interrupt one of them makes pending and enabled stops the region through the helper (yield).
 */
const PLAIN_CSRS = new Set<number>([
  CSR_SSTATUS,
  CSR_MSTATUS,
  CSR_SIE,
  CSR_MIE,
  CSR_SIP,
  CSR_MIP,
  CSR_MIDELEG,
  CSR_MEDELEG,
  CSR_STVEC,
  CSR_MTVEC,
  CSR_SCOUNTEREN,
  CSR_MCOUNTEREN,
  CSR_FFLAGS,
  CSR_FRM,
  CSR_FCSR,
  CSR_SSCRATCH,
  CSR_SEPC,
  CSR_SCAUSE,
  CSR_STVAL,
  CSR_MSCRATCH,
  CSR_MEPC,
  CSR_MCAUSE,
  CSR_MTVAL,
]);

/**
 * Whether compiled code may go on after a helper-run instruction (when the helper does not ask it to
 * stop): atomics and CSR reads, and writes of PLAIN_CSRS. sfence.vma and other CSR writes (satp,
 * PMP, counters, ...) leave the region.
 */
function continuesAfter(op: number, imm: number): boolean {
  if (op === Op.SFENCE_VMA) return false;
  if (op < Op.CSRRW || op > Op.CSRRCI) return true;
  const writes = op === Op.CSRRW || op === Op.CSRRWI || ((imm >>> 12) & 31) !== 0;
  return !writes || PLAIN_CSRS.has(imm & 0xfff);
}

/**
 * Imported helpers, in import order. The memory helpers end with the access's offset in its page and
 * the budget before it; when the access traps they take the trap, set the trapped scalar and return,
 * and the compiled code leaves with EXIT_TRAP (registers are written back only on the way out).
 */
export interface JitHelpers {
  /** Slow load of `size` bytes at (lo, hi): the value's low word; the high word in the helper-hi scalar. */
  load(lo: number, hi: number, size: number, pageOffset: number, budget: number): number;
  /** Slow store; returns 0 to carry on, STORE_STOP to stop after this instruction, STORE_TRAPPED. */
  store(
    lo: number,
    hi: number,
    size: number,
    vLo: number,
    vHi: number,
    pageOffset: number,
    budget: number,
  ): number;
  /**
   * One FP operation (the decoded immediate and register fields) by the exact FPU; returns nonzero,
   * having done nothing, when it must trap (FS off, a reserved rounding mode): the interpreter then runs it.
   */
  fp(imm: number, rd: number, rs1: number, rs2: number): number;
  /**
   * Runs one instruction of BY_HELPER (packed word and immediate) as the interpreter does, on the
   * state memory; returns HELPER_CONTINUE, HELPER_STOP (yield requested, or it overwrote the running
   * region) or HELPER_TRAPPED.
   */
  rare(word: number, imm: number, pageOffset: number, budget: number): number;
}

const MSTATUS_BYTE = CSR_BYTE + CSR_MSTATUS * 8;

/** FP operations that read an integer register (rs1) through the state memory. */
const FP_INT_SOURCE = new Set<number>([
  FpOp.FCVT_S_W,
  FpOp.FCVT_S_WU,
  FpOp.FCVT_S_L,
  FpOp.FCVT_S_LU,
  FpOp.FMV_W_X,
  FpOp.FCVT_D_W,
  FpOp.FCVT_D_WU,
  FpOp.FCVT_D_L,
  FpOp.FCVT_D_LU,
  FpOp.FMV_D_X,
]);
/** FP operations that write an integer register (rd) through the state memory. */
const FP_INT_DEST = new Set<number>([
  FpOp.FCVT_W_S,
  FpOp.FCVT_WU_S,
  FpOp.FCVT_L_S,
  FpOp.FCVT_LU_S,
  FpOp.FMV_X_W,
  FpOp.FEQ_S,
  FpOp.FLT_S,
  FpOp.FLE_S,
  FpOp.FCLASS_S,
  FpOp.FCVT_W_D,
  FpOp.FCVT_WU_D,
  FpOp.FCVT_L_D,
  FpOp.FCVT_LU_D,
  FpOp.FMV_X_D,
  FpOp.FEQ_D,
  FpOp.FLT_D,
  FpOp.FLE_D,
  FpOp.FCLASS_D,
]);

/** The integer registers an instruction reads and the one it writes (-1 for none); x0 is 0. */
export function integerRegisters(w: number, imm: number): { reads: number[]; write: number } {
  const op = w & 0xff;
  const rd = ((w >>> 8) & 0x7f) >> 1;
  const rs1 = ((w >>> 15) & 0x3f) >> 1;
  const rs2 = ((w >>> 21) & 0x3f) >> 1;
  switch (op) {
    case Op.FLW:
    case Op.FLD:
    case Op.FSW:
    case Op.FSD:
      return { reads: [rs1], write: -1 };
    case Op.FP: {
      const fop = imm & 0xff;
      return { reads: FP_INT_SOURCE.has(fop) ? [rs1] : [], write: FP_INT_DEST.has(fop) ? rd : -1 };
    }
    default:
      return { reads: [rs1, rs2], write: rd };
  }
}

export interface Translation {
  bytes: Uint8Array;
  /** Instructions in the region. */
  instructions: number;
}

const LOAD_SIZE: Record<number, number> = {
  [Op.LB]: 1,
  [Op.LBU]: 1,
  [Op.LH]: 2,
  [Op.LHU]: 2,
  [Op.LW]: 4,
  [Op.LWU]: 4,
  [Op.LD]: 8,
};
const STORE_SIZE: Record<number, number> = { [Op.SB]: 1, [Op.SH]: 2, [Op.SW]: 4, [Op.SD]: 8 };

/** wasm load opcode that reads RAM into an i64 with the op's extension. */
const LOAD_INSN: Record<number, number> = {
  [Op.LB]: W.i64Load8S,
  [Op.LBU]: W.i64Load8U,
  [Op.LH]: W.i64Load16S,
  [Op.LHU]: W.i64Load16U,
  [Op.LW]: W.i64Load32S,
  [Op.LWU]: W.i64Load32U,
  [Op.LD]: W.i64Load,
};
const STORE_INSN: Record<number, number> = {
  [Op.SB]: W.i64Store8,
  [Op.SH]: W.i64Store16,
  [Op.SW]: W.i64Store32,
  [Op.SD]: W.i64Store,
};
/** Operand shapes of the plain ALU operations. */
enum Form {
  /** rs1 op rs2, 64-bit. */
  Reg,
  /** rs1 op imm, 64-bit. */
  Imm,
  /** rs1 < rs2 (an i32 result, zero-extended). */
  Compare,
  CompareImm,
  /** 32-bit rs1 op rs2 / imm, sign-extended. */
  Word,
  WordImm,
}

/** The ALU operations that are one wasm instruction on their operands. */
const ALU_OPS: Record<number, readonly [number, Form]> = {
  [Op.ADD]: [W.i64Add, Form.Reg],
  [Op.SUB]: [W.i64Sub, Form.Reg],
  [Op.AND]: [W.i64And, Form.Reg],
  [Op.OR]: [W.i64Or, Form.Reg],
  [Op.XOR]: [W.i64Xor, Form.Reg],
  [Op.SLL]: [W.i64Shl, Form.Reg],
  [Op.SRL]: [W.i64ShrU, Form.Reg],
  [Op.SRA]: [W.i64ShrS, Form.Reg],
  [Op.MUL]: [W.i64Mul, Form.Reg],
  [Op.SLT]: [W.i64LtS, Form.Compare],
  [Op.SLTU]: [W.i64LtU, Form.Compare],
  [Op.ADDI]: [W.i64Add, Form.Imm],
  [Op.XORI]: [W.i64Xor, Form.Imm],
  [Op.ORI]: [W.i64Or, Form.Imm],
  [Op.ANDI]: [W.i64And, Form.Imm],
  [Op.SLLI]: [W.i64Shl, Form.Imm],
  [Op.SRLI]: [W.i64ShrU, Form.Imm],
  [Op.SRAI]: [W.i64ShrS, Form.Imm],
  [Op.SLTI]: [W.i64LtS, Form.CompareImm],
  [Op.SLTIU]: [W.i64LtU, Form.CompareImm],
  [Op.ADDW]: [W.i32Add, Form.Word],
  [Op.SUBW]: [W.i32Sub, Form.Word],
  [Op.SLLW]: [W.i32Shl, Form.Word],
  [Op.SRLW]: [W.i32ShrU, Form.Word],
  [Op.SRAW]: [W.i32ShrS, Form.Word],
  [Op.MULW]: [W.i32Mul, Form.Word],
  [Op.ADDIW]: [W.i32Add, Form.WordImm],
  [Op.SLLIW]: [W.i32Shl, Form.WordImm],
  [Op.SRLIW]: [W.i32ShrU, Form.WordImm],
  [Op.SRAIW]: [W.i32ShrS, Form.WordImm],
};

/** The comparison each conditional branch takes on (rs1, rs2). */
const BRANCH_TESTS: Record<number, number> = {
  [Op.BEQ]: W.i64Eq,
  [Op.BNE]: W.i64Ne,
  [Op.BLT]: W.i64LtS,
  [Op.BGE]: W.i64GeS,
  [Op.BLTU]: W.i64LtU,
  [Op.BGEU]: W.i64GeU,
};

/** The opcodes of one division width (see Emitter.emitDivide). */
const DIVIDE_64 = {
  type: I64,
  min: -(2 ** 63),
  eqz: W.i64Eqz,
  eq: W.i64Eq,
  divS: W.i64DivS,
  divU: W.i64DivU,
  remS: W.i64RemS,
  remU: W.i64RemU,
};
const DIVIDE_32 = {
  type: I32,
  min: -(2 ** 31),
  eqz: W.i32Eqz,
  eq: W.i32Eq,
  divS: W.i32DivS,
  divU: W.i32DivU,
  remS: W.i32RemS,
  remU: W.i32RemU,
};
/** Sign-extension opcodes (WebAssembly 2.0). */
const I64_EXTEND8_S = 0xc2;
const I64_EXTEND16_S = 0xc3;
const I64_EXTEND32_S = 0xc4;
const LOG2: Record<number, number> = { 1: 0, 2: 1, 4: 2, 8: 3 };

/** Prefix of the threads proposal's atomic instructions (0xfe, then a u32 sub-opcode). */
const ATOMIC_PREFIX = 0xfe;
/**
 * AMOs done inline as one wasm atomic read-modify-write (i32 and i64 forms), so that they stay atomic
 * on a shared memory once several harts run on it. AMOMIN/MAX[U] go through the helper.
 */
const AMO_RMW: Record<number, readonly [number, number]> = {
  [Amo.ADD]: [0x1e, 0x1f],
  [Amo.AND]: [0x2c, 0x2d],
  [Amo.OR]: [0x33, 0x34],
  [Amo.XOR]: [0x3a, 0x3b],
  [Amo.SWAP]: [0x41, 0x42],
};

/** The TLB tag a naturally aligned access of `size` bytes compares with (misaligned ones miss). */
function tagMask(size: number): number {
  return -4096 | (size - 1);
}

class Emitter {
  private readonly b: ByteWriter;
  private readonly region: Region;
  private readonly ops: Int32Array;
  private readonly imms: Int32Array;
  private readonly regLocal: Int32Array;
  private readonly written: number[];
  private readonly fnMulhu: number;
  private readonly fnLoad: number;
  private readonly fnStore: number;
  private readonly fnFp: number;
  private readonly fnRare: number;
  /** Upper halfword the page-crossing instruction at the last slot was compiled with, or -1. */
  private readonly straddleHigh: number;
  /** Labels open around the code being emitted, counting from the block's own position. */
  private depth = 0;
  /** Label depth of the dispatch loop and the epilogue block from the current block's code. */
  private dispatchDepth = 0;
  private epilogueDepth = 0;
  /** Index of the block being emitted. */
  private current = 0;

  constructor(
    body: ByteWriter,
    region: Region,
    ops: Int32Array,
    imms: Int32Array,
    regLocal: Int32Array,
    written: number[],
    fns: RegionFunctions,
    straddleHigh: number,
  ) {
    this.b = body;
    this.straddleHigh = straddleHigh;
    this.region = region;
    this.ops = ops;
    this.imms = imms;
    this.regLocal = regLocal;
    this.written = written;
    this.fnMulhu = fns.mulhu;
    this.fnLoad = fns.load;
    this.fnStore = fns.store;
    this.fnFp = fns.fp;
    this.fnRare = fns.rare;
  }

  // --- small emitters ---------------------------------------------------------------------------

  private op(code: number): void {
    this.b.byte(code);
  }
  private get(local: number): void {
    this.b.byte(W.localGet).u32(local);
  }
  private set(local: number): void {
    this.b.byte(W.localSet).u32(local);
  }
  private tee(local: number): void {
    this.b.byte(W.localTee).u32(local);
  }
  private i32(v: number): void {
    this.b.byte(W.i32Const).sleb(v | 0);
  }
  private i64(v: number): void {
    this.b.byte(W.i64Const).sleb(v);
  }
  private mem(code: number, align: number, offset: number): void {
    this.b.byte(code).u32(align).u32(offset);
  }
  private open(kind: number, type: number = VOID): void {
    this.b.byte(kind).byte(type);
    this.depth++;
  }
  private close(): void {
    this.b.byte(W.end);
    this.depth--;
  }
  /** Pushes guest register r (x0 reads as zero). */
  private reg(r: number): void {
    if (r === 0) this.i64(0);
    else this.get(this.regLocal[r]);
  }
  /** Pops a value into guest register r (x0, encoded as the sink, discards it). */
  private setReg(r: number): void {
    if (r === 0 || r === X_SINK) this.op(W.drop);
    else this.set(this.regLocal[r]);
  }

  /** Writes every register the region writes back to the state memory. */
  private spillRegisters(): void {
    for (const r of this.written) {
      this.i32(0);
      this.get(this.regLocal[r]);
      this.mem(W.i64Store, 3, 8 * r);
    }
  }

  /** Leaves through the epilogue: next pc = vbase + byteOffset, `unretired` instructions given back. */
  private exitAt(byteOffset: number, unretired: number, code = EXIT_NEXT): void {
    this.get(L_VBASE);
    this.i64(byteOffset);
    this.op(W.i64Add);
    this.set(L_EXIT_PC);
    if (unretired !== 0) {
      this.get(L_N);
      this.i32(unretired);
      this.op(W.i32Add);
      this.set(L_N);
    }
    this.i32(code);
    this.set(L_CODE);
    this.b.byte(W.br).u32(this.epilogueDepth + this.depth);
  }

  /** Continues at `slot` (the next block, or an exit to the interpreter there). */
  private goto(slot: number): void {
    const index = this.region.blockAt.get(slot);
    if (index === undefined) {
      this.exitAt(slot * 2, 0);
      return;
    }
    if (index > this.current) {
      // A later block: straight there (the label whose end it follows), without going round the
      // dispatch loop's br_table; only backward edges do.
      this.b.byte(W.br).u32(index - this.current - 1 + this.depth);
      return;
    }
    this.i32(index);
    this.set(L_NEXT);
    this.b.byte(W.br).u32(this.dispatchDepth + this.depth);
  }

  /**
   * The arguments every memory helper ends with: the access's offset in the page (the helper makes
   * the pc from it) and the budget as it stands before the access (kept if the access traps).
   */
  private helperPosition(slot: number, unretired: number): void {
    this.i32(slot * 2);
    this.get(L_N);
    if (unretired !== 0) {
      this.i32(unretired);
      this.op(W.i32Add);
    }
  }

  /**
   * Leaves after a helper took a trap. The trap changed no integer register, so the epilogue's write
   * back leaves exactly what the interpreter would; the access did not retire.
   */
  private trapExit(unretired: number): void {
    if (unretired !== 0) {
      this.get(L_N);
      this.i32(unretired);
      this.op(W.i32Add);
      this.set(L_N);
    }
    this.i32(EXIT_TRAP);
    this.set(L_CODE);
    this.b.byte(W.br).u32(this.epilogueDepth + this.depth);
  }

  /** After the load helper: leaves when it trapped. */
  private afterLoadHelper(unretired: number): void {
    this.i32(0);
    this.mem(W.i32Load, 2, HELPER_TRAPPED_BYTE);
    this.open(W.if);
    this.trapExit(unretired);
    this.close();
  }

  /** After the store helper (its result on the stack): leaves when it trapped or asked to stop. */
  private afterStoreHelper(slot: number, w: number, unretired: number): void {
    this.tee(L_ENT);
    this.open(W.if);
    this.get(L_ENT);
    this.i32(STORE_TRAPPED);
    this.op(W.i32Eq);
    this.open(W.if);
    this.trapExit(unretired);
    this.close();
    this.exitAt((slot + slotLength(w)) * 2, unretired - 1, EXIT_STOP);
    this.close();
  }

  // --- function -----------------------------------------------------------------------------------

  emitFunction(): void {
    const b = this.b;
    const blocks = this.region.blocks;
    // Prologue.
    this.i32(0);
    this.mem(W.i64Load, 3, PC_BYTE);
    this.i64(-4096);
    this.op(W.i64And);
    this.set(L_VBASE);
    this.i32(0);
    this.mem(W.i32Load, 2, BUDGET_BYTE);
    this.set(L_N);
    this.i32(0);
    this.mem(W.i32Load, 2, TLB_SET_BYTE);
    this.tee(L_TLB_LOAD);
    this.i32(TLB_STRIDE);
    this.op(W.i32Mul);
    this.i32(TLB_BYTE + ACCESS_STORE * TLB_STRIDE);
    this.op(W.i32Add);
    this.set(L_TLB_STORE);
    this.get(L_TLB_LOAD);
    this.i32(TLB_STRIDE);
    this.op(W.i32Mul);
    this.i32(TLB_BYTE + ACCESS_LOAD * TLB_STRIDE);
    this.op(W.i32Add);
    this.set(L_TLB_LOAD);
    for (let r = 1; r < 32; r++) {
      if (this.regLocal[r] < 0) continue;
      this.i32(0);
      this.mem(W.i64Load, 3, 8 * r);
      this.set(this.regLocal[r]);
    }
    this.get(L_ENTRY);
    this.set(L_NEXT);

    // block $epilogue / loop $dispatch / block $default / block $b(N-1) ... block $b0
    b.byte(W.block).byte(VOID);
    b.byte(W.loop).byte(VOID);
    b.byte(W.block).byte(VOID);
    for (let i = blocks.length - 1; i >= 0; i--) b.byte(W.block).byte(VOID);
    this.get(L_NEXT);
    b.byte(W.brTable).u32(blocks.length);
    for (let i = 0; i < blocks.length; i++) b.u32(i);
    b.u32(blocks.length);
    for (let k = 0; k < blocks.length; k++) {
      b.byte(W.end);
      // Open now: $b(k+1)..$b(N-1), $default, $dispatch, $epilogue.
      this.dispatchDepth = blocks.length - k;
      this.epilogueDepth = blocks.length - k + 1;
      this.depth = 0;
      this.current = k;
      this.emitBlock(k);
    }
    b.byte(W.end); // $default
    this.emitIndirectDispatch();
    b.byte(W.end); // $dispatch
    b.byte(W.end); // $epilogue
    // Epilogue.
    this.spillRegisters();
    this.i32(0);
    this.get(L_EXIT_PC);
    this.mem(W.i64Store, 3, PC_BYTE);
    this.i32(0);
    this.get(L_N);
    this.mem(W.i32Store, 2, BUDGET_BYTE);
    this.get(L_CODE);
  }

  /**
   * Where a jalr lands (the dispatch's default, with the target in the exit-pc local): a target in
   * this page that starts one of the region's blocks continues there, found by a binary search over
   * the block starts; any other leaves with EXIT_JUMP for the runtime to look up. Open labels here:
   * $dispatch (0) and $epilogue (1).
   */
  private emitIndirectDispatch(): void {
    const starts = this.region.blocks.map((block, index) => [block.start, index] as const);
    starts.sort((a, b) => a[0] - b[0]);
    this.depth = 0;
    if (starts.length > 0) {
      // Same page: (target & ~4095) == vbase; then the slot.
      this.get(L_EXIT_PC);
      this.i64(-4096);
      this.op(W.i64And);
      this.get(L_VBASE);
      this.op(W.i64Eq);
      this.open(W.if);
      this.get(L_EXIT_PC);
      this.get(L_VBASE);
      this.op(W.i64Sub);
      this.op(W.i32WrapI64);
      this.i32(1);
      this.op(W.i32ShrU);
      this.set(L_LO);
      this.emitSearch(starts, 0, starts.length);
      this.close();
    }
    this.i32(EXIT_JUMP);
    this.set(L_CODE);
    this.b.byte(W.br).u32(1);
  }

  /** Binary search of the slot in L_LO over starts[lo, hi); a hit continues at that block. */
  private emitSearch(starts: (readonly [number, number])[], lo: number, hi: number): void {
    if (hi - lo <= 3) {
      for (let k = lo; k < hi; k++) {
        this.get(L_LO);
        this.i32(starts[k][0]);
        this.op(W.i32Eq);
        this.open(W.if);
        this.i32(starts[k][1]);
        this.set(L_NEXT);
        this.b.byte(W.br).u32(this.depth);
        this.close();
      }
      return;
    }
    const mid = (lo + hi) >> 1;
    this.get(L_LO);
    this.i32(starts[mid][0]);
    this.op(W.i32LtU);
    this.open(W.if);
    this.emitSearch(starts, lo, mid);
    this.b.byte(W.else);
    this.emitSearch(starts, mid, hi);
    this.close();
  }

  private emitBlock(index: number): void {
    const block = this.region.blocks[index];
    const len = block.slots.length;
    // The budget: a block that does not fit runs in the interpreter instead.
    this.get(L_N);
    this.i32(len);
    this.op(W.i32LtS);
    this.open(W.if);
    this.exitAt(block.start * 2, 0);
    this.close();
    this.get(L_N);
    this.i32(len);
    this.op(W.i32Sub);
    this.set(L_N);
    for (let k = 0; k < len; k++) {
      const slot = block.slots[k];
      const w = this.ops[slot];
      const op = w & 0xff;
      if (slot === SLOTS_PER_PAGE - 1 && slotLength(w) === 2) this.checkStraddleHigh(len - k);
      if (isBranch(op) || op === Op.JAL || op === Op.JALR) {
        this.emitControl(slot, w, this.imms[slot]);
        return;
      }
      this.emitInstruction(slot, w, this.imms[slot], len - k);
    }
    this.goto(block.next);
  }

  /**
   * Before the 4-byte instruction that crosses into the next page: it runs compiled only while that
   * page is in the fetch TLB (so the interpreter would fetch it there without a walk or a fault) and
   * still begins with the halfword it was compiled with; otherwise the interpreter runs it.
   */
  private checkStraddleHigh(unretired: number): void {
    if (this.straddleHigh < 0)
      throw new Error('translate: a page-crossing instruction without its upper half');
    // Fetch TLB entry of vbase + 4096: the set's fetch TLB comes just before its load TLB.
    this.get(L_VBASE);
    this.i64(4096);
    this.op(W.i64Add);
    this.probeAt(1, () => {
      this.get(L_TLB_LOAD);
      this.i32(TLB_STRIDE);
      this.op(W.i32Sub);
    });
    this.open(W.if, I32);
    this.get(L_ENT);
    this.mem(W.i32Load, 2, TLB_OFF);
    this.mem(W.i32Load16U, 1, RAM_BYTE);
    this.i32(this.straddleHigh);
    this.op(W.i32Ne);
    this.b.byte(W.else);
    this.i32(1);
    this.close();
    this.open(W.if);
    this.exitAt((SLOTS_PER_PAGE - 1) * 2, unretired);
    this.close();
  }

  private emitControl(slot: number, w: number, imm: number): void {
    const op = w & 0xff;
    const rd = ((w >>> 8) & 0x7f) >> 1;
    const rs1 = ((w >>> 15) & 0x3f) >> 1;
    const rs2 = ((w >>> 21) & 0x3f) >> 1;
    const after = slot + slotLength(w);
    if (op === Op.JAL) {
      this.get(L_VBASE);
      this.i64(after * 2);
      this.op(W.i64Add);
      this.setReg(rd);
      this.jumpTo(slot, imm);
      return;
    }
    if (op === Op.JALR) {
      // Target first: rd may be rs1.
      this.reg(rs1);
      this.i64(imm);
      this.op(W.i64Add);
      this.i64(-2);
      this.op(W.i64And);
      this.set(L_EXIT_PC);
      this.get(L_VBASE);
      this.i64(after * 2);
      this.op(W.i64Add);
      this.setReg(rd);
      // To the indirect dispatch (the br_table's default): a block of this page, or out.
      this.i32(this.region.blocks.length);
      this.set(L_NEXT);
      this.b.byte(W.br).u32(this.dispatchDepth + this.depth);
      return;
    }
    this.reg(rs1);
    this.reg(rs2);
    this.op(BRANCH_TESTS[op]);
    this.open(W.if);
    this.jumpTo(slot, imm);
    this.close();
    this.goto(after);
  }

  /** A static jump from `slot` by `imm` bytes: inside the page a block, else an exit to the target. */
  private jumpTo(slot: number, imm: number): void {
    const t = staticTarget(slot, imm);
    if (t >= 0) this.goto(t);
    else this.exitAt(slot * 2 + imm, 0);
  }

  /** One non-control instruction; `unretired` counts it and the rest of its block. */
  private emitInstruction(slot: number, w: number, imm: number, unretired: number): void {
    const op = w & 0xff;
    const rd = ((w >>> 8) & 0x7f) >> 1;
    const rs1 = ((w >>> 15) & 0x3f) >> 1;
    const rs2 = ((w >>> 21) & 0x3f) >> 1;
    if (op in LOAD_SIZE) {
      this.emitLoad(slot, op, rd, rs1, imm, unretired);
      return;
    }
    if (op in STORE_SIZE) {
      this.emitStore(slot, op, rs1, rs2, imm, unretired);
      return;
    }
    if (op === Op.FLW || op === Op.FLD) {
      this.emitFloatLoad(slot, op, rd, rs1, imm, unretired);
      return;
    }
    if (op === Op.FSW || op === Op.FSD) {
      this.emitFloatStore(slot, w, op, rs1, rs2, imm, unretired);
      return;
    }
    if (op === Op.FP) {
      this.emitFloatOp(slot, rd, rs1, rs2, imm, unretired);
      return;
    }
    if ((op === Op.AMO_W || op === Op.AMO_D) && imm in AMO_RMW) {
      this.emitAmo(slot, w, imm, rd, rs1, rs2, unretired);
      return;
    }
    if (BY_HELPER.has(op)) {
      this.emitByHelper(slot, w, imm, rd, rs1, rs2, unretired);
      return;
    }
    if (this.emitArithmetic(op, rs1, rs2, imm)) {
      this.setReg(rd);
      return;
    }
    switch (op) {
      case Op.FENCE:
      case Op.FENCE_I:
        // One hart, and stores invalidate compiled and decoded code themselves.
        return;
      case Op.LI:
      case Op.LUI:
        this.i64(imm);
        break;
      case Op.MV:
        this.reg(rs1);
        break;
      case Op.AUIPC:
        this.get(L_VBASE);
        this.i64(slot * 2 + imm);
        this.op(W.i64Add);
        break;
      case Op.MULHU:
        this.reg(rs1);
        this.reg(rs2);
        this.b.byte(W.call).u32(this.fnMulhu);
        break;
      case Op.MULH:
      case Op.MULHSU:
        this.emitMulhSigned(op, rs1, rs2);
        break;
      case Op.DIV:
      case Op.DIVU:
      case Op.REM:
      case Op.REMU:
      case Op.DIVW:
      case Op.DIVUW:
      case Op.REMW:
      case Op.REMUW:
        this.emitDivide(op, rs1, rs2);
        break;
      default:
        throw new Error(`translate: op ${op} is not compiled`);
    }
    this.setReg(rd);
  }

  /** The ALU operations of ALU_OPS; false when `op` is not one of them. */
  private emitArithmetic(op: number, rs1: number, rs2: number, imm: number): boolean {
    const alu = ALU_OPS[op];
    if (alu === undefined) return false;
    const [code, form] = alu;
    if (form === Form.Word || form === Form.WordImm) {
      this.word(rs1);
      if (form === Form.Word) this.word(rs2);
      else this.i32(imm);
      this.op(code);
      this.op(W.i64ExtendI32S);
      return true;
    }
    this.reg(rs1);
    if (form === Form.Imm || form === Form.CompareImm) this.i64(imm);
    else this.reg(rs2);
    this.op(code);
    if (form === Form.Compare || form === Form.CompareImm) this.op(W.i64ExtendI32U);
    return true;
  }

  private word(r: number): void {
    this.reg(r);
    this.op(W.i32WrapI64);
  }

  /** mulh = mulhu - (a < 0 ? b : 0) - (b < 0 ? a : 0); mulhsu drops the second correction. */
  private emitMulhSigned(op: number, rs1: number, rs2: number): void {
    this.reg(rs1);
    this.reg(rs2);
    this.b.byte(W.call).u32(this.fnMulhu);
    this.reg(rs2);
    this.reg(rs1);
    this.i64(63);
    this.op(W.i64ShrS);
    this.op(W.i64And);
    this.op(W.i64Sub);
    if (op === Op.MULH) {
      this.reg(rs1);
      this.reg(rs2);
      this.i64(63);
      this.op(W.i64ShrS);
      this.op(W.i64And);
      this.op(W.i64Sub);
    }
  }

  /**
   * RISC-V division never traps: x/0 = all ones (rem: x), MIN/-1 = MIN (rem: 0). The word forms
   * divide the low 32 bits and sign-extend the result.
   */
  private emitDivide(op: number, rs1: number, rs2: number): void {
    const wide = op === Op.DIV || op === Op.DIVU || op === Op.REM || op === Op.REMU;
    const signed = op === Op.DIV || op === Op.REM || op === Op.DIVW || op === Op.REMW;
    const rem = op === Op.REM || op === Op.REMU || op === Op.REMW || op === Op.REMUW;
    const w = wide ? DIVIDE_64 : DIVIDE_32;
    const operand = (r: number): void => (wide ? this.reg(r) : this.word(r));
    const constant = (v: number): void => (wide ? this.i64(v) : this.i32(v));
    operand(rs2);
    this.op(w.eqz);
    this.open(W.if, w.type);
    if (rem) operand(rs1);
    else constant(-1);
    this.b.byte(W.else);
    if (signed) {
      operand(rs1);
      constant(w.min);
      this.op(w.eq);
      operand(rs2);
      constant(-1);
      this.op(w.eq);
      this.op(W.i32And);
      this.open(W.if, w.type);
      if (rem) constant(0);
      else operand(rs1);
      this.b.byte(W.else);
      operand(rs1);
      operand(rs2);
      this.op(rem ? w.remS : w.divS);
      this.close();
    } else {
      operand(rs1);
      operand(rs2);
      this.op(rem ? w.remU : w.divU);
    }
    this.close();
    if (!wide) this.op(W.i64ExtendI32S);
  }

  /**
   * Effective address into L_EA/L_LO/L_HI and the TLB entry's address into L_ENT; leaves the hit test
   * (tag lo and tag hi both match) on the stack.
   */
  private tlbProbe(rs1: number, imm: number, size: number, tlbLocal: number): void {
    this.reg(rs1);
    this.i64(imm);
    this.op(W.i64Add);
    this.probeAt(size, () => this.get(tlbLocal));
  }

  /** tlbProbe of the i64 address on the stack, in the TLB whose base `tlbBase` pushes. */
  private probeAt(size: number, tlbBase: () => void): void {
    this.tee(L_EA);
    this.op(W.i32WrapI64);
    this.tee(L_LO);
    this.i32(12);
    this.op(W.i32ShrU);
    this.i32(TLB_ENTRIES - 1);
    this.op(W.i32And);
    this.i32(2);
    this.op(W.i32Shl);
    tlbBase();
    this.op(W.i32Add);
    this.tee(L_ENT);
    this.mem(W.i32Load, 2, 0);
    this.get(L_LO);
    this.i32(tagMask(size));
    this.op(W.i32And);
    this.op(W.i32Eq);
    this.get(L_ENT);
    this.mem(W.i32Load, 2, TAG_HI);
    this.get(L_EA);
    this.i64(32);
    this.op(W.i64ShrU);
    this.op(W.i32WrapI64);
    this.tee(L_HI);
    this.op(W.i32Eq);
    this.op(W.i32And);
  }

  /** RAM offset of the access (hit path): the entry's page offset plus the page offset of the address. */
  private ramOffset(): void {
    this.get(L_ENT);
    this.mem(W.i32Load, 2, TLB_OFF);
    this.get(L_LO);
    this.i32(4095);
    this.op(W.i32And);
    this.op(W.i32Add);
  }

  /** Exits before this instruction (the interpreter raises its trap) when mstatus.FS is Off. */
  private requireFpu(slot: number, unretired: number): void {
    this.i32(0);
    this.mem(W.i32Load, 2, MSTATUS_BYTE);
    this.i32(MSTATUS_FS);
    this.op(W.i32And);
    this.op(W.i32Eqz);
    this.open(W.if);
    this.exitAt(slot * 2, unretired, EXIT_STOP);
    this.close();
  }

  /** mstatus.FS = Dirty (and SD), as any write of an FP register makes it. */
  private dirtyFpu(): void {
    this.i32(0);
    this.i32(0);
    this.mem(W.i32Load, 2, MSTATUS_BYTE);
    this.i32(MSTATUS_FS);
    this.op(W.i32Or);
    this.mem(W.i32Store, 2, MSTATUS_BYTE);
    this.i32(0);
    this.i32(0);
    this.mem(W.i32Load, 2, MSTATUS_BYTE + 4);
    this.i32(MSTATUS_HI_SD);
    this.op(W.i32Or);
    this.mem(W.i32Store, 2, MSTATUS_BYTE + 4);
  }

  private emitFloatLoad(
    slot: number,
    op: number,
    frd: number,
    rs1: number,
    imm: number,
    unretired: number,
  ): void {
    const wide = op === Op.FLD;
    const size = wide ? 8 : 4;
    this.requireFpu(slot, unretired);
    this.i32(0);
    this.tlbProbe(rs1, imm, size, L_TLB_LOAD);
    this.open(W.if, I64);
    this.ramOffset();
    this.mem(wide ? W.i64Load : W.i64Load32U, LOG2[size], RAM_BYTE);
    this.b.byte(W.else);
    this.get(L_LO);
    this.get(L_HI);
    this.i32(size);
    this.helperPosition(slot, unretired);
    this.b.byte(W.call).u32(this.fnLoad);
    this.afterLoadHelper(unretired);
    this.op(W.i64ExtendI32U);
    if (wide) {
      this.i32(0);
      this.mem(W.i64Load32U, 2, HELPER_HI_BYTE);
      this.i64(32);
      this.op(W.i64Shl);
      this.op(W.i64Or);
    }
    this.close();
    // A single is NaN-boxed: its upper half all ones.
    if (!wide) {
      this.i64(-(2 ** 32));
      this.op(W.i64Or);
    }
    this.mem(W.i64Store, 3, F_REGS_BYTE + 8 * frd);
    this.dirtyFpu();
  }

  private emitFloatStore(
    slot: number,
    w: number,
    op: number,
    rs1: number,
    frs2: number,
    imm: number,
    unretired: number,
  ): void {
    const wide = op === Op.FSD;
    const size = wide ? 8 : 4;
    this.requireFpu(slot, unretired);
    this.tlbProbe(rs1, imm, size, L_TLB_STORE);
    this.open(W.if);
    this.ramOffset();
    this.i32(0);
    this.mem(W.i64Load, 3, F_REGS_BYTE + 8 * frs2);
    this.mem(wide ? W.i64Store : W.i64Store32, LOG2[size], RAM_BYTE);
    this.b.byte(W.else);
    this.get(L_LO);
    this.get(L_HI);
    this.i32(size);
    this.i32(0);
    this.mem(W.i32Load, 2, F_REGS_BYTE + 8 * frs2);
    if (wide) {
      this.i32(0);
      this.mem(W.i32Load, 2, F_REGS_BYTE + 8 * frs2 + 4);
    } else {
      this.i32(0);
    }
    this.helperPosition(slot, unretired);
    this.b.byte(W.call).u32(this.fnStore);
    this.afterStoreHelper(slot, w, unretired);
    this.close();
  }

  /** An FP operation by the exact FPU (a helper), integer operands passed through the state memory. */
  private emitFloatOp(
    slot: number,
    rd: number,
    rs1: number,
    rs2: number,
    imm: number,
    unretired: number,
  ): void {
    const fop = imm & 0xff;
    if (FP_INT_SOURCE.has(fop) && rs1 !== 0) {
      this.i32(0);
      this.reg(rs1);
      this.mem(W.i64Store, 3, 8 * rs1);
    }
    this.i32(imm);
    this.i32(rd);
    this.i32(rs1);
    this.i32(rs2);
    this.b.byte(W.call).u32(this.fnFp);
    this.open(W.if);
    this.exitAt(slot * 2, unretired, EXIT_STOP);
    this.close();
    if (FP_INT_DEST.has(fop) && rd !== 0) {
      this.i32(0);
      this.mem(W.i64Load, 3, 8 * rd);
      this.set(this.regLocal[rd]);
    }
  }

  /**
   * An instruction the interpreter runs for the region (atomics, CSRs, sfence.vma): its source
   * registers go to the state memory, the helper runs it there, and its result comes back into rd's
   * local. A trap leaves; so does anything that may change how the next instruction is fetched or
   * translated, or which interrupts are pending (see continuesAfter).
   */
  private emitByHelper(
    slot: number,
    w: number,
    imm: number,
    rd: number,
    rs1: number,
    rs2: number,
    unretired: number,
  ): void {
    for (const r of rs1 === rs2 ? [rs1] : [rs1, rs2]) {
      if (r === 0 || r >= 32 || this.regLocal[r] < 0) continue;
      this.i32(0);
      this.get(this.regLocal[r]);
      this.mem(W.i64Store, 3, 8 * r);
    }
    this.i32(w);
    this.i32(imm);
    this.helperPosition(slot, unretired);
    this.b.byte(W.call).u32(this.fnRare);
    this.tee(L_ENT);
    this.i32(HELPER_TRAPPED);
    this.op(W.i32Eq);
    this.open(W.if);
    this.trapExit(unretired);
    this.close();
    if (rd !== 0 && rd < 32 && this.regLocal[rd] >= 0) {
      this.i32(0);
      this.mem(W.i64Load, 3, 8 * rd);
      this.set(this.regLocal[rd]);
    }
    const next = (slot + slotLength(w)) * 2;
    if (!continuesAfter(w & 0xff, imm)) {
      this.exitAt(next, unretired - 1, EXIT_STOP);
      return;
    }
    this.get(L_ENT);
    this.open(W.if);
    this.exitAt(next, unretired - 1, EXIT_STOP);
    this.close();
  }

  /**
   * An AMO of AMO_RMW: on a store-TLB hit with the address aligned (the tag test fails otherwise) one
   * atomic read-modify-write on RAM, as the interpreter's amo32/amo64 compute it; anything else (a
   * miss, a fault, misalignment, a device) through the helper. Pages holding code never have store-TLB
   * entries, so the inline write cannot hit compiled code.
   */
  private emitAmo(
    slot: number,
    w: number,
    imm: number,
    rd: number,
    rs1: number,
    rs2: number,
    unretired: number,
  ): void {
    const wide = (w & 0xff) === Op.AMO_D;
    const size = wide ? 8 : 4;
    this.tlbProbe(rs1, 0, size, L_TLB_STORE);
    this.open(W.if);
    this.ramOffset();
    this.reg(rs2);
    if (!wide) this.op(W.i32WrapI64);
    this.b
      .byte(ATOMIC_PREFIX)
      .u32(AMO_RMW[imm][wide ? 1 : 0])
      .u32(LOG2[size])
      .u32(RAM_BYTE);
    if (!wide) this.op(W.i64ExtendI32S);
    this.setReg(rd);
    this.b.byte(W.else);
    this.emitByHelper(slot, w, imm, rd, rs1, rs2, unretired);
    this.close();
  }

  /**
   * An integer load: inline on a load-TLB hit. On a miss the region leaves before it and the
   * interpreter runs it (a page walk, a device, misalignment, a fault): with no call on the slow path,
   * V8's optimising compiler need not split every register live across one (it spent 40 % more time
   * on a boot's regions with the calls), and the code is 18 % smaller.
   */
  private emitLoad(slot: number, op: number, rd: number, rs1: number, imm: number, unretired: number): void {
    const size = LOAD_SIZE[op];
    this.tlbProbe(rs1, imm, size, L_TLB_LOAD);
    this.open(W.if, I64);
    this.ramOffset();
    this.mem(LOAD_INSN[op], LOG2[size], RAM_BYTE);
    this.b.byte(W.else);
    this.exitAt(slot * 2, unretired, EXIT_STOP);
    this.close();
    this.setReg(rd);
  }

  /** An integer store: inline on a store-TLB hit, else left to the interpreter as loads are. */
  private emitStore(
    slot: number,
    op: number,
    rs1: number,
    rs2: number,
    imm: number,
    unretired: number,
  ): void {
    const size = STORE_SIZE[op];
    this.tlbProbe(rs1, imm, size, L_TLB_STORE);
    this.open(W.if);
    this.ramOffset();
    this.reg(rs2);
    this.mem(STORE_INSN[op], LOG2[size], RAM_BYTE);
    this.b.byte(W.else);
    this.exitAt(slot * 2, unretired, EXIT_STOP);
    this.close();
  }
}

/** mulhu(a, b): the high 64 bits of the unsigned 128-bit product, from four 32x32 products. */
function emitMulhu(b: ByteWriter): void {
  // params a=0, b=1; locals: aLo=2, aHi=3, bLo=4, bHi=5, lh=6, hl=7, mid=8
  const get = (l: number) => b.byte(W.localGet).u32(l);
  const set = (l: number) => b.byte(W.localSet).u32(l);
  const mask = () => b.byte(W.i64Const).sleb(0xffffffff).byte(W.i64And);
  const hi = () => b.byte(W.i64Const).sleb(32).byte(W.i64ShrU);
  get(0);
  mask();
  set(2);
  get(0);
  hi();
  set(3);
  get(1);
  mask();
  set(4);
  get(1);
  hi();
  set(5);
  get(2);
  get(5);
  b.byte(W.i64Mul);
  set(6);
  get(3);
  get(4);
  b.byte(W.i64Mul);
  set(7);
  // mid = (aLo*bLo >> 32) + (lh & mask) + (hl & mask)
  get(2);
  get(4);
  b.byte(W.i64Mul);
  hi();
  get(6);
  mask();
  b.byte(W.i64Add);
  get(7);
  mask();
  b.byte(W.i64Add);
  set(8);
  // aHi*bHi + (lh >> 32) + (hl >> 32) + (mid >> 32)
  get(3);
  get(5);
  b.byte(W.i64Mul);
  get(6);
  hi();
  b.byte(W.i64Add);
  get(7);
  hi();
  b.byte(W.i64Add);
  get(8);
  hi();
  b.byte(W.i64Add);
}

/** One region to translate, with the decode cache of its page. */
export interface RegionSource {
  region: Region;
  ops: Int32Array;
  imms: Int32Array;
  /**
   * When the region's last slot holds a 4-byte instruction crossing the page end: the upper halfword
   * it was decoded with (checked at run time, see checkStraddleHigh); else -1.
   */
  straddleHigh: number;
}

/** Adds a region's function (exported as `name`) to a module being built. */
function addRegionFunction(m: ModuleBuilder, source: RegionSource, name: string, fns: RegionFunctions): void {
  const { region, ops, imms } = source;
  // Registers the region reads or writes get a local; those it writes are stored back on exit.
  const used = new Uint8Array(33);
  const writes = new Uint8Array(33);
  for (const block of region.blocks) {
    for (const s of block.slots) {
      const { reads, write } = integerRegisters(ops[s], imms[s]);
      for (const r of reads) used[r] = 1;
      if (write >= 0) {
        used[write] = 1;
        writes[write] = 1;
      }
    }
  }
  const regLocal = new Int32Array(33).fill(-1);
  const locals: number[] = [...FIXED_LOCALS];
  for (let r = 1; r < 32; r++) {
    if (!used[r]) continue;
    regLocal[r] = 1 + locals.length;
    locals.push(I64);
  }
  const written: number[] = [];
  for (let r = 1; r < 32; r++) if (writes[r]) written.push(r);
  const run = m.addFunction([I32], [I32], locals as (typeof I32 | typeof I64)[], name);
  new Emitter(run.body, region, ops, imms, regLocal, written, fns, source.straddleHigh).emitFunction();
}

/**
 * One wasm module holding the functions of several regions (exported as r0, r1, ... in order), so
 * that a batch of hot pages costs one compile. `memoryPages` is the size of the hart's state memory
 * in 64 KiB pages (the module imports it with exactly that size).
 */
export function translateRegions(
  sources: RegionSource[],
  memoryPages: number,
  sharedMemory = false,
): Translation {
  const m = new ModuleBuilder();
  m.importMemory('hart', 'memory', memoryPages, memoryPages, sharedMemory);
  const load = m.importFunction('hart', 'load', [I32, I32, I32, I32, I32], [I32]);
  const store = m.importFunction('hart', 'store', [I32, I32, I32, I32, I32, I32, I32], [I32]);
  const fp = m.importFunction('hart', 'fp', [I32, I32, I32, I32], [I32]);
  const rare = m.importFunction('hart', 'rare', [I32, I32, I32, I32], [I32]);
  const mulhu = m.addFunction([I64, I64], [I64], [I64, I64, I64, I64, I64, I64, I64]);
  emitMulhu(mulhu.body);
  const fns = { mulhu: mulhu.index, load, store, fp, rare };
  let instructions = 0;
  sources.forEach((source, i) => {
    addRegionFunction(m, source, `r${i}`, fns);
    instructions += source.region.instructions;
  });
  return { bytes: m.build(), instructions };
}

export { SLOTS_PER_PAGE };
