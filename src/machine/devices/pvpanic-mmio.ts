/**
 * pvpanic over MMIO (devicetree compatible "qemu,pvpanic-mmio"; Linux drivers/misc/pvpanic, QEMU
 * docs/specs/pvpanic.rst): the guest kernel's panic notifier writes an event to this register, so the
 * host learns of a panic from the kernel itself rather than from console text, which any user
 * process can print. Reading the register gives the events the device understands; writing reports
 * them, and bits the device does not know are ignored.
 *
 * The register is 16 bits wide: byte 0 carries the events, byte 1 is reserved (reads 0, ignores
 * writes). Wider accesses fall outside the 2-byte window and fault on the bus.
 */
import type { MmioDevice } from './device.js';

/** A guest panic the host should act on (stop or restart the VM). */
export const PVPANIC_PANICKED = 1 << 0;
/** A guest panic that a crash kernel (kdump) handles: the host records it and lets the guest run. */
export const PVPANIC_CRASH_LOADED = 1 << 1;
/** What QEMU 7.2 advertises; its later PVPANIC_SHUTDOWN (bit 2) is left out, as SBI SRST covers it. */
const SUPPORTED = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
export const PVPANIC_MMIO_SIZE = 2;

export interface PvpanicHost {
  /** The guest kernel panicked; `detail` says so in words for the VM's reason. */
  panicked(detail: string): void;
  /** The guest crashed into its crash kernel and keeps running; `detail` is for the log. */
  crashLoaded(detail: string): void;
}

export interface PvpanicState {
  reported: number;
}

export class PvpanicMmio implements MmioDevice {
  readonly name = 'pvpanic';
  readonly base: number;
  readonly size = PVPANIC_MMIO_SIZE;
  private readonly host: PvpanicHost;
  /**
   * Events already passed to the host since the last reset: each is reported once per boot, so a
   * guest writing the register in a loop cannot turn it into a stream of host callbacks and log lines.
   */
  private reported = 0;

  constructor(base: number, host: PvpanicHost) {
    this.base = base;
    this.host = host;
  }

  private static valid(offset: number, size: number): boolean {
    return (size === 1 || size === 2) && (offset & (size - 1)) === 0 && offset + size <= PVPANIC_MMIO_SIZE;
  }

  read(offset: number, size: number, out: Int32Array): boolean {
    if (!PvpanicMmio.valid(offset, size)) return false;
    out[0] = offset === 0 ? SUPPORTED : 0;
    return true;
  }

  write(offset: number, size: number, lo: number, _hi: number): boolean {
    if (!PvpanicMmio.valid(offset, size)) return false;
    if (offset !== 0) return true;
    const events = lo & SUPPORTED & ~this.reported;
    // A panic that asks the host to act outranks "a crash kernel has it", as in QEMU.
    if (events & PVPANIC_PANICKED) {
      this.reported |= PVPANIC_PANICKED;
      this.host.panicked('pvpanic: guest panicked');
    } else if (events & PVPANIC_CRASH_LOADED) {
      this.reported |= PVPANIC_CRASH_LOADED;
      this.host.crashLoaded('pvpanic: guest crashed, its crash kernel took over');
    }
    return true;
  }

  /** The board's reset: a rebooted guest may report its next panic again. */
  reset(): void {
    this.reported = 0;
  }

  saveState(): PvpanicState {
    return { reported: this.reported };
  }

  restoreState(state: PvpanicState): void {
    this.reported = state.reported & SUPPORTED;
  }
}
