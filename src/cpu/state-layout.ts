/**
 * Where each piece of hart state lives inside the one WebAssembly.Memory that holds a VM's hot state.
 *
 * Everything the hot paths touch sits in this single buffer so that the interpreter (through typed-array
 * views) and a later WebAssembly tier (through loads/stores) share it without copying. 64-bit integer
 * registers are two int32 words, low word first: exactly the little-endian i64 layout wasm code sees.
 */

/** Byte offset of integer register x0; register r occupies bytes [8r, 8r+8). */
export const X_REGS_BYTE = 0;
/** Int32 index of x0's low word. x[r].lo = i32[X_I32 + 2r], x[r].hi = i32[X_I32 + 2r + 1]. */
export const X_I32 = X_REGS_BYTE >> 2;
/**
 * Slot 32 after x31 is a write sink: decoded instructions whose rd is x0 write here instead, so the
 * interpreter never tests rd for zero and x0 always reads as zero.
 */
export const X_SINK = 32;

/** Byte offset of f0; FP registers are 64 bits, singles NaN-boxed (upper 32 bits all ones). */
export const F_REGS_BYTE = 512;
/** Int32 index of f0's low word. */
export const F_I32 = F_REGS_BYTE >> 2;
/** Float64 index of f0. */
export const F_F64 = F_REGS_BYTE >> 3;

/** Scalars that a compiled tier needs to reach without calling out. */
export const SCALARS_BYTE = 768;
export const SCALAR_PC_LO = SCALARS_BYTE >> 2;
export const SCALAR_PC_HI = SCALAR_PC_LO + 1;
export const SCALAR_PRIV = SCALAR_PC_LO + 2;
export const SCALAR_FFLAGS = SCALAR_PC_LO + 3;
export const SCALAR_WAITING = SCALAR_PC_LO + 4;
export const SCALAR_RESERVATION = SCALAR_PC_LO + 5;
export const SCALAR_INSTRET_LO = SCALAR_PC_LO + 6;
export const SCALAR_INSTRET_HI = SCALAR_PC_LO + 7;
export const SCALAR_CYCLE_LO = SCALAR_PC_LO + 8;
export const SCALAR_CYCLE_HI = SCALAR_PC_LO + 9;
/** Instructions the compiled tier may still run in this batch (written on entry, read back on exit). */
export const SCALAR_BUDGET = SCALAR_PC_LO + 10;
/** Index of the current privilege's first TLB (the hart's tlbSet), for compiled code's inline lookups. */
export const SCALAR_TLB_SET = SCALAR_PC_LO + 11;
/** High word of a 64-bit value a JIT helper returns (wasm-to-JS calls pass i32s, not BigInts). */
export const SCALAR_HELPER_HI = SCALAR_PC_LO + 12;
/** Set by a JIT helper whose access trapped (the trap is taken); the compiled code then leaves. */
export const SCALAR_HELPER_TRAPPED = SCALAR_PC_LO + 13;
/** Decode block of the compiled region running now (a store into it must stop it). */
export const SCALAR_RUNNING_BLOCK = SCALAR_PC_LO + 14;
/** Compiled regions entered from another region without returning to JavaScript (a statistic). */
export const SCALAR_CHAINED = SCALAR_PC_LO + 15;

/** Byte offset of the software TLBs (see mmu.ts for their shape). */
export const TLB_BYTE = 0x1000;
export const TLB_ENTRIES = 256;
/**
 * One set of TLBs per privilege level (U, S, M), so that traps and returns switch sets instead of
 * flushing. Each set has three TLBs (fetch, load, store), each with tagLo, tagHi and ramOffset int32
 * arrays of TLB_ENTRIES.
 */
export const TLB_SETS = 3;
export const TLB_BYTES = TLB_SETS * 3 * 3 * 4 * TLB_ENTRIES;

/**
 * Every CSR by its 12-bit number, two int32 words each (low, high). Not every slot is a real CSR:
 * csr.ts decides which exist; the flat array keeps a snapshot a plain copy of bytes.
 */
export const CSR_BYTE = 0x8000;
export const CSR_I32 = CSR_BYTE >> 2;

/** Bytes of hart state before guest RAM; RAM starts on a wasm page (64 KiB) boundary. */
export const RAM_BYTE = 0x10000;

/**
 * After RAM, the code index: what compiled code needs to find the compiled entry of a pc without
 * calling out (jit/chain.ts), so that regions run one after another inside wasm. Guest accesses
 * never reach it: the TLBs only hold offsets inside RAM.
 * - page blocks: per RAM page, its decode-cache block or -1 (int32 each);
 * - jit slots: per decode slot, the compiled tier's counter or entry (int32 each; see jit/jit.ts):
 *   > 0 taken branches left before the slot is hot, 0 nothing to do, -(entry + 1) a compiled entry
 *   (entry: block index in the page's region), and -(entry + 1) - DECLINED_ENTRY an entry that compiled
 *   code chains to but the interpreter does not hand over at (its stays were too short to pay).
 * The decode cache holds blocks of DECODE_SLOTS_PER_PAGE halfword slots (one per possible instruction
 * start in a 4 KiB page) plus two end markers, after FIRST_DECODE_SLOT slots that are never code.
 */
export const DECODE_SLOTS_PER_PAGE = 2048;
/** See the jit slots above; larger than any region's block count. */
export const DECLINED_ENTRY = 1 << 16;
export const DECODE_BLOCK_STRIDE = DECODE_SLOTS_PER_PAGE + 2;
export const FIRST_DECODE_SLOT = 2;
/** Decode-cache pages a hart keeps unless told otherwise. */
export const DEFAULT_DECODE_CACHE_PAGES = 1024;

export interface CodeIndexLayout {
  /** Byte offset of the page-block table (ramSize / 4096 int32). */
  pageBlockByte: number;
  /** Byte offset of the jit-slot table (decodeSlots int32). */
  jitSlotsByte: number;
  decodeSlots: number;
  /** Bytes of the whole state memory: hart state, RAM and the code index, in whole wasm pages. */
  memoryBytes: number;
}

export function codeIndexLayout(ramSize: number, decodeCachePages: number): CodeIndexLayout {
  const pageBlockByte = RAM_BYTE + ramSize;
  const jitSlotsByte = pageBlockByte + 4 * Math.ceil(ramSize / 4096);
  const decodeSlots = FIRST_DECODE_SLOT + decodeCachePages * DECODE_BLOCK_STRIDE;
  const end = jitSlotsByte + 4 * decodeSlots;
  return { pageBlockByte, jitSlotsByte, decodeSlots, memoryBytes: Math.ceil(end / 65536) * 65536 };
}

/**
 * The state memory of one hart with `ramSize` bytes of RAM (see codeIndexLayout). `shared` makes it a
 * shared memory (its buffer a SharedArrayBuffer), as harts on several threads will need; the
 * interpreter and compiled code work on either.
 */
export function createStateMemory(
  ramSize: number,
  decodeCachePages = DEFAULT_DECODE_CACHE_PAGES,
  shared = false,
): WebAssembly.Memory {
  const pages = codeIndexLayout(ramSize, decodeCachePages).memoryBytes / 65536;
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
}
