/**
 * Builds the hostile S-mode programs of test/machine/programs/hostile/ (C and assembly, no libc) with
 * Debian's riscv64-unknown-elf-gcc. They are kernels for the built-in SBI: linked at 0x80200000.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './guest-session.js';

const SOURCES = join(REPO_ROOT, 'test', 'machine', 'programs', 'hostile');
const OUT_DIR = join(REPO_ROOT, 'build', 'machine', 'hostile');

/**
 * The ELF of hostile program `name` (name.c), or null when the cross compiler is missing outside CI
 * (in CI a missing compiler fails the test instead).
 */
export function buildHostile(name: string): string | null {
  mkdirSync(OUT_DIR, { recursive: true });
  const elf = join(OUT_DIR, `${name}.elf`);
  try {
    execFileSync('riscv64-unknown-elf-gcc', [
      '-march=rv64gc_zicsr',
      '-mabi=lp64d',
      '-mcmodel=medany',
      // No gp set up by start.S: the linker must not turn accesses into gp-relative ones.
      '-mno-relax',
      '-O2',
      '-ffreestanding',
      '-nostdlib',
      '-nostartfiles',
      '-Wl,-Ttext=0x80200000',
      '-o',
      elf,
      join(SOURCES, 'start.S'),
      join(SOURCES, `${name}.c`),
    ]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !process.env.CI) return null;
    throw e;
  }
  return elf;
}
