/**
 * The compiled tier's runtime: when to compile, the code cache, and running compiled regions.
 *
 * Hotness: the interpreter counts taken branches and jumps per target slot (Hart.jitSlots counts
 * down from the threshold). A slot that reaches zero asks for its page's region to be compiled with
 * that slot as an entry; entries that become hot later recompile the region with them added.
 *
 * Code cache: one region per decode-cache block (one physical page), so a region lives exactly as
 * long as the decoded instructions it was made from. A store into the page, a DMA write, or the
 * block being given to another page drops the region (the hart calls `invalidate`); a region being
 * compiled when that happens is thrown away when it arrives (generation check).
 *
 * Compilation is asynchronous on the board (WebAssembly.compile, one at a time, while the interpreter
 * runs on) and synchronous where the caller never yields to the event loop (run-elf).
 *
 * Running: `run` looks up the compiled entry of the hart's pc through the fetch TLB, calls the
 * region, and carries on with the next region as long as the pc lands on compiled entries; anything
 * else returns to the interpreter. Traps thrown by the slow-path helpers unwind through the wasm frame
 * to here, with the state the region spilled before the call.
 */
import {
  SCALAR_BUDGET,
  SCALAR_HELPER_HI,
  SCALAR_PC_HI,
  SCALAR_PC_LO,
  SCALAR_TLB_SET,
} from '../state-layout.js';
import { formRegion, SLOTS_PER_PAGE } from './region.js';
import { EXIT_JUMP, translateRegion } from './translate.js';

const TWO32 = 4294967296;
/** Taken branches to a slot before its page is compiled with it as an entry. */
export const DEFAULT_THRESHOLD = 64;
/** Regions of a block dropped (stores into its code) before the block is left to the interpreter. */
const MAX_DROPS = 8;
/** Compiles of one block while its code stays the same (new entries recompile it). */
const MAX_RECOMPILES = 16;

/** What the tier needs from the hart (implemented by Hart; see hart.ts). */
export interface JitHost {
  readonly memory: WebAssembly.Memory;
  /** The hart's state words (registers, scalars). */
  readonly x: Int32Array;
  /** Decode cache: packed words and immediates; a block's slots start at blockSlotBase(block). */
  readonly decodedOps: Int32Array;
  readonly decodedImms: Int32Array;
  /** Per decode slot: > 0 branches left before hot, 0 nothing to do, < 0 -(entry block + 1). */
  readonly jitSlots: Int32Array;
  pc: number;
  yieldRequested: boolean;
  readonly loadHi: number;
  blockSlotBase(block: number): number;
  /**
   * Decodes the instruction at `slotInPage` of a block's page into the decode cache (as the interpreter
   * would on reaching it) and returns the packed word; 0 when it straddles the page end.
   */
  decodeInBlock(block: number, slotInPage: number): number;
  /** Decode block of a slot index. */
  blockOfSlot(slot: number): number;
  /** Decode slot of `pc` when its page is in the fetch TLB and decoded, else -1 (no walk, no fault). */
  entrySlot(pc: number): number;
  tlbSetIndex(): number;
  loadSlow(lo: number, hi: number, size: number): number;
  storeSlow(lo: number, hi: number, size: number, vLo: number, vHi: number): void;
  /**
   * Executes one decoded FP operation (Op.FP: its immediate and register numbers); returns nonzero,
   * having changed nothing, when it would trap (the interpreter then runs it).
   */
  execFp(imm: number, rd: number, rs1: number, rs2: number): number;
  /** Raises the fault of a jump to an address no hart can fetch (throws the trap signal). */
  unreachableTarget(lo: number, hi: number): number;
  /** The trap signal the interpreter throws to unwind (rethrown by run when it is not one). */
  readonly trapSignal: object;
}

interface CompiledRegion {
  run: (entry: number) => number;
  /** Entry slot (within the page) -> block index in the region. */
  entries: Map<number, number>;
}

export interface JitOptions {
  /**
   * Taken branches that make a slot hot. 0 is the strict mode for testing the tier: regions are
   * compiled (synchronously) for every pc the hart reaches, and the interpreter runs one instruction
   * at a time only where the tier cannot.
   */
  threshold?: number;
  /** Compile inside the call that found the hot slot (for callers that never yield). */
  synchronous?: boolean;
}

export interface JitStats {
  compiles: number;
  instructionsCompiled: number;
  wasmBytes: number;
  compileMs: number;
  dropped: number;
  regionCalls: number;
}

export class Jit {
  readonly threshold: number;
  /** Threshold 0: the tier runs everything it can (see JitOptions.threshold). */
  readonly strict: boolean;
  readonly stats: JitStats = {
    compiles: 0,
    instructionsCompiled: 0,
    wasmBytes: 0,
    compileMs: 0,
    dropped: 0,
    regionCalls: 0,
  };
  private readonly host: JitHost;
  private readonly synchronous: boolean;
  private readonly regions: (CompiledRegion | null)[];
  /** Bumped whenever a block's code changes or the block is recycled. */
  private readonly generation: Int32Array;
  private readonly drops: Int32Array;
  private readonly recompiles: Int32Array;
  /** Entry slots (page-relative) wanted per block, compiled or not yet. */
  private readonly wanted: (Set<number> | null)[];
  private readonly queue: number[] = [];
  private readonly queued: Uint8Array;
  private compiling = false;
  /** Block of the region running now (-1 when none): a store into it must stop it. */
  private running = -1;
  private stopRegion = false;
  private readonly imports: WebAssembly.Imports;
  private readonly memoryPages: number;

  constructor(host: JitHost, blocks: number, options: JitOptions = {}) {
    this.host = host;
    // 0 means compile at the first arrival: the counter starts at 1.
    this.threshold = Math.max(1, options.threshold ?? DEFAULT_THRESHOLD);
    this.strict = options.threshold === 0;
    this.synchronous = (options.synchronous ?? false) || this.strict;
    this.regions = new Array(blocks).fill(null);
    this.generation = new Int32Array(blocks);
    this.drops = new Int32Array(blocks);
    this.recompiles = new Int32Array(blocks);
    this.wanted = new Array(blocks).fill(null);
    this.queued = new Uint8Array(blocks);
    this.memoryPages = host.memory.buffer.byteLength / 65536;
    const x = host.x;
    const pcFromScalars = (): number => x[SCALAR_PC_HI] * TWO32 + (x[SCALAR_PC_LO] >>> 0);
    this.imports = {
      hart: {
        memory: host.memory,
        load: (lo: number, hi: number, size: number): number => {
          host.pc = pcFromScalars();
          const v = host.loadSlow(lo, hi, size);
          x[SCALAR_HELPER_HI] = host.loadHi;
          return v;
        },
        store: (lo: number, hi: number, size: number, vLo: number, vHi: number): number => {
          host.pc = pcFromScalars();
          host.storeSlow(lo, hi, size, vLo, vHi);
          if (!this.stopRegion) return host.yieldRequested ? 1 : 0;
          this.stopRegion = false;
          return 1;
        },
        fp: (imm: number, rd: number, rs1: number, rs2: number): number => host.execFp(imm, rd, rs1, rs2),
      },
    };
  }

  /** The interpreter found `slot` hot (its counter reached zero). */
  hot(slot: number): void {
    const host = this.host;
    const block = host.blockOfSlot(slot);
    host.jitSlots[slot] = 0;
    if (this.drops[block] >= MAX_DROPS || this.recompiles[block] >= MAX_RECOMPILES) return;
    let wanted = this.wanted[block];
    if (wanted === null) {
      wanted = new Set();
      this.wanted[block] = wanted;
    }
    wanted.add(slot - host.blockSlotBase(block));
    if (this.queued[block]) return;
    this.queued[block] = 1;
    this.queue.push(block);
    if (this.synchronous) this.compileQueued();
    else if (!this.compiling) queueMicrotask(() => this.compileQueued());
  }

  private compileQueued(): void {
    while (this.queue.length > 0) {
      const block = this.queue.shift() as number;
      this.queued[block] = 0;
      const job = this.prepare(block);
      if (job === null) continue;
      if (this.synchronous) {
        this.install(block, job.generation, job.entries, new WebAssembly.Module(job.bytes), job.started);
        continue;
      }
      this.compiling = true;
      WebAssembly.compile(job.bytes).then(
        (module) => {
          this.compiling = false;
          this.install(block, job.generation, job.entries, module, job.started);
          this.compileQueued();
        },
        () => {
          // A module V8 refuses is a translator bug; the interpreter keeps running this page.
          this.compiling = false;
          this.drops[block] = MAX_DROPS;
          this.compileQueued();
        },
      );
      return;
    }
  }

  private prepare(block: number): {
    bytes: Uint8Array;
    generation: number;
    entries: Map<number, number>;
    started: number;
  } | null {
    const wanted = this.wanted[block];
    if (wanted === null || wanted.size === 0) return null;
    const started = performance.now();
    const base = this.host.blockSlotBase(block);
    const ops = this.host.decodedOps.subarray(base, base + SLOTS_PER_PAGE);
    const imms = this.host.decodedImms.subarray(base, base + SLOTS_PER_PAGE);
    const region = formRegion(ops, imms, (s) => this.host.decodeInBlock(block, s), wanted);
    if (region === null) return null;
    this.recompiles[block]++;
    const { bytes } = translateRegion(region, ops, imms, this.memoryPages);
    // Every block start is an entry: returns and jumps from elsewhere land on them too.
    const entries = new Map<number, number>(region.blockAt);
    this.stats.instructionsCompiled += region.instructions;
    this.stats.wasmBytes += bytes.length;
    return { bytes, generation: this.generation[block], entries, started };
  }

  private install(
    block: number,
    generation: number,
    entries: Map<number, number>,
    module: WebAssembly.Module,
    started: number,
  ): void {
    this.stats.compiles++;
    this.stats.compileMs += performance.now() - started;
    // The code changed (or the block went to another page) while this was being compiled.
    if (this.generation[block] !== generation) return;
    const instance = new WebAssembly.Instance(module, this.imports);
    const run = instance.exports.run as (entry: number) => number;
    this.regions[block] = { run, entries };
    const base = this.host.blockSlotBase(block);
    const slots = this.host.jitSlots;
    for (const [slot, index] of entries) slots[base + slot] = -(index + 1);
  }

  /** The block's code changed or the block is being recycled: its region goes. */
  invalidate(block: number, recycled: boolean): void {
    this.generation[block]++;
    const base = this.host.blockSlotBase(block);
    const slots = this.host.jitSlots;
    if (recycled) {
      this.drops[block] = 0;
      this.recompiles[block] = 0;
      this.wanted[block] = null;
      slots.fill(this.threshold, base, base + SLOTS_PER_PAGE);
    } else if (this.regions[block] !== null || this.wanted[block] !== null) {
      this.drops[block]++;
      this.recompiles[block] = 0;
      this.wanted[block] = null;
      // A page whose code keeps changing is left to the interpreter until the block is recycled.
      slots.fill(this.drops[block] >= MAX_DROPS ? 0 : this.threshold, base, base + SLOTS_PER_PAGE);
    }
    if (this.regions[block] !== null) {
      this.regions[block] = null;
      this.stats.dropped++;
    }
    // The running region overwrote its own code: it stops after the store (the rest may be stale).
    if (this.running === block) this.stopRegion = true;
  }

  /** True when the block has a region (or one is wanted): stores into it must call invalidate. */
  hasCode(block: number): boolean {
    return this.regions[block] !== null || this.wanted[block] !== null;
  }

  /** Instructions retired by the last `run` (its return value also counts trap entries). */
  retired = 0;

  /**
   * Runs compiled regions from the hart's pc within `budget`, and returns the budget spent: the
   * instructions retired (also in `retired`) plus one for each trap taken, as the interpreter counts
   * them, so that a guest whose handler faults again cannot keep the host here forever. Stops at the
   * first pc that is not a compiled entry, when a region asks to yield, or when the budget is spent.
   */
  run(budget: number, compileAtPc = false): number {
    const host = this.host;
    const x = host.x;
    let left = budget;
    let traps = 0;
    while (left > 0) {
      const slot = host.entrySlot(host.pc);
      if (slot < 0) break;
      let j = host.jitSlots[slot];
      if (j >= 0 && compileAtPc && this.synchronous) {
        this.hot(slot);
        j = host.jitSlots[slot];
      }
      if (j >= 0) break;
      const block = host.blockOfSlot(slot);
      const region = this.regions[block];
      if (region === null) break;
      const pc = host.pc;
      x[SCALAR_PC_LO] = pc | 0;
      x[SCALAR_PC_HI] = Math.floor(pc / TWO32) | 0;
      x[SCALAR_BUDGET] = left;
      x[SCALAR_TLB_SET] = host.tlbSetIndex();
      this.running = block;
      this.stats.regionCalls++;
      let code: number;
      try {
        code = region.run(-j - 1);
      } catch (e) {
        this.running = -1;
        if (e !== host.trapSignal) throw e;
        // The region spilled its state before the helper that trapped; the handler's pc is set.
        left = x[SCALAR_BUDGET] - 1;
        traps++;
        if (host.yieldRequested) break;
        continue;
      }
      this.running = -1;
      const before = left;
      left = x[SCALAR_BUDGET];
      const lo = x[SCALAR_PC_LO];
      const hi = x[SCALAR_PC_HI];
      if (code === EXIT_JUMP && !(hi >= -0x200000 && hi < 0x200000)) {
        // As in the interpreter, a jump to an address no hart can fetch faults at once, and the jump
        // counts as not retired.
        left++;
        try {
          host.unreachableTarget(lo, hi);
        } catch (e) {
          if (e !== host.trapSignal) throw e;
          left--;
          traps++;
          if (host.yieldRequested) break;
          continue;
        }
      }
      host.pc = hi * TWO32 + (lo >>> 0);
      if (host.yieldRequested || left === before) break;
    }
    this.retired = budget - left - traps;
    return budget - left;
  }
}
