/**
 * A Spike-like bare-metal machine: RAM at 0x8000_0000, a CLINT at 0x200_0000 and the HTIF
 * tohost/fromhost convention. It runs test programs and benchmarks the way Spike and QEMU's `spike`
 * machine do, so the same ELF can be compared on both.
 */
import { MIP_MSIP, MIP_MTIP, MIP_SSIP, MIP_STIP } from '../cpu/constants.js';
import { CSR_MIE } from '../cpu/csr-numbers.js';
import { Hart } from '../cpu/hart.js';
import type { JitOptions } from '../cpu/jit/jit.js';
import { createStateMemory } from '../cpu/state-layout.js';
import { warmUpInterpreter } from '../cpu/warmup.js';
import { SystemBus } from './bus.js';
import { GuestClock } from './clock.js';
import { Clint } from './devices/clint.js';
import { Htif, type HtifHost } from './devices/htif.js';
import { ElfError, type ElfImage, loadSegments } from './elf.js';

export const BAREMETAL_RAM_BASE = 0x8000_0000;
export const BAREMETAL_CLINT_BASE = 0x200_0000;
const BATCH = 1 << 16;

export interface BareMetalOptions {
  ramSize: number;
  maxInstructions: number;
  host: HtifHost;
  /** Called before each instruction when tracing (slow: one instruction per batch). */
  trace?: (hart: Hart) => void;
  /** The compiled tier (compiling synchronously: this machine never yields to the event loop). */
  jit?: JitOptions | false;
}

export type RunOutcome =
  | { kind: 'exit'; code: number; instructions: number; seconds: number }
  | { kind: 'limit'; instructions: number; seconds: number }
  | { kind: 'stuck'; instructions: number; seconds: number; pc: number };

export class BareMetalMachine {
  readonly hart: Hart;
  readonly clint: Clint;
  readonly clock = new GuestClock();
  private exitCode: number | null = null;
  private readonly options: BareMetalOptions;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));

  constructor(image: ElfImage, name: string, options: BareMetalOptions) {
    this.options = options;
    warmUpInterpreter();
    const ramSize = options.ramSize;
    const memory = createStateMemory(ramSize);
    const bus = new SystemBus(BAREMETAL_RAM_BASE, ramSize);
    this.hart = new Hart(memory, bus, {
      readTime: () => this.clock.now(),
      // Tracing shows every instruction, which only the interpreter does.
      jit: options.jit && !options.trace ? { ...options.jit, synchronous: true } : false,
    });
    this.clint = new Clint(BAREMETAL_CLINT_BASE, [this.hart], this.clock);
    bus.attach(this.clint);
    loadSegments(image, this.hart.ram8, BAREMETAL_RAM_BASE, name);
    const tohost = image.symbols.get('tohost');
    const fromhost = image.symbols.get('fromhost');
    if (tohost === undefined)
      throw new ElfError(`${name}: no 'tohost' symbol, so the program cannot report its end`);
    const host: HtifHost = {
      output: (fd, bytes) => options.host.output(fd, bytes),
      exit: (code) => {
        this.exitCode = code;
        this.hart.yieldRequested = true;
        options.host.exit(code);
      },
    };
    const toOff = tohost - BAREMETAL_RAM_BASE;
    const fromOff = (fromhost ?? tohost + 8) - BAREMETAL_RAM_BASE;
    for (const [label, off] of [
      ['tohost', toOff],
      ['fromhost', fromOff],
    ] as const) {
      if (off < 0 || off + 8 > ramSize || off % 8 !== 0) {
        throw new ElfError(
          `${name}: '${label}' at 0x${(off + BAREMETAL_RAM_BASE).toString(16)} is not an aligned RAM word`,
        );
      }
    }
    new Htif(this.hart, toOff, fromOff, host);
    this.hart.reset(image.entry);
  }

  run(): RunOutcome {
    const hart = this.hart;
    const limit = this.options.maxInstructions;
    const trace = this.options.trace;
    const started = performance.now();
    let total = 0;
    const trapsAtStart = hart.trapsTaken;
    const elapsed = (): number => (performance.now() - started) / 1000;
    while (this.exitCode === null) {
      this.clint.update();
      hart.checkInterrupts();
      if (hart.waiting) {
        if (!this.sleepUntilInterrupt())
          return { kind: 'stuck', instructions: total, seconds: elapsed(), pc: hart.pc };
        continue;
      }
      // Traps count towards the limit too: a trap loop retires nothing and would run forever.
      if (total + hart.trapsTaken - trapsAtStart >= limit)
        return { kind: 'limit', instructions: total, seconds: elapsed() };
      const budget = trace ? 1 : Math.min(BATCH, limit - total);
      if (trace) trace(hart);
      total += hart.run(budget);
    }
    return { kind: 'exit', code: this.exitCode, instructions: total, seconds: elapsed() };
  }

  /** Sleeps until a timer can fire. Returns false when no interrupt source could ever wake the hart. */
  private sleepUntilInterrupt(): boolean {
    const hart = this.hart;
    // Only timers can wake this machine (it has no interrupt-raising devices besides the CLINT).
    if ((hart.csr[CSR_MIE * 2] & (MIP_MTIP | MIP_STIP | MIP_MSIP | MIP_SSIP)) === 0) return false;
    const deadline = Math.min(this.clint.nextDeadline(), hart.supervisorTimerDeadline());
    if (deadline === Number.POSITIVE_INFINITY) return false;
    const ms = Math.min(100, this.clock.msUntil(deadline));
    if (ms > 0) Atomics.wait(this.sleeper, 0, 0, ms);
    return true;
  }
}
