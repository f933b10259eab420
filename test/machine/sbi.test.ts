import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { crossCompile, SBI_KERNEL_FLAGS } from './cross-compile.js';
import { CLI, REPO_ROOT } from './guest-session.js';

const SOURCE = join(REPO_ROOT, 'test', 'machine', 'programs', 'sbi-calls.S');

function build(): string | null {
  return crossCompile(join(REPO_ROOT, 'build', 'machine', 'sbi-calls.elf'), [SOURCE], SBI_KERNEL_FLAGS);
}

test('an S-mode kernel (ELF) gets SBI 2.0 from the built-in firmware: base, DBCN, legacy, HSM, TIME, SRST', (t) => {
  const elf = build();
  if (elf === null) return t.skip('riscv64-unknown-elf-gcc not installed');
  const run = spawnSync(process.execPath, [CLI, 'run', '--kernel', elf], {
    encoding: 'utf8',
    timeout: 60_000,
    input: '',
  });
  assert.equal(run.stderr, '');
  assert.equal(run.stdout, 'built-in SBI says hello!\n');
  // Exit status 0 comes from SRST shutdown; a failed check n would power off with code n.
  assert.equal(run.status, 0);
});
