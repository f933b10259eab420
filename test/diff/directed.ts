// Hand-written sequences for cases random generation reaches only rarely, and regression cases
// for differences the random test has found. Unlike random sequences they do not change when
// the generator does, so they stay reproducible by name.

import { generateInit, type Item, type Sequence } from './generator.js';
import { Rng } from './prng.js';

function directed(name: string, lines: string[], pageOffset?: number): Sequence {
  const { init } = generateInit(new Rng(`directed:${name}`));
  init.fcsr = 0;
  const items: Item[] = lines.map((l) => ({ kind: 'directed', lines: [l], label: /^[%.\w]+:$/.test(l) }));
  return { id: `directed:${name}`, items, init, pageOffset };
}

export function directedSequences(): Sequence[] {
  return [
    // A 32-bit illegal instruction whose second half is on the next page: mtval must hold all
    // 32 bits (or be zero), not just the first halfword.
    directed('illegal-straddle', ['.insn 4, 0x1234b00b', 'addi x5, x5, 1'], 0xffe),
    // Same for an FP instruction that is illegal only because frm holds a reserved value.
    directed('illegal-frm-straddle', ['fsrmi 6', '.insn 4, 0x0174f553', 'fsrmi 0'], 0xffa),
    // Legal instructions straddling a page: fetched whole, executed normally.
    directed('add-straddle', ['add x5, x6, x7', 'mul x8, x9, x10', 'fmadd.d f1, f2, f3, f4'], 0xffe),
    directed('c-straddle', ['c.addi x8, 3', 'lui x9, 0x12345', 'c.slli x9, 7'], 0xffc),
    // Instructions that straddle after a taken branch lands on them.
    directed('branch-to-straddle', ['c.j %L0', 'c.nop', '%L0:', 'addi x11, x0, 77', 'auipc x12, 0x1'], 0xffa),
    // Self-modifying code: run, patch, fence.i, run again.
    directed('smc-loop', [
      'li x20, 2',
      '.balign 4',
      '7:',
      '8:',
      '.insn 4, 0x001a8a93', // addi x21, x21, 1 (kept 32-bit: the patch overwrites 4 bytes)
      'lla x22, 8b',
      'li x23, 0x00c585b3', // add x11, x11, x12
      'sw x23, 0(x22)',
      'fence.i',
      'addi x20, x20, -1',
      'bnez x20, 7b',
    ]),
    // A patched slot holding two compressed instructions where one 32-bit instruction was.
    directed('smc-split', [
      'lla x22, 8f',
      'li x23, 0x85b2050d', // c.addi x10, 3 ; c.mv x11, x12
      'sw x23, 0(x22)',
      'fence.i',
      '.balign 4',
      '8:',
      'mul x13, x14, x15',
    ]),
  ];
}
