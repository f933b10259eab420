import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Fdt, type FdtNode } from '../../src/machine/fdt.js';
import {
  buildVirtDeviceTree,
  buildVirtFdt,
  DEFAULT_ISA,
  QEMU_7_2_ISA,
  type VirtDeviceTreeConfig,
} from '../../src/machine/virt/devicetree.js';
import {
  type MemRegion,
  plicUsedSize,
  qemuVirtioSlotForDevice,
  VIRT,
  VIRT_UNEMULATED,
  virtioSlot,
} from '../../src/machine/virt/memory-map.js';

const DTC = process.env.DTC ?? 'dtc';
const QEMU = process.env.QEMU ?? 'qemu-system-riscv64';
const CI = Boolean(process.env.CI);
const MiB = 1024 * 1024;

const haveDtc = spawnSync(DTC, ['--version'], { stdio: 'ignore' }).status === 0;
const qemuVersion = /version (\d+\.\d+)/.exec(
  spawnSync(QEMU, ['--version'], { encoding: 'utf8' }).stdout ?? '',
)?.[1];
// We mirror QEMU 7.2's tree (riscv,ndev and the node set changed in later versions), so another
// version is as good as none. CI must never pass by skipping: there these become failures.
const qemuProblem =
  qemuVersion === undefined
    ? `${QEMU} not installed`
    : qemuVersion !== '7.2'
      ? `Typervisor mirrors QEMU 7.2, found ${qemuVersion}`
      : undefined;
const dtcSkip = haveDtc || CI ? false : `${DTC} not installed`;
const qemuSkip = qemuProblem === undefined || CI ? false : qemuProblem;

const base: VirtDeviceTreeConfig = { harts: 1, ramSize: 256 * MiB, bootargs: '' };

// ---------- address map ----------

test('address map: regions do not overlap and virtio slots follow QEMU', () => {
  // pvpanic is the one device we place in QEMU's platform-bus window, which is otherwise empty.
  const { platformBus, ...unemulated } = VIRT_UNEMULATED;
  const inside = (r: MemRegion, w: MemRegion): boolean =>
    r.base >= w.base && r.base + r.size <= w.base + w.size;
  assert.ok(inside(VIRT.pvpanic, platformBus), 'pvpanic lies in the platform-bus window');
  const regions: [string, MemRegion][] = [
    ...Object.entries(VIRT).flatMap(([name, r]): [string, MemRegion][] =>
      name === 'dram'
        ? [[name, { base: VIRT.dram.base, size: 2 ** 40 }]]
        : name === 'virtio'
          ? Array.from({ length: VIRT.virtio.count }, (_, i): [string, MemRegion] => [
              `virtio${i}`,
              virtioSlot(i),
            ])
          : [[name, r as MemRegion]],
    ),
    ...Object.entries(unemulated),
  ];
  for (const [name, r] of regions) {
    if (name !== 'pvpanic' && name !== 'dram')
      assert.ok(!inside(r, platformBus), `${name} in the platform bus`);
  }
  for (const [i, [na, a]] of regions.entries()) {
    for (const [nb, b] of regions.slice(i + 1)) {
      assert.ok(a.base + a.size <= b.base || b.base + b.size <= a.base, `${na} overlaps ${nb}`);
    }
  }
  assert.deepEqual(virtioSlot(0), { slot: 0, base: 0x10001000, size: 0x1000, irq: 1 });
  assert.deepEqual(virtioSlot(7), { slot: 7, base: 0x10008000, size: 0x1000, irq: 8 });
  assert.throws(() => virtioSlot(8), RangeError);
  assert.equal(qemuVirtioSlotForDevice(0), 7);
  assert.equal(qemuVirtioSlotForDevice(7), 0);
  assert.throws(() => qemuVirtioSlotForDevice(8), RangeError);
  assert.equal(plicUsedSize(1), 0x202000);
  assert.equal(plicUsedSize(512), VIRT.plic.size);
});

// ---------- the tree on its own ----------

test('4 harts: cpus, interrupt wiring and devices', () => {
  const fdt = Fdt.parse(buildVirtDeviceTree({ ...base, harts: 4 }));
  const intc = (hart: number): number => fdt.find(`/cpus/cpu@${hart}/interrupt-controller`)!.phandle!;
  for (let hart = 0; hart < 4; hart++) {
    const cpu = fdt.find(`/cpus/cpu@${hart}`)!;
    assert.equal(cpu.getU32('reg'), hart);
    assert.equal(cpu.getString('riscv,isa'), DEFAULT_ISA);
    assert.equal(cpu.getString('mmu-type'), 'riscv,sv48');
    assert.equal(cpu.getString('status'), 'okay');
    assert.equal(
      fdt.find(`/cpus/cpu@${hart}/interrupt-controller`)!.getString('compatible'),
      'riscv,cpu-intc',
    );
    assert.equal(fdt.find(`/cpus/cpu-map/cluster0/core${hart}`)!.getU32('cpu'), cpu.phandle);
  }
  assert.equal(fdt.find('/cpus')!.getU32('timebase-frequency'), 10_000_000);
  const plic = fdt.find('/soc/plic@c000000')!;
  assert.deepEqual(
    plic.getCells('interrupts-extended'),
    [0, 1, 2, 3].flatMap((h) => [intc(h), 11, intc(h), 9]),
  );
  assert.deepEqual(plic.getCells('reg'), [0, 0xc000000, 0, 0x600000]);
  assert.equal(plic.getU32('riscv,ndev'), 96);
  const clint = fdt.find('/soc/clint@2000000')!;
  assert.deepEqual(
    clint.getCells('interrupts-extended'),
    [0, 1, 2, 3].flatMap((h) => [intc(h), 3, intc(h), 7]),
  );
  const uart = fdt.find('/soc/serial@10000000')!;
  assert.equal(uart.getU32('interrupts'), 10);
  assert.equal(uart.getU32('interrupt-parent'), plic.phandle);
  assert.equal(uart.getU32('clock-frequency'), 3686400);
  assert.equal(fdt.find('/soc/rtc@101000')!.getU32('interrupts'), 11);
  for (let slot = 0; slot < 8; slot++) {
    const node = fdt.find(`/soc/virtio_mmio@${(0x10001000 + slot * 0x1000).toString(16)}`)!;
    assert.equal(node.getU32('interrupts'), slot + 1);
    assert.deepEqual(node.getCells('reg'), [0, 0x10001000 + slot * 0x1000, 0, 0x1000]);
  }
  const test = fdt.find('/soc/test@100000')!;
  assert.equal(fdt.find('/poweroff')!.getU32('regmap'), test.phandle);
  assert.equal(fdt.find('/poweroff')!.getU32('value'), 0x5555);
  assert.equal(fdt.find('/reboot')!.getU32('value'), 0x7777);
  // Phandles are unique.
  const phandles = [...fdt.walk()].filter(([, n]) => n.has('phandle')).map(([, n]) => n.phandle);
  assert.equal(new Set(phandles).size, phandles.length);
});

test('pvpanic: a qemu,pvpanic-mmio node with the 2-byte register, in the platform-bus window', () => {
  const fdt = buildVirtFdt(base);
  const node = fdt.find('/soc/pvpanic@4000000');
  assert.ok(node, 'pvpanic node present');
  assert.deepEqual(node.propNames(), ['reg', 'compatible']);
  assert.equal(node.getString('compatible'), 'qemu,pvpanic-mmio');
  assert.deepEqual(node.getCells('reg'), [0, VIRT.pvpanic.base, 0, VIRT.pvpanic.size]);
  assert.deepEqual(node.getCells('reg'), [0, 0x4000000, 0, 2]);
});

test('memory beyond 4 GiB and a high initrd use two cells', () => {
  const ramSize = 8 * 1024 * MiB;
  const start = 0x1_8000_0000;
  const fdt = buildVirtFdt({ ...base, ramSize, initrd: { start, end: start + 0x1000 } });
  assert.deepEqual(fdt.find('/memory@80000000')!.getCells('reg'), [0, 0x80000000, 2, 0]);
  assert.deepEqual(fdt.find('/chosen')!.getCells('linux,initrd-start'), [1, 0x80000000]);
  assert.equal(fdt.find('/chosen')!.getU64('linux,initrd-end'), BigInt(start + 0x1000));
});

test('/chosen carries bootargs, initrd, stdout-path and rng-seed', () => {
  const seed = new Uint8Array(32).map((_, i) => i);
  const chosen = buildVirtFdt({
    ...base,
    bootargs: 'console=ttyS0 earlycon',
    initrd: { start: 0x88200000, end: 0x88300000 },
    rngSeed: seed,
  }).find('/chosen')!;
  assert.deepEqual(chosen.propNames(), [
    'linux,initrd-end',
    'linux,initrd-start',
    'rng-seed',
    'bootargs',
    'stdout-path',
  ]);
  assert.equal(chosen.getString('bootargs'), 'console=ttyS0 earlycon');
  assert.deepEqual(chosen.getCells('linux,initrd-start'), [0x88200000]);
  assert.deepEqual(chosen.getCells('linux,initrd-end'), [0x88300000]);
  assert.deepEqual(chosen.get('rng-seed'), seed);
  assert.equal(chosen.getString('stdout-path'), '/soc/serial@10000000');

  const plain = buildVirtFdt({ ...base, stdoutPath: '/soc/virtio_mmio@10008000', mmuType: 'riscv,sv39' });
  assert.deepEqual(plain.find('/chosen')!.propNames(), ['stdout-path']);
  assert.equal(plain.find('/chosen')!.getString('stdout-path'), '/soc/virtio_mmio@10008000');
  assert.equal(plain.find('/cpus/cpu@0')!.getString('mmu-type'), 'riscv,sv39');
});

test('bad configurations are refused', () => {
  assert.throws(() => buildVirtDeviceTree({ ...base, harts: 0 }), RangeError);
  assert.throws(() => buildVirtDeviceTree({ ...base, harts: 513 }), RangeError);
  assert.throws(() => buildVirtDeviceTree({ ...base, ramSize: 0 }), RangeError);
  assert.throws(
    () => buildVirtDeviceTree({ ...base, initrd: { start: 0x1000, end: 0x2000 } }),
    /outside RAM/,
  );
  assert.throws(
    () => buildVirtDeviceTree({ ...base, initrd: { start: 0x90000000, end: 0x80000000 } }),
    RangeError,
  );
  assert.throws(() => buildVirtDeviceTree({ ...base, virtio: [{ slot: 8 }] }), RangeError);
  assert.throws(() => buildVirtDeviceTree({ ...base, virtio: [{ slot: 1 }, { slot: 1 }] }), /twice/);
  // Populated slots do not change the tree: all eight transports are always described.
  assert.deepEqual(
    buildVirtDeviceTree({ ...base, virtio: [{ slot: 7 }, { slot: 6 }] }),
    buildVirtDeviceTree(base),
  );
});

// ---------- dtc ----------

/** dtc's warnings, less the one QEMU's own tree also draws (cpu intc nodes lack #address-cells). */
function dtcWarnings(blob: Uint8Array): string[] {
  const r = spawnSync(DTC, ['-I', 'dtb', '-O', 'dts', '-o', '/dev/null', '-'], {
    input: blob,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter(
      (line) =>
        !/interrupt_provider\): \/cpus\/cpu@[0-9]+\/interrupt-controller: Missing #address-cells/.test(line),
    );
}

test('dtc accepts the generated tree without warnings', { skip: dtcSkip }, () => {
  assert.ok(haveDtc, `${DTC} is required in CI`);
  for (const harts of [1, 4, 12]) {
    const blob = buildVirtDeviceTree({
      ...base,
      harts,
      bootargs: 'console=ttyS0',
      initrd: { start: 0x88200000, end: 0x88201000 },
      rngSeed: new Uint8Array(32),
    });
    assert.deepEqual(dtcWarnings(blob), [], `${harts} harts`);
  }
});

test('dtc decompiles the pvpanic node as the Linux binding describes it', { skip: dtcSkip }, () => {
  assert.ok(haveDtc, `${DTC} is required in CI`);
  const r = spawnSync(DTC, ['-I', 'dtb', '-O', 'dts', '-'], {
    input: buildVirtDeviceTree(base),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const node = /\n(\t+)pvpanic@4000000 \{\n([^}]*)\};/.exec(r.stdout);
  assert.ok(node, `no pvpanic node in:\n${r.stdout}`);
  assert.match(node[2], /compatible = "qemu,pvpanic-mmio";/);
  assert.match(node[2], /reg = <0x00 0x4000000 0x00 0x02>;/);
  assert.match(r.stdout, /\tsoc \{[\s\S]*pvpanic@4000000/, 'under /soc');
});

// ---------- against QEMU ----------

/** Nodes we add that QEMU 7.2's riscv virt lacks (checked on their own above). */
const OURS_ONLY = ['/soc/pvpanic@4000000'];

/** Nodes QEMU has that we leave out on purpose (devices we do not emulate). */
const UNMODELLED = [
  '/pmu',
  '/fw-cfg@10100000',
  '/flash@20000000',
  '/platform-bus@4000000',
  '/soc/pci@30000000',
];

function dumpQemuDtb(harts: number, extra: string[] = []): Fdt {
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-dtb-'));
  try {
    const file = join(dir, 'virt.dtb');
    const args = ['-M', `virt,dumpdtb=${file}`, '-m', '256M', '-nographic', '-smp', String(harts)];
    const r = spawnSync(QEMU, [...args, ...extra], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `${QEMU} failed: ${r.stderr}`);
    return Fdt.parse(new Uint8Array(readFileSync(file)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The #interrupt-cells of a phandle's node, to step through interrupts-extended. */
function interruptCells(fdt: Fdt, phandle: number): number {
  const node = fdt.findByPhandle(phandle);
  assert.ok(node, `dangling phandle ${phandle}`);
  return node.getU32('#interrupt-cells') ?? 1;
}

/**
 * A property value with every phandle replaced by the path of the node it names, so that two trees
 * that number their phandles differently still compare equal.
 */
function normalise(fdt: Fdt, node: FdtNode, name: string): string {
  const path = (ph: number): string => {
    const target = fdt.findByPhandle(ph);
    assert.ok(target, `dangling phandle ${ph} in ${name}`);
    return `&${fdt.pathOf(target)}`;
  };
  if (name === 'phandle') return '<own phandle>';
  if (['interrupt-parent', 'cpu', 'regmap'].includes(name)) return path(node.getU32(name)!);
  if (name === 'interrupts-extended') {
    const cells = node.getCells(name)!;
    const out: string[] = [];
    for (let i = 0; i < cells.length; ) {
      const n = interruptCells(fdt, cells[i]);
      out.push(`${path(cells[i])} ${cells.slice(i + 1, i + 1 + n).join(' ')}`);
      i += 1 + n;
    }
    return out.join(', ');
  }
  return Buffer.from(node.get(name)!).toString('hex');
}

/** path -> property -> normalised value, for the nodes and properties both trees should share. */
function describe(fdt: Fdt, skip: (path: string) => boolean): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const [path, node] of fdt.walk()) {
    if (skip(path)) continue;
    const props = new Map<string, string>();
    for (const name of node.propNames()) if (name !== 'rng-seed') props.set(name, normalise(fdt, node, name));
    out.set(path, props);
  }
  return out;
}

const unmodelled = (path: string): boolean => UNMODELLED.some((u) => path === u || path.startsWith(`${u}/`));

function compareWithQemu(ours: Fdt, qemu: Fdt): void {
  for (const path of OURS_ONLY) assert.equal(qemu.find(path), undefined, `QEMU now has ${path}`);
  const a = describe(ours, (path) => OURS_ONLY.includes(path));
  const b = describe(qemu, unmodelled);
  assert.deepEqual([...a.keys()], [...b.keys()], 'node paths, in blob order');
  for (const [path, props] of b) {
    const mine = a.get(path)!;
    assert.deepEqual([...mine.keys()], [...props.keys()], `${path}: property names, in blob order`);
    for (const [name, value] of props) assert.equal(mine.get(name), value, `${path} ${name}`);
  }
  // Stronger: QEMU's tree without the unmodelled nodes flattens to exactly our blob (same phandle
  // numbers too), apart from rng-seed, which QEMU fills with fresh random bytes.
  const cutOut = (fdt: Fdt, path: string): void => {
    const cut = path.lastIndexOf('/');
    fdt.find(path.slice(0, cut) || '/')!.removeNode(path.slice(cut + 1));
  };
  for (const path of UNMODELLED) cutOut(qemu, path);
  for (const path of OURS_ONLY) cutOut(ours, path);
  const seed = qemu.find('/chosen')!.get('rng-seed');
  if (seed) ours.find('/chosen')!.setBytes('rng-seed', seed);
  assert.deepEqual(ours.toBlob(), qemu.toBlob(), 'flattened trees differ');
}

// 12 harts shows QEMU's decimal cpu@N names (cpu@10, not cpu@a).
for (const harts of [1, 4, 12]) {
  test(`matches QEMU's own virt tree with ${harts} hart(s)`, { skip: qemuSkip, timeout: 120_000 }, () => {
    assert.equal(qemuProblem, undefined, `cannot compare with QEMU in CI: ${qemuProblem}`);
    const qemu = dumpQemuDtb(harts);
    const isa = qemu.find('/cpus/cpu@0')!.getString('riscv,isa');
    assert.equal(isa, QEMU_7_2_ISA);
    const seed = qemu.find('/chosen')!.get('rng-seed');
    assert.equal(seed?.length, 32);
    const ours = buildVirtFdt({ harts, ramSize: 256 * MiB, bootargs: '', isa, rngSeed: new Uint8Array(32) });
    compareWithQemu(ours, qemu);
  });
}

test("matches QEMU's /chosen with a kernel, an initrd and a command line", {
  skip: qemuSkip,
  timeout: 120_000,
}, () => {
  assert.equal(qemuProblem, undefined, `cannot compare with QEMU in CI: ${qemuProblem}`);
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-boot-'));
  try {
    // A raw "kernel" of zeros is enough: dumpdtb stops QEMU before any code runs.
    writeFileSync(join(dir, 'Image'), new Uint8Array(4096));
    writeFileSync(join(dir, 'initrd'), new Uint8Array(1000));
    const bootargs = 'console=ttyS0 root=/dev/vda rw';
    const qemu = dumpQemuDtb(2, [
      '-kernel',
      join(dir, 'Image'),
      '-initrd',
      join(dir, 'initrd'),
      '-append',
      bootargs,
    ]);
    const chosen = qemu.find('/chosen')!;
    const start = Number(chosen.getU64('linux,initrd-start'));
    const end = Number(chosen.getU64('linux,initrd-end'));
    assert.equal(end - start, 1000);
    const isa = qemu.find('/cpus/cpu@0')!.getString('riscv,isa');
    const ours = buildVirtFdt({
      harts: 2,
      ramSize: 256 * MiB,
      bootargs,
      isa,
      initrd: { start, end },
      rngSeed: new Uint8Array(32),
    });
    compareWithQemu(ours, qemu);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
