/**
 * SiFive test finisher as on QEMU virt (hw/misc/sifive_test.c): the "sifive,test0" syscon that OpenSBI
 * and Linux's syscon-poweroff / syscon-reboot use to end or restart the machine. A write to offset 0
 * carries a status in bits 15..0 and an exit code in bits 31..16.
 */
import type { MmioDevice } from './device.js';

const FINISHER_FAIL = 0x3333;
const FINISHER_PASS = 0x5555;
const FINISHER_RESET = 0x7777;

export interface SifiveTestHost {
  /** The guest powered off: 0 for "pass", else the code it gave with "fail". */
  powerOff(code: number): void;
  reset(): void;
}

export class SifiveTest implements MmioDevice {
  readonly name = 'test';
  readonly base: number;
  readonly size = 0x1000;
  private readonly host: SifiveTestHost;

  constructor(base: number, host: SifiveTestHost) {
    this.base = base;
    this.host = host;
  }

  /** QEMU accepts 16- and 32-bit accesses only. */
  private static valid(offset: number, size: number): boolean {
    return (size === 2 || size === 4) && (offset & (size - 1)) === 0;
  }

  read(offset: number, size: number, out: Int32Array): boolean {
    if (!SifiveTest.valid(offset, size)) return false;
    out[0] = 0;
    return true;
  }

  write(offset: number, size: number, lo: number, _hi: number): boolean {
    if (!SifiveTest.valid(offset, size)) return false;
    if (offset !== 0) return true;
    const value = size === 2 ? lo & 0xffff : lo;
    const status = value & 0xffff;
    if (status === FINISHER_PASS) this.host.powerOff(0);
    else if (status === FINISHER_FAIL) this.host.powerOff((value >>> 16) & 0xffff);
    else if (status === FINISHER_RESET) this.host.reset();
    return true;
  }

  saveState(): Record<string, never> {
    return {};
  }

  restoreState(_state: Record<string, never>): void {}
}
