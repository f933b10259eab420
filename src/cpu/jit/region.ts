/**
 * Region formation: which instructions of one physical page the compiled tier translates, cut into
 * basic blocks. A region is the code reachable inside one 4 KiB page from its hot entry points,
 * following fall-through and static branch targets; it never spans pages, so one store into the page
 * (or a DMA write, or the decode block being recycled) invalidates exactly one region, and a region
 * needs no check that another page is still mapped where it was.
 *
 * Instructions come from the interpreter's decode cache for the page, decoding (and caching) what is
 * not there yet: instruction starts are found by following the code from the entries, as a processor
 * would fetch it, so compressed code never needs guessing.
 */
import { Op, PACK_COMPRESSED } from '../opcodes.js';
import { DECODE_SLOTS_PER_PAGE } from '../state-layout.js';

/** Halfword slots of a page (state-layout.ts: the decode cache's page block). */
export const SLOTS_PER_PAGE = DECODE_SLOTS_PER_PAGE;
/** Bounds that keep one region's wasm function small enough for V8 to compile quickly. */
export const MAX_REGION_BLOCKS = 400;
export const MAX_REGION_INSTRUCTIONS = 3000;

/** Ops the translator turns into wasm; any other op ends its block with an exit to the interpreter. */
const COMPILED = new Set<number>([
  Op.LI,
  Op.MV,
  Op.LUI,
  Op.AUIPC,
  Op.JAL,
  Op.JALR,
  Op.BEQ,
  Op.BNE,
  Op.BLT,
  Op.BGE,
  Op.BLTU,
  Op.BGEU,
  Op.LB,
  Op.LH,
  Op.LW,
  Op.LD,
  Op.LBU,
  Op.LHU,
  Op.LWU,
  Op.SB,
  Op.SH,
  Op.SW,
  Op.SD,
  Op.ADDI,
  Op.SLTI,
  Op.SLTIU,
  Op.XORI,
  Op.ORI,
  Op.ANDI,
  Op.SLLI,
  Op.SRLI,
  Op.SRAI,
  Op.ADD,
  Op.SUB,
  Op.SLL,
  Op.SLT,
  Op.SLTU,
  Op.XOR,
  Op.SRL,
  Op.SRA,
  Op.OR,
  Op.AND,
  Op.ADDIW,
  Op.SLLIW,
  Op.SRLIW,
  Op.SRAIW,
  Op.ADDW,
  Op.SUBW,
  Op.SLLW,
  Op.SRLW,
  Op.SRAW,
  Op.MUL,
  Op.MULH,
  Op.MULHSU,
  Op.MULHU,
  Op.DIV,
  Op.DIVU,
  Op.REM,
  Op.REMU,
  Op.MULW,
  Op.DIVW,
  Op.DIVUW,
  Op.REMW,
  Op.REMUW,
  Op.FENCE,
  Op.FENCE_I,
  Op.FLW,
  Op.FLD,
  Op.FSW,
  Op.FSD,
  Op.FP,
]);

/**
 * Ops the compiled code hands to the interpreter's own implementation through a helper, without
 * leaving the region: atomics, CSR accesses and sfence.vma (see translate.ts, emitByHelper).
 */
export const BY_HELPER = new Set<number>([
  Op.LR_W,
  Op.SC_W,
  Op.AMO_W,
  Op.LR_D,
  Op.SC_D,
  Op.AMO_D,
  Op.CSRRW,
  Op.CSRRS,
  Op.CSRRC,
  Op.CSRRWI,
  Op.CSRRSI,
  Op.CSRRCI,
  Op.SFENCE_VMA,
]);
for (const op of BY_HELPER) COMPILED.add(op);

export function isCompiled(op: number): boolean {
  return COMPILED.has(op);
}

export function isBranch(op: number): boolean {
  return op >= Op.BEQ && op <= Op.BGEU;
}

/** Length in halfword slots of a packed instruction. */
export function slotLength(word: number): number {
  return (word & PACK_COMPRESSED) !== 0 ? 1 : 2;
}

/** One basic block: consecutive instructions, the last possibly a branch or jump. */
export interface Block {
  /** Slot of the first instruction. */
  start: number;
  /** Slots of its instructions, in order. */
  slots: number[];
  /**
   * Where control goes after the last instruction when it is not a taken branch or a jump: the slot
   * of the next instruction (SLOTS_PER_PAGE for the next page). That slot is either another block's
   * start or a place the compiled code exits to the interpreter.
   */
  next: number;
}

export interface Region {
  blocks: Block[];
  /** Block index by its start slot. */
  blockAt: Map<number, number>;
  /** The requested entry slots that made it into the region (every block start can be entered). */
  entries: number[];
  instructions: number;
}

/** Destination register of a packed word (0 when it is x0, the sink). */
function rdOf(w: number): number {
  const rd = ((w >>> 8) & 0x7f) >> 1;
  return rd === 32 ? 0 : rd;
}

/** Static in-page target slot of a branch or jal at `slot`, or -1 when it leaves the page. */
export function staticTarget(slot: number, imm: number): number {
  const t = slot * 2 + imm;
  return t >= 0 && t < 4096 ? t >> 1 : -1;
}

/**
 * Forms the region of a page from the slots that must be entries. `decode(slot)` returns the packed
 * instruction at a slot (0 when it cannot be decoded there, such as one straddling the page end) and
 * leaves it, with its immediate, in `ops`/`imms`. Returns null when none of the entries starts with an
 * instruction the tier compiles.
 */
export function formRegion(
  ops: Int32Array,
  imms: Int32Array,
  decode: (slot: number) => number,
  entrySlots: Iterable<number>,
): Region | null {
  const compilable = (s: number): boolean =>
    s >= 0 && s < SLOTS_PER_PAGE && (ops[s] !== 0 || decode(s) !== 0) && isCompiled(ops[s] & 0xff);
  // Pass 1: leaders reachable from the entries, following fall-through and static targets.
  const leaders = new Set<number>();
  const visited = new Uint8Array(SLOTS_PER_PAGE);
  const work: number[] = [];
  const entries: number[] = [];
  for (const e of entrySlots) {
    if (!compilable(e) || leaders.has(e)) continue;
    leaders.add(e);
    entries.push(e);
    work.push(e);
  }
  if (entries.length === 0) return null;
  let seen = 0;
  while (work.length > 0 && seen < MAX_REGION_INSTRUCTIONS) {
    let s = work.pop() as number;
    while (compilable(s) && !visited[s]) {
      visited[s] = 1;
      seen++;
      const w = ops[s];
      const op = w & 0xff;
      const next = s + slotLength(w);
      if (isBranch(op) || op === Op.JAL) {
        const t = staticTarget(s, imms[s]);
        if (compilable(t) && !leaders.has(t)) {
          leaders.add(t);
          work.push(t);
        }
        if (op === Op.JAL) {
          if (rdOf(w) !== 0 && compilable(next) && !leaders.has(next)) {
            leaders.add(next);
            work.push(next);
          }
          break;
        }
        if (compilable(next) && !leaders.has(next)) {
          leaders.add(next);
          work.push(next);
        }
        break;
      }
      if (op === Op.JALR) {
        // The instruction after a call is where its return lands: a block of its own.
        if (rdOf(w) !== 0 && compilable(next) && !leaders.has(next)) {
          leaders.add(next);
          work.push(next);
        }
        break;
      }
      s = next;
    }
  }
  // Pass 2: a block runs from its leader to the next leader, a control transfer, or the first slot
  // the tier does not compile.
  const starts = [...leaders].sort((a, b) => a - b).slice(0, MAX_REGION_BLOCKS);
  const kept = new Set(starts);
  const blocks: Block[] = [];
  const blockAt = new Map<number, number>();
  let instructions = 0;
  for (const start of starts) {
    const slots: number[] = [];
    let s = start;
    let next = start;
    for (;;) {
      if (!compilable(s)) {
        next = s;
        break;
      }
      const w = ops[s];
      const op = w & 0xff;
      slots.push(s);
      next = s + slotLength(w);
      if (isBranch(op) || op === Op.JAL || op === Op.JALR) break;
      if (next >= SLOTS_PER_PAGE || kept.has(next)) break;
      s = next;
    }
    blockAt.set(start, blocks.length);
    blocks.push({ start, slots, next });
    instructions += slots.length;
  }
  return { blocks, blockAt, entries: entries.filter((e) => kept.has(e)), instructions };
}
