/**
 * Turns a kernel file into bytes to place in RAM: a RISC-V Linux `Image` (also inside a PE/EFI
 * header, as Debian ships it), a gzip-compressed Image, an ELF vmlinux (or any ELF), or a raw binary.
 */
import { gunzipSync } from 'node:zlib';
import { ElfError, parseElf } from '../elf.js';

export class BootImageError extends Error {}

export interface KernelImage {
  /** What was recognised, for messages. */
  format: string;
  bytes: Uint8Array;
  /** Bytes of RAM the kernel needs from its load address (the Image header's image_size, incl. .bss). */
  footprint: number;
  /** Entry point relative to the load address. */
  entryOffset: number;
}

/** Second magic of the RISC-V Image header ("RSC\x05" at byte 56). */
const IMAGE_MAGIC2 = 0x05435352;

export function isGzip(b: Uint8Array): boolean {
  return b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;
}

function isElf(b: Uint8Array): boolean {
  return b.length > 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

/** The board's largest RAM: no kernel can need more, so nothing is ever inflated beyond it. */
export const MAX_KERNEL_BYTES = 2 ** 31;

/**
 * Inflates a gzip-compressed kernel without ever holding more than `maxBytes` of output: a small file
 * can claim gigabytes (a "zip bomb"), and the host must learn that before it has allocated them.
 */
export function gunzipKernel(data: Uint8Array, name: string, maxBytes: number): Uint8Array {
  try {
    return gunzipSync(data, { maxOutputLength: maxBytes });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new BootImageError(
        `${name}: decompresses to more than ${Math.floor(maxBytes / 2 ** 20)} MiB, the most it may fill (the VM's RAM)`,
      );
    }
    throw new BootImageError(`${name}: gzip data is corrupt (${err.message})`);
  }
}

/** `maxBytes` bounds the kernel once decompressed (pass the VM's RAM size). */
export function prepareKernel(data: Uint8Array, name: string, maxBytes = MAX_KERNEL_BYTES): KernelImage {
  if (data.length === 0) throw new BootImageError(`${name}: the kernel file is empty`);
  if (isGzip(data)) {
    const inflated = gunzipKernel(data, name, maxBytes);
    const inner = prepareKernel(inflated, name, maxBytes);
    return { ...inner, format: `gzip-compressed ${inner.format}` };
  }
  if (isElf(data)) return fromElf(data, name);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length >= 64 && view.getUint32(56, true) === IMAGE_MAGIC2) {
    const imageSize = Number(view.getBigUint64(16, true));
    return {
      format: 'RISC-V Linux Image',
      bytes: data,
      footprint: Math.max(imageSize, data.length),
      entryOffset: 0,
    };
  }
  return { format: 'raw binary', bytes: data, footprint: data.length, entryOffset: 0 };
}

/**
 * An ELF is laid out as its segments' physical addresses dictate, relative to the lowest one, so a
 * vmlinux (linked at a virtual address, with load addresses counted from 0) lands at the load address.
 */
function fromElf(data: Uint8Array, name: string): KernelImage {
  let elf: ReturnType<typeof parseElf>;
  try {
    elf = parseElf(data, name);
  } catch (e) {
    if (e instanceof ElfError) throw new BootImageError(e.message);
    throw e;
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const lowest = Math.min(...elf.segments.map((s) => s.physicalAddress));
  const end = Math.max(...elf.segments.map((s) => s.physicalAddress + s.memorySize));
  const footprint = end - lowest;
  if (footprint > 1 << 30)
    throw new BootImageError(`${name}: ELF segments span ${footprint} bytes, more than 1 GiB`);
  const fileEnd = Math.max(...elf.segments.map((s) => s.physicalAddress - lowest + s.fileSize));
  const bytes = new Uint8Array(fileEnd);
  for (const s of elf.segments) {
    bytes.set(data.subarray(s.fileOffset, s.fileOffset + s.fileSize), s.physicalAddress - lowest);
  }
  // e_entry is virtual: find the segment holding it and translate through that segment's addresses.
  const phoff = Number(view.getBigUint64(32, true));
  const phentsize = view.getUint16(54, true);
  let entryOffset = elf.entry - lowest;
  for (let i = 0; i < view.getUint16(56, true); i++) {
    const p = phoff + i * phentsize;
    if (view.getUint32(p, true) !== 1) continue;
    const vaddr = view.getBigUint64(p + 16, true);
    const paddr = Number(view.getBigUint64(p + 24, true));
    const memsz = view.getBigUint64(p + 40, true);
    const entry = BigInt.asUintN(64, BigInt(elf.entry));
    if (entry >= vaddr && entry < vaddr + memsz) {
      entryOffset = paddr - lowest + Number(entry - vaddr);
      break;
    }
  }
  return { format: 'ELF', bytes, footprint, entryOffset };
}
