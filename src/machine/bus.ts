/**
 * The board's physical address space: RAM plus memory-mapped devices. The hart reaches RAM through its
 * own views; only device accesses come here.
 */
import type { PhysicalBus } from '../cpu/bus.js';
import type { MmioDevice } from './devices/device.js';

export class SystemBus implements PhysicalBus {
  readonly ramBase: number;
  readonly ramSize: number;
  valueLo = 0;
  valueHi = 0;
  private readonly devices: MmioDevice[] = [];
  private readonly scratch = new Int32Array(2);

  constructor(ramBase: number, ramSize: number) {
    this.ramBase = ramBase;
    this.ramSize = ramSize;
  }

  attach(device: MmioDevice): void {
    const end = device.base + device.size;
    if (device.base < this.ramBase + this.ramSize && end > this.ramBase) {
      throw new Error(`device ${device.name} at 0x${device.base.toString(16)} overlaps RAM`);
    }
    for (const other of this.devices) {
      if (device.base < other.base + other.size && end > other.base) {
        throw new Error(`device ${device.name} at 0x${device.base.toString(16)} overlaps ${other.name}`);
      }
    }
    this.devices.push(device);
  }

  private find(pa: number, size: number): MmioDevice | undefined {
    for (const d of this.devices) {
      if (pa >= d.base && pa + size <= d.base + d.size) return d;
    }
    return undefined;
  }

  readDevice(pa: number, size: number): boolean {
    const d = this.find(pa, size);
    if (d === undefined) return false;
    this.scratch[0] = 0;
    this.scratch[1] = 0;
    if (!d.read(pa - d.base, size, this.scratch)) return false;
    this.valueLo = this.scratch[0];
    this.valueHi = this.scratch[1];
    return true;
  }

  writeDevice(pa: number, size: number, lo: number, hi: number): boolean {
    const d = this.find(pa, size);
    if (d === undefined) return false;
    return d.write(pa - d.base, size, lo, hi);
  }
}
