import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { VirtMachine } from '../../src/machine/virt/virt-machine.js';
import { crossCompile, SBI_KERNEL_FLAGS } from './cross-compile.js';
import { REPO_ROOT } from './guest-session.js';

const SOURCE = join(REPO_ROOT, 'test', 'machine', 'programs', 'pvpanic.S');

function build(): string | null {
  return crossCompile(join(REPO_ROOT, 'build', 'machine', 'pvpanic.elf'), [SOURCE], SBI_KERNEL_FLAGS);
}

test('a bare-metal S-mode program reports a panic through pvpanic-mmio: the board hears it once', async (t) => {
  const elf = build();
  if (elf === null) return t.skip('riscv64-unknown-elf-gcc not installed');
  const machine = new VirtMachine({
    ramSize: 16 * 2 ** 20,
    harts: 1,
    bios: 'builtin',
    kernel: { name: elf, bytes: readFileSync(elf) },
    bootargs: '',
  });
  const panics: string[] = [];
  const logs: string[] = [];
  machine.onGuestPanic = (detail) => panics.push(detail);
  machine.onLog = (message) => logs.push(message);
  const exit = await machine.run();
  // The program checks the register and the faults itself; a failed check n powers off with code n.
  assert.ok(exit.kind !== 'poweroff' || exit.code === 0, `a check failed: ${JSON.stringify(exit)}`);
  assert.deepEqual(panics, ['pvpanic: guest panicked']);
  assert.deepEqual(logs, ['pvpanic: guest crashed, its crash kernel took over']);
});
