/**
 * One RV64GC hart: the reference interpreter.
 *
 * Hot state (registers, CSRs, TLBs, RAM) lives in one WebAssembly.Memory (see state-layout.ts) viewed
 * through typed arrays; 64-bit registers are (lo, hi) int32 pairs. Instructions are decoded once into
 * a per-physical-page cache and executed by one switch. Everything unusual (TLB misses, devices,
 * traps, CSRs) leaves the fast path through a method call; traps unwind with a preallocated signal.
 */
import type { PhysicalBus } from './bus.js';
import {
  ACCESS_FETCH,
  ACCESS_LOAD,
  ACCESS_STORE,
  CAUSE_BREAKPOINT,
  CAUSE_FETCH_ACCESS,
  CAUSE_FETCH_PAGE_FAULT,
  CAUSE_ILLEGAL_INSTRUCTION,
  CAUSE_LOAD_ACCESS,
  CAUSE_LOAD_PAGE_FAULT,
  CAUSE_MACHINE_ECALL,
  CAUSE_MISALIGNED_LOAD,
  CAUSE_MISALIGNED_STORE,
  CAUSE_STORE_ACCESS,
  CAUSE_STORE_PAGE_FAULT,
  CAUSE_SUPERVISOR_ECALL,
  CAUSE_USER_ECALL,
  MIP_MEIP,
  MIP_MSIP,
  MIP_MTIP,
  MIP_SEIP,
  MIP_SSIP,
  MIP_STIP,
  MSTATUS_FS,
  MSTATUS_HI_SD,
  MSTATUS_MIE,
  MSTATUS_MPIE,
  MSTATUS_MPP,
  MSTATUS_MPP_SHIFT,
  MSTATUS_MPRV,
  MSTATUS_MXR,
  MSTATUS_SIE,
  MSTATUS_SPIE,
  MSTATUS_SPP,
  MSTATUS_SUM,
  MSTATUS_TSR,
  MSTATUS_TVM,
  MSTATUS_TW,
  PRIV_M,
  PRIV_S,
  PRIV_U,
  SATP_MODE_SV48,
} from './constants.js';
import { csrAccess, resetCsrs } from './csr.js';
import {
  CSR_FRM,
  CSR_MCAUSE,
  CSR_MEDELEG,
  CSR_MENVCFG,
  CSR_MEPC,
  CSR_MIDELEG,
  CSR_MIE,
  CSR_MIP,
  CSR_MSTATUS,
  CSR_MTVAL,
  CSR_MTVEC,
  CSR_SATP,
  CSR_SCAUSE,
  CSR_SEPC,
  CSR_STIMECMP,
  CSR_STVAL,
  CSR_STVEC,
} from './csr-numbers.js';
import { decode16, decode32, decodedImm } from './decoder.js';
import { Fpu } from './fpu.js';
import { div64, divu64, mul64, mulh64, mulhsu64, mulhu64, result } from './int64.js';
import { Jit, type JitHost, type JitOptions, type StraddlingInstruction } from './jit/jit.js';
import { Amo, Op, PACK_COMPRESSED } from './opcodes.js';
import { Pmp } from './pmp.js';
import {
  type CodeIndexLayout,
  CSR_I32,
  codeIndexLayout,
  DECLINED_ENTRY,
  DECODE_BLOCK_STRIDE,
  DECODE_SLOTS_PER_PAGE,
  DEFAULT_DECODE_CACHE_PAGES,
  F_I32,
  FIRST_DECODE_SLOT,
  RAM_BYTE,
  TLB_BYTE,
  TLB_ENTRIES,
  TLB_SETS,
} from './state-layout.js';

const TWO32 = 4294967296;
const TLB_MASK = TLB_ENTRIES - 1;
/** A tag no page can have (page tags have their low 12 bits clear): marks an empty TLB entry. */
const TLB_EMPTY = 1;
/** Decode-cache slots per 4 KiB page: one per halfword. */
const SLOTS_PER_PAGE = DECODE_SLOTS_PER_PAGE;
/**
 * A block is a page's slots plus two sentinel slots holding Op.PAGE_END, so running off the end of a
 * page (also with a 4-byte instruction in its last halfword) dispatches to the refetch code instead of
 * every instruction checking its slot. Slots 0 and 1 of the cache are the "far" sentinel: a jump out
 * of the page sets slot 0 and leaves its target in farPc.
 */
const BLOCK_STRIDE = DECODE_BLOCK_STRIDE;
const FIRST_BLOCK = FIRST_DECODE_SLOT;
/** Stores into a decoded page that miss its code before the page is taken for data (see invalidateStore). */
const DATA_STORES_BEFORE_RELEASE = 64;

/** Thrown (never allocated anew) to unwind from a trap deep in a slow path back to the run loop. */
export const TRAP_SIGNAL = { trap: true } as const;

export interface HartOptions {
  hartId?: number;
  /** Current value of the platform timer (mtime), in ticks of the timebase. */
  readTime?: () => number;
  /** Pages of decoded instructions kept at once. */
  decodeCachePages?: number;
  /** The compiled (WebAssembly) tier; absent or false: the interpreter alone. */
  jit?: JitOptions | false;
}

/** Effective address of a load or store: low word returned, high word left here. */
let eaHi = 0;
function effectiveAddress(baseLo: number, baseHi: number, imm: number): number {
  const lo = (baseLo + imm) | 0;
  // Unsigned carry out of the low word, computed with 32-bit compares (no float conversions).
  eaHi = (baseHi + (imm >> 31) + (lo >>> 0 < baseLo >>> 0 ? 1 : 0)) | 0;
  return lo;
}

export class Hart implements JitHost {
  readonly memory: WebAssembly.Memory;
  readonly bus: PhysicalBus;
  readonly hartId: number;
  readonly fpu: Fpu;
  readonly pmp = new Pmp();
  readTime: () => number;

  /** Whole state buffer as int32: registers at X_I32/F_I32. */
  readonly x: Int32Array;
  /** CSR words: csr[2n] / csr[2n+1] are CSR n's low and high words. */
  readonly csr: Int32Array;
  readonly ram8: Uint8Array;
  readonly ram16: Uint16Array;
  readonly ram32: Int32Array;
  readonly ramView: DataView;
  readonly ramBase: number;
  readonly ramSize: number;

  private readonly tlbTagLo: Int32Array[];
  private readonly tlbTagHi: Int32Array[];
  private readonly tlbOff: Int32Array[];

  /** Decoded instructions: packed word and immediate, SLOTS_PER_PAGE per cached page. */
  private readonly dOp: Int32Array;
  private readonly dImm: Int32Array;
  /**
   * Per decode slot, for the compiled tier: taken branches left before the slot is hot (> 0), nothing
   * to do (0), or the compiled entry to run there (< 0). See jit/jit.ts.
   */
  readonly jitSlots: Int32Array;
  /** Where the page-block and jit-slot tables sit in the state memory. */
  readonly codeIndex: CodeIndexLayout;
  /** The compiled tier, or null when the interpreter runs alone. */
  readonly jit: Jit | null;
  /** Set when the interpreter stopped at a compiled entry: run() hands over to the tier. */
  private jitPending = false;
  /** Traps taken since reset (a trap that retires nothing still uses up budget; see run). */
  trapsTaken = 0;
  /** For each RAM page, its block in the decode cache, or -1. */
  private readonly pageBlock: Int32Array;
  private readonly blockPage: Int32Array;
  /** Stores into a block's page since the last that hit decoded code (see invalidateStore). */
  private readonly dataStores: Int32Array;
  /**
   * Per block: the upper halfword of the 4-byte instruction last run across its page's end (never
   * cached: the halves may change apart), or -1. The compiled tier compiles that instruction with a
   * check that the next page still holds this halfword (see straddlingInstruction).
   */
  private readonly straddleHigh: Int32Array;
  private nextVictim = 0;

  /** The page instructions are being fetched from: its virtual base and first decode slot. */
  private fetchVBase = Number.NaN;
  private fetchSlotBase = 0;
  private fetchRamPage = 0;

  pc = 0;
  priv = PRIV_M;
  /** Set by wfi; cleared when an interrupt becomes pending. */
  waiting = false;
  /** Asks the run loop to return at the next slow-path boundary (devices, CSR writes, xRET, wfi). */
  yieldRequested = false;
  /** LR/SC reservation: RAM byte offset, or -1. */
  reservation = -1;
  /** Interrupt lines driven by devices (MTIP, MSIP, MEIP, SEIP). */
  mipPins = 0;
  /**
   * RAM pages whose stores a device must see (HTIF's tohost lives in ordinary RAM). Stores to them never
   * enter the store TLB, so they all reach writeRam, which calls onWatchedStore.
   */
  readonly watchedPages: Uint8Array;
  onWatchedStore: (ramOffset: number, size: number) => void = () => {};

  /** Instructions retired since reset, not counting the batch in progress. */
  retired = 0;
  /** Retired count at the current instruction, valid during CSR accesses from the run loop. */
  liveRetired = 0;
  /** minstret = retired + instretOffset; mcycle likewise. */
  instretOffset = 0;
  cycleOffset = 0;

  constructor(memory: WebAssembly.Memory, bus: PhysicalBus, options: HartOptions = {}) {
    this.memory = memory;
    this.bus = bus;
    this.hartId = options.hartId ?? 0;
    this.readTime = options.readTime ?? (() => 0);
    const buffer = memory.buffer;
    const cachePages = options.decodeCachePages ?? DEFAULT_DECODE_CACHE_PAGES;
    const index = codeIndexLayout(bus.ramSize, cachePages);
    this.codeIndex = index;
    if (buffer.byteLength < index.memoryBytes) {
      throw new RangeError(
        `state memory of ${buffer.byteLength} bytes cannot hold ${bus.ramSize} bytes of RAM and the code index (createStateMemory sizes it)`,
      );
    }
    this.x = new Int32Array(buffer, 0, RAM_BYTE >> 2);
    this.csr = new Int32Array(buffer, CSR_I32 * 4, 4096 * 2);
    this.ramBase = bus.ramBase;
    this.ramSize = bus.ramSize;
    this.ram8 = new Uint8Array(buffer, RAM_BYTE, bus.ramSize);
    this.ram16 = new Uint16Array(buffer, RAM_BYTE, bus.ramSize >> 1);
    this.ram32 = new Int32Array(buffer, RAM_BYTE, bus.ramSize >> 2);
    this.ramView = new DataView(buffer, RAM_BYTE, bus.ramSize);
    this.tlbTagLo = [];
    this.tlbTagHi = [];
    this.tlbOff = [];
    for (let kind = 0; kind < 3 * TLB_SETS; kind++) {
      const base = TLB_BYTE + kind * 3 * 4 * TLB_ENTRIES;
      this.tlbTagLo.push(new Int32Array(buffer, base, TLB_ENTRIES));
      this.tlbTagHi.push(new Int32Array(buffer, base + 4 * TLB_ENTRIES, TLB_ENTRIES));
      this.tlbOff.push(new Int32Array(buffer, base + 8 * TLB_ENTRIES, TLB_ENTRIES));
    }
    this.dOp = new Int32Array(index.decodeSlots);
    this.dImm = new Int32Array(index.decodeSlots);
    this.dOp[0] = Op.PAGE_END;
    this.dOp[1] = Op.PAGE_END;
    for (let b = 0; b < cachePages; b++) {
      this.dOp[this.blockBase(b) + SLOTS_PER_PAGE] = Op.PAGE_END;
      this.dOp[this.blockBase(b) + SLOTS_PER_PAGE + 1] = Op.PAGE_END;
    }
    // In the state memory, so that compiled code finds the next region itself (jit/chain.ts).
    this.jitSlots = new Int32Array(buffer, index.jitSlotsByte, index.decodeSlots);
    this.jit = options.jit ? new Jit(this, cachePages, options.jit) : null;
    this.blockPage = new Int32Array(cachePages).fill(-1);
    this.dataStores = new Int32Array(cachePages);
    this.straddleHigh = new Int32Array(cachePages).fill(-1);
    this.pageBlock = new Int32Array(buffer, index.pageBlockByte, Math.ceil(bus.ramSize / 4096)).fill(-1);
    this.watchedPages = new Uint8Array(this.pageBlock.length);
    this.fpu = new Fpu(new Int32Array(buffer, 0, RAM_BYTE >> 2));
    this.reset(this.ramBase);
  }

  /** Puts the hart in its reset state: M-mode at `pc`, registers and CSRs cleared. */
  reset(pc: number): void {
    this.x.fill(0, 0, F_I32 + 64);
    resetCsrs(this);
    this.pc = pc;
    this.priv = PRIV_M;
    this.tlbSet = 6;
    this.waiting = false;
    this.reservation = -1;
    this.fpu.fflags = 0;
    this.flushTlb();
  }

  // ---------------------------------------------------------------------------------------------
  // Register access for loaders, debuggers and tests (not used by the run loop).

  getRegister(r: number): bigint {
    return (BigInt(this.x[2 * r + 1]) << 32n) | BigInt(this.x[2 * r] >>> 0);
  }

  setRegister(r: number, value: bigint | number): void {
    if (r === 0) return;
    const v = BigInt.asIntN(64, BigInt(value));
    this.x[2 * r] = Number(BigInt.asIntN(32, v));
    this.x[2 * r + 1] = Number(v >> 32n);
  }

  getFloatRegisterBits(r: number): bigint {
    return (BigInt(this.x[F_I32 + 2 * r + 1] >>> 0) << 32n) | BigInt(this.x[F_I32 + 2 * r] >>> 0);
  }

  // ---------------------------------------------------------------------------------------------
  // TLBs and the decode cache.

  flushTlb(): void {
    for (let kind = 0; kind < 3 * TLB_SETS; kind++) this.tlbTagLo[kind].fill(TLB_EMPTY);
    this.fetchVBase = Number.NaN;
    this.superpages.clear();
  }

  /**
   * sfence.vma for one virtual address: forgets the translations of its page. TLB entries are 4 KiB
   * pages, so when a superpage around the address may have been cached, the entries of its other pages
   * hold the same leaf PTE and everything goes.
   */
  flushTlbPage(lo: number, hi: number): void {
    const vpn = (hi & 0xffff) * 1048576 + (lo >>> 12);
    for (let level = 1; level <= 3; level++) {
      if (this.superpages.has(Math.floor(vpn / 512 ** level) * 4 + level)) {
        this.flushTlb();
        return;
      }
    }
    const idx = (lo >>> 12) & TLB_MASK;
    const tag = lo & -4096;
    for (let kind = 0; kind < 3 * TLB_SETS; kind++) {
      if (this.tlbTagLo[kind][idx] === tag && this.tlbTagHi[kind][idx] === hi)
        this.tlbTagLo[kind][idx] = TLB_EMPTY;
    }
    this.fetchVBase = Number.NaN;
  }

  /** Superpages walked since the last full flush, as (virtual page number >> 9*level) * 4 + level. */
  private readonly superpages = new Set<number>();

  /**
   * Forgets the load and store translations of privilege `fromPriv` and above; fetch translations
   * stay. For mstatus changes that only narrow what loads and stores may reach.
   */
  flushDataTlbs(fromPriv: number): void {
    for (let set = fromPriv === PRIV_M ? 2 : fromPriv; set < TLB_SETS; set++) {
      this.tlbTagLo[3 * set + ACCESS_LOAD].fill(TLB_EMPTY);
      this.tlbTagLo[3 * set + ACCESS_STORE].fill(TLB_EMPTY);
    }
  }

  /** Forgets decoded instructions overlapping RAM bytes [offset, offset+length): call after DMA writes. */
  invalidateCode(offset: number, length: number): void {
    const first = Math.max(0, offset) >>> 12;
    const last = Math.min(this.ramSize - 1, offset + length - 1) >>> 12;
    for (let page = first; page <= last; page++) {
      const block = this.pageBlock[page];
      if (block < 0) continue;
      this.dOp.fill(0, this.blockBase(block), this.blockBase(block) + SLOTS_PER_PAGE);
      this.jit?.invalidate(block, false);
    }
  }

  /** Stores into a page with decoded code forget the (at most three) slots the bytes overlap. */
  private invalidateStore(offset: number, size: number): void {
    const page = offset >>> 12;
    const block = this.pageBlock[page];
    const base = this.blockBase(block);
    const firstSlot = ((offset & 4095) >> 1) - 1;
    const lastSlot = Math.min(SLOTS_PER_PAGE - 1, ((offset & 4095) + size - 1) >> 1);
    let decoded = 0;
    for (let s = Math.max(firstSlot, 0); s <= lastSlot; s++) {
      decoded |= this.dOp[base + s];
      this.dOp[base + s] = 0;
    }
    if (decoded !== 0) {
      this.dataStores[block] = 0;
      if (this.jit?.hasCode(block)) this.jit.invalidate(block, false);
    } else if (++this.dataStores[block] >= DATA_STORES_BEFORE_RELEASE && page !== this.fetchRamPage) {
      // A page that was code once and is written as data now (freed init code, a reused user page)
      // would make every store into it take the slow path: it leaves the decode cache, and gets a
      // block again if it is ever executed.
      this.releaseBlock(block);
    }
  }

  /** Gives a decode block back: its page is no longer treated as code. */
  private releaseBlock(block: number): void {
    const page = this.blockPage[block];
    this.pageBlock[page] = -1;
    this.blockPage[block] = -1;
    this.dataStores[block] = 0;
    this.straddleHigh[block] = -1;
    this.dOp.fill(0, this.blockBase(block), this.blockBase(block) + SLOTS_PER_PAGE);
    if (this.jit !== null) this.jit.invalidate(block, true);
  }

  private blockBase(block: number): number {
    return FIRST_BLOCK + block * BLOCK_STRIDE;
  }

  private blockForPage(page: number): number {
    let block = this.pageBlock[page];
    if (block >= 0) return block;
    block = this.nextVictim;
    this.nextVictim = (block + 1) % this.blockPage.length;
    const old = this.blockPage[block];
    if (old >= 0) this.pageBlock[old] = -1;
    this.blockPage[block] = page;
    this.pageBlock[page] = block;
    this.dataStores[block] = 0;
    this.straddleHigh[block] = -1;
    this.dOp.fill(0, this.blockBase(block), this.blockBase(block) + SLOTS_PER_PAGE);
    if (this.jit !== null) this.jit.invalidate(block, true);
    this.forgetStoreEntries(page);
    return block;
  }

  /**
   * A page that holds decoded (or compiled) code has no entry in the store TLBs, so every store into it
   * takes the slow path, which invalidates what it overwrites: the fast paths, interpreted and compiled,
   * never need to check for code.
   */
  private forgetStoreEntries(page: number): void {
    const off = page * 4096;
    for (let set = 0; set < TLB_SETS; set++) {
      const kind = 3 * set + ACCESS_STORE;
      const tags = this.tlbTagLo[kind];
      const offs = this.tlbOff[kind];
      for (let i = 0; i < TLB_ENTRIES; i++) if (offs[i] === off) tags[i] = TLB_EMPTY;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What the compiled tier needs (JitHost).

  get decodedOps(): Int32Array {
    return this.dOp;
  }

  get decodedImms(): Int32Array {
    return this.dImm;
  }

  blockSlotBase(block: number): number {
    return this.blockBase(block);
  }

  decodeInBlock(block: number, slotInPage: number): number {
    const slot = this.blockBase(block) + slotInPage;
    if (this.dOp[slot] !== 0) return this.dOp[slot];
    const ramOff = this.blockPage[block] * 4096 + slotInPage * 2;
    const low = this.ram16[ramOff >> 1];
    let w: number;
    if ((low & 3) !== 3) w = decode16(low);
    else if (slotInPage === SLOTS_PER_PAGE - 1) return 0;
    else w = decode32(low | (this.ram16[(ramOff >> 1) + 1] << 16));
    this.dOp[slot] = w;
    this.dImm[slot] = decodedImm;
    return w;
  }

  straddlingInstruction(block: number): StraddlingInstruction | null {
    const high = this.straddleHigh[block];
    if (high < 0) return null;
    const low = this.ram16[(this.blockPage[block] * 4096 + 4094) >> 1];
    if ((low & 3) !== 3) return null;
    const word = decode32(low | (high << 16));
    return { word, imm: decodedImm, high };
  }

  execFp(imm: number, rd: number, rs1: number, rs2: number): number {
    const csr = this.csr;
    if ((csr[CSR_MSTATUS * 2] & MSTATUS_FS) === 0) return 1;
    let rm = (imm >>> 8) & 7;
    if (rm === 7) {
      rm = csr[CSR_FRM * 2];
      if (rm > 4) return 1;
    }
    this.fpu.exec(imm & 0xff, rd, rs1, rs2, (imm >>> 11) & 31, rm);
    csr[CSR_MSTATUS * 2] |= MSTATUS_FS;
    csr[CSR_MSTATUS * 2 + 1] |= MSTATUS_HI_SD;
    return 0;
  }

  blockOfSlot(slot: number): number {
    return ((slot - FIRST_BLOCK) / BLOCK_STRIDE) | 0;
  }

  tlbSetIndex(): number {
    return this.tlbSet;
  }

  get trapSignal(): object {
    return TRAP_SIGNAL;
  }

  entrySlot(pc: number): number {
    const lo = pc | 0;
    const hi = Math.floor(pc / TWO32) | 0;
    const idx = (lo >>> 12) & TLB_MASK;
    const fetchTlb = this.tlbSet + ACCESS_FETCH;
    if (this.tlbTagLo[fetchTlb][idx] !== (lo & -4096) || this.tlbTagHi[fetchTlb][idx] !== hi) return -1;
    const block = this.pageBlock[this.tlbOff[fetchTlb][idx] >>> 12];
    return block < 0 ? -1 : this.blockBase(block) + ((lo & 4095) >> 1);
  }

  /** A taken branch reached a slot whose counter says hot or compiled: true to enter compiled code. */
  private jitReach(slot: number, count: number): boolean {
    if (count < 0) {
      if (count <= -DECLINED_ENTRY) return false;
      this.jitPending = true;
      return true;
    }
    this.jit?.hot(slot);
    // Compiled on the spot (synchronous tier): run it now.
    const j = this.jitSlots[slot];
    if (j < 0 && j > -DECLINED_ENTRY) {
      this.jitPending = true;
      return true;
    }
    return false;
  }

  /** Translates the fetch address `pc` and points the fetch window at its page. */
  private enterFetchPage(pc: number): void {
    const lo = pc | 0;
    const page = this.fetchRamOffset(lo, Math.floor(pc / TWO32) | 0) >>> 12;
    this.fetchRamPage = page;
    this.fetchSlotBase = this.blockBase(this.blockForPage(page));
    this.fetchVBase = pc - (lo & 4095);
  }

  /** RAM offset of the fetch address (lo, hi): through the fetch TLB, else a walk (which may fault). */
  private fetchRamOffset(lo: number, hi: number): number {
    const idx = (lo >>> 12) & TLB_MASK;
    const fetchTlb = this.tlbSet + ACCESS_FETCH;
    if (this.tlbTagLo[fetchTlb][idx] === (lo & -4096) && this.tlbTagHi[fetchTlb][idx] === hi) {
      return this.tlbOff[fetchTlb][idx] + (lo & 4095);
    }
    const off = this.translate(lo, hi, ACCESS_FETCH, 2) - this.ramBase;
    if (!(off >= 0 && off < this.ramSize)) this.raise(CAUSE_FETCH_ACCESS, lo, hi);
    return off;
  }

  /** Decodes the instruction at a fetch-window offset, caching it unless it straddles two pages. */
  private decodeAt(pc: number, offsetInPage: number, slot: number): number {
    const ramOff = this.fetchRamPage * 4096 + offsetInPage;
    const low = this.ram16[ramOff >> 1];
    let w: number;
    if ((low & 3) !== 3) {
      w = decode16(low);
    } else if (offsetInPage === 4094) {
      // The upper half lies on the next page, which may map elsewhere or fault.
      const next = pc + 2;
      // Not cached in the decode cache (the two halves may change apart), so the hot case is a TLB hit.
      const off = this.fetchRamOffset(next | 0, Math.floor(next / TWO32) | 0);
      const high = this.ram16[off >> 1];
      w = decode32(low | (high << 16));
      this.crossImm = decodedImm;
      this.straddleHigh[this.blockOfSlot(slot)] = high;
      return w;
    } else {
      w = decode32(low | (this.ram16[(ramOff >> 1) + 1] << 16));
    }
    this.dOp[slot] = w;
    this.dImm[slot] = decodedImm;
    return w;
  }
  private crossImm = 0;

  // ---------------------------------------------------------------------------------------------
  // Traps.

  /** Raises a synchronous exception at this.pc and unwinds to the run loop. */
  raise(cause: number, tvalLo: number, tvalHi: number): never {
    this.enterTrap(cause, false, tvalLo, tvalHi, this.pc | 0, Math.floor(this.pc / TWO32) | 0);
    throw TRAP_SIGNAL;
  }

  raiseIllegal(bits: number): never {
    return this.raise(CAUSE_ILLEGAL_INSTRUCTION, bits >>> 0, 0);
  }

  /**
   * Firmware implemented by the host (the built-in SBI): sees every trap bound for M-mode before the
   * hart takes it, and returns true when it handled the trap itself (it then sets pc and registers).
   */
  machineTrapHandler: ((cause: number, interrupt: boolean, epcLo: number, epcHi: number) => boolean) | null =
    null;

  /** Enters the trap handler for `cause`; the return address is (epcLo, epcHi). */
  enterTrap(
    cause: number,
    interrupt: boolean,
    tvalLo: number,
    tvalHi: number,
    epcLo: number,
    epcHi: number,
  ): void {
    this.trapsTaken++;
    const csr = this.csr;
    const priv = this.priv;
    const deleg = interrupt ? csr[CSR_MIDELEG * 2] : csr[CSR_MEDELEG * 2];
    const toSupervisor = priv <= PRIV_S && ((deleg >>> cause) & 1) === 1;
    if (
      !toSupervisor &&
      this.machineTrapHandler !== null &&
      this.machineTrapHandler(cause, interrupt, epcLo, epcHi)
    ) {
      return;
    }
    let status = csr[CSR_MSTATUS * 2];
    let vector: number;
    this.reservation = -1;
    if (toSupervisor) {
      csr[CSR_SEPC * 2] = epcLo;
      csr[CSR_SEPC * 2 + 1] = epcHi;
      csr[CSR_SCAUSE * 2] = cause;
      csr[CSR_SCAUSE * 2 + 1] = interrupt ? 0x80000000 | 0 : 0;
      csr[CSR_STVAL * 2] = tvalLo;
      csr[CSR_STVAL * 2 + 1] = tvalHi;
      status =
        (status & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP)) | ((status & MSTATUS_SIE) << 4) | (priv << 8);
      this.setPriv(PRIV_S);
      vector = CSR_STVEC;
    } else {
      csr[CSR_MEPC * 2] = epcLo;
      csr[CSR_MEPC * 2 + 1] = epcHi;
      csr[CSR_MCAUSE * 2] = cause;
      csr[CSR_MCAUSE * 2 + 1] = interrupt ? 0x80000000 | 0 : 0;
      csr[CSR_MTVAL * 2] = tvalLo;
      csr[CSR_MTVAL * 2 + 1] = tvalHi;
      status =
        (status & ~(MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP)) |
        ((status & MSTATUS_MIE) << 4) |
        (priv << MSTATUS_MPP_SHIFT);
      this.setPriv(PRIV_M);
      vector = CSR_MTVEC;
    }
    // With MPRV set, M-mode loads and stores use MPP's view, which a trap into M-mode just changed.
    if (!toSupervisor && (status & MSTATUS_MPRV) !== 0) this.flushTlb();
    csr[CSR_MSTATUS * 2] = status;
    const tvecLo = csr[vector * 2];
    const tvecHi = csr[vector * 2 + 1];
    let target = tvecHi * TWO32 + ((tvecLo & ~3) >>> 0);
    if (interrupt && (tvecLo & 3) === 1) target += 4 * cause;
    this.pc = target;
  }

  /** Switches privilege; TLB entries hold permission checks for one privilege, so they go. */
  setPriv(priv: number): void {
    if (priv !== this.priv) {
      this.priv = priv;
      // TLB entries hold the permission checks of one privilege: each privilege has its own set.
      this.tlbSet = 3 * (priv === PRIV_M ? 2 : priv);
      this.fetchVBase = Number.NaN;
    }
  }

  /** Index of the first of the current privilege's three TLBs. */
  private tlbSet = 6;

  /**
   * After a change that may make an interrupt deliverable (CSR writes): end the batch so the board
   * checks interrupts, but only when one is pending and enabled. Linux toggles sstatus.SIE constantly;
   * ending the batch on every toggle cost more than the instructions did.
   */
  checkInterruptsSoon(): void {
    if ((this.readMip() & this.csr[CSR_MIE * 2]) !== 0) this.yieldRequested = true;
  }

  /** Interrupts that are pending and enabled in mie (globally enabled or not). */
  pendingInterrupts(): number {
    return this.readMip() & this.csr[CSR_MIE * 2];
  }

  /** mip as software sees it: device lines, software-written bits and the Sstc comparator. */
  readMip(): number {
    let mip = (this.csr[CSR_MIP * 2] & (MIP_SSIP | MIP_STIP | MIP_SEIP)) | this.mipPins;
    if (this.csr[CSR_MENVCFG * 2 + 1] < 0) {
      mip &= ~MIP_STIP;
      if (this.readTime() >= this.supervisorTimerDeadline()) mip |= MIP_STIP;
    }
    return mip;
  }

  /** When the Sstc comparator fires (stimecmp), or Infinity while menvcfg.STCE leaves STIP to software. */
  supervisorTimerDeadline(): number {
    if (this.csr[CSR_MENVCFG * 2 + 1] >= 0) return Number.POSITIVE_INFINITY;
    return (this.csr[CSR_STIMECMP * 2 + 1] >>> 0) * TWO32 + (this.csr[CSR_STIMECMP * 2] >>> 0);
  }

  /** Takes the highest-priority interrupt that may be taken now. Returns true when one was taken. */
  checkInterrupts(): boolean {
    const mip = this.readMip();
    const mideleg = this.csr[CSR_MIDELEG * 2];
    // wfi resumes for any interrupt enabled in mie, and also for a delegated one that is pending but
    // masked (the ISA lets wfi resume at any time; software such as the ISA tests expects this).
    if ((mip & (this.csr[CSR_MIE * 2] | mideleg)) !== 0) this.waiting = false;
    const pending = mip & this.csr[CSR_MIE * 2];
    if (pending === 0) return false;
    const status = this.csr[CSR_MSTATUS * 2];
    const priv = this.priv;
    const mEnabled = priv < PRIV_M || (status & MSTATUS_MIE) !== 0;
    const sEnabled = priv < PRIV_S || (priv === PRIV_S && (status & MSTATUS_SIE) !== 0);
    let candidates = 0;
    if (mEnabled) candidates |= pending & ~mideleg;
    if (sEnabled) candidates |= pending & mideleg;
    if (candidates === 0) return false;
    // Priority order of the privileged spec: MEI, MSI, MTI, SEI, SSI, STI.
    const order = candidates & ~mideleg ? candidates & ~mideleg : candidates;
    let cause: number;
    if (order & MIP_MEIP) cause = 11;
    else if (order & MIP_MSIP) cause = 3;
    else if (order & MIP_MTIP) cause = 7;
    else if (order & MIP_SEIP) cause = 9;
    else if (order & MIP_SSIP) cause = 1;
    else cause = 5;
    this.enterTrap(cause, true, 0, 0, this.pc | 0, Math.floor(this.pc / TWO32) | 0);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Address translation.

  /**
   * Translates a virtual address for an access of `size` bytes, checking permissions and PMP, and
   * caches the page in the matching TLB when it is ordinary RAM. Returns the physical address.
   */
  translate(lo: number, hi: number, access: number, size: number): number {
    const csr = this.csr;
    let priv = this.priv;
    const status = csr[CSR_MSTATUS * 2];
    if (access !== ACCESS_FETCH && (status & MSTATUS_MPRV) !== 0 && priv === PRIV_M) {
      priv = (status & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
    }
    const mode = csr[CSR_SATP * 2 + 1] >>> 28;
    // A store only reaches the store TLB after the walk has set the PTE's D bit, so cached stores never
    // skip a D update.
    const pa =
      priv === PRIV_M || mode === 0
        ? (hi >>> 0) * TWO32 + (lo >>> 0)
        : this.walk(lo, hi, access, priv, mode, status);
    const accessFault =
      access === ACCESS_FETCH
        ? CAUSE_FETCH_ACCESS
        : access === ACCESS_LOAD
          ? CAUSE_LOAD_ACCESS
          : CAUSE_STORE_ACCESS;
    if (!this.pmp.check(pa, size, access, priv)) this.raise(accessFault, lo, hi);
    const off = pa - this.ramBase;
    if (off >= 0 && off < this.ramSize) {
      const pageBase = pa - (pa % 4096);
      const watched =
        access === ACCESS_STORE && (this.watchedPages[off >>> 12] !== 0 || this.pageBlock[off >>> 12] >= 0);
      if (!watched && this.pmp.pageIsUniformlyAllowed(pageBase, access, priv)) {
        const idx = (lo >>> 12) & TLB_MASK;
        const tlb = this.tlbSet + access;
        this.tlbTagLo[tlb][idx] = lo & -4096;
        this.tlbTagHi[tlb][idx] = hi;
        this.tlbOff[tlb][idx] = off - (off % 4096);
      }
    }
    return pa;
  }

  private pageFault(access: number, lo: number, hi: number): never {
    const cause =
      access === ACCESS_FETCH
        ? CAUSE_FETCH_PAGE_FAULT
        : access === ACCESS_LOAD
          ? CAUSE_LOAD_PAGE_FAULT
          : CAUSE_STORE_PAGE_FAULT;
    return this.raise(cause, lo, hi);
  }

  /** Sv39/Sv48 page-table walk with hardware A/D updates. */
  private walk(lo: number, hi: number, access: number, priv: number, mode: number, status: number): number {
    const levels = mode === SATP_MODE_SV48 ? 4 : 3;
    // The address must be the sign extension of its top translated bit.
    const top = levels === 4 ? hi >> 15 : hi >> 6;
    if (top !== 0 && top !== -1) this.pageFault(access, lo, hi);
    const csr = this.csr;
    let table = ((csr[CSR_SATP * 2 + 1] & 0xfff) * TWO32 + (csr[CSR_SATP * 2] >>> 0)) * 4096;
    const accessFault =
      access === ACCESS_FETCH
        ? CAUSE_FETCH_ACCESS
        : access === ACCESS_LOAD
          ? CAUSE_LOAD_ACCESS
          : CAUSE_STORE_ACCESS;
    for (let level = levels - 1; level >= 0; level--) {
      const vpn = this.vpn(lo, hi, level);
      const pteAddr = table + vpn * 8;
      const pteOff = pteAddr - this.ramBase;
      if (!this.pmp.check(pteAddr, 8, ACCESS_LOAD, PRIV_S) || !(pteOff >= 0 && pteOff < this.ramSize)) {
        this.raise(accessFault, lo, hi);
      }
      let pteLo = this.ram32[pteOff >> 2];
      const pteHi = this.ram32[(pteOff >> 2) + 1];
      if ((pteLo & 1) === 0 || (pteLo & 6) === 4 || pteHi >>> 22 !== 0) this.pageFault(access, lo, hi);
      const ppn = (pteHi & 0x3fffff) * 4194304 + (pteLo >>> 10);
      if ((pteLo & 0xa) === 0) {
        // Pointer to the next level.
        if (level === 0) this.pageFault(access, lo, hi);
        table = ppn * 4096;
        continue;
      }
      // Leaf: permissions.
      const user = (pteLo & 0x10) !== 0;
      if (priv === PRIV_U) {
        if (!user) this.pageFault(access, lo, hi);
      } else if (user && (access === ACCESS_FETCH || (status & MSTATUS_SUM) === 0)) {
        this.pageFault(access, lo, hi);
      }
      if (access === ACCESS_FETCH) {
        if ((pteLo & 8) === 0) this.pageFault(access, lo, hi);
      } else if (access === ACCESS_LOAD) {
        if ((pteLo & 2) === 0 && !((status & MSTATUS_MXR) !== 0 && (pteLo & 8) !== 0))
          this.pageFault(access, lo, hi);
      } else if ((pteLo & 4) === 0) {
        this.pageFault(access, lo, hi);
      }
      // A superpage's physical page number must be aligned to its size.
      const span = 2 ** (9 * level);
      if (level > 0 && ppn % span !== 0) this.pageFault(access, lo, hi);
      const wanted = access === ACCESS_STORE ? 0xc0 : 0x40;
      if ((pteLo & wanted) !== wanted) {
        if (!this.pmp.check(pteAddr, 8, ACCESS_STORE, PRIV_S)) this.raise(accessFault, lo, hi);
        pteLo |= wanted;
        this.ram32[pteOff >> 2] = pteLo;
      }
      if (level > 0)
        this.superpages.add(Math.floor(((hi & 0xffff) * 1048576 + (lo >>> 12)) / 512 ** level) * 4 + level);
      const vpnLow = level === 0 ? 0 : this.vpnBits(lo, hi, level);
      return (ppn + vpnLow) * 4096 + (lo & 4095);
    }
    return this.pageFault(access, lo, hi);
  }

  private vpn(lo: number, hi: number, level: number): number {
    switch (level) {
      case 0:
        return (lo >>> 12) & 511;
      case 1:
        return (lo >>> 21) & 511;
      case 2:
        return ((lo >>> 30) | (hi << 2)) & 511;
      default:
        return (hi >>> 7) & 511;
    }
  }

  /** Virtual page number bits below `level` (the part a superpage passes through). */
  private vpnBits(lo: number, hi: number, level: number): number {
    const vpn = (hi & 0xffff) * 1048576 + (lo >>> 12);
    return vpn % 2 ** (9 * level);
  }

  // ---------------------------------------------------------------------------------------------
  // Slow-path memory access.

  /** Value of the last slow load's high word. */
  loadHi = 0;

  private accessFaultCause(access: number): number {
    return access === ACCESS_LOAD ? CAUSE_LOAD_ACCESS : CAUSE_STORE_ACCESS;
  }

  /** Loads `size` bytes at virtual (lo, hi); returns the low word (zero-extended), high word in loadHi. */
  loadSlow(lo: number, hi: number, size: number): number {
    if ((lo & (size - 1)) !== 0) return this.loadMisaligned(lo, hi, size);
    const pa = this.translate(lo, hi, ACCESS_LOAD, size);
    const off = pa - this.ramBase;
    if (off >= 0 && off < this.ramSize) return this.readRam(off, size);
    if (!this.bus.readDevice(pa, size)) this.raise(CAUSE_LOAD_ACCESS, lo, hi);
    this.loadHi = size === 8 ? this.bus.valueHi : 0;
    const v = this.bus.valueLo;
    return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v;
  }

  private readRam(off: number, size: number): number {
    this.loadHi = 0;
    switch (size) {
      case 1:
        return this.ram8[off];
      case 2:
        return this.ram16[off >> 1];
      case 4:
        return this.ram32[off >> 2];
      default:
        this.loadHi = this.ram32[(off >> 2) + 1];
        return this.ram32[off >> 2];
    }
  }

  /** Misaligned loads are done byte by byte, each byte translated (and faulting) on its own. */
  private loadMisaligned(lo: number, hi: number, size: number): number {
    let vLo = 0;
    let vHi = 0;
    for (let i = 0; i < size; i++) {
      const bLo = (lo + i) | 0;
      const bHi = (hi + ((lo >>> 0) + i > 0xffffffff ? 1 : 0)) | 0;
      const pa = this.translate(bLo, bHi, ACCESS_LOAD, 1);
      const off = pa - this.ramBase;
      let byte: number;
      if (off >= 0 && off < this.ramSize) byte = this.ram8[off];
      else if (this.bus.readDevice(pa, 1)) byte = this.bus.valueLo & 0xff;
      else this.raise(CAUSE_LOAD_ACCESS, bLo, bHi);
      if (i < 4) vLo |= byte << (8 * i);
      else vHi |= byte << (8 * (i - 4));
    }
    this.loadHi = vHi;
    return vLo;
  }

  storeSlow(lo: number, hi: number, size: number, vLo: number, vHi: number): void {
    if ((lo & (size - 1)) !== 0) {
      this.storeMisaligned(lo, hi, size, vLo, vHi);
      return;
    }
    const pa = this.translate(lo, hi, ACCESS_STORE, size);
    const off = pa - this.ramBase;
    if (off >= 0 && off < this.ramSize) {
      this.writeRam(off, size, vLo, vHi);
      return;
    }
    // A device that raises an interrupt or stops the machine asks the hart to yield itself.
    if (!this.bus.writeDevice(pa, size, vLo, vHi)) this.raise(CAUSE_STORE_ACCESS, lo, hi);
  }

  writeRam(off: number, size: number, vLo: number, vHi: number): void {
    switch (size) {
      case 1:
        this.ram8[off] = vLo;
        break;
      case 2:
        this.ram16[off >> 1] = vLo;
        break;
      case 4:
        this.ram32[off >> 2] = vLo;
        break;
      default:
        this.ram32[off >> 2] = vLo;
        this.ram32[(off >> 2) + 1] = vHi;
        break;
    }
    if (this.pageBlock[off >>> 12] >= 0) this.invalidateStore(off, size);
    if (this.watchedPages[off >>> 12] !== 0) {
      this.onWatchedStore(off, size);
      this.yieldRequested = true;
    }
  }

  private storeMisaligned(lo: number, hi: number, size: number, vLo: number, vHi: number): void {
    // Translate every byte first so that a fault leaves memory untouched.
    const pas: number[] = [];
    for (let i = 0; i < size; i++) {
      const bLo = (lo + i) | 0;
      const bHi = (hi + ((lo >>> 0) + i > 0xffffffff ? 1 : 0)) | 0;
      const pa = this.translate(bLo, bHi, ACCESS_STORE, 1);
      const off = pa - this.ramBase;
      if (!(off >= 0 && off < this.ramSize)) this.raise(CAUSE_STORE_ACCESS, bLo, bHi);
      pas.push(off);
    }
    for (let i = 0; i < size; i++) {
      const byte = i < 4 ? (vLo >>> (8 * i)) & 0xff : (vHi >>> (8 * (i - 4))) & 0xff;
      this.writeRam(pas[i], 1, byte, 0);
    }
  }

  /** RAM offset for an LR/SC/AMO; atomics are never done on devices or misaligned addresses. */
  private atomicOffset(lo: number, hi: number, size: number, access: number): number {
    if ((lo & (size - 1)) !== 0) {
      this.raise(access === ACCESS_LOAD ? CAUSE_MISALIGNED_LOAD : CAUSE_MISALIGNED_STORE, lo, hi);
    }
    const pa = this.translate(lo, hi, access, size);
    const off = pa - this.ramBase;
    if (!(off >= 0 && off < this.ramSize)) this.raise(this.accessFaultCause(access), lo, hi);
    return off;
  }

  // ---------------------------------------------------------------------------------------------
  // The run loop.

  /**
   * Executes up to `budget` instructions. Returns early when the guest waits for an interrupt (wfi)
   * or when a slow path asked to yield (a device store, a CSR write that may enable an interrupt).
   * Returns the number of instructions retired.
   */
  run(budget: number): number {
    // The first calls run tiny batches so that every exit path of the interpreter loop has executed
    // before V8 optimises it; optimised code meeting an exit it never saw deoptimises on every batch.
    if (this.warmupCalls > 0) {
      this.warmupCalls--;
      if (budget > 64) budget = 64;
    }
    if (this.jit?.strict) return this.runCompiledFirst(budget);
    const startRetired = this.retired;
    // Retired instructions, and budget used: retired instructions plus one per trap taken, so that a
    // guest whose trap handler faults again (a trap loop retires nothing) still ends the batch.
    let executed = 0;
    let used = 0;
    this.yieldRequested = false;
    while (used < budget) {
      try {
        const ran = this.execute(budget - used, startRetired + executed);
        executed += ran;
        used += ran;
        if (!this.jitPending) break;
        this.jitPending = false;
        this.retired = startRetired + executed;
        const jit = this.jit as Jit;
        used += jit.run(budget - used);
        executed += jit.retired;
        this.retired = startRetired + executed;
        // The tier moved the pc (and maybe the privilege): the interpreter looks its page up again.
        this.fetchVBase = Number.NaN;
        if (this.yieldRequested) break;
      } catch (e) {
        if (e !== TRAP_SIGNAL) throw e;
        // Instructions before the trapping one retired; the trapping one did not. The handler's address
        // is already in this.pc.
        const retired = budget - used - this.remaining - 1;
        executed += retired;
        used += retired + 1;
        this.retired = startRetired + executed;
        if (this.yieldRequested) break;
      }
    }
    this.retired = startRetired + executed;
    return executed;
  }

  /**
   * run() for the tier's strict mode (threshold 0): compiled code wherever the tier can run it, compiling
   * at every pc it reaches, and the interpreter for one instruction at a time where it cannot.
   */
  private runCompiledFirst(budget: number): number {
    const jit = this.jit as Jit;
    const startRetired = this.retired;
    let executed = 0;
    let used = 0;
    this.yieldRequested = false;
    while (used < budget && !this.yieldRequested) {
      try {
        const spent = jit.run(budget - used, true);
        used += spent;
        executed += jit.retired;
        this.retired = startRetired + executed;
        this.fetchVBase = Number.NaN;
        if (spent > 0 || this.yieldRequested) continue;
        const ran = this.execute(1, startRetired + executed);
        this.jitPending = false;
        executed += ran;
        used += ran;
        this.retired = startRetired + executed;
        if (ran === 0) break;
      } catch (e) {
        if (e !== TRAP_SIGNAL) throw e;
        executed += 1 - this.remaining - 1;
        used += 1;
        this.retired = startRetired + executed;
      }
    }
    this.retired = startRetired + executed;
    return executed;
  }

  private warmupCalls = 2000;

  /** Budget left in execute() when it last called out; tells run() how far a trapping batch got. */
  private remaining = 0;

  /**
   * The interpreter loop. It has no try/catch of its own so that V8 keeps its locals (pc above all, a
   * double) in registers; everything that may trap is preceded by a sync of pc and the budget.
   */
  // Address arithmetic and shifts are written out in the hot cases rather than called: V8 stops inlining
  // calls in a function this big, and a call per load or shift costs more than the instruction.
  private execute(budget: number, startRetired: number): number {
    const x = this.x;
    const csr = this.csr;
    const ram8 = this.ram8;
    const ram16 = this.ram16;
    const ram32 = this.ram32;
    const dOp = this.dOp;
    const dImm = this.dImm;
    const jitSlots = this.jitSlots;
    // The TLB set of the current privilege; privilege changes end this call (trap, or a yielding xRET).
    const loadTagLo = this.tlbTagLo[this.tlbSet + ACCESS_LOAD];
    const loadTagHi = this.tlbTagHi[this.tlbSet + ACCESS_LOAD];
    const loadOff = this.tlbOff[this.tlbSet + ACCESS_LOAD];
    const storeTagLo = this.tlbTagLo[this.tlbSet + ACCESS_STORE];
    const storeTagHi = this.tlbTagHi[this.tlbSet + ACCESS_STORE];
    const storeOff = this.tlbOff[this.tlbSet + ACCESS_STORE];
    let n = budget;
    // The program counter is kept as a slot of the current page's decode block; the pc itself (a double)
    // is only computed where an instruction needs it. A slot outside the block moves the fetch window:
    // sequentially past the page end, or to farPc after a jump out of the page (slot -1).
    let fetchVBase = this.fetchVBase;
    let blockStart = this.fetchSlotBase;
    let farPc = this.pc;
    let slot = 0;
    {
      const o = farPc - fetchVBase;
      if (o >= 0 && o < 4096) slot = blockStart + (o >> 1);
    }
    execution: while (n > 0) {
      n--;
      let w = dOp[slot];
      let imm: number;
      if (w === 0) {
        const off = (slot - blockStart) << 1;
        this.pc = fetchVBase + off;
        this.remaining = n;
        w = this.decodeAt(this.pc, off, slot);
        imm = off === 4094 && (w & PACK_COMPRESSED) === 0 ? this.crossImm : dImm[slot];
      } else {
        imm = dImm[slot];
      }
      const rd = (w >>> 8) & 0x7f;
      const rs1 = (w >>> 15) & 0x3f;
      const rs2 = (w >>> 21) & 0x3f;
      switch (w & 0xff) {
        case Op.PAGE_END: {
          // Not an instruction: the fetch window moves to the next page, or to farPc after a far jump.
          // A fetch fault here belongs to the instruction at the target, so the budget is given back
          // only once the fetch has succeeded.
          const target = slot < FIRST_BLOCK ? farPc : fetchVBase + ((slot - blockStart) << 1);
          this.pc = target;
          this.remaining = n;
          this.enterFetchPage(target);
          fetchVBase = this.fetchVBase;
          blockStart = this.fetchSlotBase;
          slot = blockStart + ((target - fetchVBase) >> 1);
          n++;
          const j = jitSlots[slot];
          // Not at the very start of this call: the tier just handed this pc back (it could not run it).
          if (j !== 0 && n < budget) {
            if (j > 1) jitSlots[slot] = j - 1;
            else if (this.jitReach(slot, j)) break execution;
          }
          continue;
        }
        case Op.LI:
          x[rd] = imm;
          x[rd + 1] = imm >> 31;
          break;
        case Op.MV:
          x[rd] = x[rs1];
          x[rd + 1] = x[rs1 + 1];
          break;
        case Op.ADDI: {
          const a = x[rs1];
          const lo = (a + imm) | 0;
          x[rd + 1] = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
          x[rd] = lo;
          break;
        }
        case Op.ADDIW: {
          const lo = (x[rs1] + imm) | 0;
          x[rd] = lo;
          x[rd + 1] = lo >> 31;
          break;
        }
        case Op.ADD: {
          const a = x[rs1];
          const lo = (a + x[rs2]) | 0;
          x[rd + 1] = (x[rs1 + 1] + x[rs2 + 1] + (lo >>> 0 < a >>> 0 ? 1 : 0)) | 0;
          x[rd] = lo;
          break;
        }
        case Op.SUB: {
          const a = x[rs1];
          const b = x[rs2];
          const hi = (x[rs1 + 1] - x[rs2 + 1] - (a >>> 0 < b >>> 0 ? 1 : 0)) | 0;
          x[rd] = (a - b) | 0;
          x[rd + 1] = hi;
          break;
        }
        case Op.ADDW: {
          const lo = (x[rs1] + x[rs2]) | 0;
          x[rd] = lo;
          x[rd + 1] = lo >> 31;
          break;
        }
        case Op.SUBW: {
          const lo = (x[rs1] - x[rs2]) | 0;
          x[rd] = lo;
          x[rd + 1] = lo >> 31;
          break;
        }
        case Op.LUI:
          x[rd] = imm;
          x[rd + 1] = imm >> 31;
          break;
        case Op.AUIPC: {
          const v = fetchVBase + ((slot - blockStart) << 1) + imm;
          x[rd] = v | 0;
          x[rd + 1] = Math.floor(v / TWO32) | 0;
          break;
        }
        case Op.ANDI:
          x[rd] = x[rs1] & imm;
          x[rd + 1] = x[rs1 + 1] & (imm >> 31);
          break;
        case Op.ORI:
          x[rd] = x[rs1] | imm;
          x[rd + 1] = x[rs1 + 1] | (imm >> 31);
          break;
        case Op.XORI:
          x[rd] = x[rs1] ^ imm;
          x[rd + 1] = x[rs1 + 1] ^ (imm >> 31);
          break;
        case Op.AND:
          x[rd] = x[rs1] & x[rs2];
          x[rd + 1] = x[rs1 + 1] & x[rs2 + 1];
          break;
        case Op.OR:
          x[rd] = x[rs1] | x[rs2];
          x[rd + 1] = x[rs1 + 1] | x[rs2 + 1];
          break;
        case Op.XOR:
          x[rd] = x[rs1] ^ x[rs2];
          x[rd + 1] = x[rs1 + 1] ^ x[rs2 + 1];
          break;
        case Op.SLTI: {
          const h = x[rs1 + 1];
          const ih = imm >> 31;
          x[rd] = h < ih || (h === ih && x[rs1] >>> 0 < imm >>> 0) ? 1 : 0;
          x[rd + 1] = 0;
          break;
        }
        case Op.SLTIU: {
          const h = x[rs1 + 1] >>> 0;
          const ih = (imm >> 31) >>> 0;
          x[rd] = h < ih || (h === ih && x[rs1] >>> 0 < imm >>> 0) ? 1 : 0;
          x[rd + 1] = 0;
          break;
        }
        case Op.SLT: {
          const h = x[rs1 + 1];
          const bh = x[rs2 + 1];
          x[rd] = h < bh || (h === bh && x[rs1] >>> 0 < x[rs2] >>> 0) ? 1 : 0;
          x[rd + 1] = 0;
          break;
        }
        case Op.SLTU: {
          const h = x[rs1 + 1] >>> 0;
          const bh = x[rs2 + 1] >>> 0;
          x[rd] = h < bh || (h === bh && x[rs1] >>> 0 < x[rs2] >>> 0) ? 1 : 0;
          x[rd + 1] = 0;
          break;
        }
        case Op.SLLI:
        case Op.SLL: {
          const lo = x[rs1];
          const hi = x[rs1 + 1];
          const sh = (w & 0xff) === Op.SLLI ? imm : x[rs2] & 63;
          if (sh === 0) {
            x[rd + 1] = hi;
            x[rd] = lo;
          } else if (sh < 32) {
            x[rd + 1] = (hi << sh) | (lo >>> (32 - sh));
            x[rd] = lo << sh;
          } else {
            x[rd + 1] = lo << (sh - 32);
            x[rd] = 0;
          }
          break;
        }
        case Op.SRLI:
        case Op.SRL: {
          const lo = x[rs1];
          const hi = x[rs1 + 1];
          const sh = (w & 0xff) === Op.SRLI ? imm : x[rs2] & 63;
          if (sh === 0) {
            x[rd] = lo;
            x[rd + 1] = hi;
          } else if (sh < 32) {
            x[rd] = (lo >>> sh) | (hi << (32 - sh));
            x[rd + 1] = hi >>> sh;
          } else {
            x[rd] = hi >>> (sh - 32);
            x[rd + 1] = 0;
          }
          break;
        }
        case Op.SRAI:
        case Op.SRA: {
          const lo = x[rs1];
          const hi = x[rs1 + 1];
          const sh = (w & 0xff) === Op.SRAI ? imm : x[rs2] & 63;
          if (sh === 0) {
            x[rd] = lo;
            x[rd + 1] = hi;
          } else if (sh < 32) {
            x[rd] = (lo >>> sh) | (hi << (32 - sh));
            x[rd + 1] = hi >> sh;
          } else {
            x[rd] = hi >> (sh - 32);
            x[rd + 1] = hi >> 31;
          }
          break;
        }
        case Op.SLLIW: {
          const v = x[rs1] << imm;
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.SRLIW: {
          const v = (x[rs1] >>> imm) | 0;
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.SRAIW: {
          const v = x[rs1] >> imm;
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.SLLW: {
          const v = x[rs1] << (x[rs2] & 31);
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.SRLW: {
          const v = (x[rs1] >>> (x[rs2] & 31)) | 0;
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.SRAW: {
          const v = x[rs1] >> (x[rs2] & 31);
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.JAL:
          {
            const link = fetchVBase + ((slot - blockStart) << 1) + 4 - ((w >>> 26) & 2);
            x[rd] = link | 0;
            x[rd + 1] = Math.floor(link / TWO32) | 0;
          }
          {
            const t = ((slot - blockStart) << 1) + imm;
            if (t >>> 0 < 4096) {
              slot = blockStart + (t >> 1);
              const j = jitSlots[slot];
              if (j !== 0) {
                if (j > 1) jitSlots[slot] = j - 1;
                else if (this.jitReach(slot, j)) break execution;
              }
            } else {
              farPc = fetchVBase + t;
              slot = 0;
            }
            continue;
          }
        case Op.JALR: {
          const base = x[rs1];
          const sum = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (sum >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const lo = sum & ~1;
          const link = fetchVBase + ((slot - blockStart) << 1) + 4 - ((w >>> 26) & 2);
          x[rd] = link | 0;
          x[rd + 1] = Math.floor(link / TWO32) | 0;
          if (!(hi >= -0x200000 && hi < 0x200000)) {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            this.unreachableTarget(lo, hi);
          }
          const target = hi * TWO32 + (lo >>> 0);
          const t = target - fetchVBase;
          if (t >= 0 && t < 4096) {
            slot = blockStart + (t >> 1);
            const j = jitSlots[slot];
            if (j !== 0) {
              if (j > 1) jitSlots[slot] = j - 1;
              else if (this.jitReach(slot, j)) break execution;
            }
          } else {
            farPc = target;
            slot = 0;
          }
          continue;
        }
        case Op.BEQ:
          if (x[rs1] === x[rs2] && x[rs1 + 1] === x[rs2 + 1]) {
            const t = ((slot - blockStart) << 1) + imm;
            if (t >>> 0 < 4096) {
              slot = blockStart + (t >> 1);
              const j = jitSlots[slot];
              if (j !== 0) {
                if (j > 1) jitSlots[slot] = j - 1;
                else if (this.jitReach(slot, j)) break execution;
              }
            } else {
              farPc = fetchVBase + t;
              slot = 0;
            }
            continue;
          }
          break;
        case Op.BNE:
          if (x[rs1] !== x[rs2] || x[rs1 + 1] !== x[rs2 + 1]) {
            const t = ((slot - blockStart) << 1) + imm;
            if (t >>> 0 < 4096) {
              slot = blockStart + (t >> 1);
              const j = jitSlots[slot];
              if (j !== 0) {
                if (j > 1) jitSlots[slot] = j - 1;
                else if (this.jitReach(slot, j)) break execution;
              }
            } else {
              farPc = fetchVBase + t;
              slot = 0;
            }
            continue;
          }
          break;
        case Op.BLT: {
          const ah = x[rs1 + 1];
          const bh = x[rs2 + 1];
          if (ah < bh || (ah === bh && x[rs1] >>> 0 < x[rs2] >>> 0)) {
            const t = ((slot - blockStart) << 1) + imm;
            if (t >>> 0 < 4096) {
              slot = blockStart + (t >> 1);
              const j = jitSlots[slot];
              if (j !== 0) {
                if (j > 1) jitSlots[slot] = j - 1;
                else if (this.jitReach(slot, j)) break execution;
              }
            } else {
              farPc = fetchVBase + t;
              slot = 0;
            }
            continue;
          }
          break;
        }
        case Op.BGE: {
          const ah = x[rs1 + 1];
          const bh = x[rs2 + 1];
          if (ah > bh || (ah === bh && x[rs1] >>> 0 >= x[rs2] >>> 0)) {
            const t = ((slot - blockStart) << 1) + imm;
            if (t >>> 0 < 4096) {
              slot = blockStart + (t >> 1);
              const j = jitSlots[slot];
              if (j !== 0) {
                if (j > 1) jitSlots[slot] = j - 1;
                else if (this.jitReach(slot, j)) break execution;
              }
            } else {
              farPc = fetchVBase + t;
              slot = 0;
            }
            continue;
          }
          break;
        }
        case Op.BLTU: {
          const ah = x[rs1 + 1] >>> 0;
          const bh = x[rs2 + 1] >>> 0;
          if (ah < bh || (ah === bh && x[rs1] >>> 0 < x[rs2] >>> 0)) {
            const t = ((slot - blockStart) << 1) + imm;
            if (t >>> 0 < 4096) {
              slot = blockStart + (t >> 1);
              const j = jitSlots[slot];
              if (j !== 0) {
                if (j > 1) jitSlots[slot] = j - 1;
                else if (this.jitReach(slot, j)) break execution;
              }
            } else {
              farPc = fetchVBase + t;
              slot = 0;
            }
            continue;
          }
          break;
        }
        case Op.BGEU: {
          const ah = x[rs1 + 1] >>> 0;
          const bh = x[rs2 + 1] >>> 0;
          if (ah > bh || (ah === bh && x[rs1] >>> 0 >= x[rs2] >>> 0)) {
            const t = ((slot - blockStart) << 1) + imm;
            if (t >>> 0 < 4096) {
              slot = blockStart + (t >> 1);
              const j = jitSlots[slot];
              if (j !== 0) {
                if (j > 1) jitSlots[slot] = j - 1;
                else if (this.jitReach(slot, j)) break execution;
              }
            } else {
              farPc = fetchVBase + t;
              slot = 0;
            }
            continue;
          }
          break;
        }
        case Op.LD: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          if (loadTagLo[idx] === (lo & -4089) && loadTagHi[idx] === hi) {
            const i = (loadOff[idx] + (lo & 4095)) >> 2;
            x[rd] = ram32[i];
            x[rd + 1] = ram32[i + 1];
          } else {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            x[rd] = this.loadSlow(lo, hi, 8);
            x[rd + 1] = this.loadHi;
          }
          break;
        }
        case Op.LW: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          let v: number;
          if (loadTagLo[idx] === (lo & -4093) && loadTagHi[idx] === hi) {
            v = ram32[(loadOff[idx] + (lo & 4095)) >> 2];
          } else {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            v = this.loadSlow(lo, hi, 4);
          }
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.LWU: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          let v: number;
          if (loadTagLo[idx] === (lo & -4093) && loadTagHi[idx] === hi) {
            v = ram32[(loadOff[idx] + (lo & 4095)) >> 2];
          } else {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            v = this.loadSlow(lo, hi, 4);
          }
          x[rd] = v;
          x[rd + 1] = 0;
          break;
        }
        case Op.LH:
        case Op.LHU: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          let v: number;
          if (loadTagLo[idx] === (lo & -4095) && loadTagHi[idx] === hi) {
            v = ram16[(loadOff[idx] + (lo & 4095)) >> 1];
          } else {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            v = this.loadSlow(lo, hi, 2);
          }
          if ((w & 0xff) === Op.LH) {
            v = (v << 16) >> 16;
            x[rd + 1] = v >> 31;
          } else {
            x[rd + 1] = 0;
          }
          x[rd] = v;
          break;
        }
        case Op.LB:
        case Op.LBU: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          let v: number;
          if (loadTagLo[idx] === (lo & -4096) && loadTagHi[idx] === hi) {
            v = ram8[loadOff[idx] + (lo & 4095)];
          } else {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            v = this.loadSlow(lo, hi, 1);
          }
          if ((w & 0xff) === Op.LB) {
            v = (v << 24) >> 24;
            x[rd + 1] = v >> 31;
          } else {
            x[rd + 1] = 0;
          }
          x[rd] = v;
          break;
        }
        case Op.SD: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          if (storeTagLo[idx] === (lo & -4089) && storeTagHi[idx] === hi) {
            const o = storeOff[idx] + (lo & 4095);
            ram32[o >> 2] = x[rs2];
            ram32[(o >> 2) + 1] = x[rs2 + 1];
          } else {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            this.storeSlow(lo, hi, 8, x[rs2], x[rs2 + 1]);
            if (this.yieldRequested) {
              slot += 2 - ((w >>> 27) & 1);
              break execution;
            }
          }
          break;
        }
        case Op.SW: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          if (storeTagLo[idx] === (lo & -4093) && storeTagHi[idx] === hi) {
            const o = storeOff[idx] + (lo & 4095);
            ram32[o >> 2] = x[rs2];
          } else {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            this.storeSlow(lo, hi, 4, x[rs2], 0);
            if (this.yieldRequested) {
              slot += 2 - ((w >>> 27) & 1);
              break execution;
            }
          }
          break;
        }
        case Op.SH: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          if (storeTagLo[idx] === (lo & -4095) && storeTagHi[idx] === hi) {
            const o = storeOff[idx] + (lo & 4095);
            ram16[o >> 1] = x[rs2];
          } else {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            this.storeSlow(lo, hi, 2, x[rs2], 0);
            if (this.yieldRequested) {
              slot += 2 - ((w >>> 27) & 1);
              break execution;
            }
          }
          break;
        }
        case Op.SB: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          if (storeTagLo[idx] === (lo & -4096) && storeTagHi[idx] === hi) {
            const o = storeOff[idx] + (lo & 4095);
            ram8[o] = x[rs2];
          } else {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            this.storeSlow(lo, hi, 1, x[rs2], 0);
            if (this.yieldRequested) {
              slot += 2 - ((w >>> 27) & 1);
              break execution;
            }
          }
          break;
        }
        case Op.MUL:
          mul64(x[rs1], x[rs1 + 1], x[rs2], x[rs2 + 1]);
          x[rd] = result[0];
          x[rd + 1] = result[1];
          break;
        case Op.MULH:
          mulh64(x[rs1], x[rs1 + 1], x[rs2], x[rs2 + 1]);
          x[rd] = result[0];
          x[rd + 1] = result[1];
          break;
        case Op.MULHSU:
          mulhsu64(x[rs1], x[rs1 + 1], x[rs2], x[rs2 + 1]);
          x[rd] = result[0];
          x[rd + 1] = result[1];
          break;
        case Op.MULHU:
          mulhu64(x[rs1], x[rs1 + 1], x[rs2], x[rs2 + 1]);
          x[rd] = result[0];
          x[rd + 1] = result[1];
          break;
        case Op.DIV:
          div64(x[rs1], x[rs1 + 1], x[rs2], x[rs2 + 1], false);
          x[rd] = result[0];
          x[rd + 1] = result[1];
          break;
        case Op.REM:
          div64(x[rs1], x[rs1 + 1], x[rs2], x[rs2 + 1], true);
          x[rd] = result[0];
          x[rd + 1] = result[1];
          break;
        case Op.DIVU:
          divu64(x[rs1], x[rs1 + 1], x[rs2], x[rs2 + 1], false);
          x[rd] = result[0];
          x[rd + 1] = result[1];
          break;
        case Op.REMU:
          divu64(x[rs1], x[rs1 + 1], x[rs2], x[rs2 + 1], true);
          x[rd] = result[0];
          x[rd + 1] = result[1];
          break;
        case Op.MULW: {
          const v = Math.imul(x[rs1], x[rs2]);
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.DIVW: {
          const a = x[rs1];
          const b = x[rs2];
          const v = b === 0 ? -1 : b === -1 ? -a | 0 : (a / b) | 0;
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.DIVUW: {
          const a = x[rs1] >>> 0;
          const b = x[rs2] >>> 0;
          const v = b === 0 ? -1 : Math.floor(a / b) | 0;
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.REMW: {
          const a = x[rs1];
          const b = x[rs2];
          const v = b === 0 ? a : b === -1 ? 0 : (a % b) | 0;
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.REMUW: {
          const a = x[rs1] >>> 0;
          const b = x[rs2] >>> 0;
          const v = b === 0 ? a | 0 : (a % b) | 0;
          x[rd] = v;
          x[rd + 1] = v >> 31;
          break;
        }
        case Op.FENCE:
        case Op.FENCE_I:
          // Stores invalidate decoded instructions precisely, so fence.i has nothing left to do.
          break;
        case Op.FLD: {
          // The commonest FP memory access gets the integer loads' fast path; FS must not be Off.
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          const fs = csr[CSR_MSTATUS * 2];
          if (loadTagLo[idx] === (lo & -4089) && loadTagHi[idx] === hi && (fs & MSTATUS_FS) === MSTATUS_FS) {
            const i = (loadOff[idx] + (lo & 4095)) >> 2;
            x[F_I32 + rd] = ram32[i];
            x[F_I32 + rd + 1] = ram32[i + 1];
            break;
          }
          this.pc = fetchVBase + ((slot - blockStart) << 1);
          this.remaining = n;
          this.floatMemory(Op.FLD, rd >> 1, rs1, rs2 >> 1, imm);
          break;
        }
        case Op.FSD: {
          const base = x[rs1];
          const lo = (base + imm) | 0;
          const hi = (x[rs1 + 1] + (imm >> 31) + (lo >>> 0 < base >>> 0 ? 1 : 0)) | 0;
          const idx = (lo >>> 12) & TLB_MASK;
          if (
            storeTagLo[idx] === (lo & -4089) &&
            storeTagHi[idx] === hi &&
            (csr[CSR_MSTATUS * 2] & MSTATUS_FS) !== 0
          ) {
            const o = storeOff[idx] + (lo & 4095);
            ram32[o >> 2] = x[F_I32 + rs2];
            ram32[(o >> 2) + 1] = x[F_I32 + rs2 + 1];
            break;
          }
          this.pc = fetchVBase + ((slot - blockStart) << 1);
          this.remaining = n;
          this.floatMemory(Op.FSD, rd >> 1, rs1, rs2 >> 1, imm);
          if (this.yieldRequested) {
            slot += 2 - ((w >>> 27) & 1);
            break execution;
          }
          break;
        }
        case Op.FLW:
        case Op.FSW:
          this.pc = fetchVBase + ((slot - blockStart) << 1);
          this.remaining = n;
          this.liveRetired = startRetired + (budget - n) - 1;
          this.floatMemory(w & 0xff, rd >> 1, rs1, rs2 >> 1, imm);
          if (this.yieldRequested) {
            slot += 2 - ((w >>> 27) & 1);
            break execution;
          }
          break;
        case Op.FP: {
          if ((csr[CSR_MSTATUS * 2] & MSTATUS_FS) === 0) {
            this.pc = fetchVBase + ((slot - blockStart) << 1);
            this.remaining = n;
            this.raiseIllegal(this.instructionBits(this.pc));
          }
          let rm = (imm >>> 8) & 7;
          if (rm === 7) {
            rm = csr[CSR_FRM * 2];
            if (rm > 4) {
              this.pc = fetchVBase + ((slot - blockStart) << 1);
              this.remaining = n;
              this.raiseIllegal(this.instructionBits(this.pc));
            }
          }
          this.fpu.exec(imm & 0xff, rd >> 1, rs1 >> 1, rs2 >> 1, (imm >>> 11) & 31, rm);
          csr[CSR_MSTATUS * 2] |= MSTATUS_FS;
          csr[CSR_MSTATUS * 2 + 1] |= MSTATUS_HI_SD;
          break;
        }
        default:
          // Rare instructions: atomics, system, CSRs, illegal.
          this.pc = fetchVBase + ((slot - blockStart) << 1);
          this.remaining = n;
          this.liveRetired = startRetired + (budget - n) - 1;
          farPc = this.executeRare(w, imm, rd, rs1, rs2, this.pc + 4 - ((w >>> 26) & 2));
          slot = 0;
          if (this.yieldRequested) break execution;
          continue;
      }
      slot += 2 - ((w >>> 27) & 1);
    }
    this.pc = slot < FIRST_BLOCK ? farPc : fetchVBase + ((slot - blockStart) << 1);
    this.remaining = n;
    return budget - n;
  }

  /** A jump target that cannot be a valid address faults right away at the target. */
  unreachableTarget(lo: number, hi: number): number {
    const paged = this.priv !== PRIV_M && this.csr[CSR_SATP * 2 + 1] >>> 28 !== 0;
    this.enterTrap(paged ? CAUSE_FETCH_PAGE_FAULT : CAUSE_FETCH_ACCESS, false, lo, hi, lo, hi);
    throw TRAP_SIGNAL;
  }

  /** The raw bits of the instruction at pc, for mtval on illegal instructions. */
  /**
   * The bits of the instruction at `pc` (for illegal-instruction tval). Read through the fetch TLB, not
   * the interpreter's fetch window: compiled code calls the rare-instruction path with the window
   * elsewhere.
   */
  instructionBits(pc: number): number {
    const off = this.fetchRamOffset(pc | 0, Math.floor(pc / TWO32) | 0);
    const low = this.ram16[off >> 1];
    if ((low & 3) !== 3) return low;
    if ((off & 4095) === 4094) {
      // The upper half is on the next page, which the fetch of this instruction already translated.
      const next = pc + 2;
      const upper = this.fetchRamOffset(next | 0, Math.floor(next / TWO32) | 0);
      return (low | (this.ram16[upper >> 1] << 16)) >>> 0;
    }
    return (low | (this.ram16[(off >> 1) + 1] << 16)) >>> 0;
  }

  /** FP loads and stores: the TLB fast path here, everything else through loadSlow/storeSlow. */
  private floatMemory(op: number, frd: number, rs1: number, frs2: number, imm: number): void {
    const x = this.x;
    if ((this.csr[CSR_MSTATUS * 2] & MSTATUS_FS) === 0) this.raiseIllegal(this.instructionBits(this.pc));
    const lo = effectiveAddress(x[rs1], x[rs1 + 1], imm);
    const hi = eaHi;
    const f = F_I32;
    const wide = op === Op.FLD || op === Op.FSD;
    // The tag compare also rejects misaligned addresses (their low bits are not in a tag).
    const tagMask = wide ? -4089 : -4093;
    const idx = (lo >>> 12) & TLB_MASK;
    if (op === Op.FLW || op === Op.FLD) {
      const t = this.tlbSet + ACCESS_LOAD;
      if (this.tlbTagLo[t][idx] === (lo & tagMask) && this.tlbTagHi[t][idx] === hi) {
        const i = (this.tlbOff[t][idx] + (lo & 4095)) >> 2;
        x[f + 2 * frd] = this.ram32[i];
        x[f + 2 * frd + 1] = wide ? this.ram32[i + 1] : -1;
      } else {
        x[f + 2 * frd] = this.loadSlow(lo, hi, wide ? 8 : 4);
        x[f + 2 * frd + 1] = wide ? this.loadHi : -1;
      }
      this.csr[CSR_MSTATUS * 2] |= MSTATUS_FS;
      this.csr[CSR_MSTATUS * 2 + 1] |= MSTATUS_HI_SD;
      return;
    }
    const vLo = x[f + 2 * frs2];
    const vHi = x[f + 2 * frs2 + 1];
    const t = this.tlbSet + ACCESS_STORE;
    if (this.tlbTagLo[t][idx] === (lo & tagMask) && this.tlbTagHi[t][idx] === hi) {
      const o = this.tlbOff[t][idx] + (lo & 4095);
      this.ram32[o >> 2] = vLo;
      if (wide) this.ram32[(o >> 2) + 1] = vHi;
      if (this.pageBlock[o >>> 12] >= 0) this.invalidateStore(o, wide ? 8 : 4);
    } else {
      this.storeSlow(lo, hi, wide ? 8 : 4, vLo, wide ? vHi : 0);
    }
  }

  /** Executes atomics, system instructions and CSR accesses. Returns the next pc. */
  executeRareForJit(w: number, imm: number): void {
    this.executeRare(
      w,
      imm,
      (w >>> 8) & 0x7f,
      (w >>> 15) & 0x3f,
      (w >>> 21) & 0x3f,
      this.pc + 4 - ((w >>> 26) & 2),
    );
  }

  private executeRare(w: number, imm: number, rd: number, rs1: number, rs2: number, next: number): number {
    const x = this.x;
    const op = w & 0xff;
    const pc = this.pc;
    switch (op) {
      case Op.ILLEGAL:
        return this.raiseIllegal(imm);
      case Op.LR_W:
      case Op.LR_D: {
        const size = op === Op.LR_W ? 4 : 8;
        const off = this.atomicOffset(x[rs1], x[rs1 + 1], size, ACCESS_LOAD);
        const lo = this.ram32[off >> 2];
        x[rd] = lo;
        x[rd + 1] = size === 4 ? lo >> 31 : this.ram32[(off >> 2) + 1];
        this.reservation = off;
        return next;
      }
      case Op.SC_W:
      case Op.SC_D: {
        const size = op === Op.SC_W ? 4 : 8;
        const off = this.atomicOffset(x[rs1], x[rs1 + 1], size, ACCESS_STORE);
        if (this.reservation === off) {
          this.writeRam(off, size, x[rs2], x[rs2 + 1]);
          x[rd] = 0;
        } else {
          x[rd] = 1;
        }
        x[rd + 1] = 0;
        this.reservation = -1;
        return next;
      }
      case Op.AMO_W:
        this.amo32(imm, rd, rs1, rs2);
        return next;
      case Op.AMO_D:
        this.amo64(imm, rd, rs1, rs2);
        return next;
      case Op.ECALL: {
        const cause =
          this.priv === PRIV_U
            ? CAUSE_USER_ECALL
            : this.priv === PRIV_S
              ? CAUSE_SUPERVISOR_ECALL
              : CAUSE_MACHINE_ECALL;
        return this.raise(cause, 0, 0);
      }
      case Op.EBREAK:
        return this.raise(CAUSE_BREAKPOINT, pc | 0, Math.floor(pc / TWO32) | 0);
      case Op.MRET:
        return this.mret();
      case Op.SRET:
        return this.sret();
      case Op.WFI: {
        const status = this.csr[CSR_MSTATUS * 2];
        if (this.priv === PRIV_U || (this.priv === PRIV_S && (status & MSTATUS_TW) !== 0)) {
          return this.raiseIllegal(this.instructionBits(pc));
        }
        this.waiting = true;
        this.yieldRequested = true;
        return next;
      }
      case Op.SFENCE_VMA:
        if (
          this.priv === PRIV_U ||
          (this.priv === PRIV_S && (this.csr[CSR_MSTATUS * 2] & MSTATUS_TVM) !== 0)
        ) {
          return this.raiseIllegal(this.instructionBits(pc));
        }
        // rs1 = x0 means every address; rs2 (an ASID) only narrows it, and the TLBs keep no ASIDs.
        if (rs1 === 0) this.flushTlb();
        else this.flushTlbPage(x[rs1], x[rs1 + 1]);
        return next;
      case Op.CSRRW:
      case Op.CSRRS:
      case Op.CSRRC:
      case Op.CSRRWI:
      case Op.CSRRSI:
      case Op.CSRRCI:
        csrAccess(this, op, imm, rd, rs1);
        return next;
      default:
        return this.raiseIllegal(this.instructionBits(pc));
    }
  }

  private amo32(funct: number, rd: number, rs1: number, rs2: number): void {
    const x = this.x;
    const off = this.atomicOffset(x[rs1], x[rs1 + 1], 4, ACCESS_STORE);
    const old = this.ram32[off >> 2];
    const b = x[rs2];
    let v: number;
    switch (funct) {
      case Amo.SWAP:
        v = b;
        break;
      case Amo.ADD:
        v = (old + b) | 0;
        break;
      case Amo.XOR:
        v = old ^ b;
        break;
      case Amo.AND:
        v = old & b;
        break;
      case Amo.OR:
        v = old | b;
        break;
      case Amo.MIN:
        v = Math.min(old, b);
        break;
      case Amo.MAX:
        v = Math.max(old, b);
        break;
      case Amo.MINU:
        v = old >>> 0 < b >>> 0 ? old : b;
        break;
      default:
        v = old >>> 0 > b >>> 0 ? old : b;
        break;
    }
    this.writeRam(off, 4, v, 0);
    x[rd] = old;
    x[rd + 1] = old >> 31;
  }

  private amo64(funct: number, rd: number, rs1: number, rs2: number): void {
    const x = this.x;
    const off = this.atomicOffset(x[rs1], x[rs1 + 1], 8, ACCESS_STORE);
    const oLo = this.ram32[off >> 2];
    const oHi = this.ram32[(off >> 2) + 1];
    const bLo = x[rs2];
    const bHi = x[rs2 + 1];
    let lo: number;
    let hi: number;
    switch (funct) {
      case Amo.SWAP:
        lo = bLo;
        hi = bHi;
        break;
      case Amo.ADD:
        lo = (oLo + bLo) | 0;
        hi = (oHi + bHi + (lo >>> 0 < oLo >>> 0 ? 1 : 0)) | 0;
        break;
      case Amo.XOR:
        lo = oLo ^ bLo;
        hi = oHi ^ bHi;
        break;
      case Amo.AND:
        lo = oLo & bLo;
        hi = oHi & bHi;
        break;
      case Amo.OR:
        lo = oLo | bLo;
        hi = oHi | bHi;
        break;
      default: {
        const signed = funct === Amo.MIN || funct === Amo.MAX;
        const oh = signed ? oHi : oHi >>> 0;
        const bh = signed ? bHi : bHi >>> 0;
        const oldLess = oh < bh || (oh === bh && oLo >>> 0 < bLo >>> 0);
        const takeOld = funct === Amo.MIN || funct === Amo.MINU ? oldLess : !oldLess;
        lo = takeOld ? oLo : bLo;
        hi = takeOld ? oHi : bHi;
        break;
      }
    }
    this.writeRam(off, 8, lo, hi);
    x[rd] = oLo;
    x[rd + 1] = oHi;
  }

  private jumpToCsr(csrNumber: number): number {
    const lo = this.csr[csrNumber * 2];
    const hi = this.csr[csrNumber * 2 + 1];
    if (hi >= -0x200000 && hi < 0x200000) return hi * TWO32 + (lo >>> 0);
    return this.unreachableTarget(lo, hi);
  }

  private mret(): number {
    if (this.priv !== PRIV_M) return this.raiseIllegal(this.instructionBits(this.pc));
    const csr = this.csr;
    let status = csr[CSR_MSTATUS * 2];
    const oldStatus = status;
    const mpp = (status & MSTATUS_MPP) >>> MSTATUS_MPP_SHIFT;
    status = (status & ~(MSTATUS_MIE | MSTATUS_MPP)) | ((status & MSTATUS_MPIE) >>> 4) | MSTATUS_MPIE;
    if (mpp !== PRIV_M) status &= ~MSTATUS_MPRV;
    csr[CSR_MSTATUS * 2] = status;
    // M-mode entries made while MPRV borrowed MPP's view must not outlive a change of either.
    if (oldStatus & MSTATUS_MPRV) this.flushTlb();
    this.setPriv(mpp);
    this.yieldRequested = true;
    this.reservation = -1;
    return this.jumpToCsr(CSR_MEPC);
  }

  private sret(): number {
    const csr = this.csr;
    let status = csr[CSR_MSTATUS * 2];
    if (this.priv === PRIV_U || (this.priv === PRIV_S && (status & MSTATUS_TSR) !== 0)) {
      return this.raiseIllegal(this.instructionBits(this.pc));
    }
    const oldStatus = status;
    const spp = (status & MSTATUS_SPP) >>> 8;
    status =
      (status & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV)) | ((status & MSTATUS_SPIE) >>> 4) | MSTATUS_SPIE;
    csr[CSR_MSTATUS * 2] = status;
    if (oldStatus & MSTATUS_MPRV) this.flushTlb();
    this.setPriv(spp);
    this.yieldRequested = true;
    this.reservation = -1;
    return this.jumpToCsr(CSR_SEPC);
  }

  /** A plain-data copy of everything this hart holds (registers, CSRs, mode, counters). */
  saveState(): HartState {
    return {
      pc: this.pc,
      priv: this.priv,
      waiting: this.waiting,
      reservation: this.reservation,
      retired: this.retired,
      instretOffset: this.instretOffset,
      cycleOffset: this.cycleOffset,
      fflags: this.fpu.fflags,
      registers: new Int32Array(this.x.subarray(0, F_I32 + 64)),
      csrs: new Int32Array(this.csr),
      pmpCfg: new Uint8Array(this.pmp.cfg),
      pmpAddrLo: new Int32Array(this.pmp.addrLo),
      pmpAddrHi: new Int32Array(this.pmp.addrHi),
    };
  }
}

export interface HartState {
  pc: number;
  priv: number;
  waiting: boolean;
  reservation: number;
  retired: number;
  instretOffset: number;
  cycleOffset: number;
  fflags: number;
  registers: Int32Array;
  csrs: Int32Array;
  pmpCfg: Uint8Array;
  pmpAddrLo: Int32Array;
  pmpAddrHi: Int32Array;
}
