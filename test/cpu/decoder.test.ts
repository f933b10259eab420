import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decode16, decode32, decodedImm, expandCompressed } from '../../src/cpu/decoder.js';
import { Op, PACK_COMPRESSED } from '../../src/cpu/opcodes.js';

test('compressed instructions expand to their base equivalents', () => {
  // Encodings checked against the RVC tables of the unprivileged ISA manual.
  const cases: [number, number, string][] = [
    [0x4501, 0x00000513, 'c.li a0, 0 -> addi a0, x0, 0'],
    [0x1141, 0xff010113, 'c.addi sp, -16 -> addi sp, sp, -16'],
    [0xe406, 0x00113423, 'c.sdsp ra, 8(sp) -> sd ra, 8(sp)'],
    [0x60a2, 0x00813083, 'c.ldsp ra, 8(sp) -> ld ra, 8(sp)'],
    [0x8082, 0x00008067, 'c.jr ra -> jalr x0, 0(ra)'],
    [0x852e, 0x00b00533, 'c.mv a0, a1 -> add a0, x0, a1'],
    [0x9002, 0x00100073, 'c.ebreak -> ebreak'],
    [0x0800, 0x01010413, 'c.addi4spn s0, sp, 16 -> addi s0, sp, 16'],
  ];
  for (const [half, full, what] of cases) {
    assert.equal(expandCompressed(half) >>> 0, full >>> 0, what);
  }
});

test('reserved compressed encodings are illegal and keep their bits for mtval', () => {
  for (const half of [0x0000, 0x4002 /* c.lwsp x0 */, 0x6002 /* c.ldsp x0 */, 0x8002 /* c.jr x0 */]) {
    const w = decode16(half);
    assert.equal(w & 0xff, Op.ILLEGAL, `0x${half.toString(16)}`);
    assert.ok(w & PACK_COMPRESSED);
    assert.equal(decodedImm, half);
  }
});

test('base decoder extracts immediates of every format', () => {
  decode32(0xfff00513); // addi a0, x0, -1
  assert.equal(decodedImm, -1);
  assert.equal(decode32(0x800000ef) & 0xff, Op.JAL); // jal ra, -1048576
  assert.equal(decodedImm, -1048576);
  assert.equal(decode32(0xfe000ee3) & 0xff, Op.BEQ); // beq x0, x0, -4
  assert.equal(decodedImm, -4);
  assert.equal(decode32(0xfe113c23) & 0xff, Op.SD); // sd ra, -8(sp)
  assert.equal(decodedImm, -8);
  assert.equal(decode32(0x00000000) & 0xff, Op.ILLEGAL);
  assert.equal(decode32(0xffffffff) & 0xff, Op.ILLEGAL);
});
