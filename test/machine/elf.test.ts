/**
 * The ELF loader's symbol table on crafted files: the work is linear in the file's size whatever the
 * string and symbol tables claim (names without terminators, one table listed thousands of times).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SYMBOL_NAME, parseElf } from '../../src/machine/elf.js';

const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;

/**
 * An ELF64 RISC-V file: one PT_LOAD segment, then `symtabHeaders` section headers all naming the same
 * symbol table of `symbols` entries, and last of all the string table, so that nothing after it
 * terminates a name that runs off its end.
 */
function craftedElf(options: {
  symbols: number;
  strtab: Uint8Array;
  symtabHeaders: number;
  nameOff: (i: number) => number;
}) {
  const ehSize = 64;
  const phOff = ehSize;
  const segment = phOff + 56;
  const symOff = segment + 16;
  const symSize = options.symbols * 24;
  const shOff = symOff + symSize;
  const shnum = 2 + options.symtabHeaders;
  const strOff = shOff + shnum * 64;
  const bytes = new Uint8Array(strOff + options.strtab.length);
  const v = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 243, true); // EM_RISCV
  v.setUint32(20, 1, true);
  v.setBigUint64(24, 0x80000000n, true);
  v.setBigUint64(32, BigInt(phOff), true);
  v.setBigUint64(40, BigInt(shOff), true);
  v.setUint16(52, ehSize, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, 1, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, shnum, true);
  // PT_LOAD: 16 bytes of code at 0x80000000.
  v.setUint32(phOff, 1, true);
  v.setBigUint64(phOff + 8, BigInt(segment), true);
  v.setBigUint64(phOff + 16, 0x80000000n, true);
  v.setBigUint64(phOff + 24, 0x80000000n, true);
  v.setBigUint64(phOff + 32, 16n, true);
  v.setBigUint64(phOff + 40, 16n, true);
  for (let i = 0; i < options.symbols; i++) {
    v.setUint32(symOff + i * 24, options.nameOff(i), true);
    v.setBigUint64(symOff + i * 24 + 8, BigInt(0x80001000 + i), true);
  }
  // Section 1: the string table; sections 2..: the symbol table, again and again.
  v.setUint32(shOff + 64 + 4, SHT_STRTAB, true);
  v.setBigUint64(shOff + 64 + 24, BigInt(strOff), true);
  v.setBigUint64(shOff + 64 + 32, BigInt(options.strtab.length), true);
  for (let k = 0; k < options.symtabHeaders; k++) {
    const s = shOff + (2 + k) * 64;
    v.setUint32(s + 4, SHT_SYMTAB, true);
    v.setBigUint64(s + 24, BigInt(symOff), true);
    v.setBigUint64(s + 32, BigInt(symSize), true);
    v.setUint32(s + 40, 1, true);
  }
  bytes.set(options.strtab, strOff);
  return bytes;
}

test('a symbol table of unterminated names costs time linear in the file, and the real names are found', {
  // A hang detector, not a speed measure: the quadratic parser needs hours for this file, a linear one
  // milliseconds.
  timeout: 30_000,
}, () => {
  // "\0tohost\0" then 2 MiB of 'A' with no terminator; 50,000 symbols point into the 'A's.
  const strtab = new Uint8Array(8 + 2 * 1024 * 1024).fill(0x41);
  strtab.set([0, ...Buffer.from('tohost'), 0]);
  const elf = craftedElf({
    symbols: 50_000,
    strtab,
    symtabHeaders: 1,
    nameOff: (i) => (i === 0 ? 1 : 8 + (i % 40_000)),
  });
  const image = parseElf(elf, 'crafted.elf');
  assert.equal(image.symbols.get('tohost'), 0x80001000);
  assert.equal(image.symbols.size, 1, 'names that never end within the bound are skipped');
});

test('names up to the bound are kept; one symbol table listed 60,000 times is read once', {
  timeout: 30_000,
}, () => {
  const long = 'n'.repeat(MAX_SYMBOL_NAME);
  const strtab = Buffer.from(`\0${long}\0${long}x\0short\0`);
  const elf = craftedElf({
    symbols: 3000,
    strtab,
    symtabHeaders: 60_000,
    nameOff: (i) => [1, 2 + MAX_SYMBOL_NAME, 2 * MAX_SYMBOL_NAME + 4][i % 3],
  });
  const image = parseElf(elf, 'crafted.elf');
  assert.deepEqual([...image.symbols.keys()].sort(), [long, 'short']);
  assert.equal(image.symbols.get('short'), 0x80001000 + 2999);
});
