import assert from 'node:assert/strict';
import { test } from 'node:test';
import { div64, divu64, mul64, mulh64, mulhsu64, mulhu64, result } from '../../src/cpu/int64.js';

const EDGES = [
  0n,
  1n,
  -1n,
  2n,
  -2n,
  7n,
  (1n << 31n) - 1n,
  1n << 31n,
  (1n << 32n) - 1n,
  1n << 32n,
  (1n << 53n) + 1n,
];
EDGES.push((1n << 63n) - 1n, -(1n << 63n), 0x123456789abcdef0n, -0x0fedcba987654321n);

function* operands(): Generator<[bigint, bigint]> {
  let seed = 12345;
  const rand64 = (): bigint => {
    let v = 0n;
    for (let i = 0; i < 4; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      v = (v << 16n) | BigInt(seed >>> 16);
    }
    return BigInt.asIntN(64, v);
  };
  for (const a of EDGES) for (const b of EDGES) yield [a, b];
  for (let i = 0; i < 3000; i++) yield [rand64(), rand64()];
}

const lo = (v: bigint): number => Number(BigInt.asIntN(32, v));
const hi = (v: bigint): number => Number(BigInt.asIntN(32, v >> 32n));
const product = (): bigint => (BigInt(result[1]) << 32n) | BigInt(result[0] >>> 0);
const u = (v: bigint): bigint => BigInt.asUintN(64, v);

test('64-bit multiply family matches exact BigInt products', () => {
  for (const [a, b] of operands()) {
    mul64(lo(a), hi(a), lo(b), hi(b));
    assert.equal(product(), BigInt.asIntN(64, a * b), `mul ${a} ${b}`);
    mulh64(lo(a), hi(a), lo(b), hi(b));
    assert.equal(product(), BigInt.asIntN(64, (a * b) >> 64n), `mulh ${a} ${b}`);
    mulhu64(lo(a), hi(a), lo(b), hi(b));
    assert.equal(product(), BigInt.asIntN(64, (u(a) * u(b)) >> 64n), `mulhu ${a} ${b}`);
    mulhsu64(lo(a), hi(a), lo(b), hi(b));
    assert.equal(product(), BigInt.asIntN(64, (a * u(b)) >> 64n), `mulhsu ${a} ${b}`);
  }
});

test('64-bit division follows RISC-V rules for zero divisors and overflow', () => {
  for (const [a, b] of operands()) {
    const q = b === 0n ? -1n : a === -(1n << 63n) && b === -1n ? a : a / b;
    const r = b === 0n ? a : a === -(1n << 63n) && b === -1n ? 0n : a % b;
    div64(lo(a), hi(a), lo(b), hi(b), false);
    assert.equal(product(), q, `div ${a} ${b}`);
    div64(lo(a), hi(a), lo(b), hi(b), true);
    assert.equal(product(), r, `rem ${a} ${b}`);
    const qu = b === 0n ? -1n : BigInt.asIntN(64, u(a) / u(b));
    const ru = b === 0n ? a : BigInt.asIntN(64, u(a) % u(b));
    divu64(lo(a), hi(a), lo(b), hi(b), false);
    assert.equal(product(), qu, `divu ${a} ${b}`);
    divu64(lo(a), hi(a), lo(b), hi(b), true);
    assert.equal(product(), ru, `remu ${a} ${b}`);
  }
});
