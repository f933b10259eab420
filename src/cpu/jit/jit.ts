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
 * else returns to the interpreter. A slow-path helper that traps takes the trap and returns; the region
 * then leaves with EXIT_TRAP.
 */
import {
  type CodeIndexLayout,
  DECLINED_ENTRY,
  SCALAR_BUDGET,
  SCALAR_CHAINED,
  SCALAR_HELPER_HI,
  SCALAR_HELPER_TRAPPED,
  SCALAR_PC_HI,
  SCALAR_PC_LO,
  SCALAR_RUNNING_BLOCK,
  SCALAR_TLB_SET,
} from '../state-layout.js';
import { buildChainModule } from './chain.js';
import { formRegion, SLOTS_PER_PAGE } from './region.js';
import {
  EXIT_JUMP,
  EXIT_TRAP,
  HELPER_CONTINUE,
  HELPER_STOP,
  HELPER_TRAPPED,
  type JitHelpers,
  type RegionSource,
  STORE_STOP,
  STORE_TRAPPED,
  translateRegions,
} from './translate.js';

const TWO32 = 4294967296;
/** Taken branches to a slot before its page is compiled with it as an entry. */
export const DEFAULT_THRESHOLD = 2000;
/** Regions of a block dropped (stores into its code) before the block is left to the interpreter. */
const MAX_DROPS = 8;
/** Compiles of one block while its code stays the same (new entries recompile it). */
const MAX_RECOMPILES = 16;

/** What the tier needs from the hart (implemented by Hart; see hart.ts). */
export interface JitHost {
  readonly memory: WebAssembly.Memory;
  /** Where the page-block and jit-slot tables (which chained code reads) are in the memory. */
  readonly codeIndex: CodeIndexLayout;
  /** The hart's state words (registers, scalars). */
  readonly x: Int32Array;
  /** Decode cache: packed words and immediates; a block's slots start at blockSlotBase(block). */
  readonly decodedOps: Int32Array;
  readonly decodedImms: Int32Array;
  /**
   * Per decode slot: > 0 branches left before hot, 0 nothing to do, < 0 -(entry block + 1). A view of
   * the code index, so that chained code reads it too.
   */
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
  /**
   * The 4-byte instruction whose low half ends the block's page, as last run (its upper half as then
   * read from the next page), or null when there is none.
   */
  straddlingInstruction(block: number): StraddlingInstruction | null;
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
  /** Instructions retired (exact between run calls). */
  readonly retired: number;
  /** What counter CSRs read as instructions retired so far (set before a rare instruction runs). */
  liveRetired: number;
  /** Runs an instruction of the tier's BY_HELPER set at pc, as the interpreter does; may throw a trap. */
  executeRareForJit(word: number, imm: number): void;
  /** Raises the fault of a jump to an address no hart can fetch (throws the trap signal). */
  unreachableTarget(lo: number, hi: number): number;
  /** The trap signal the interpreter throws to unwind (rethrown by run when it is not one). */
  readonly trapSignal: object;
}

/** A 4-byte instruction across a page end: packed word, immediate, and the upper halfword it had. */
export interface StraddlingInstruction {
  word: number;
  imm: number;
  high: number;
}

/** A region translated and waiting for its module. */
interface Job {
  block: number;
  /** The block's generation when its code was read. */
  generation: number;
  source: RegionSource;
}

/**
 * Entering compiled code from the interpreter and leaving it again costs about as much as
 * interpreting a few dozen instructions. An entry whose runs (the whole stay in compiled code, through
 * any regions it chains to) average fewer than MIN_RUN instructions over its first ENTRY_SAMPLES
 * runs is not handed over to by the interpreter: kernel paths that are hot but cut short by traps, xRET
 * and page crossings into cold code would otherwise make a boot slower with the tier than without it.
 * Compiled code that reaches such an entry still goes on there (it is declined, not dropped).
 */
const MIN_RUN = 24;
const ENTRY_SAMPLES = 32;
/** Entry verdicts (EntryRuns.calls once decided). */
const KEPT = -1;
const DECLINED = -2;

interface EntryRuns {
  /** Runs counted so far, or KEPT / DECLINED once decided. */
  calls: number;
  retired: number;
}

/** Bounds of one asynchronous batch: small enough that the first region in it is not kept waiting long. */
const MAX_BATCH_REGIONS = 64;
const MAX_BATCH_INSTRUCTIONS = 16000;

/** A compiled batch: its size, and how many of its regions are still in use (it is freed at 0). */
interface CodeModule {
  bytes: number;
  live: number;
}

/**
 * Wasm bytes of the modules in use above which everything compiled is dropped before the next batch
 * (as QEMU flushes its translation buffer when full), so that a guest that keeps making code hot on new
 * pages, or keeps one region of every batch alive, cannot grow the host's memory without bound. A
 * Linux boot and a busy shell use about 2 MB.
 */
export const DEFAULT_CODE_BUDGET = 16 * 2 ** 20;

interface CompiledRegion {
  module: CodeModule;
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
  /** See DEFAULT_CODE_BUDGET. */
  codeBudgetBytes?: number;
}

export interface JitStats {
  compiles: number;
  instructionsCompiled: number;
  wasmBytes: number;
  /** Time from translating a batch to its module being ready (includes waiting for the event loop). */
  compileMs: number;
  /** Time spent forming regions and emitting wasm, on the guest's thread. */
  translateMs: number;
  dropped: number;
  /** Times everything compiled was dropped to stay within the code budget. */
  codeFlushes: number;
  /** Wasm bytes of the modules in use now. */
  liveCodeBytes: number;
  /** Entries into compiled code from JavaScript. */
  regionCalls: number;
  /** Regions entered from another region without returning to JavaScript (chain.ts). */
  chainedCalls: number;
  /** Instructions retired by compiled code. */
  retired: number;
  /** Entries the interpreter no longer hands over at because their runs were short (see MIN_RUN). */
  declinedEntries: number;
  /** Batches the translator or V8 refused (a bug: their pages stay with the interpreter). */
  failedBatches: number;
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
    translateMs: 0,
    dropped: 0,
    regionCalls: 0,
    chainedCalls: 0,
    codeFlushes: 0,
    liveCodeBytes: 0,
    retired: 0,
    declinedEntries: 0,
    failedBatches: 0,
  };
  /** Why the last batch failed, for diagnosis. */
  lastError: string | null = null;
  private readonly host: JitHost;
  private readonly synchronous: boolean;
  private readonly regions: (CompiledRegion | null)[];
  private readonly codeBudget: number;
  /** Bumped whenever a block's code changes or the block is recycled. */
  private readonly generation: Int32Array;
  private readonly drops: Int32Array;
  private readonly recompiles: Int32Array;
  /** Entry slots (page-relative) wanted per block, compiled or not yet. */
  private readonly wanted: (Set<number> | null)[];
  private readonly queue: number[] = [];
  private readonly queued: Uint8Array;
  private compiling = false;
  /** True while compiled code runs; the running region's block is then in SCALAR_RUNNING_BLOCK. */
  private inCompiledCode = false;
  private stopRegion = false;
  /** Runs regions from a given one on (chain.ts), and the stub that fills empty table slots. */
  private readonly chain: (block: number, entry: number) => number;
  private readonly regionTable: WebAssembly.Table;
  private readonly noRegion: WebAssembly.AnyFunction;
  /** Instructions retired before the running region was entered, and its budget then. */
  private regionRetired = 0;
  private regionBudget = 0;
  /** Runs per entry slot, until the verdict of MIN_RUN. */
  private readonly entryRuns = new Map<number, EntryRuns>();
  private readonly imports: WebAssembly.Imports;
  private readonly memoryPages: number;
  /** Compiled modules import the memory as shared when it is (harts on several threads). */
  private readonly sharedMemory: boolean;

  constructor(host: JitHost, blocks: number, options: JitOptions = {}) {
    this.host = host;
    // 0 means compile at the first arrival: the counter starts at 1.
    this.threshold = Math.max(1, options.threshold ?? DEFAULT_THRESHOLD);
    this.strict = options.threshold === 0;
    this.synchronous = (options.synchronous ?? false) || this.strict;
    this.regions = new Array(blocks).fill(null);
    this.codeBudget = options.codeBudgetBytes ?? DEFAULT_CODE_BUDGET;
    this.generation = new Int32Array(blocks);
    this.drops = new Int32Array(blocks);
    this.recompiles = new Int32Array(blocks);
    this.wanted = new Array(blocks).fill(null);
    this.queued = new Uint8Array(blocks);
    this.memoryPages = host.memory.buffer.byteLength / 65536;
    this.sharedMemory = host.memory.buffer instanceof SharedArrayBuffer;
    const x = host.x;
    // The pc of an access at `pageOffset` in the running region's page (the pc scalar holds its entry).
    const pcAt = (pageOffset: number): number =>
      x[SCALAR_PC_HI] * TWO32 + ((x[SCALAR_PC_LO] & -4096) >>> 0) + pageOffset;
    const trapSignal = host.trapSignal;
    const helpers: JitHelpers = {
      load: (lo, hi, size, pageOffset, budget) => {
        host.pc = pcAt(pageOffset);
        try {
          const v = host.loadSlow(lo, hi, size);
          x[SCALAR_HELPER_HI] = host.loadHi;
          return v;
        } catch (e) {
          if (e !== trapSignal) throw e;
          x[SCALAR_HELPER_TRAPPED] = 1;
          x[SCALAR_BUDGET] = budget;
          return 0;
        }
      },
      store: (lo, hi, size, vLo, vHi, pageOffset, budget) => {
        host.pc = pcAt(pageOffset);
        try {
          host.storeSlow(lo, hi, size, vLo, vHi);
        } catch (e) {
          if (e !== trapSignal) throw e;
          x[SCALAR_BUDGET] = budget;
          return STORE_TRAPPED;
        }
        if (!this.stopRegion) return host.yieldRequested ? STORE_STOP : 0;
        this.stopRegion = false;
        return STORE_STOP;
      },
      rare: (word, imm, pageOffset, budget) => {
        host.pc = pcAt(pageOffset);
        // Counter CSRs read what the interpreter would: instructions retired before this one.
        host.liveRetired = this.regionRetired + (this.regionBudget - budget);
        try {
          host.executeRareForJit(word, imm);
        } catch (e) {
          if (e !== trapSignal) throw e;
          x[SCALAR_BUDGET] = budget;
          return HELPER_TRAPPED;
        }
        if (this.stopRegion) {
          this.stopRegion = false;
          return HELPER_STOP;
        }
        return host.yieldRequested ? HELPER_STOP : HELPER_CONTINUE;
      },
      fp: (imm, rd, rs1, rs2) => host.execFp(imm, rd, rs1, rs2),
    };
    this.imports = { hart: { memory: host.memory, ...helpers } };
    this.regionTable = new WebAssembly.Table({ element: 'anyfunc', initial: blocks });
    const chain = new WebAssembly.Instance(
      new WebAssembly.Module(
        buildChainModule({
          memoryPages: this.memoryPages,
          sharedMemory: this.sharedMemory,
          pageBlockByte: host.codeIndex.pageBlockByte,
          jitSlotsByte: host.codeIndex.jitSlotsByte,
          blocks,
        }),
      ),
      { hart: { memory: host.memory, regions: this.regionTable } },
    ).exports;
    this.chain = chain.chain as (block: number, entry: number) => number;
    this.noRegion = chain.none as WebAssembly.AnyFunction;
    for (let block = 0; block < blocks; block++) this.regionTable.set(block, this.noRegion);
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

  /**
   * Compiles what is queued: synchronously one region at a time, or asynchronously in batches of
   * regions that share one module, so that many pages turning hot at once cost one compile and one
   * return to the event loop rather than one each.
   */
  private compileQueued(): void {
    while (this.queue.length > 0) {
      const jobs: Job[] = [];
      let instructions = 0;
      const limit = this.synchronous ? 1 : MAX_BATCH_INSTRUCTIONS;
      while (this.queue.length > 0 && jobs.length < MAX_BATCH_REGIONS && instructions < limit) {
        const block = this.queue.shift() as number;
        this.queued[block] = 0;
        const job = this.prepare(block);
        if (job === null) continue;
        jobs.push(job);
        instructions += job.source.region.instructions;
      }
      if (jobs.length === 0) return;
      const started = performance.now();
      let bytes: Uint8Array;
      try {
        bytes = translateRegions(
          jobs.map((j) => j.source),
          this.memoryPages,
          this.sharedMemory,
        ).bytes;
      } catch (e) {
        // A translator bug must not take the VM down: these pages stay with the interpreter.
        for (const job of jobs) this.drops[job.block] = MAX_DROPS;
        this.stats.failedBatches++;
        this.lastError = (e as Error).message;
        continue;
      }
      this.stats.wasmBytes += bytes.length;
      this.stats.translateMs += performance.now() - started;
      if (this.stats.liveCodeBytes + bytes.length > this.codeBudget) this.flushCode();
      if (this.synchronous) {
        let module: WebAssembly.Module;
        try {
          module = new WebAssembly.Module(bytes);
        } catch (e) {
          for (const job of jobs) this.drops[job.block] = MAX_DROPS;
          this.stats.failedBatches++;
          this.lastError = (e as Error).message;
          continue;
        }
        this.install(jobs, module, bytes.length, started);
        continue;
      }
      this.compiling = true;
      WebAssembly.compile(bytes).then(
        (module) => {
          this.compiling = false;
          this.install(jobs, module, bytes.length, started);
          this.compileQueued();
        },
        (e: Error) => {
          // A module V8 refuses is a translator bug; the interpreter keeps running these pages.
          this.compiling = false;
          this.stats.failedBatches++;
          this.lastError = e.message;
          for (const job of jobs) this.drops[job.block] = MAX_DROPS;
          this.compileQueued();
        },
      );
      return;
    }
  }

  private prepare(block: number): Job | null {
    const wanted = this.wanted[block];
    if (wanted === null || wanted.size === 0) return null;
    const host = this.host;
    const base = host.blockSlotBase(block);
    // Slots jumped to but not hot yet (indirect-jump targets, often) become entries now too, rather
    // than each costing a recompile of the page when it turns hot.
    const slots = host.jitSlots;
    for (let s = 0; s < SLOTS_PER_PAGE; s++) {
      const j = slots[base + s];
      if (j > 0 && j <= this.threshold >> 1) wanted.add(s);
    }
    // The translation reads a copy of the decode cache; later changes to the page bump the generation.
    const ops = host.decodedOps.slice(base, base + SLOTS_PER_PAGE);
    const imms = host.decodedImms.slice(base, base + SLOTS_PER_PAGE);
    // A 4-byte instruction across the page end, compiled with a check of its upper half.
    const last = SLOTS_PER_PAGE - 1;
    let straddleHigh = -1;
    const straddling = ops[last] === 0 ? host.straddlingInstruction(block) : null;
    if (straddling !== null) {
      ops[last] = straddling.word;
      imms[last] = straddling.imm;
      straddleHigh = straddling.high;
    }
    const decode = (s: number): number => {
      if (!this.strict) return 0;
      const w = host.decodeInBlock(block, s);
      ops[s] = w;
      imms[s] = host.decodedImms[base + s];
      return w;
    };
    const region = formRegion(ops, imms, decode, wanted);
    if (region === null) return null;
    this.recompiles[block]++;
    this.stats.instructionsCompiled += region.instructions;
    return {
      block,
      generation: this.generation[block],
      source: { region, ops, imms, straddleHigh },
    };
  }

  private install(jobs: Job[], module: WebAssembly.Module, bytes: number, started: number): void {
    this.stats.compiles++;
    this.stats.compileMs += performance.now() - started;
    const instance = new WebAssembly.Instance(module, this.imports);
    const code: CodeModule = { bytes, live: 0 };
    const slots = this.host.jitSlots;
    jobs.forEach((job, i) => {
      const { block, generation } = job;
      // The code changed (or the block went to another page) while this was being compiled.
      if (this.generation[block] !== generation) return;
      const run = instance.exports[`r${i}`] as (entry: number) => number;
      // Every block start is an entry: returns and jumps from elsewhere land on them too.
      const entries = new Map<number, number>(job.source.region.blockAt);
      this.setRegion(block, { module: code, run, entries });
      const base = this.host.blockSlotBase(block);
      // Entries of the region this one replaces that are not block starts here any more (a page with
      // more blocks than a region holds) must not send the hart to this region's block of that index.
      for (let s = base; s < base + SLOTS_PER_PAGE; s++) if (slots[s] < 0) slots[s] = this.threshold;
      for (const [slot, index] of entries) {
        const declined = this.entryRuns.get(base + slot)?.calls === DECLINED;
        slots[base + slot] = -(index + 1) - (declined ? DECLINED_ENTRY : 0);
      }
    });
  }

  /** Puts a region in place of the block's current one (or none), counting the code in use. */
  private setRegion(block: number, region: CompiledRegion | null): void {
    const old = this.regions[block];
    if (old !== null && --old.module.live === 0) this.stats.liveCodeBytes -= old.module.bytes;
    if (region !== null && region.module.live++ === 0) this.stats.liveCodeBytes += region.module.bytes;
    this.regions[block] = region;
    this.regionTable.set(block, region === null ? this.noRegion : region.run);
  }

  /** Drops every compiled region; hot code compiles again as it turns hot. */
  private flushCode(): void {
    const slots = this.host.jitSlots;
    for (let block = 0; block < this.regions.length; block++) {
      if (this.regions[block] === null) continue;
      // The code is unchanged, so batches in flight (generation checks) stay valid.
      this.setRegion(block, null);
      this.wanted[block] = null;
      this.recompiles[block] = 0;
      const base = this.host.blockSlotBase(block);
      for (let s = base; s < base + SLOTS_PER_PAGE; s++) if (slots[s] < 0) slots[s] = this.threshold;
    }
    this.stats.codeFlushes++;
  }

  /** The block's code changed or the block is being recycled: its region goes. */
  invalidate(block: number, recycled: boolean): void {
    this.generation[block]++;
    const base = this.host.blockSlotBase(block);
    const slots = this.host.jitSlots;
    if (recycled) {
      for (let s = base; s < base + SLOTS_PER_PAGE; s++) this.entryRuns.delete(s);
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
      this.setRegion(block, null);
      this.stats.dropped++;
    }
    // The running region overwrote its own code: it stops after the store (the rest may be stale).
    if (this.inCompiledCode && this.host.x[SCALAR_RUNNING_BLOCK] === block) this.stopRegion = true;
  }

  /** True when the block has a region (or one is wanted): stores into it must call invalidate. */
  hasCode(block: number): boolean {
    return this.regions[block] !== null || this.wanted[block] !== null;
  }

  /** Counts a stay in compiled code that began at `slot`, and decides whether entering there pays. */
  private noteRun(slot: number, retired: number): void {
    let runs = this.entryRuns.get(slot);
    if (runs === undefined) {
      runs = { calls: 0, retired: 0 };
      this.entryRuns.set(slot, runs);
    }
    if (runs.calls < 0) return;
    runs.calls++;
    runs.retired += retired;
    if (runs.calls < ENTRY_SAMPLES) return;
    if (runs.retired >= MIN_RUN * runs.calls) {
      runs.calls = KEPT;
    } else {
      runs.calls = DECLINED;
      const j = this.host.jitSlots[slot];
      if (j < 0 && j > -DECLINED_ENTRY) this.host.jitSlots[slot] = j - DECLINED_ENTRY;
      this.stats.declinedEntries++;
    }
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
    const startRetired = host.retired;
    let left = budget;
    let traps = 0;
    let firstEntry = -1;
    while (left > 0) {
      const slot = host.entrySlot(host.pc);
      if (slot < 0) break;
      let j = host.jitSlots[slot];
      if (j >= 0 && compileAtPc && this.synchronous) {
        this.hot(slot);
        j = host.jitSlots[slot];
      }
      if (j >= 0) {
        // A pc compiled code left to (the next page, a return, an indirect jump's target) counts
        // towards making it an entry, as a taken branch to it in the interpreter would.
        if (j > 1) host.jitSlots[slot] = j - 1;
        else if (j === 1) this.hot(slot);
        if (host.jitSlots[slot] >= 0) break;
        j = host.jitSlots[slot];
      }
      const block = host.blockOfSlot(slot);
      const region = this.regions[block];
      if (region === null) break;
      if (firstEntry < 0) firstEntry = slot;
      const pc = host.pc;
      x[SCALAR_PC_LO] = pc | 0;
      x[SCALAR_PC_HI] = Math.floor(pc / TWO32) | 0;
      x[SCALAR_BUDGET] = left;
      x[SCALAR_TLB_SET] = host.tlbSetIndex();
      this.regionRetired = startRetired + (budget - left) - traps;
      this.regionBudget = left;
      this.inCompiledCode = true;
      this.stats.regionCalls++;
      // Helpers take traps themselves (EXIT_TRAP); anything thrown through the region is a host error.
      // Entries the interpreter does not hand over at are still entered from compiled code's exits.
      const code = this.chain(block, (-j - 1) & (DECLINED_ENTRY - 1));
      this.inCompiledCode = false;
      if (code === EXIT_TRAP) {
        // The helper took the trap: the pc is the handler's; the budget is as before the access.
        x[SCALAR_HELPER_TRAPPED] = 0;
        left = x[SCALAR_BUDGET] - 1;
        traps++;
        if (host.yieldRequested) break;
        continue;
      }
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
    this.stats.retired += this.retired;
    this.stats.chainedCalls += x[SCALAR_CHAINED];
    x[SCALAR_CHAINED] = 0;
    if (firstEntry >= 0 && !this.strict) this.noteRun(firstEntry, this.retired);
    return budget - left;
  }
}
