/**
 * The physical address map and interrupt numbers of QEMU's RISC-V `virt` board (as of QEMU 7.2),
 * the one source of truth for where devices live. The bus wiring and the devicetree are both derived
 * from these tables, so a guest sees the same addresses in the DTB as on the bus.
 *
 * Numbers that QEMU computes (PLIC size, virtio slot addresses) are computed the same way here, with
 * the QEMU 7.2 quirks kept where software can observe them.
 */

export interface MemRegion {
  readonly base: number;
  readonly size: number;
}

/** Regions we emulate. */
export const VIRT = {
  /** Reset vector ROM: every hart starts at its base. */
  mrom: { base: 0x1000, size: 0xf000 },
  /** SiFive test finisher, also the syscon target of the poweroff and reboot nodes. */
  test: { base: 0x100000, size: 0x1000 },
  rtc: { base: 0x101000, size: 0x1000 },
  clint: { base: 0x2000000, size: 0x10000 },
  /**
   * QEMU 7.2 sizes the PLIC for its maximum of 512 harts (1024 contexts) whatever the hart count,
   * and both the devicetree reg and the decoded window use that size: 0x200000 + 1024 * 0x1000.
   */
  /**
   * pvpanic (compatible "qemu,pvpanic-mmio"), through which the guest kernel reports a panic. QEMU's
   * riscv virt has none; it sits at the start of the window QEMU's virt reserves for dynamically added
   * sysbus devices (platformBus below, which we otherwise leave empty), so it can never collide with a
   * fixed QEMU device. The window is the 2-byte register of the binding.
   */
  pvpanic: { base: 0x4000000, size: 2 },
  plic: { base: 0xc000000, size: 0x600000 },
  uart0: { base: 0x10000000, size: 0x100 },
  /** Eight virtio-mmio transports, one 4 KiB page each. */
  virtio: { base: 0x10001000, size: 0x1000, count: 8 },
  /** RAM starts here; its size comes from the machine config. */
  dram: { base: 0x80000000 },
} as const;

/**
 * Regions QEMU's virt has but we do not emulate. Kept so that nothing of ours is ever placed on top
 * of them and so that the devicetree tests can tell "not modelled" from "missing".
 */
export const VIRT_UNEMULATED = {
  debug: { base: 0x0, size: 0x100 },
  aclintSswi: { base: 0x2f00000, size: 0x4000 },
  pciePio: { base: 0x3000000, size: 0x10000 },
  /** Dynamic sysbus devices on QEMU; ours holds only VIRT.pvpanic. */
  platformBus: { base: 0x4000000, size: 0x2000000 },
  fwCfg: { base: 0x10100000, size: 0x18 },
  flash: { base: 0x20000000, size: 0x4000000 },
  pcieEcam: { base: 0x30000000, size: 0x10000000 },
  pcieMmio: { base: 0x40000000, size: 0x40000000 },
} as const satisfies Record<string, MemRegion>;

/** PLIC interrupt source numbers. */
export const VIRT_IRQ = {
  /** Virtio slot n raises source virtio0 + n (1..8). */
  virtio0: 1,
  uart0: 10,
  rtc: 11,
  /** PCIe INTA..INTD (not emulated): 32..35. */
  pcie0: 0x20,
  /** Platform bus (not emulated): 64..95. */
  platformBus0: 64,
} as const;

/**
 * VIRT_IRQCHIP_NUM_SOURCES: the PLIC model's source count, source 0 ("no interrupt") included, so
 * valid sources are 1..95.
 */
export const PLIC_NUM_SOURCES = 96;
/**
 * The devicetree's riscv,ndev. QEMU 7.2 writes 96 here, one more than the largest source (fixed to 95
 * in QEMU 8.0); we copy 7.2, so Linux may touch the priority/enable bits of source 96, which the
 * PLIC model must accept and ignore.
 */
export const PLIC_NDEV = 96;
/** Priorities are 3 bits wide: 0 (never interrupts) to 7. */
export const PLIC_MAX_PRIORITY = 7;

/** Register layout inside the PLIC window (QEMU's VIRT_PLIC_* constants; SiFive's layout). */
export const PLIC_LAYOUT = {
  priorityBase: 0x0,
  pendingBase: 0x1000,
  enableBase: 0x2000,
  enableStride: 0x80,
  contextBase: 0x200000,
  contextStride: 0x1000,
} as const;

/** QEMU 7.2 allows up to 512 harts (VIRT_CPUS_MAX); the PLIC size above assumes that maximum. */
export const VIRT_MAX_HARTS = 512;

/** Every hart has two PLIC contexts, M-mode (2n) then S-mode (2n + 1): the "MS" hart config. */
export function plicContextCount(harts: number): number {
  return harts * 2;
}

/** Bytes the PLIC registers actually span for the given hart count (QEMU's VIRT_PLIC_SIZE(2 * harts)). */
export function plicUsedSize(harts: number): number {
  return PLIC_LAYOUT.contextBase + plicContextCount(harts) * PLIC_LAYOUT.contextStride;
}

export const TIMEBASE_FREQUENCY = 10_000_000;
/** The 16550's input clock as QEMU advertises it (3.6864 MHz, the classic 1.8432 MHz x2). */
export const UART_CLOCK_FREQUENCY = 0x384000;

/** Values a guest writes to the test device: poweroff (also "pass"), fail (code << 16 | 0x3333), reset. */
export const TEST_FINISHER = {
  fail: 0x3333,
  pass: 0x5555,
  reset: 0x7777,
} as const;

/** Interrupt causes, as used in interrupts-extended towards each hart's riscv,cpu-intc. */
export const IRQ_CAUSE = {
  sSoft: 1,
  mSoft: 3,
  sTimer: 5,
  mTimer: 7,
  sExt: 9,
  mExt: 11,
} as const;

export interface VirtioSlot extends MemRegion {
  readonly slot: number;
  readonly irq: number;
}

export function virtioSlot(slot: number): VirtioSlot {
  if (!Number.isInteger(slot) || slot < 0 || slot >= VIRT.virtio.count) {
    throw new RangeError(`virtio slot ${slot} is not in 0..${VIRT.virtio.count - 1}`);
  }
  return {
    slot,
    base: VIRT.virtio.base + slot * VIRT.virtio.size,
    size: VIRT.virtio.size,
    irq: VIRT_IRQ.virtio0 + slot,
  };
}

/**
 * The slot QEMU gives the n-th virtio-mmio device on its command line: it fills the transports from
 * the top (the first device lands at 0x10008000), and Linux probes them in devicetree order, which
 * QEMU also writes from the top. Follow this to get the same /dev/vda, eth0 ordering as QEMU.
 */
export function qemuVirtioSlotForDevice(index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= VIRT.virtio.count) {
    throw new RangeError(`only ${VIRT.virtio.count} virtio-mmio devices fit (index ${index})`);
  }
  return VIRT.virtio.count - 1 - index;
}
