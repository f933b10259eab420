import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteWriter, I32, I64, ModuleBuilder, VOID, W } from '../../../src/cpu/jit/wasm-encoder.js';

/** Reference signed LEB128 of a 64-bit value, with BigInt. */
function slebRef(v: bigint): number[] {
  const out: number[] = [];
  let x = v;
  for (;;) {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    const done = (x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

test('signed LEB128 of doubles matches the BigInt encoding across the safe range', () => {
  const values = [
    0,
    1,
    -1,
    63,
    64,
    -64,
    -65,
    127,
    128,
    2 ** 31 - 1,
    -(2 ** 31),
    2 ** 31,
    2 ** 32 - 1,
    2 ** 32,
    -(2 ** 32),
    2 ** 53 - 1,
    -(2 ** 53 - 1),
  ];
  for (let i = 0; i < 2000; i++) values.push(Math.round((Math.random() - 0.5) * 2 ** (1 + (i % 53))));
  for (const v of values) {
    assert.deepEqual(Array.from(new ByteWriter().sleb(v).view()), slebRef(BigInt(v)), `value ${v}`);
  }
});

test('a module built here instantiates and computes: i64 arithmetic, a loop, an import, memory', () => {
  const m = new ModuleBuilder();
  m.importMemory('env', 'memory', 1, 1);
  const log = m.importFunction('env', 'log', [I32], []);
  const { body } = m.addFunction([I64, I32], [I64], [I64], 'run');
  // local2 = local0; loop { if (local1 == 0) break; local2 = local2 * 3 + 2^40; local1-- } ; store; return
  body.byte(W.localGet).u32(0).byte(W.localSet).u32(2);
  body.byte(W.block).byte(VOID).byte(W.loop).byte(VOID);
  body.byte(W.localGet).u32(1).byte(W.i32Eqz).byte(W.brIf).u32(1);
  body.byte(W.localGet).u32(2).byte(W.i64Const).sleb(3).byte(W.i64Mul);
  body
    .byte(W.i64Const)
    .sleb(2 ** 40)
    .byte(W.i64Add)
    .byte(W.localSet)
    .u32(2);
  body.byte(W.localGet).u32(1).byte(W.i32Const).sleb(1).byte(W.i32Sub).byte(W.localSet).u32(1);
  body.byte(W.br).u32(0).byte(W.end).byte(W.end);
  body.byte(W.i32Const).sleb(8).byte(W.localGet).u32(2).byte(W.i64Store).u32(3).u32(0);
  body.byte(W.localGet).u32(1).byte(W.call).u32(log);
  body.byte(W.localGet).u32(2);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const logged: number[] = [];
  const instance = new WebAssembly.Instance(new WebAssembly.Module(m.build()), {
    env: { memory, log: (v: number) => logged.push(v) },
  });
  const run = instance.exports.run as (a: bigint, n: number) => bigint;
  let expect = 5n;
  for (let i = 0; i < 4; i++) expect = BigInt.asIntN(64, expect * 3n + 2n ** 40n);
  assert.equal(run(5n, 4), expect);
  assert.equal(new BigInt64Array(memory.buffer)[1], expect);
  assert.deepEqual(logged, [0]);
});
