/**
 * SiFive / RISC-V PLIC (platform-level interrupt controller) with QEMU virt's layout: source priorities
 * at 0x0, pending bits at 0x1000, per-context enable bits at 0x2000 + 0x80 * context, and per-context
 * threshold / claim-complete at 0x200000 + 0x1000 * context. Contexts come in pairs per hart as QEMU's
 * hart-config "MS": context 2h is hart h in M-mode (drives MEIP), 2h+1 the same hart in S-mode (SEIP).
 *
 * Sources are level-triggered, as every device on QEMU virt is:
 * - a source becomes pending while its line is high and it is not claimed;
 * - a line that drops before the claim withdraws the request (QEMU does this; the spec's gateway would
 *   keep it, and the driver copes with both, but spurious claims would hit handlers of idle devices);
 * - a claim clears the pending bit and masks the source until its completion;
 * - a completion re-raises the request if the line is still high, so a device that stays busy is served
 *   again without having to toggle its line.
 */
import { MIP_MEIP, MIP_SEIP } from '../../cpu/constants.js';
import type { Hart } from '../../cpu/hart.js';
import type { InterruptLine } from '../irq.js';
import type { MmioDevice } from './device.js';

/** QEMU virt's VIRT_IRQCHIP_NUM_SOURCES: ids 1..95 exist (the devicetree says riscv,ndev = 95). */
export const VIRT_PLIC_SOURCES = 96;
const PRIORITY_BASE = 0x0;
const PENDING_BASE = 0x1000;
const ENABLE_BASE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT_BASE = 0x200000;
const CONTEXT_STRIDE = 0x1000;
/** QEMU virt has 3 priority bits; with 2^n - 1 levels every bit is WARL, so writes keep the low 3 bits. */
const PRIORITY_MASK = 7;
/** QEMU virt sizes the window for its maximum of 512 harts whatever the actual count. */
const VIRT_PLIC_WINDOW = 0x600000;

export interface PlicState {
  priority: number[];
  threshold: number[];
  enable: number[];
  pending: number[];
  claimed: number[];
  level: number[];
}

class PlicLine implements InterruptLine {
  private readonly plic: Plic;
  private readonly source: number;

  constructor(plic: Plic, source: number) {
    this.plic = plic;
    this.source = source;
  }

  set(level: boolean): void {
    this.plic.setLevel(this.source, level);
  }
}

export class Plic implements MmioDevice {
  readonly name = 'plic';
  readonly base: number;
  readonly size: number;
  readonly sources: number;
  readonly contexts: number;
  private readonly harts: Hart[];
  private readonly words: number;
  /** Bits of sources that exist (source 0 and ids past the end read as zero and cannot be enabled). */
  private readonly validMask: Int32Array;
  private readonly priority: Uint8Array;
  private readonly threshold: Uint8Array;
  /** enable[context * words + w]. */
  private readonly enable: Int32Array;
  private readonly pending: Int32Array;
  private readonly claimed: Int32Array;
  private readonly level: Int32Array;
  private readonly lines: PlicLine[];

  constructor(base: number, harts: Hart[], sources = VIRT_PLIC_SOURCES) {
    if (sources < 2 || sources > 1024) throw new RangeError(`PLIC cannot have ${sources} sources`);
    this.base = base;
    this.harts = harts;
    this.sources = sources;
    this.contexts = 2 * harts.length;
    this.size = Math.max(VIRT_PLIC_WINDOW, CONTEXT_BASE + this.contexts * CONTEXT_STRIDE);
    this.words = (sources + 31) >> 5;
    this.validMask = new Int32Array(this.words);
    for (let id = 1; id < sources; id++) this.validMask[id >> 5] |= 1 << (id & 31);
    this.priority = new Uint8Array(sources);
    this.threshold = new Uint8Array(this.contexts);
    this.enable = new Int32Array(this.contexts * this.words);
    this.pending = new Int32Array(this.words);
    this.claimed = new Int32Array(this.words);
    this.level = new Int32Array(this.words);
    this.lines = [];
    for (let id = 0; id < sources; id++) this.lines.push(new PlicLine(this, id));
  }

  /** The input of a source, for the device wired to it. */
  line(source: number): InterruptLine {
    if (!Number.isInteger(source) || source < 1 || source >= this.sources) {
      throw new RangeError(`PLIC has no interrupt source ${source}`);
    }
    return this.lines[source];
  }

  /** Drives a source's input line (what `line(source).set` does). */
  setLevel(source: number, high: boolean): void {
    const w = source >> 5;
    const bit = 1 << (source & 31);
    if (high) {
      if (this.level[w] & bit) return;
      this.level[w] |= bit;
      // A claimed source gets its new request at completion, which looks at the level then.
      if ((this.claimed[w] & bit) === 0) this.pending[w] |= bit;
    } else {
      if ((this.level[w] & bit) === 0) return;
      this.level[w] &= ~bit;
      this.pending[w] &= ~bit;
    }
    this.update();
  }

  read(offset: number, size: number, out: Int32Array): boolean {
    if (size !== 4 || (offset & 3) !== 0) return false;
    out[0] = this.readWord(offset);
    return true;
  }

  write(offset: number, size: number, lo: number, _hi: number): boolean {
    if (size !== 4 || (offset & 3) !== 0) return false;
    this.writeWord(offset, lo);
    return true;
  }

  private readWord(offset: number): number {
    if (offset >= CONTEXT_BASE) {
      const ctx = ((offset - CONTEXT_BASE) / CONTEXT_STRIDE) | 0;
      if (ctx >= this.contexts) return 0;
      const reg = offset & (CONTEXT_STRIDE - 1);
      if (reg === 0) return this.threshold[ctx];
      if (reg === 4) return this.claim(ctx);
      return 0;
    }
    if (offset >= ENABLE_BASE) {
      const ctx = ((offset - ENABLE_BASE) / ENABLE_STRIDE) | 0;
      const w = (offset & (ENABLE_STRIDE - 1)) >> 2;
      if (ctx >= this.contexts || w >= this.words) return 0;
      return this.enable[ctx * this.words + w];
    }
    if (offset >= PENDING_BASE) {
      const w = (offset - PENDING_BASE) >> 2;
      return w < this.words ? this.pending[w] : 0;
    }
    const id = (offset - PRIORITY_BASE) >> 2;
    return id < this.sources ? this.priority[id] : 0;
  }

  private writeWord(offset: number, value: number): void {
    if (offset >= CONTEXT_BASE) {
      const ctx = ((offset - CONTEXT_BASE) / CONTEXT_STRIDE) | 0;
      if (ctx >= this.contexts) return;
      const reg = offset & (CONTEXT_STRIDE - 1);
      if (reg === 0) {
        this.threshold[ctx] = value & PRIORITY_MASK;
        this.update();
      } else if (reg === 4) {
        this.complete(value >>> 0);
      }
      return;
    }
    if (offset >= ENABLE_BASE) {
      const ctx = ((offset - ENABLE_BASE) / ENABLE_STRIDE) | 0;
      const w = (offset & (ENABLE_STRIDE - 1)) >> 2;
      if (ctx >= this.contexts || w >= this.words) return;
      this.enable[ctx * this.words + w] = value & this.validMask[w];
      // QEMU waits for the next event to re-evaluate; re-evaluating now is what the spec describes.
      this.update();
      return;
    }
    // The pending array is read-only (QEMU ignores writes to it).
    if (offset >= PENDING_BASE) return;
    const id = (offset - PRIORITY_BASE) >> 2;
    if (id >= 1 && id < this.sources) {
      this.priority[id] = value & PRIORITY_MASK;
      this.update();
    }
  }

  /**
   * The id the context would get from a claim now: the highest priority above the threshold among its
   * pending, enabled, unclaimed sources, the lowest id among equals. 0 when there is none.
   */
  private best(ctx: number): number {
    const words = this.words;
    const priority = this.priority;
    let maxPrio = this.threshold[ctx];
    let maxId = 0;
    const enableBase = ctx * words;
    for (let w = 0; w < words; w++) {
      let bits = this.pending[w] & ~this.claimed[w] & this.enable[enableBase + w];
      while (bits !== 0) {
        const low = bits & -bits;
        bits ^= low;
        const id = (w << 5) | (31 - Math.clz32(low));
        // Ascending ids and a strict comparison give ties to the lowest id.
        if (priority[id] > maxPrio) {
          maxPrio = priority[id];
          maxId = id;
        }
      }
    }
    return maxId;
  }

  private claim(ctx: number): number {
    const id = this.best(ctx);
    if (id !== 0) {
      const w = id >> 5;
      const bit = 1 << (id & 31);
      this.pending[w] &= ~bit;
      this.claimed[w] |= bit;
      this.update();
    }
    return id;
  }

  private complete(id: number): void {
    // Like QEMU, completion does not check that the source is enabled for the completing context; Linux
    // completes with the source disabled at times and has to toggle the enable bit only on hardware
    // that does check.
    if (id === 0 || id >= this.sources) return;
    const w = id >> 5;
    const bit = 1 << (id & 31);
    if ((this.claimed[w] & bit) === 0) return;
    this.claimed[w] &= ~bit;
    if (this.level[w] & bit) this.pending[w] |= bit;
    this.update();
  }

  /** Drives every hart's MEIP and SEIP from the contexts. */
  update(): void {
    const harts = this.harts;
    for (let h = 0; h < harts.length; h++) {
      const hart = harts[h];
      let pins = 0;
      if (this.best(2 * h) !== 0) pins |= MIP_MEIP;
      if (this.best(2 * h + 1) !== 0) pins |= MIP_SEIP;
      const old = hart.mipPins;
      const next = (old & ~(MIP_MEIP | MIP_SEIP)) | pins;
      if (next === old) continue;
      hart.mipPins = next;
      // A line raised by a store to a device (an IER write, say) is then taken after that instruction
      // rather than at the end of the batch: the run loop checks this flag after every device access.
      if (next & ~old) hart.yieldRequested = true;
    }
  }

  saveState(): PlicState {
    return {
      priority: Array.from(this.priority),
      threshold: Array.from(this.threshold),
      enable: Array.from(this.enable),
      pending: Array.from(this.pending),
      claimed: Array.from(this.claimed),
      level: Array.from(this.level),
    };
  }

  restoreState(state: PlicState): void {
    const copy = (into: Uint8Array | Int32Array, from: number[], what: string): void => {
      if (from.length !== into.length)
        throw new Error(`PLIC state: ${what} has ${from.length} entries, not ${into.length}`);
      into.set(from);
    };
    copy(this.priority, state.priority, 'priority');
    copy(this.threshold, state.threshold, 'threshold');
    copy(this.enable, state.enable, 'enable');
    copy(this.pending, state.pending, 'pending');
    copy(this.claimed, state.claimed, 'claimed');
    copy(this.level, state.level, 'level');
    this.update();
  }
}
