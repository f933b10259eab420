/**
 * A device writing guest RAM (DMA, through GuestMemory as every device does) over code the tier has
 * compiled: the next run executes what the device wrote, never the compiled form of the old bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encI, encJ } from '../../../src/cpu/encoder.js';
import { Hart } from '../../../src/cpu/hart.js';
import { createStateMemory } from '../../../src/cpu/state-layout.js';
import { SystemBus } from '../../../src/machine/bus.js';
import { GuestMemory } from '../../../src/machine/guest-memory.js';

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 1 << 20;
const A0 = 10;
const ADDI = (rd: number, rs1: number, imm: number): number => encI(0x13, rd, 0, rs1, imm);

function a0(hart: Hart): number {
  return hart.x[2 * A0];
}

/** Runs `instructions` in batches, as the board's run loop does. */
function run(hart: Hart, instructions: number): void {
  for (let left = instructions; left > 0; ) left -= hart.run(Math.min(left, 10_000));
}

for (const [label, threshold] of [
  ['hot code', 16],
  ['strict mode', 0],
] as const) {
  test(`DMA over compiled code (${label}): the loop runs the bytes the device wrote`, () => {
    const hart = new Hart(createStateMemory(RAM_SIZE), new SystemBus(RAM_BASE, RAM_SIZE), {
      jit: { threshold, synchronous: true },
    });
    const jit = hart.jit;
    assert.ok(jit);
    // 1: addi a0, a0, 1; j 1b
    const code = new DataView(hart.ram8.buffer, hart.ram8.byteOffset + 0x1000, 8);
    code.setUint32(0, ADDI(A0, A0, 1), true);
    code.setUint32(4, encJ(0, -4), true);
    hart.reset(RAM_BASE + 0x1000);
    const dma = new GuestMemory(RAM_BASE, hart.ram8, [hart]);

    run(hart, 20_000);
    assert.equal(a0(hart), 10_000, 'two instructions per increment of 1');
    const compiledBefore = jit.stats.retired;
    assert.ok(compiledBefore > 15_000, `the loop ran compiled (${compiledBefore} of 20000)`);

    // The device writes `addi a0, a0, 5` over the loop's first instruction.
    const offset = 0x1000;
    dma.setU32(offset, ADDI(A0, A0, 5));
    dma.written(offset, 4);
    assert.equal(jit.stats.dropped, 1, 'the compiled region of the page was dropped');

    assert.equal(hart.pc, RAM_BASE + 0x1000, 'the batch ended between two iterations');
    run(hart, 20_000);
    assert.equal(a0(hart), 10_000 + 5 * 10_000, '10 000 more iterations, each adding 5');
    assert.ok(jit.stats.retired - compiledBefore > 15_000, 'the new code runs compiled too');
  });
}
