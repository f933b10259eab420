/**
 * Builds the bare-metal test programs with Debian's riscv64-unknown-elf-gcc: S-mode "kernels" for the
 * built-in SBI (linked at 0x80200000), the hostile programs of test/machine/programs/hostile/, and
 * HTIF programs for run-elf. A missing compiler skips the test outside CI and fails it in CI.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './guest-session.js';

const HOSTILE = join(REPO_ROOT, 'test', 'machine', 'programs', 'hostile');

/** Flags of an S-mode kernel for the built-in SBI, which starts it at 0x80200000. */
export const SBI_KERNEL_FLAGS = ['-nostdlib', '-nostartfiles', '-Wl,-Ttext=0x80200000'];

/**
 * Compiles `sources` into the ELF `out` with `flags`; returns `out`, or null when the cross compiler
 * is missing outside CI (in CI a missing compiler throws, so the test fails).
 */
export function crossCompile(out: string, sources: string[], flags: string[]): string | null {
  mkdirSync(dirname(out), { recursive: true });
  try {
    execFileSync('riscv64-unknown-elf-gcc', [
      '-march=rv64gc_zicsr',
      '-mabi=lp64d',
      ...flags,
      '-o',
      out,
      ...sources,
    ]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !process.env.CI) return null;
    throw e;
  }
  return out;
}

/** The ELF of hostile program `name` (programs/hostile/name.c with its start.S). */
export function buildHostile(name: string): string | null {
  return crossCompile(
    join(REPO_ROOT, 'build', 'machine', 'hostile', `${name}.elf`),
    [join(HOSTILE, 'start.S'), join(HOSTILE, `${name}.c`)],
    // No gp is set up by start.S: the linker must not turn accesses into gp-relative ones.
    ['-mcmodel=medany', '-mno-relax', '-O2', '-ffreestanding', ...SBI_KERNEL_FLAGS],
  );
}
