/**
 * Where firmware, kernel, initrd and devicetree go in RAM, following QEMU's virt machine so that
 * software finds things where it expects them, with overlaps and overflows reported by name.
 */
import { BootImageError } from './kernel-image.js';

const MiB = 1024 * 1024;

export interface BootLayoutRequest {
  ramBase: number;
  ramSize: number;
  firmwareSize?: number;
  kernelFootprint: number;
  initrdSize?: number;
  dtbSize: number;
}

export interface BootLayout {
  firmware?: number;
  kernel: number;
  initrd?: { start: number; end: number };
  dtb: number;
  /** A spare 4 KiB page below the devicetree for boot-time structures (OpenSBI's fw_dynamic_info). */
  scratch: number;
}

const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const alignDown = (v: number, a: number): number => Math.floor(v / a) * a;
const hex = (v: number): string => `0x${v.toString(16)}`;

export function planBoot(req: BootLayoutRequest): BootLayout {
  const ramEnd = req.ramBase + req.ramSize;
  const firmware = req.firmwareSize !== undefined ? req.ramBase : undefined;
  // The kernel goes at the first 2 MiB boundary after the firmware (RV64 kernels want 2 MiB alignment).
  const kernel = alignUp(req.ramBase + Math.max(req.firmwareSize ?? 0, 1), 2 * MiB);
  const kernelEnd = kernel + req.kernelFootprint;
  // The devicetree sits at the top of RAM (below 3 GiB of address space), 2 MiB aligned, as QEMU does.
  const dtbTop = Math.min(ramEnd, 0xc000_0000);
  const dtb = alignDown(dtbTop - req.dtbSize, 2 * MiB);
  const scratch = dtb - 4096;
  const describe = `with ${req.ramSize / MiB} MiB of RAM`;
  if (firmware !== undefined && (req.firmwareSize ?? 0) > kernel - firmware) {
    throw new BootImageError(`firmware of ${req.firmwareSize} bytes overlaps the kernel at ${hex(kernel)}`);
  }
  let initrd: BootLayout['initrd'];
  if (req.initrdSize !== undefined) {
    const start = alignUp(Math.max(kernel + Math.min(req.ramSize / 2, 128 * MiB), kernelEnd), 4096);
    const end = start + req.initrdSize;
    if (end > scratch) {
      throw new BootImageError(
        `the initrd (${req.initrdSize} bytes at ${hex(start)}) does not fit below the devicetree at ${hex(dtb)} ${describe}; use more memory (--mem)`,
      );
    }
    initrd = { start, end };
  }
  if (kernelEnd > (initrd?.start ?? scratch)) {
    throw new BootImageError(
      `the kernel needs ${req.kernelFootprint} bytes from ${hex(kernel)}, which runs into ${initrd ? 'the initrd' : 'the devicetree'} ${describe}; use more memory (--mem)`,
    );
  }
  return { firmware, kernel, initrd, dtb, scratch };
}
