import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crossCompile } from '../machine/cross-compile.js';
import { CLI, REPO_ROOT } from '../machine/guest-session.js';

const OUT = join(REPO_ROOT, 'build', 'cli');

function runElf(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'run-elf', ...args], { encoding: 'utf8', timeout: 60_000 });
}

/** Assembles a tiny HTIF program; null when the cross toolchain is missing (outside CI). */
function assemble(name: string, body: string): string | null {
  mkdirSync(OUT, { recursive: true });
  const source = join(OUT, `${name}.S`);
  const elf = join(OUT, `${name}.elf`);
  writeFileSync(
    source,
    `.section .text.init\n.globl _start\n_start:\n${body}\n` +
      '.section .tohost,"aw",@progbits\n.align 6\n.globl tohost\ntohost: .dword 0\n.align 6\n.globl fromhost\nfromhost: .dword 0\n',
  );
  return crossCompile(
    elf,
    [source],
    ['-nostdlib', '-nostartfiles', '-T', join(REPO_ROOT, 'test', 'asm', 'link.ld')],
  );
}

test('files that are not RISC-V ELF64 programs are refused with a message, not a stack trace', () => {
  mkdirSync(OUT, { recursive: true });
  const text = join(OUT, 'not-an-elf.txt');
  writeFileSync(text, 'hello\n');
  const elf32 = join(OUT, 'elf32.bin');
  writeFileSync(elf32, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]), Buffer.alloc(100)]));
  for (const [file, message] of [
    [text, /too short to be an ELF file|not an ELF file/],
    [elf32, /ELF class 1 is not ELF64/],
    [join(OUT, 'missing.elf'), /cannot read/],
    [process.execPath, /machine \d+ is not RISC-V/],
  ] as const) {
    const r = runElf(file);
    assert.equal(r.status, 125, `${file}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('exit codes: pass, failing test number, --max-insns, and a bad HTIF request', (t) => {
  const pass = assemble('pass', '  li t0, 1\n  la t1, tohost\n  sd t0, 0(t1)\n1: j 1b');
  if (pass === null) return t.skip('riscv64-unknown-elf-gcc not installed');
  assert.equal(runElf(pass).status, 0);

  const fail = assemble('fail', '  li t0, (7 << 1) | 1\n  la t1, tohost\n  sd t0, 0(t1)\n1: j 1b');
  const failed = runElf(fail as string);
  assert.equal(failed.status, 7);
  assert.match(failed.stderr, /FAIL: test #7/);

  const loop = assemble('loop', '1: j 1b');
  const limited = runElf(loop as string, '--max-insns', '100000');
  assert.equal(limited.status, 124);
  assert.match(limited.stderr, /--max-insns 100000 .*pc 0x0000000080000000/);

  // An even payload is a system-call block pointer; one outside RAM is the guest's mistake.
  const bad = assemble(
    'bad-htif',
    '  li t0, 0x12340\n  la t1, tohost\n  sd t0, 0(t1)\n  li t0, 1\n  sd t0, 0(t1)\n1: j 1b',
  );
  const r = runElf(bad as string);
  assert.equal(r.status, 0);
  assert.match(r.stderr, /HTIF: ignored a system call whose block at 0x12340 is not aligned RAM/);
});

test('--jit and --jit-threshold: the tier is on by default, off on request, and bad values are refused', (t) => {
  // A loop hot enough to be compiled at the default threshold, then a pass.
  const loop = assemble(
    'jit-loop',
    '  li t2, 100000\n1: addi t2, t2, -1\n  bnez t2, 1b\n  li t0, 1\n  la t1, tohost\n  sd t0, 0(t1)\n2: j 2b',
  );
  if (loop === null) return t.skip('riscv64-unknown-elf-gcc not installed');
  const stats = (r: ReturnType<typeof runElf>) => {
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stderr.trim().split('\n').pop() as string) as {
      instructions: number;
      jit?: { retired: number };
    };
  };
  const on = stats(runElf(loop, '--stats'));
  assert.ok(on.jit !== undefined && on.jit.retired > 150_000, `compiled code ran: ${JSON.stringify(on.jit)}`);
  const off = stats(runElf(loop, '--stats', '--jit', 'off'));
  assert.equal(off.jit, undefined, 'no tier with --jit off');
  assert.equal(off.instructions, on.instructions, 'both tiers retire the same instructions');
  const strict = stats(runElf(loop, '--stats', '--jit-threshold', '0'));
  assert.ok(strict.jit !== undefined && strict.jit.retired > 199_000, 'strict mode runs nearly all compiled');
  for (const args of [
    ['--jit', 'maybe'],
    ['--jit-threshold', '-1'],
    ['--jit-threshold', '1.5'],
  ]) {
    const r = runElf(loop, ...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--jit/);
  }
});
