/**
 * A virtio-mmio transport with nothing plugged in, as QEMU virt presents its unused slots: the magic,
 * version and vendor read back, everything else reads 0 (so DeviceID 0, which Linux's virtio_mmio driver
 * skips) and writes are ignored.
 */
import type { MmioDevice } from './device.js';

const MAGIC_VALUE = 0x000;
const VERSION = 0x004;
const VENDOR_ID = 0x00c;
const VIRT_MAGIC = 0x74726976; // "virt"
const QEMU_VENDOR = 0x554d4551; // "QEMU"
/** QEMU maps this much of each 0x1000 slot (registers and configuration space); the rest faults. */
const REGISTER_SPAN = 0x200;

export class VirtioMmioEmpty implements MmioDevice {
  readonly name: string;
  readonly base: number;
  readonly size = 0x1000;
  /** 2 is the modern layout; QEMU 7.2 says 1 unless virtio-mmio.force-legacy=false. */
  readonly version: number;

  constructor(base: number, version = 2) {
    this.base = base;
    this.version = version;
    this.name = `virtio-mmio@${base.toString(16)}`;
  }

  private word(offset: number): number {
    if (offset === MAGIC_VALUE) return VIRT_MAGIC;
    if (offset === VERSION) return this.version;
    if (offset === VENDOR_ID) return QEMU_VENDOR;
    return 0;
  }

  read(offset: number, size: number, out: Int32Array): boolean {
    if ((offset & (size - 1)) !== 0 || offset + size > REGISTER_SPAN) return false;
    if (size === 8) {
      out[0] = this.word(offset);
      out[1] = this.word(offset + 4);
    } else if (size === 4) {
      out[0] = this.word(offset);
    } else {
      // QEMU hands narrow reads to the register decoder unchanged: the low bytes of a register at its
      // own offset, and zero inside one.
      out[0] = this.word(offset) & (size === 1 ? 0xff : 0xffff);
    }
    return true;
  }

  write(offset: number, size: number, _lo: number, _hi: number): boolean {
    return (offset & (size - 1)) === 0 && offset + size <= REGISTER_SPAN;
  }

  saveState(): Record<string, never> {
    return {};
  }

  restoreState(_state: Record<string, never>): void {}
}
