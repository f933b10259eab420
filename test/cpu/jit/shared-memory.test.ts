/**
 * The compiled tier on a shared state memory (a SharedArrayBuffer, as harts on several threads will
 * use): its modules import the memory as shared, AMOs run as wasm atomics, and a hot loop of AMOs,
 * LR/SC and plain stores ends in exactly the state the interpreter reaches on an ordinary memory.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encI, encJ, encR, encS, encU } from '../../../src/cpu/encoder.js';
import { Hart } from '../../../src/cpu/hart.js';
import { Amo } from '../../../src/cpu/opcodes.js';
import { createStateMemory, DEFAULT_DECODE_CACHE_PAGES } from '../../../src/cpu/state-layout.js';
import { SystemBus } from '../../../src/machine/bus.js';

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 1 << 20;
const CODE = 0x1000;
const DATA = 0x2000;
const [A1, A2, A3, A4, A5, T0, T1] = [11, 12, 13, 14, 15, 5, 6];
const AMO_OPCODE = 0x2f;
const amo = (funct5: number, wide: boolean, rd: number, rs1: number, rs2: number): number =>
  encR(AMO_OPCODE, rd, wide ? 3 : 2, rs1, rs2, funct5 << 2);
const LR = 0x02;
const SC = 0x03;

const program = [
  encU(0x17, A2, 1), // auipc a2, 1: a2 = DATA
  encI(0x13, A5, 0, A2, 8), // a5 = a2 + 8
  encI(0x13, A1, 0, 0, 3), // a1 = 3
  // loop:
  amo(Amo.ADD, false, A3, A2, A1),
  amo(Amo.SWAP, true, A4, A5, A3),
  amo(Amo.OR, false, T0, A2, A4),
  amo(Amo.XOR, true, T1, A5, A1),
  amo(Amo.AND, true, 0, A5, A3),
  amo(Amo.MAXU, false, A3, A2, A1), // through the helper
  amo(LR, true, T0, A5, 0),
  encI(0x13, T0, 0, T0, 5),
  amo(SC, true, T1, A5, T0),
  encS(0x23, 3, A2, A1, 16), // sd a1, 16(a2)
  encI(0x13, A1, 0, A1, 7),
  encJ(0, -4 * 11),
];

function runOn(memory: WebAssembly.Memory, jit: { threshold: number } | false): Hart {
  const hart = new Hart(memory, new SystemBus(RAM_BASE, RAM_SIZE), {
    jit: jit === false ? false : { ...jit, synchronous: true },
  });
  const code = new DataView(hart.ram8.buffer, hart.ram8.byteOffset + CODE, 4 * program.length);
  for (const [i, w] of program.entries()) code.setUint32(4 * i, w, true);
  hart.reset(RAM_BASE + CODE);
  for (let left = 60_000; left > 0; ) left -= hart.run(Math.min(left, 7_000));
  return hart;
}

test('a hot loop of AMOs and LR/SC on a shared memory: the tier ends where the interpreter does', () => {
  const reference = runOn(createStateMemory(RAM_SIZE), false);
  for (const threshold of [16, 0]) {
    const memory = createStateMemory(RAM_SIZE, DEFAULT_DECODE_CACHE_PAGES, true);
    assert.ok(memory.buffer instanceof SharedArrayBuffer);
    const hart = runOn(memory, { threshold });
    const jit = hart.jit;
    assert.ok(jit);
    assert.equal(jit.stats.failedBatches, 0, `no module refused: ${jit.lastError}`);
    assert.ok(jit.stats.retired > 50_000, `compiled code ran (${jit.stats.retired} of 60000)`);
    assert.equal(hart.pc, reference.pc);
    assert.deepEqual(Array.from(hart.x.subarray(0, 64)), Array.from(reference.x.subarray(0, 64)));
    assert.deepEqual(hart.ram8.slice(DATA, DATA + 32), reference.ram8.slice(DATA, DATA + 32));
  }
});
