/**
 * ELF64 RISC-V loader: PT_LOAD segments go to their physical addresses; symbols are looked up by name
 * (bare-metal test programs find the host through `tohost`/`fromhost`).
 */

export class ElfError extends Error {}

export interface LoadableSegment {
  physicalAddress: number;
  fileOffset: number;
  fileSize: number;
  memorySize: number;
}

export interface ElfImage {
  entry: number;
  segments: LoadableSegment[];
  symbols: Map<string, number>;
  bytes: Uint8Array;
}

const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const EM_RISCV = 243;

export function parseElf(bytes: Uint8Array, name: string): ElfImage {
  const fail = (why: string): never => {
    throw new ElfError(`${name}: ${why}`);
  };
  if (bytes.length < 64) fail('too short to be an ELF file');
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46)
    fail('not an ELF file');
  if (bytes[4] !== 2) fail(`ELF class ${bytes[4]} is not ELF64`);
  if (bytes[5] !== 1) fail('not little-endian');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const machine = view.getUint16(18, true);
  if (machine !== EM_RISCV) fail(`machine ${machine} is not RISC-V (${EM_RISCV})`);
  const u64 = (off: number): number => {
    if (off + 8 > bytes.length) fail(`header field at byte ${off} is past the end of the file`);
    const v = view.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`value 0x${v.toString(16)} at byte ${off} is too large`);
    return Number(v);
  };
  const entry = u64(24);
  const phoff = u64(32);
  const shoff = u64(40);
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  const shentsize = view.getUint16(58, true);
  const shnum = view.getUint16(60, true);
  const segments: LoadableSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (p + 56 > bytes.length) fail(`program header ${i} is past the end of the file`);
    if (view.getUint32(p, true) !== PT_LOAD) continue;
    const seg = {
      fileOffset: u64(p + 8),
      physicalAddress: u64(p + 24),
      fileSize: u64(p + 32),
      memorySize: u64(p + 40),
    };
    if (seg.fileOffset + seg.fileSize > bytes.length) fail(`segment ${i} extends past the end of the file`);
    if (seg.fileSize > seg.memorySize) fail(`segment ${i} has more file bytes than memory bytes`);
    if (seg.memorySize > 0) segments.push(seg);
  }
  if (segments.length === 0) fail('no loadable segments');
  const symbols = readSymbols(bytes, view, shoff, shentsize, shnum, u64);
  return { entry, segments, symbols, bytes };
}

/**
 * Symbols longer than this are skipped: the names a loader looks up are short, and a crafted string
 * table without terminators must not make every symbol a scan to the end of the file.
 */
export const MAX_SYMBOL_NAME = 1024;

/**
 * The symbol table's names and values. Linear in the file's size whatever it holds: only the first
 * SHT_SYMTAB is read (an ELF file has at most one; a crafted one could list the same table thousands of
 * times), each name's terminator is looked for within MAX_SYMBOL_NAME bytes of its start and within the
 * string table, and each name offset is decoded once however many symbols share it.
 */
function readSymbols(
  bytes: Uint8Array,
  view: DataView,
  shoff: number,
  shentsize: number,
  shnum: number,
  u64: (off: number) => number,
): Map<string, number> {
  const symbols = new Map<string, number>();
  if (shoff === 0 || shentsize < 64) return symbols;
  for (let i = 0; i < shnum; i++) {
    const s = shoff + i * shentsize;
    if (s + 64 > bytes.length) break;
    if (view.getUint32(s + 4, true) !== SHT_SYMTAB) continue;
    const symOff = u64(s + 24);
    const symEnd = Math.min(bytes.length, symOff + u64(s + 32));
    const link = view.getUint32(s + 40, true);
    const strHeader = shoff + link * shentsize;
    if (link >= shnum || strHeader + 64 > bytes.length) return symbols;
    const strOff = u64(strHeader + 24);
    const strEnd = Math.min(bytes.length, strOff + u64(strHeader + 32));
    const decoder = new TextDecoder();
    const names = new Map<number, string | null>();
    for (let o = symOff; o + 24 <= symEnd; o += 24) {
      const nameOff = view.getUint32(o, true);
      const start = strOff + nameOff;
      if (nameOff === 0 || start >= strEnd) continue;
      let name = names.get(start);
      if (name === undefined) {
        const end = bytes.subarray(start, Math.min(strEnd, start + MAX_SYMBOL_NAME + 1)).indexOf(0);
        name = end < 0 ? null : decoder.decode(bytes.subarray(start, start + end));
        names.set(start, name);
      }
      if (name !== null) symbols.set(name, u64(o + 8));
    }
    return symbols;
  }
  return symbols;
}

/** Copies the segments into RAM (zero-filling .bss parts); every byte must land inside RAM. */
export function loadSegments(image: ElfImage, ram: Uint8Array, ramBase: number, name: string): void {
  for (const seg of image.segments) {
    const start = seg.physicalAddress - ramBase;
    if (start < 0 || start + seg.memorySize > ram.length) {
      throw new ElfError(
        `${name}: segment at 0x${seg.physicalAddress.toString(16)} (${seg.memorySize} bytes) lies outside RAM ` +
          `0x${ramBase.toString(16)}-0x${(ramBase + ram.length - 1).toString(16)}`,
      );
    }
    ram.set(image.bytes.subarray(seg.fileOffset, seg.fileOffset + seg.fileSize), start);
    ram.fill(0, start + seg.fileSize, start + seg.memorySize);
  }
}
