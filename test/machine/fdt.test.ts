import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { FDT_MAGIC, FDT_TOKENS, Fdt, type FdtNode, fdtTotalSize, u64Cells } from '../../src/machine/fdt.js';

const DTC = process.env.DTC ?? 'dtc';
const haveDtc = spawnSync(DTC, ['--version'], { stdio: 'ignore' }).status === 0;
// CI must never pass by skipping: there a missing dtc is a failure.
const dtcSkip = haveDtc || process.env.CI ? false : `${DTC} not installed`;

const header = (blob: Uint8Array): number[] => {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  return Array.from({ length: 10 }, (_, i) => view.getUint32(i * 4));
};

function sampleTree(): Fdt {
  const fdt = new Fdt();
  fdt.root.setU32('#address-cells', 2).setU32('#size-cells', 2).setString('model', 'sample');
  const a = fdt.root.addNode('a@1000');
  const ph = fdt.allocPhandle();
  a.setPhandle(ph)
    .setCells('reg', [0, 0x1000, 0, 0x100])
    .setU64('big', 0x123456789abcdefn)
    .setStrings('compatible', ['vendor,a', 'generic-a'])
    .setEmpty('flag')
    .setBytes('raw', new Uint8Array([1, 2, 3]))
    .setString('unicode', 'caf\u00e9');
  const b = fdt.root.addNode('b');
  b.setU32('link', ph).setString('model', 'b model');
  b.addNode('c').setU32('x', 0xffffffff);
  return fdt;
}

function assertSameTree(x: FdtNode, y: FdtNode, path = '/'): void {
  assert.equal(x.name, y.name, path);
  assert.deepEqual(x.propNames(), y.propNames(), `${path} property names`);
  for (const name of x.propNames()) assert.deepEqual(x.get(name), y.get(name), `${path} ${name}`);
  assert.deepEqual(
    x.children.map((c) => c.name),
    y.children.map((c) => c.name),
    `${path} children`,
  );
  for (const [i, c] of x.children.entries()) assertSameTree(c, y.children[i], `${path}${c.name}/`);
}

test('a tiny tree is laid out exactly as the specification says', () => {
  const fdt = new Fdt();
  fdt.bootCpuidPhys = 3;
  fdt.root.addNode('n').setU32('p', 0xabcdef01);
  const blob = fdt.toBlob();
  const structBytes = [
    [0, 0, 0, 1, 0, 0, 0, 0], // FDT_BEGIN_NODE "" (root), padded to 4
    [0, 0, 0, 1, 0x6e, 0, 0, 0], // FDT_BEGIN_NODE "n"
    [0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0xab, 0xcd, 0xef, 0x01], // FDT_PROP len 4, nameoff 0
    [0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 9], // END_NODE, END_NODE, END
  ].flat();
  const expected = [
    ...[FDT_MAGIC, 40 + 16 + structBytes.length + 2, 56, 56 + structBytes.length, 40, 17, 16, 3, 2]
      .concat([structBytes.length])
      .flatMap((v) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]),
    ...new Array(16).fill(0), // empty reservation map: just the terminating pair
    ...structBytes,
    0x70,
    0, // strings block: "p"
  ];
  assert.deepEqual([...blob], expected);
});

test('header fields, block order and alignment', () => {
  const fdt = sampleTree();
  fdt.addReservation(0x80000000, 0x80000);
  fdt.addReservation(0x1_0000_0000n, 0x1000);
  const blob = fdt.toBlob();
  const [magic, total, offStruct, offStrings, offRsv, version, lastComp, bootCpu, sizeStrings, sizeStruct] =
    header(blob);
  assert.equal(magic, 0xd00dfeed);
  assert.equal(total, blob.length);
  assert.equal(version, 17);
  assert.equal(lastComp, 16);
  assert.equal(bootCpu, 0);
  assert.equal(offRsv % 8, 0);
  assert.equal(offStruct, offRsv + 3 * 16);
  assert.equal(offStruct % 4, 0);
  assert.equal(offStrings, offStruct + sizeStruct);
  assert.equal(total, offStrings + sizeStrings);
  assert.equal(fdtTotalSize(blob), blob.length);
  // Each property name is stored once.
  const strings = new TextDecoder().decode(blob.subarray(offStrings, offStrings + sizeStrings)).split('\0');
  strings.pop();
  assert.equal(new Set(strings).size, strings.length);
  assert.ok(strings.includes('model'));
});

test('a tree round-trips through the blob', () => {
  const fdt = sampleTree();
  fdt.bootCpuidPhys = 2;
  fdt.addReservation(0x80000000, 0x80000);
  fdt.addReservation(0xffff_ffff_0000_0000n, 0xffff_ffffn);
  const back = Fdt.parse(fdt.toBlob());
  assertSameTree(fdt.root, back.root);
  assert.deepEqual(back.reservations, fdt.reservations);
  assert.equal(back.bootCpuidPhys, 2);
  assert.deepEqual(back.toBlob(), fdt.toBlob());

  const a = back.find('/a@1000')!;
  assert.deepEqual(a.getCells('reg'), [0, 0x1000, 0, 0x100]);
  assert.equal(a.getU64('big'), 0x123456789abcdefn);
  assert.deepEqual(a.getStrings('compatible'), ['vendor,a', 'generic-a']);
  assert.deepEqual(a.get('flag'), new Uint8Array(0));
  assert.deepEqual(a.get('raw'), new Uint8Array([1, 2, 3]));
  assert.equal(a.getString('unicode'), 'caf\u00e9');
  assert.equal(back.find('/b/c')!.getU32('x'), 0xffffffff);
  assert.equal(back.findByPhandle(back.find('/b')!.getU32('link')!), a);
  assert.equal(back.pathOf(back.find('/b/c')!), '/b/c');
  assert.deepEqual(
    [...back.walk()].map(([p]) => p),
    ['/', '/a@1000', '/b', '/b/c'],
  );
});

test('a parsed blob can be patched and written back', () => {
  const back = Fdt.parse(sampleTree().toBlob());
  back.ensure('/chosen').setString('bootargs', 'console=ttyS0');
  back.find('/a@1000')!.setString('compatible', 'replaced');
  back.find('/b')!.removeNode('c');
  // Phandles continue after the largest one in the blob.
  assert.equal(back.allocPhandle(), 2);
  const again = Fdt.parse(back.toBlob());
  assert.equal(again.find('/chosen')!.getString('bootargs'), 'console=ttyS0');
  // Replacing a property keeps its position.
  assert.equal(again.find('/a@1000')!.propNames()[3], 'compatible');
  assert.equal(again.find('/a@1000')!.getString('compatible'), 'replaced');
  assert.equal(again.find('/b/c'), undefined);
});

test('minSize leaves free space that the parser ignores', () => {
  const blob = sampleTree().toBlob({ minSize: 8192 });
  assert.equal(blob.length, 8192);
  assert.equal(header(blob)[1], 8192);
  assertSameTree(Fdt.parse(blob).root, sampleTree().root);
  // A larger buffer than totalsize (QEMU's dumpdtb writes its whole 1 MiB buffer) is fine too.
  const padded = new Uint8Array(16384);
  padded.set(sampleTree().toBlob());
  assertSameTree(Fdt.parse(padded).root, sampleTree().root);
});

/** Builds a structure block by hand: tokens as numbers, names as strings (NUL-padded to 4). */
function handBlob(items: (number | string)[], strings: string): Uint8Array {
  const words: number[] = [];
  for (const item of items) {
    if (typeof item === 'number') words.push(item);
    else {
      const bytes = [...new TextEncoder().encode(item), 0];
      while (bytes.length % 4) bytes.push(0);
      for (let i = 0; i < bytes.length; i += 4) {
        words.push(((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0);
      }
    }
  }
  const str = new TextEncoder().encode(strings);
  const offStruct = 40 + 16;
  const offStrings = offStruct + words.length * 4;
  const total = offStrings + str.length;
  const blob = new Uint8Array(total);
  const view = new DataView(blob.buffer);
  const head = [FDT_MAGIC, total, offStruct, offStrings, 40, 17, 16, 0, str.length, words.length * 4];
  for (const [i, v] of head.entries()) view.setUint32(i * 4, v);
  for (const [i, w] of words.entries()) view.setUint32(offStruct + i * 4, w);
  blob.set(str, offStrings);
  return blob;
}

test('the parser skips FDT_NOP tokens', () => {
  const { FDT_BEGIN_NODE: B, FDT_END_NODE: E, FDT_PROP: P, FDT_NOP: N, FDT_END: END } = FDT_TOKENS;
  const blob = handBlob([N, B, '', N, P, 4, 0, 7, N, B, 'x', N, E, N, E, N, END], 'p\0');
  const fdt = Fdt.parse(blob);
  assert.equal(fdt.root.getU32('p'), 7);
  assert.ok(fdt.find('/x'));
});

test('the parser rejects malformed blobs', () => {
  const { FDT_BEGIN_NODE: B, FDT_END_NODE: E, FDT_PROP: P, FDT_END: END } = FDT_TOKENS;
  const good = sampleTree().toBlob();
  const bad = (mutate: (b: Uint8Array, v: DataView) => Uint8Array | undefined, why: RegExp): void => {
    const copy = good.slice();
    const out = mutate(copy, new DataView(copy.buffer)) ?? copy;
    assert.throws(() => Fdt.parse(out), why);
  };
  bad((_, v) => {
    v.setUint32(0, 0xfeeddead);
    return undefined;
  }, /magic/);
  bad((b) => b.subarray(0, 20), /shorter/);
  bad((b) => b.subarray(0, b.length - 1), /totalsize/);
  bad((_, v) => {
    v.setUint32(20, 3);
    return undefined;
  }, /version/);
  bad((_, v) => {
    v.setUint32(24, 18);
    return undefined;
  }, /version/);
  assert.throws(() => Fdt.parse(handBlob([B, '', E, E, END], '')), /unbalanced/);
  assert.throws(() => Fdt.parse(handBlob([B, '', END], '')), /FDT_END inside/);
  assert.throws(() => Fdt.parse(handBlob([B, '', E], '')), /ends early/);
  assert.throws(() => Fdt.parse(handBlob([B, '', 7, E, END], '')), /unknown token/);
  assert.throws(() => Fdt.parse(handBlob([B, '', P, 4, 99, 0, E, END], 'p\0')), /name offset/);
  assert.throws(() => Fdt.parse(handBlob([B, '', P, 400, 0, 0, E, END], 'p\0')), /runs past/);
  assert.throws(() => Fdt.parse(handBlob([B, '', E, B, '', E, END], '')), /more than one root/);
  assert.throws(() => Fdt.parse(handBlob([B, '', P, 0, 0, P, 0, 0, E, END], 'p\0')), /duplicate/);
});

test('the builder refuses values that cannot be encoded', () => {
  const node = new Fdt().root;
  assert.throws(() => node.setU32('x', -1), RangeError);
  assert.throws(() => node.setU32('x', 2 ** 32), RangeError);
  assert.throws(() => node.setCells('x', [1.5]), RangeError);
  assert.throws(() => node.setU64('x', -1n), RangeError);
  assert.throws(() => node.setU64('x', 2 ** 64 + 1), RangeError);
  assert.throws(() => node.setString('x', 'a\0b'), RangeError);
  assert.throws(() => node.setPhandle(0), RangeError);
  assert.throws(() => node.addNode('a/b'), RangeError);
  node.addNode('dup');
  assert.throws(() => node.addNode('dup'), /already exists/);
  assert.throws(() => new Fdt().addReservation(-1, 1), RangeError);
  assert.deepEqual(u64Cells(0x1_2345_6789), [1, 0x23456789]);
  assert.deepEqual(u64Cells(0xffff_ffff_ffff_ffffn), [0xffffffff, 0xffffffff]);
  node.setBytes('odd', new Uint8Array(3));
  assert.throws(() => node.getCells('odd'), /cells/);
  node.setStrings('two', ['a', 'b']);
  assert.throws(() => node.getString('two'), /2 strings/);
});

test('dtc reads our blobs back to the same source', { skip: dtcSkip }, () => {
  assert.ok(haveDtc, `${DTC} is required in CI`);
  const fdt = sampleTree();
  fdt.addReservation(0x80000000, 0x80000);
  const blob = fdt.toBlob();
  const dts = spawnSync(DTC, ['-I', 'dtb', '-O', 'dts', '-'], { input: blob, encoding: 'utf8' });
  assert.equal(dts.status, 0, dts.stderr);
  assert.match(dts.stdout, /\/memreserve\/\s+0x0*80000000 0x0*80000;/);
  assert.match(dts.stdout, /compatible = "vendor,a\\0generic-a";/);
  assert.match(dts.stdout, /big = <0x1234567 0x89abcdef>;/);
  // dtc compiles its own output back to a blob equal to ours, node for node and property for property.
  const recompiled = spawnSync(DTC, ['-I', 'dts', '-O', 'dtb', '-'], { input: dts.stdout });
  assert.equal(recompiled.status, 0, String(recompiled.stderr));
  const theirs = Fdt.parse(new Uint8Array(recompiled.stdout));
  assertSameTree(theirs.root, fdt.root);
  assert.deepEqual(theirs.reservations, fdt.reservations);
});
