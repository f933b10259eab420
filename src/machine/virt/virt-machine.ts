/**
 * The `virt` board: harts, RAM and the platform devices of QEMU's RISC-V virt machine at the same
 * addresses, a devicetree describing them, and the two ways to boot Linux (built-in SBI, or real
 * M-mode firmware such as OpenSBI). The host drives it through a small interface: start the run loop,
 * feed console input, receive console output and the reason it stopped.
 */
import { MSTATUS_MPP, PRIV_S } from '../../cpu/constants.js';
import {
  CSR_MCOUNTEREN,
  CSR_MEDELEG,
  CSR_MENVCFG,
  CSR_MIDELEG,
  CSR_MSTATUS,
  CSR_SCOUNTEREN,
  CSR_STIMECMP,
} from '../../cpu/csr-numbers.js';
import { Hart } from '../../cpu/hart.js';
import type { JitOptions } from '../../cpu/jit/jit.js';
import { createStateMemory } from '../../cpu/state-layout.js';
import { warmUpInterpreter } from '../../cpu/warmup.js';
import { BootImageError, type KernelImage, prepareKernel } from '../boot/kernel-image.js';
import { planBoot } from '../boot/layout.js';
import { SystemBus } from '../bus.js';
import { GuestClock } from '../clock.js';
import { Clint } from '../devices/clint.js';
import { GoldfishRtc } from '../devices/goldfish-rtc.js';
import { Plic } from '../devices/plic.js';
import { PvpanicMmio } from '../devices/pvpanic-mmio.js';
import { SifiveTest } from '../devices/sifive-test.js';
import { Uart16550 } from '../devices/uart16550.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import { VirtioMmioTransport } from '../devices/virtio/mmio-transport.js';
import { VirtioMmioEmpty } from '../devices/virtio-mmio-empty.js';
import { BuiltinSbi } from '../firmware/sbi.js';
import { GuestMemory } from '../guest-memory.js';
import { LogLimiter } from '../log-limiter.js';
import { buildVirtDeviceTree } from './devicetree.js';
import {
  PLIC_NUM_SOURCES,
  qemuVirtioSlotForDevice,
  TIMEBASE_FREQUENCY,
  VIRT,
  VIRT_IRQ,
  virtioSlot,
} from './memory-map.js';

const BATCH = 1 << 16;
/** Longest stretch of guest execution between looks at the host's event loop (console input, timers). */
const SLICE_MS = 20;
/**
 * Host time devices may spend per slice on the guest's behalf (virtqueue work). Past it, notifications
 * wait for the next slice and the harts yield, so a slice stays near SLICE_MS whatever the guest asks of
 * its devices, and pause and the CPU quota keep their effect.
 */
const DEVICE_MS_PER_SLICE = SLICE_MS / 2;
/** Longest sleep of an idle VM before it looks at its timers again. */
const MAX_SLEEP_MS = 1000;
/**
 * Console output (UART and SBI debug console) the board holds for the host. When the host does not
 * take it (setOutputReady(false)) and this fills, the guest meets backpressure: the UART's transmitter
 * reads busy and SBI debug console writes write fewer bytes, as the SBI spec allows.
 */
export const OUTPUT_LIMIT = 256 * 1024;

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

export interface VirtMachineConfig {
  ramSize: number;
  harts: number;
  /** 'builtin': the host serves SBI and the kernel starts in S-mode; 'none': the kernel starts in M-mode. */
  bios: 'builtin' | 'none' | NamedBytes;
  kernel?: NamedBytes;
  initrd?: NamedBytes;
  bootargs: string;
  /**
   * Virtio devices in command-line order; they take the virtio-mmio slots from the top as QEMU fills
   * them, so /dev/vda, eth0, ... come out in the same order as on QEMU with the same flags.
   */
  virtio?: VirtioDevice[];
  /** The compiled tier's options, or false for the interpreter alone. On by default. */
  jit?: JitOptions | false;
}

export type MachineExit =
  | { kind: 'poweroff'; code: number }
  | { kind: 'fatal'; message: string }
  | { kind: 'stopped' };

/** Magic and version of OpenSBI's fw_dynamic_info (include/sbi/fw_dynamic.h). */
const FW_DYNAMIC_MAGIC = 0x4942534f;
const FW_DYNAMIC_VERSION = 2;

export class VirtMachine {
  readonly config: VirtMachineConfig;
  readonly harts: Hart[] = [];
  readonly bus: SystemBus;
  readonly clock = new GuestClock(TIMEBASE_FREQUENCY);
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly rtc: GoldfishRtc;
  readonly pvpanic: PvpanicMmio;
  readonly dtb: Uint8Array;
  readonly memory: GuestMemory;
  readonly virtio: VirtioMmioTransport[] = [];
  private readonly kernel?: KernelImage;
  private readonly running: boolean[] = [];
  private exit: MachineExit | null = null;
  private resetRequested = false;
  private booted = false;
  private readonly output: Uint8Array[] = [];
  private outputBytes = 0;
  private outputReady = true;
  private flushing = false;
  private wake: (() => void) | null = null;
  private paused = false;
  /** run() is executing (between its start and its return). */
  private looping = false;
  /** The run loop sits in its paused sleep: no guest instruction or device step runs. */
  private parked = false;
  private parkWaiters: (() => void)[] = [];
  /** A panic the guest reported in this boot, to hand to onGuestPanic once its slice's output is out. */
  private pendingPanic: string | null = null;
  private panicReported = false;
  private readonly logLimiter = new LogLimiter();
  /** Device time left in the current slice (DEVICE_MS_PER_SLICE at its start). */
  private deviceMsLeft = DEVICE_MS_PER_SLICE;
  /** Share of one host core the run loop may keep busy (0 < quota <= 1): see setCpuQuota. */
  private quota = 1;
  /** Milliseconds the run loop still owes the host under the CPU quota. */
  private quotaDebtMs = 0;
  /** Guest instructions retired by every hart since the machine was built (resets included). */
  instructions = 0;
  /** Host milliseconds spent executing guest slices: the vCPU's own CPU time, without idle sleeps. */
  busyMs = 0;
  /** Console bytes for the host (the terminal); called after every slice that produced output. */
  onOutput: (bytes: Uint8Array) => void = () => {};
  /**
   * Device errors a guest caused (a malformed virtqueue, say): for the user, not for the guest. Rate
   * limited (see LogLimiter), so a guest cannot flood the host's logs.
   */
  onLog: (message: string) => void = () => {};
  /**
   * The guest reported that it panicked (pvpanic, or an SBI system reset for a system failure). Called
   * at most once per boot, after the console output the guest produced before it went to onOutput.
   */
  onGuestPanic: (detail: string) => void = () => {};

  constructor(config: VirtMachineConfig) {
    this.config = config;
    warmUpInterpreter();
    if (!(config.harts >= 1 && config.harts <= 8))
      throw new BootImageError(`harts: ${config.harts} is not in 1..8`);
    if (config.ramSize % 2 ** 20 !== 0 || config.ramSize < 16 * 2 ** 20 || config.ramSize > 2 ** 31) {
      throw new BootImageError(
        `memory: ${config.ramSize} bytes is not a whole number of MiB in 16 MiB..2 GiB`,
      );
    }
    this.bus = new SystemBus(VIRT.dram.base, config.ramSize);
    for (let id = 0; id < config.harts; id++) {
      // One state memory per hart holds its registers and, for now, the RAM: several harts need RAM
      // in a memory of its own shared between them, which comes with SMP support.
      const memory = createStateMemory(config.ramSize);
      this.harts.push(
        new Hart(memory, this.bus, {
          hartId: id,
          readTime: () => this.clock.now(),
          jit: config.jit === false ? false : (config.jit ?? {}),
        }),
      );
      this.running.push(id === 0);
    }
    if (config.harts > 1) throw new BootImageError('harts: more than one hart is not supported yet');
    this.clint = new Clint(VIRT.clint.base, this.harts, this.clock);
    this.plic = new Plic(VIRT.plic.base, this.harts, PLIC_NUM_SOURCES);
    this.uart = new Uart16550(VIRT.uart0.base, this.plic.line(VIRT_IRQ.uart0), {
      write: (bytes) => this.takeOutput(bytes),
    });
    this.rtc = new GoldfishRtc(
      VIRT.rtc.base,
      this.plic.line(VIRT_IRQ.rtc),
      () => BigInt(Date.now()) * 1_000_000n,
    );
    const test = new SifiveTest(VIRT.test.base, {
      powerOff: (code) => this.stop({ kind: 'poweroff', code }),
      reset: () => this.requestReset(),
    });
    // The guest kernel's own panic report; console text is no proof, as user space can print it too.
    this.pvpanic = new PvpanicMmio(VIRT.pvpanic.base, {
      panicked: (detail) => this.reportGuestPanic(detail),
      crashLoaded: (detail) => this.log(detail),
    });
    for (const device of [test, this.rtc, this.pvpanic, this.clint, this.plic, this.uart])
      this.bus.attach(device);
    this.memory = new GuestMemory(VIRT.dram.base, this.harts[0].ram8, this.harts);
    const devices = config.virtio ?? [];
    if (devices.length > VIRT.virtio.count) {
      throw new BootImageError(
        `${devices.length} virtio devices given; the virt board has ${VIRT.virtio.count} slots`,
      );
    }
    const bySlot = new Map<number, VirtioDevice>();
    for (const [i, device] of devices.entries()) bySlot.set(qemuVirtioSlotForDevice(i), device);
    for (let slot = 0; slot < VIRT.virtio.count; slot++) {
      const where = virtioSlot(slot);
      const device = bySlot.get(slot);
      if (device === undefined) {
        this.bus.attach(new VirtioMmioEmpty(where.base));
        continue;
      }
      const transport = new VirtioMmioTransport(where.base, device, {
        memory: this.memory,
        irq: this.plic.line(where.irq),
        wake: () => this.kick(),
        log: (message) => this.log(message),
        mayWork: () => this.deviceMsLeft > 0,
        worked: (ms) => this.chargeDeviceWork(ms),
      });
      this.virtio.push(transport);
      this.bus.attach(transport);
    }

    if (config.kernel) this.kernel = prepareKernel(config.kernel.bytes, config.kernel.name, config.ramSize);
    if (config.bios === 'builtin') {
      if (!this.kernel) throw new BootImageError('--bios builtin needs a kernel to boot');
      new BuiltinSbi({
        harts: this.harts,
        consoleWrite: (bytes) => this.takeOutput(bytes),
        consoleRead: (max) => this.readUartInput(max),
        powerOff: () => this.stop({ kind: 'poweroff', code: 0 }),
        reboot: () => this.requestReset(),
        fatal: (message) => this.stop({ kind: 'fatal', message }),
        systemFailure: (detail) => this.reportGuestPanic(detail),
        startHart: () => {},
        stopHart: (id) => {
          this.running[id] = false;
        },
        hartRunning: (id) => this.running[id] === true,
      });
    }
    this.dtb = this.buildDeviceTree(0);
    this.loadAndReset();
  }

  private buildDeviceTree(dtbSizeGuess: number): Uint8Array {
    const initrd = this.config.initrd;
    let initrdRange: { start: number; end: number } | undefined;
    if (initrd) {
      const plan = planBoot(this.layoutRequest(Math.max(dtbSizeGuess, 0x10000)));
      initrdRange = plan.initrd;
    }
    return buildVirtDeviceTree({
      harts: this.config.harts,
      ramSize: this.config.ramSize,
      bootargs: this.config.bootargs,
      initrd: initrdRange,
      // Linux seeds its random number generator from this at boot instead of waiting for entropy.
      rngSeed: crypto.getRandomValues(new Uint8Array(32)),
    });
  }

  private layoutRequest(dtbSize: number) {
    const bios = this.config.bios;
    return {
      ramBase: VIRT.dram.base,
      ramSize: this.config.ramSize,
      firmwareSize: typeof bios === 'object' ? bios.bytes.length : undefined,
      kernelFootprint: this.kernel ? this.kernel.footprint : 0,
      initrdSize: this.config.initrd?.bytes.length,
      dtbSize,
    };
  }

  /** Places firmware, kernel, initrd and devicetree in RAM and puts every hart at its entry point. */
  private loadAndReset(): void {
    const hart = this.harts[0];
    const ram = hart.ram8;
    // A fresh memory is already zero; zeroing it again would touch every page of a large RAM.
    if (this.booted) ram.fill(0);
    this.booted = true;
    this.panicReported = false;
    for (const t of this.virtio) t.powerOnReset();
    this.pvpanic.reset();
    const bios = this.config.bios;
    const base = VIRT.dram.base;
    const plan = planBoot(this.layoutRequest(this.dtb.length));
    const put = (address: number, bytes: Uint8Array, what: string): void => {
      const offset = address - base;
      if (offset < 0 || offset + bytes.length > ram.length) {
        throw new BootImageError(
          `${what} (${bytes.length} bytes at 0x${address.toString(16)}) does not fit in RAM`,
        );
      }
      ram.set(bytes, offset);
    };
    let kernelAddress = plan.kernel;
    if (bios === 'none' && this.kernel) kernelAddress = base;
    if (this.kernel) put(kernelAddress, this.kernel.bytes, `kernel ${this.config.kernel?.name}`);
    if (this.config.initrd && plan.initrd)
      put(plan.initrd.start, this.config.initrd.bytes, `initrd ${this.config.initrd.name}`);
    put(plan.dtb, this.dtb, 'devicetree');
    for (const h of this.harts) h.invalidateCode(0, h.ramSize);

    const entry = kernelAddress + (this.kernel?.entryOffset ?? 0);
    for (const h of this.harts) {
      h.reset(entry);
      h.setRegister(10, h.hartId);
      h.setRegister(11, plan.dtb);
    }
    if (bios === 'builtin') {
      this.enterSupervisor(entry);
    } else if (typeof bios === 'object') {
      put(base, bios.bytes, `firmware ${bios.name}`);
      const info = new BigUint64Array([
        BigInt(FW_DYNAMIC_MAGIC),
        BigInt(FW_DYNAMIC_VERSION),
        BigInt(this.kernel ? entry : 0),
        BigInt(PRIV_S),
        0n,
        0n,
      ]);
      put(plan.scratch, new Uint8Array(info.buffer), 'fw_dynamic_info');
      for (const h of this.harts) {
        h.reset(base);
        h.setRegister(10, h.hartId);
        h.setRegister(11, plan.dtb);
        h.setRegister(12, plan.scratch);
      }
    }
  }

  /** What OpenSBI leaves behind for a kernel: S-mode, delegated traps, counters and Sstc enabled. */
  private enterSupervisor(entry: number): void {
    for (const h of this.harts) {
      const csr = h.csr;
      // Every exception S-mode can handle goes to it; ecall from S (9) comes to the built-in SBI.
      csr[CSR_MEDELEG * 2] = 0xb1ff;
      csr[CSR_MIDELEG * 2] = 0x222;
      csr[CSR_MCOUNTEREN * 2] = -1;
      // OpenSBI opens cycle, time and instret to U-mode here too; the vDSO's clock_gettime reads `time`.
      csr[CSR_SCOUNTEREN * 2] = 7;
      csr[CSR_MENVCFG * 2 + 1] = 0x80000000 | 0;
      csr[CSR_STIMECMP * 2] = -1;
      csr[CSR_STIMECMP * 2 + 1] = -1;
      // One PMP entry opens all of memory to S and U, as OpenSBI's last entry does.
      h.pmp.setAddr(0, -1, -1);
      h.pmp.setCfg(0, 0x1f);
      csr[CSR_MSTATUS * 2] &= ~MSTATUS_MPP;
      h.setPriv(PRIV_S);
      h.pc = entry;
      h.flushTlb();
    }
  }

  private stop(exit: MachineExit): void {
    if (this.exit === null) this.exit = exit;
    for (const h of this.harts) h.yieldRequested = true;
    this.wake?.();
  }

  private requestReset(): void {
    this.resetRequested = true;
    for (const h of this.harts) h.yieldRequested = true;
  }

  /**
   * Stops executing the guest until resume(): the run loop waits on a promise, so a paused VM costs no
   * host CPU. The promise resolves once the loop is parked: from then on no guest instruction and no
   * deferred device step runs. Devices keep their state; host I/O already in flight still completes
   * into guest RAM.
   * The guest's clock follows the host's, so after a resume the guest sees time jump (timers fire late),
   * which Linux tolerates.
   */
  pause(): Promise<void> {
    if (this.exit !== null) return Promise.resolve();
    if (!this.paused) {
      this.paused = true;
      for (const h of this.harts) h.yieldRequested = true;
      this.wake?.();
    }
    // Resolved once the loop parks (or ends); a loop that is not running has nothing to stop.
    if (this.parked || !this.looping) return Promise.resolve();
    return new Promise<void>((resolve) => this.parkWaiters.push(resolve));
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.wake?.();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Limits the vCPU to `percent` of one host core (1..100). After each busy slice the run loop sleeps
   * long enough that busy time / wall time stays at the quota; an idle guest (wfi) sleeps anyway and
   * its idle time pays the debt, so it is not slowed down.
   */
  setCpuQuota(percent: number): void {
    if (!(percent >= 1 && percent <= 100)) throw new RangeError(`cpu quota ${percent}% is not in 1..100`);
    this.quota = percent / 100;
    if (this.quota === 1) this.quotaDebtMs = 0;
  }

  /** A BREAK on the serial line (then the next character is a Magic SysRq key for a Linux guest). */
  sendBreak(): void {
    this.uart.receiveBreak();
    for (const h of this.harts) h.waiting = false;
    this.wake?.();
  }

  /** The reset button: the board reloads its images and restarts the harts at the next slice boundary. */
  reset(): void {
    this.requestReset();
    this.wake?.();
  }

  /** Asks the run loop to stop (as if the power were pulled). */
  powerOff(): void {
    this.stop({ kind: 'stopped' });
  }

  /** Wakes the run loop from its wfi sleep: an interrupt from host I/O may be pending. */
  kick(): void {
    for (const h of this.harts) h.checkInterruptsSoon();
    this.wake?.();
  }

  /**
   * Console input from the host (keyboard): goes to the UART's receive FIFO. Returns how many bytes were
   * taken; the UART holds a bounded amount the guest has not read yet, and refuses the rest.
   */
  sendInput(bytes: Uint8Array): number {
    const taken = this.uart.receive(bytes);
    for (const h of this.harts) h.waiting = false;
    this.wake?.();
    return taken;
  }

  /**
   * Whether the host takes console output now. While false, output stays on the board (up to
   * OUTPUT_LIMIT) and then the guest meets backpressure; true hands over what waited.
   */
  setOutputReady(ready: boolean): void {
    if (this.outputReady === ready) return;
    this.outputReady = ready;
    if (ready) {
      this.flushOutput();
      this.kick();
    }
  }

  /** Console output bytes the host has not taken yet. */
  get pendingOutput(): number {
    return this.outputBytes;
  }

  /** Guest messages dropped by the log rate limit. */
  get logsDropped(): number {
    return this.logLimiter.dropped;
  }

  private log(message: string): void {
    const line = this.logLimiter.admit(message);
    if (line !== null) this.onLog(line);
  }

  /** Takes up to OUTPUT_LIMIT bytes of console output in all; returns how many of `bytes` it copied. */
  private takeOutput(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, OUTPUT_LIMIT - this.outputBytes);
    if (n <= 0) return 0;
    this.output.push(bytes.slice(0, n));
    this.outputBytes += n;
    return n;
  }

  private reportGuestPanic(detail: string): void {
    if (this.panicReported) return;
    this.panicReported = true;
    this.pendingPanic = detail;
    // The slice ends soon, so that the report (and the output before it) reach the host promptly.
    for (const h of this.harts) h.yieldRequested = true;
  }

  /**
   * Console input for SBI calls, taken from the UART's receiver as OpenSBI does (it drives the same
   * UART), so keyboard input reaches whichever console the guest uses.
   */
  private readUartInput(max: number): Uint8Array {
    const bytes: number[] = [];
    const reg = new Int32Array(2);
    while (bytes.length < max) {
      this.uart.read(5, 1, reg);
      if ((reg[0] & 1) === 0) break;
      this.uart.read(0, 1, reg);
      bytes.push(reg[0] & 0xff);
    }
    return Uint8Array.from(bytes);
  }

  /** Hands console output to the host while it takes it (or, with `final`, at the end of the run). */
  private flushOutput(final = false): void {
    if (this.flushing) return;
    // The UART gathers output into lines; the end of a slice is when a prompt without one must show.
    this.uart.flush();
    if (this.output.length === 0 || !(this.outputReady || final)) return;
    const total = this.outputBytes;
    const joined = this.output.length === 1 ? this.output[0] : new Uint8Array(total);
    if (this.output.length > 1) {
      let at = 0;
      for (const b of this.output) {
        joined.set(b, at);
        at += b.length;
      }
    }
    this.output.length = 0;
    this.outputBytes = 0;
    this.flushing = true;
    try {
      this.onOutput(joined);
    } finally {
      this.flushing = false;
    }
    // Room again: a UART held busy by a full buffer transmits once more.
    this.uart.hostReady();
  }

  /** Hands a panic the guest reported to the host, after the output that came before it. */
  private deliverPanic(): void {
    if (this.pendingPanic === null) return;
    const detail = this.pendingPanic;
    this.pendingPanic = null;
    this.onGuestPanic(detail);
  }

  /** One step of the device work that devices deferred to the run loop, while the slice's budget lasts. */
  private runDeferredDeviceWork(): void {
    for (let i = 0; i < this.virtio.length && this.deviceMsLeft > 0; i++) this.virtio[i].runDeferred();
  }

  private chargeDeviceWork(ms: number): void {
    this.deviceMsLeft -= ms;
    // Spent: end the batch now, so the slice's clock is looked at before the guest asks for more.
    if (this.deviceMsLeft <= 0) for (const h of this.harts) h.yieldRequested = true;
  }

  private get deviceWorkDeferred(): boolean {
    for (let i = 0; i < this.virtio.length; i++) if (this.virtio[i].hasDeferred) return true;
    return false;
  }

  private pollDevices(): void {
    this.clint.update();
    this.rtc.poll();
  }

  /** Runs one slice of guest time. Returns true when every running hart waits for an interrupt. */
  runSlice(): boolean {
    const end = performance.now() + SLICE_MS;
    this.deviceMsLeft = DEVICE_MS_PER_SLICE;
    for (;;) {
      this.pollDevices();
      this.runDeferredDeviceWork();
      let busy = false;
      for (let i = 0; i < this.harts.length; i++) {
        if (!this.running[i]) continue;
        const h = this.harts[i];
        h.checkInterrupts();
        if (h.waiting) continue;
        busy = true;
        this.instructions += h.run(BATCH);
      }
      if (this.resetRequested) {
        this.resetRequested = false;
        this.loadAndReset();
        for (let i = 0; i < this.running.length; i++) this.running[i] = i === 0;
      }
      if (this.exit !== null || !busy || this.paused) return !busy;
      if (performance.now() >= end) return false;
    }
  }

  /** Milliseconds until the next timer event that could wake a hart. */
  private idleMs(): number {
    let next = this.clint.nextDeadline();
    for (const h of this.harts) next = Math.min(next, h.supervisorTimerDeadline());
    let ms = next === Number.POSITIVE_INFINITY ? MAX_SLEEP_MS : this.clock.msUntil(next);
    const alarm = this.rtc.nextAlarmNs();
    if (alarm !== null) ms = Math.min(ms, Math.max(0, Number(alarm - BigInt(Date.now()) * 1_000_000n) / 1e6));
    return Math.min(ms, MAX_SLEEP_MS);
  }

  /** Sleeps up to `ms` (forever when not finite) or until something calls wake. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms)
        ? setTimeout(() => {
            this.wake = null;
            resolve();
          }, ms)
        : undefined;
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  /** Runs the guest until it powers off, fails fatally, or powerOff() is called. */
  async run(): Promise<MachineExit> {
    this.looping = true;
    try {
      return await this.loop();
    } finally {
      this.looping = false;
      this.parked = false;
      for (const w of this.parkWaiters.splice(0)) w();
    }
  }

  private async loop(): Promise<MachineExit> {
    while (this.exit === null) {
      if (this.paused) {
        // Nothing runs and no timer is armed: only resume() or powerOff() wakes the loop.
        this.flushOutput();
        this.deliverPanic();
        this.parked = true;
        for (const w of this.parkWaiters.splice(0)) w();
        await this.sleep(Number.POSITIVE_INFINITY);
        this.parked = false;
        continue;
      }
      const sliceStart = performance.now();
      let idle = this.runSlice();
      const busy = performance.now() - sliceStart;
      this.busyMs += busy;
      this.flushOutput();
      this.deliverPanic();
      if (this.exit !== null) break;
      // Deferred device work is due at the next step even when every hart waits for an interrupt.
      if (idle && this.deviceWorkDeferred) idle = false;
      if (this.quota < 1) this.quotaDebtMs += (busy * (1 - this.quota)) / this.quota;
      if (idle) {
        const ms = this.idleMs();
        if (ms > 0) {
          const before = performance.now();
          await this.sleep(ms);
          // Time spent idle counts as time off the CPU.
          this.quotaDebtMs = Math.max(0, this.quotaDebtMs - (performance.now() - before));
        }
      } else if (this.quotaDebtMs >= 1) {
        // The whole debt is slept off even when device kicks or console input wake the loop early (their
        // interrupts are taken in the next slice): otherwise a guest could buy CPU time by causing I/O.
        while (this.quotaDebtMs >= 1 && this.exit === null && !this.paused) {
          const before = performance.now();
          await this.sleep(this.quotaDebtMs);
          this.quotaDebtMs = Math.max(0, this.quotaDebtMs - (performance.now() - before));
        }
      } else {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    this.flushOutput(true);
    this.deliverPanic();
    // Host I/O still in flight (a disk write the guest issued before powering off) completes first.
    await Promise.all(
      this.virtio.map((t) => t.device.close().catch((e: Error) => this.log(`${t.name}: ${e.message}`))),
    );
    return this.exit;
  }
}
