import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, REPO_ROOT } from './guest-session.js';

const SOURCE = join(REPO_ROOT, 'test', 'machine', 'programs', 'sbi-calls.S');
const OUT_DIR = join(REPO_ROOT, 'build', 'machine');

function build(): string | null {
  mkdirSync(OUT_DIR, { recursive: true });
  const elf = join(OUT_DIR, 'sbi-calls.elf');
  try {
    execFileSync('riscv64-unknown-elf-gcc', [
      '-march=rv64gc_zicsr',
      '-mabi=lp64d',
      '-nostdlib',
      '-nostartfiles',
      '-Wl,-Ttext=0x80200000',
      '-o',
      elf,
      SOURCE,
    ]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !process.env.CI) return null;
    throw e;
  }
  return elf;
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
