/**
 * The devicetree of the virt board, built from the address map so that the two cannot disagree.
 *
 * It mirrors what QEMU 7.2 writes for `-M virt` (single socket, PLIC, no AIA): same node names,
 * properties, values, phandle numbers, and the same node and property order in the blob (QEMU's
 * libfdt inserts each new node and property first, so its blob lists them in reverse order of
 * creation; we write that final order directly). Firmware and Linux only look things up by name,
 * but matching the order too makes our blob diffable against QEMU's with dtc.
 *
 * Left out, because we do not emulate them: pmu (SBI PMU event map), fw-cfg, flash, platform-bus
 * and the PCIe host bridge.
 *
 * Added, though QEMU's riscv virt lacks it: /soc/pvpanic@4000000 ("qemu,pvpanic-mmio"), through
 * which the guest kernel reports a panic (see VIRT.pvpanic).
 */
import { Fdt, type FdtNode, u64Cells } from '../fdt.js';
import {
  IRQ_CAUSE,
  PLIC_NDEV,
  TEST_FINISHER,
  TIMEBASE_FREQUENCY,
  UART_CLOCK_FREQUENCY,
  VIRT,
  VIRT_IRQ,
  VIRT_MAX_HARTS,
  virtioSlot,
} from './memory-map.js';

/** What QEMU 7.2 advertises for its default `rv64` CPU. */
export const QEMU_7_2_ISA = 'rv64imafdch_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc';
/** What our hart implements: QEMU's list without H and the Zb* bit-manipulation extensions. */
export const DEFAULT_ISA = 'rv64imafdc_zicsr_zifencei_sstc';
export const VIRT_UART_PATH = `/soc/serial@${VIRT.uart0.base.toString(16)}`;

export type MmuType = 'riscv,sv39' | 'riscv,sv48';

export interface VirtDeviceTreeConfig {
  harts: number;
  /** Bytes of RAM at VIRT.dram.base. */
  ramSize: number;
  /** Kernel command line; left out of /chosen when empty, as QEMU does. */
  bootargs: string;
  /** Physical start and end (exclusive) of the initrd in RAM. */
  initrd?: { start: number; end: number };
  isa?: string;
  /** Defaults to riscv,sv48 like QEMU; Linux probes satp anyway and settles on what works. */
  mmuType?: MmuType;
  /**
   * Populated virtio-mmio slots. QEMU describes all eight transports whether or not a device sits
   * behind them (an empty one reads DeviceID 0 and Linux skips it), so this only gets validated.
   */
  virtio?: { slot: number }[];
  stdoutPath?: string;
  /**
   * Bytes for /chosen/rng-seed (QEMU passes 32 random bytes), from which Linux seeds its CRNG at
   * once instead of waiting for entropy. Optional so that the tree stays deterministic unless the
   * caller asks otherwise.
   */
  rngSeed?: Uint8Array;
}

const hex = (n: number): string => n.toString(16);

function regCells(base: number, size: number): number[] {
  return [...u64Cells(base), ...u64Cells(size)];
}

function validate(config: VirtDeviceTreeConfig): void {
  const { harts, ramSize, initrd, virtio } = config;
  if (!Number.isInteger(harts) || harts < 1 || harts > VIRT_MAX_HARTS) {
    throw new RangeError(`harts must be 1..${VIRT_MAX_HARTS}, not ${harts}`);
  }
  if (!Number.isSafeInteger(ramSize) || ramSize <= 0) throw new RangeError(`bad ramSize ${ramSize}`);
  if (initrd) {
    const ramEnd = VIRT.dram.base + ramSize;
    const { start, end } = initrd;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end) {
      throw new RangeError(`bad initrd range ${start}..${end}`);
    }
    if (start < VIRT.dram.base || end > ramEnd) {
      throw new RangeError(`initrd 0x${hex(start)}..0x${hex(end)} lies outside RAM`);
    }
  }
  const seen = new Set<number>();
  for (const { slot } of virtio ?? []) {
    virtioSlot(slot); // throws on a slot out of range
    if (seen.has(slot)) throw new RangeError(`virtio slot ${slot} used twice`);
    seen.add(slot);
  }
  if (config.rngSeed && config.rngSeed.length === 0) throw new RangeError('rngSeed is empty');
}

/** Small values as one cell like QEMU 7.2; beyond 4 GiB two cells (Linux reads both forms). */
function setAddress(node: FdtNode, name: string, value: number): void {
  if (value <= 0xffffffff) node.setU32(name, value);
  else node.setU64(name, value);
}

/** The virt devicetree as a tree, for callers that want to inspect or patch it before flattening. */
export function buildVirtFdt(config: VirtDeviceTreeConfig): Fdt {
  validate(config);
  const harts = config.harts;
  const fdt = new Fdt();
  const root = fdt.root;

  // Phandles numbered in QEMU's order: cpus from the last hart down (cpu, then its intc), then the
  // PLIC, then the test device.
  const cpuPhandle: number[] = [];
  const intcPhandle: number[] = [];
  for (let hart = harts - 1; hart >= 0; hart--) {
    cpuPhandle[hart] = fdt.allocPhandle();
    intcPhandle[hart] = fdt.allocPhandle();
  }
  const plicPhandle = fdt.allocPhandle();
  const testPhandle = fdt.allocPhandle();

  root.setU32('#address-cells', 2);
  root.setU32('#size-cells', 2);
  root.setString('compatible', 'riscv-virtio');
  root.setString('model', 'riscv-virtio,qemu');

  const chosen = root.addNode('chosen');
  if (config.initrd) {
    setAddress(chosen, 'linux,initrd-end', config.initrd.end);
    setAddress(chosen, 'linux,initrd-start', config.initrd.start);
  }
  if (config.rngSeed) chosen.setBytes('rng-seed', config.rngSeed);
  if (config.bootargs !== '') chosen.setString('bootargs', config.bootargs);
  chosen.setString('stdout-path', config.stdoutPath ?? VIRT_UART_PATH);

  // Linux's syscon-poweroff/reboot drivers write these values to the test device when no SBI reset
  // is available; OpenSBI reaches the same register through the test node's sifive,test compatible.
  for (const [name, value] of [
    ['poweroff', TEST_FINISHER.pass],
    ['reboot', TEST_FINISHER.reset],
  ] as const) {
    root
      .addNode(name)
      .setU32('value', value)
      .setU32('offset', 0)
      .setU32('regmap', testPhandle)
      .setString('compatible', `syscon-${name}`);
  }

  root
    .addNode(`memory@${hex(VIRT.dram.base)}`)
    .setString('device_type', 'memory')
    .setCells('reg', regCells(VIRT.dram.base, config.ramSize));

  const cpus = root
    .addNode('cpus')
    .setU32('#address-cells', 1)
    .setU32('#size-cells', 0)
    .setU32('timebase-frequency', TIMEBASE_FREQUENCY);
  for (let hart = 0; hart < harts; hart++) {
    // Decimal, not hex as the unit-address convention wants: QEMU writes "cpu@%d" (cpu@10 is hart 10).
    const cpu = cpus
      .addNode(`cpu@${hart}`)
      .setPhandle(cpuPhandle[hart])
      .setString('device_type', 'cpu')
      .setU32('reg', hart)
      .setString('status', 'okay')
      .setString('compatible', 'riscv')
      .setString('riscv,isa', config.isa ?? DEFAULT_ISA)
      .setString('mmu-type', config.mmuType ?? 'riscv,sv48');
    cpu
      .addNode('interrupt-controller')
      .setU32('#interrupt-cells', 1)
      .setEmpty('interrupt-controller')
      .setString('compatible', 'riscv,cpu-intc')
      .setPhandle(intcPhandle[hart]);
  }
  const cluster = cpus.addNode('cpu-map').addNode('cluster0');
  for (let hart = 0; hart < harts; hart++) cluster.addNode(`core${hart}`).setU32('cpu', cpuPhandle[hart]);

  const soc = root
    .addNode('soc')
    .setU32('#address-cells', 2)
    .setU32('#size-cells', 2)
    .setString('compatible', 'simple-bus')
    .setEmpty('ranges');

  soc
    .addNode(`rtc@${hex(VIRT.rtc.base)}`)
    .setU32('interrupts', VIRT_IRQ.rtc)
    .setU32('interrupt-parent', plicPhandle)
    .setCells('reg', regCells(VIRT.rtc.base, VIRT.rtc.size))
    .setString('compatible', 'google,goldfish-rtc');

  soc
    .addNode(`serial@${hex(VIRT.uart0.base)}`)
    .setU32('interrupts', VIRT_IRQ.uart0)
    .setU32('interrupt-parent', plicPhandle)
    .setU32('clock-frequency', UART_CLOCK_FREQUENCY)
    .setCells('reg', regCells(VIRT.uart0.base, VIRT.uart0.size))
    .setString('compatible', 'ns16550a');

  soc
    .addNode(`test@${hex(VIRT.test.base)}`)
    .setPhandle(testPhandle)
    .setCells('reg', regCells(VIRT.test.base, VIRT.test.size))
    .setStrings('compatible', ['sifive,test1', 'sifive,test0', 'syscon']);

  soc
    .addNode(`pvpanic@${hex(VIRT.pvpanic.base)}`)
    .setCells('reg', regCells(VIRT.pvpanic.base, VIRT.pvpanic.size))
    .setString('compatible', 'qemu,pvpanic-mmio');

  // Highest slot first, as in QEMU's blob: Linux registers the transports in this order, so the
  // device in slot 7 becomes virtio0.
  for (let slot = VIRT.virtio.count - 1; slot >= 0; slot--) {
    const s = virtioSlot(slot);
    soc
      .addNode(`virtio_mmio@${hex(s.base)}`)
      .setU32('interrupts', s.irq)
      .setU32('interrupt-parent', plicPhandle)
      .setCells('reg', regCells(s.base, s.size))
      .setString('compatible', 'virtio,mmio');
  }

  // Contexts 2n and 2n+1 of the PLIC drive hart n's M and S external interrupt lines.
  const plicTargets: number[] = [];
  const clintTargets: number[] = [];
  for (let hart = 0; hart < harts; hart++) {
    plicTargets.push(intcPhandle[hart], IRQ_CAUSE.mExt, intcPhandle[hart], IRQ_CAUSE.sExt);
    clintTargets.push(intcPhandle[hart], IRQ_CAUSE.mSoft, intcPhandle[hart], IRQ_CAUSE.mTimer);
  }
  soc
    .addNode(`plic@${hex(VIRT.plic.base)}`)
    .setPhandle(plicPhandle)
    .setU32('riscv,ndev', PLIC_NDEV)
    .setCells('reg', regCells(VIRT.plic.base, VIRT.plic.size))
    .setCells('interrupts-extended', plicTargets)
    .setEmpty('interrupt-controller')
    .setStrings('compatible', ['sifive,plic-1.0.0', 'riscv,plic0'])
    .setU32('#address-cells', 0)
    .setU32('#interrupt-cells', 1);

  soc
    .addNode(`clint@${hex(VIRT.clint.base)}`)
    .setCells('interrupts-extended', clintTargets)
    .setCells('reg', regCells(VIRT.clint.base, VIRT.clint.size))
    .setStrings('compatible', ['sifive,clint0', 'riscv,clint0']);

  fdt.bootCpuidPhys = 0;
  return fdt;
}

export function buildVirtDeviceTree(config: VirtDeviceTreeConfig): Uint8Array {
  return buildVirtFdt(config).toBlob();
}
