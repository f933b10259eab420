/**
 * Chaining: compiled regions run one after another without returning to JavaScript.
 *
 * Every region function sits in one table, at the index of its decode block (an empty slot holds a
 * stub returning EXIT_NO_REGION). The chain function calls a region, and when it leaves normally
 * (EXIT_NEXT or EXIT_JUMP, having made progress) finds the compiled entry of the next pc the way
 * Hart.entrySlot does, inline: the current privilege's fetch TLB, the page's decode block (page-block
 * table) and the slot's entry (jit-slot table), all in the state memory (state-layout.ts, code index).
 * Anything else returns to the runtime (jit.ts): a trap, a stop, a pc not translated in the fetch TLB
 * or not a compiled entry (which the runtime counts towards making it one), no progress (the budget
 * does not fit the next block).
 *
 * The chain never changes privilege or TLB set: traps, xRET and writes that change fetching leave
 * regions with EXIT_TRAP or EXIT_STOP, which end the chain.
 */
import {
  DECLINED_ENTRY,
  DECODE_BLOCK_STRIDE,
  FIRST_DECODE_SLOT,
  SCALAR_BUDGET,
  SCALAR_CHAINED,
  SCALAR_PC_HI,
  SCALAR_PC_LO,
  SCALAR_RUNNING_BLOCK,
  SCALAR_TLB_SET,
  TLB_BYTE,
  TLB_ENTRIES,
} from '../state-layout.js';
import { EXIT_JUMP } from './translate.js';
import { type ByteWriter, I32, ModuleBuilder, VOID, W } from './wasm-encoder.js';

/** What the stub in an empty table slot returns (the runtime then finds nothing to run either). */
export const EXIT_NO_REGION = 4;

/** The fetch TLB is the first of a set's three (fetch, load, store). */
const FETCH_TLB_BYTE = TLB_BYTE;
const TLB_STRIDE = 3 * 4 * TLB_ENTRIES;
const TAG_HI = 4 * TLB_ENTRIES;
const TLB_OFF = 8 * TLB_ENTRIES;

// Locals (params first).
const L_BLOCK = 0;
const L_ENTRY = 1;
const L_BEFORE = 2;
const L_CODE = 3;
const L_LO = 4;
const L_TLB = 5;
const L_J = 6;

function get(b: ByteWriter, local: number): void {
  b.byte(W.localGet).u32(local);
}
function set(b: ByteWriter, local: number): void {
  b.byte(W.localSet).u32(local);
}
function tee(b: ByteWriter, local: number): void {
  b.byte(W.localTee).u32(local);
}
function i32(b: ByteWriter, v: number): void {
  b.byte(W.i32Const).sleb(v);
}
function load(b: ByteWriter, offset: number): void {
  b.byte(W.i32Load).u32(2).u32(offset);
}
/** Leaves with the last region's exit code when the i32 on the stack is nonzero. */
function returnIf(b: ByteWriter): void {
  b.byte(W.if).byte(VOID);
  get(b, L_CODE);
  b.byte(W.return);
  b.byte(W.end);
}

export interface ChainLayout {
  /** Size of the state memory in 64 KiB pages, and whether it is shared. */
  memoryPages: number;
  sharedMemory: boolean;
  pageBlockByte: number;
  jitSlotsByte: number;
  /** Table entries (decode blocks). */
  blocks: number;
}

/**
 * The module with `chain(block, entry) -> exit code` and `none(entry) -> EXIT_NO_REGION` (the stub),
 * importing the state memory as hart.memory and the region table as hart.regions.
 */
export function buildChainModule(layout: ChainLayout): Uint8Array {
  const m = new ModuleBuilder();
  m.importMemory('hart', 'memory', layout.memoryPages, layout.memoryPages, layout.sharedMemory);
  m.importTable('hart', 'regions', layout.blocks);
  const regionType = m.type([I32], [I32]);
  const none = m.addFunction([I32], [I32], [], 'none');
  i32(none.body, EXIT_NO_REGION);
  const chain = m.addFunction([I32, I32], [I32], [I32, I32, I32, I32, I32], 'chain');
  const b = chain.body;
  b.byte(W.loop).byte(VOID);
  // Which region runs (a store into its page must stop it), and the budget before it.
  i32(b, 0);
  get(b, L_BLOCK);
  b.byte(W.i32Store)
    .u32(2)
    .u32(SCALAR_RUNNING_BLOCK * 4);
  i32(b, 0);
  load(b, SCALAR_BUDGET * 4);
  set(b, L_BEFORE);
  get(b, L_ENTRY);
  get(b, L_BLOCK);
  b.byte(W.callIndirect).u32(regionType).u32(0);
  tee(b, L_CODE);
  i32(b, EXIT_JUMP);
  b.byte(W.i32GtU);
  returnIf(b);
  i32(b, 0);
  load(b, SCALAR_BUDGET * 4);
  get(b, L_BEFORE);
  b.byte(W.i32Eq);
  returnIf(b);
  // The fetch TLB entry of the next pc: TLB set * stride + index * 4.
  i32(b, 0);
  load(b, SCALAR_PC_LO * 4);
  set(b, L_LO);
  i32(b, 0);
  load(b, SCALAR_TLB_SET * 4);
  i32(b, TLB_STRIDE);
  b.byte(W.i32Mul);
  get(b, L_LO);
  i32(b, 12);
  b.byte(W.i32ShrU);
  i32(b, TLB_ENTRIES - 1);
  b.byte(W.i32And);
  i32(b, 2);
  b.byte(W.i32Shl);
  b.byte(W.i32Add);
  tee(b, L_TLB);
  load(b, FETCH_TLB_BYTE);
  get(b, L_LO);
  i32(b, -4096);
  b.byte(W.i32And);
  b.byte(W.i32Ne);
  get(b, L_TLB);
  load(b, FETCH_TLB_BYTE + TAG_HI);
  i32(b, 0);
  load(b, SCALAR_PC_HI * 4);
  b.byte(W.i32Ne);
  b.byte(W.i32Or);
  returnIf(b);
  // Its page's decode block.
  get(b, L_TLB);
  load(b, FETCH_TLB_BYTE + TLB_OFF);
  i32(b, 12);
  b.byte(W.i32ShrU);
  i32(b, 2);
  b.byte(W.i32Shl);
  load(b, layout.pageBlockByte);
  tee(b, L_BLOCK);
  i32(b, 0);
  b.byte(W.i32LtS);
  returnIf(b);
  // The slot's counter or entry: < 0 is -(entry block + 1).
  get(b, L_BLOCK);
  i32(b, DECODE_BLOCK_STRIDE);
  b.byte(W.i32Mul);
  get(b, L_LO);
  i32(b, 4095);
  b.byte(W.i32And);
  i32(b, 1);
  b.byte(W.i32ShrU);
  b.byte(W.i32Add);
  i32(b, 2);
  b.byte(W.i32Shl);
  load(b, layout.jitSlotsByte + 4 * FIRST_DECODE_SLOT);
  tee(b, L_J);
  i32(b, 0);
  b.byte(W.i32GeS);
  returnIf(b);
  // Declined entries too: the interpreter does not hand over there, but compiled code may go on.
  i32(b, -1);
  get(b, L_J);
  b.byte(W.i32Sub);
  i32(b, DECLINED_ENTRY - 1);
  b.byte(W.i32And);
  set(b, L_ENTRY);
  i32(b, 0);
  i32(b, 0);
  load(b, SCALAR_CHAINED * 4);
  i32(b, 1);
  b.byte(W.i32Add);
  b.byte(W.i32Store)
    .u32(2)
    .u32(SCALAR_CHAINED * 4);
  b.byte(W.br).u32(0);
  b.byte(W.end);
  b.byte(W.unreachable);
  return m.build();
}
