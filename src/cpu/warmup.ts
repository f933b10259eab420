/**
 * Warms up the interpreter before a guest runs.
 *
 * V8 optimises the interpreter loop from the type feedback it has collected. Every instruction kind
 * (and every slow path) seen for the first time after that makes the optimised code deoptimise, and
 * the loop then runs unoptimised until V8 recompiles it: a Linux boot met that a dozen times and
 * started about five times slower than it continued. So once per process, a throwaway hart runs a
 * program that executes every kind of instruction, on large and negative operands, through traps,
 * CSRs, atomics, device-less memory and the FPU, before any guest does.
 */
import type { PhysicalBus } from './bus.js';
import { CSR_MTVEC } from './csr-numbers.js';
import { encB, encI, encJ, encR, encR4, encS, encU } from './encoder.js';
import { FpOp } from './fp-ops.js';
import { Hart } from './hart.js';
import type { JitOptions } from './jit/jit.js';
import { createStateMemory, F_I32, RAM_BYTE } from './state-layout.js';

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 1 << 20;
const DATA_OFFSET = 0x8000;
/** Registers with fixed roles in the program; random values live in the others. */
const DATA_REG = 5;
const LINK_REG = 6;
const FS_REG = 7;
const HANDLER_REG = 31;
const NOP = encI(0x13, 0, 0, 0, 0);
const DEVICE_BASE = 0x1000_0000;
const DEVICE_REG = 4;
/** Points at a word on the landing-pad page, so stores into a page with decoded code run too. */
const CODE_DATA_REG = 3;
const CODE_DATA_OFFSET = 0x1800;
/** Landing pads for branches that leave the code page live on the page after it. */
const PAD_OFFSET = 0x1000;
/**
 * A call to a 4-byte instruction that crosses from the pad page into the next (at 0x1ffe), then
 * returns: the page-crossing fetch and the fall-through into the next page run too.
 */
const CROSSING_CALL = 0x1ffc;

let warmedUp = false;

/** One scratch device register window at DEVICE_BASE, so device loads and stores run their paths too. */
class ScratchDevice implements PhysicalBus {
  readonly ramBase = RAM_BASE;
  readonly ramSize = RAM_SIZE;
  valueLo = 0;
  valueHi = 0;
  readDevice(pa: number): boolean {
    if (pa < DEVICE_BASE || pa >= DEVICE_BASE + 0x100) return false;
    this.valueLo = pa | 0;
    this.valueHi = -1;
    return true;
  }
  writeDevice(pa: number, _size: number, lo: number): boolean {
    this.valueLo = lo;
    // Like a device raising an interrupt line: the hart ends its batch.
    if (this.hart) this.hart.yieldRequested = true;
    return pa >= DEVICE_BASE && pa < DEVICE_BASE + 0x100;
  }
  hart: Hart | null = null;
}

/** A small deterministic generator (xorshift32): warm-up must behave the same on every run. */
function generator(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s | 0;
  };
}

function buildProgram(): Uint32Array {
  const random = generator(0x5eed);
  const reg = (): number => 8 + ((random() >>> 0) % 23); // x8..x30
  const imm12 = (): number => (random() >> 20) | 0;
  const code: number[] = [];
  /** Return addresses of the far branches; pad i jumps back to pads[i]. */
  const pads: number[] = [];
  const emit = (...words: number[]): void => {
    for (const w of words) code.push(w >>> 0);
  };
  // Turn the FPU on and make frm valid for dynamic rounding.
  emit(encI(0x73, 0, 2, FS_REG, 0x300)); // csrrs x0, mstatus, x7
  emit(encI(0x73, 0, 5, 0, 0x002)); // csrrwi x0, frm, 0
  for (let round = 0; round < 3; round++) {
    emit(encU(0x37, reg(), random()), encU(0x17, reg(), random()));
    emit(encI(0x13, reg(), 0, 0, imm12()), encI(0x13, reg(), 0, reg(), 0)); // li, mv
    for (const f3 of [0, 2, 3, 4, 6, 7]) emit(encI(0x13, reg(), f3, reg(), imm12()));
    emit(encI(0x13, reg(), 1, reg(), random() & 63), encI(0x13, reg(), 5, reg(), random() & 63));
    emit(encI(0x13, reg(), 5, reg(), 0x400 | (random() & 63)));
    for (const f3 of [0, 1, 2, 3, 4, 5, 6, 7]) {
      emit(encR(0x33, reg(), f3, reg(), reg(), 0), encR(0x33, reg(), f3, reg(), reg(), 1));
    }
    emit(encR(0x33, reg(), 0, reg(), reg(), 0x20), encR(0x33, reg(), 5, reg(), reg(), 0x20));
    emit(encI(0x1b, reg(), 0, reg(), imm12()), encI(0x1b, reg(), 1, reg(), random() & 31));
    emit(encI(0x1b, reg(), 5, reg(), random() & 31), encI(0x1b, reg(), 5, reg(), 0x400 | (random() & 31)));
    for (const [f3, f7] of [
      [0, 0],
      [0, 0x20],
      [1, 0],
      [5, 0],
      [5, 0x20],
      [0, 1],
      [4, 1],
      [5, 1],
      [6, 1],
      [7, 1],
    ]) {
      emit(encR(0x3b, reg(), f3, reg(), reg(), f7));
    }
    // Loads and stores of every width, aligned and one misaligned.
    for (const f3 of [0, 1, 2, 3, 4, 5, 6]) emit(encI(0x03, reg(), f3, DATA_REG, 8 * (f3 + 1)));
    for (const f3 of [0, 1, 2, 3]) emit(encS(0x23, f3, DATA_REG, reg(), 64 + 8 * f3));
    emit(encI(0x03, reg(), 3, DATA_REG, 3), encS(0x23, 3, DATA_REG, reg(), 5));
    // Branches over a nop, jal over a nop, jalr to the next instruction.
    for (const f3 of [0, 1, 4, 5, 6, 7]) emit(encB(f3, reg(), reg(), 8), NOP);
    emit(encJ(reg(), 8), NOP);
    emit(encU(0x17, LINK_REG, 0), encI(0x13, LINK_REG, 0, LINK_REG, 12), encI(0x67, reg(), 0, LINK_REG, 0));
    // Atomics on the data area: LR/SC pairs, then an SC without a reservation (it fails).
    emit(encR(0x2f, reg(), 2, DATA_REG, 0, 0x08), encR(0x2f, reg(), 2, DATA_REG, reg(), 0x0c));
    emit(encR(0x2f, reg(), 3, DATA_REG, 0, 0x08), encR(0x2f, reg(), 3, DATA_REG, reg(), 0x0c));
    emit(encR(0x2f, reg(), 3, DATA_REG, reg(), 0x0c));
    for (const amo of [0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c]) {
      emit(encR(0x2f, reg(), 2, DATA_REG, reg(), amo << 2), encR(0x2f, reg(), 3, DATA_REG, reg(), amo << 2));
    }
    emit(encI(0x0f, 0, 0, 0, 0), encI(0x0f, 0, 1, 0, 0), encR(0x73, 0, 0, 0, 0, 0x09)); // fence, fence.i, sfence.vma
    // CSR instructions of every form, and the counters.
    for (const f3 of [1, 2, 3]) emit(encI(0x73, reg(), f3, reg(), 0x340));
    for (const f3 of [5, 6, 7]) emit(encI(0x73, reg(), f3, random() & 31, 0x340));
    for (const csr of [0xc00, 0xc01, 0xc02, 0x300, 0x344, 0x304, 0x001, 0x003])
      emit(encI(0x73, reg(), 2, 0, csr));
    // Floating point through the interpreter (the FPU's own paths are warmed directly below).
    for (let i = 0; i < 4; i++) emit(encR(0x53, 1 + i, 0, reg(), 0, 0x79)); // fmv.d.x
    emit(encR(0x53, 5, 7, 1, 2, 0x01), encR4(0x43, 6, 7, 1, 2, 3, 1)); // fadd.d, fmadd.d
    emit(encI(0x07, 7, 2, DATA_REG, 16), encI(0x07, 8, 3, DATA_REG, 24));
    emit(encS(0x27, 2, DATA_REG, 5, 32), encS(0x27, 3, DATA_REG, 6, 40));
    // Compressed instructions: c.nop + c.addi a0, 1; c.mv a0, a1 + c.add a0, a1.
    emit(0x05050001, 0x952e852e);
    // Device loads and stores of every width (the slow paths and the yield after a device store).
    for (const f3 of [0, 1, 2, 3, 4, 5, 6]) emit(encI(0x03, reg(), f3, DEVICE_REG, 8));
    for (const f3 of [0, 1, 2, 3]) emit(encS(0x23, f3, DEVICE_REG, reg(), 16));
    for (const f3 of [0, 1, 2, 3]) emit(encS(0x23, f3, CODE_DATA_REG, reg(), 8 * f3));
    // x8 = 1 makes every condition below true.
    emit(encI(0x13, 8, 0, 0, 1));
    const taken = [
      [0, 0, 0],
      [1, 8, 0],
      [4, 0, 8],
      [5, 8, 0],
      [6, 0, 8],
      [7, 8, 0],
    ];
    // Taken branches over a nop, so that arriving at a counted or compiled slot runs for each kind.
    for (const [f3, rs1, rs2] of taken) emit(encB(f3, rs1, rs2, 8), NOP);
    // Taken branches to another page and back.
    for (const [f3, rs1, rs2] of taken) {
      const here = code.length * 4;
      const pad = PAD_OFFSET + pads.length * 4;
      pads.push(here + 4);
      emit(encB(f3, rs1, rs2, pad - here));
    }
    {
      const here = code.length * 4;
      emit(encJ(LINK_REG, CROSSING_CALL - here));
    }
    // Traps: ecall, an illegal instruction, ebreak and an access fault, each resumed by the handler.
    emit(0x00000073, 0x00000000, 0x00100073, encI(0x03, reg(), 3, 0, 0));
  }
  // Loop forever; the handler follows.
  emit(encJ(0, -4 * code.length));
  const handler = code.length * 4;
  emit(encI(0x73, HANDLER_REG, 2, 0, 0x341)); // csrr x31, mepc
  emit(encI(0x13, HANDLER_REG, 0, HANDLER_REG, 4));
  emit(encI(0x73, 0, 1, HANDLER_REG, 0x341)); // csrw mepc, x31
  emit(0x30200073); // mret
  if (code.length * 4 > PAD_OFFSET) throw new Error('warm-up program overlaps its landing pads');
  while (code.length * 4 < PAD_OFFSET) code.push(NOP);
  for (const back of pads) {
    const here = code.length * 4;
    code.push(encJ(0, back - here) >>> 0);
  }
  // c.nop; addi x9, x9, 1 across the page end; jalr x0, 0(link).
  while (code.length * 4 < CROSSING_CALL + 12) code.push(NOP);
  const program = Uint32Array.from(code);
  const halves = new Uint16Array(program.buffer);
  const crossing = [0x0001, ...split(encI(0x13, 9, 0, 9, 1)), ...split(encI(0x67, 0, 0, LINK_REG, 0))];
  halves.set(crossing, CROSSING_CALL / 2);
  return Object.assign(program, { handlerOffset: handler });
}

/** The two halfwords of an instruction word, low first. */
function split(word: number): number[] {
  return [word & 0xffff, word >>> 16];
}

function warmFpu(hart: Hart): void {
  const random = generator(0xf00d);
  const special = [0, 0x80000000, 0x7ff00000, 0xfff80000, 0x00080000, 0x3ff00000, 0xc0000000, 0x7fefffff];
  const x = hart.x;
  for (let set = 0; set < 6; set++) {
    for (let r = 0; r < 32; r++) {
      x[F_I32 + 2 * r] = random();
      x[F_I32 + 2 * r + 1] = set < 3 ? special[(random() >>> 0) % special.length] : random();
      x[2 * r] = random();
      x[2 * r + 1] = random() >> (set * 5);
    }
    for (let r = 20; r < 32; r++) x[F_I32 + 2 * r + 1] = -1; // NaN-boxed singles
    for (let op = FpOp.FADD_S; op <= FpOp.FCVT_D_S; op++) {
      for (let rm = 0; rm < 5; rm++) {
        const pick = (): number => (random() >>> 0) % 32;
        hart.fpu.exec(op, 1 + (pick() % 30), pick(), pick(), pick(), rm);
      }
    }
  }
}

/** Runs the warm-up once per process (a few tens of milliseconds). */
export function warmUpInterpreter(): void {
  if (warmedUp) return;
  warmedUp = true;
  // Twice: on the interpreter alone, then with the compiled tier (compiling at once, so that entering
  // and leaving compiled code, and the hotness counting, have been seen before V8 optimises the loop).
  warmUp(null);
  warmUp({ threshold: 2, synchronous: true });
}

function warmUp(jit: JitOptions | null): void {
  const bus = new ScratchDevice();
  const hart = new Hart(createStateMemory(RAM_SIZE, 8), bus, {
    decodeCachePages: 8,
    jit: jit ?? false,
  });
  bus.hart = hart;
  const program = buildProgram() as Uint32Array & { handlerOffset: number };
  new Uint32Array(hart.ram32.buffer, RAM_BYTE, program.length).set(program);
  hart.reset(RAM_BASE);
  const random = generator(0xbeef);
  for (let r = 8; r < 31; r++) hart.setRegister(r, (BigInt(random()) << 32n) | BigInt(random() >>> 0));
  hart.setRegister(DATA_REG, RAM_BASE + DATA_OFFSET);
  hart.setRegister(FS_REG, 0x6000);
  hart.setRegister(DEVICE_REG, DEVICE_BASE);
  hart.setRegister(CODE_DATA_REG, RAM_BASE + CODE_DATA_OFFSET);
  hart.csr[CSR_MTVEC * 2] = RAM_BASE + program.handlerOffset;
  for (let i = 0; i < 800; i++) hart.run(i < 600 ? 64 : 4096);
  if (jit === null) warmFpu(hart);
}
