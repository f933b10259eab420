/**
 * Tiny M-mode guests as raw machine code, for VMs booted with `firmware: none` (the board starts the
 * kernel at the base of RAM in M-mode). No toolchain needed: each is a handful of hand-encoded
 * RV64 instructions.
 */
import { writeFileSync } from 'node:fs';

function program(...words: number[]): Uint8Array {
  const bytes = new Uint8Array(words.length * 4);
  const view = new DataView(bytes.buffer);
  for (const [i, w] of words.entries()) view.setUint32(i * 4, w >>> 0, true);
  return bytes;
}

/** Writes 'A' to the 16550's transmit register (0x10000000) forever, as fast as the CPU goes. */
export const FLOOD_UART = program(
  0x100002b7, // lui  t0, 0x10000
  0x04100313, // addi t1, zero, 'A'
  0x00628023, // sb   t1, 0(t0)
  0xffdff06f, // j    .-4
);

/** Spins forever without touching anything: 100% of a vCPU. */
export const SPIN = program(
  0x0000006f, // j .
);

export function writeProgram(path: string, code: Uint8Array): string {
  writeFileSync(path, code);
  return path;
}
