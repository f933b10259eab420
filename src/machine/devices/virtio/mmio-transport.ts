/**
 * The virtio-mmio transport, version 2 ("modern", VIRTIO 1.2 section 4.2), in one 0x1000 slot of the
 * board: the register file, feature negotiation, device status, queue configuration, interrupt
 * status/acknowledge, configuration generation and per-queue reset. It is the only part of a virtio
 * device the guest programs directly; the device model behind it sees queues and a context.
 *
 * Whatever a driver does wrong (bad queue layout, malformed descriptors, a device model failing on a
 * request) ends as DEVICE_NEEDS_RESET plus a configuration-change interrupt, the spec's way to say
 * "reset me", and never as a host exception.
 */
import type { GuestMemory } from '../../guest-memory.js';
import type { InterruptLine } from '../../irq.js';
import type { MmioDevice } from '../device.js';
import {
  F_EVENT_IDX,
  F_INDIRECT_DESC,
  F_RING_RESET,
  F_VERSION_1,
  type FeatureWords,
  featureWords,
  hasFeature,
  INT_CONFIG_CHANGE,
  INT_USED_BUFFER,
  STATUS_DEVICE_NEEDS_RESET,
  STATUS_DRIVER_OK,
  STATUS_FEATURES_OK,
} from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';
import { Virtqueue, type VirtqueueState } from './virtqueue.js';

/** Register offsets of the virtio-mmio slot (VIRTIO 1.2 section 4.2.2); the configuration space starts at `config`. */
export const REG = {
  magic: 0x000,
  version: 0x004,
  deviceId: 0x008,
  vendorId: 0x00c,
  deviceFeatures: 0x010,
  deviceFeaturesSel: 0x014,
  driverFeatures: 0x020,
  driverFeaturesSel: 0x024,
  queueSel: 0x030,
  queueNumMax: 0x034,
  queueNum: 0x038,
  queueReady: 0x044,
  queueNotify: 0x050,
  interruptStatus: 0x060,
  interruptAck: 0x064,
  status: 0x070,
  queueDescLow: 0x080,
  queueDescHigh: 0x084,
  queueDriverLow: 0x090,
  queueDriverHigh: 0x094,
  queueDeviceLow: 0x0a0,
  queueDeviceHigh: 0x0a4,
  shmSel: 0x0ac,
  shmLenLow: 0x0b0,
  shmLenHigh: 0x0b4,
  shmBaseLow: 0x0b8,
  shmBaseHigh: 0x0bc,
  queueReset: 0x0c0,
  configGeneration: 0x0fc,
  config: 0x100,
} as const;

const MAGIC = 0x74726976; // "virt"
const VENDOR_QEMU = 0x554d4551; // "QEMU": what Linux and firmware see on QEMU's virt too
const SLOT_SIZE = 0x1000;

/** Features every device gets from the transport and its split queues. */
const TRANSPORT_FEATURES = featureWords(F_VERSION_1, F_INDIRECT_DESC, F_EVENT_IDX, F_RING_RESET);

export interface VirtioMmioState {
  status: number;
  deviceFeaturesSel: number;
  driverFeaturesSel: number;
  driverFeatures: FeatureWords;
  queueSel: number;
  interruptStatus: number;
  configGeneration: number;
  /** Queues the driver reset (VIRTIO_F_RING_RESET) and has not re-enabled yet. */
  queueResetDone: boolean[];
  failure: string | null;
}

export interface SavedVirtioMmio extends VirtioMmioState {
  queues: VirtqueueState[];
  device: unknown;
}

export interface VirtioMmioHost {
  memory: GuestMemory;
  irq: InterruptLine;
  /** Wakes the VM's run loop when an interrupt arrives or deferred work is due while it sleeps on wfi. */
  wake(): void;
  /** Reports a device error the guest caused (shown to the user, not to the guest). */
  log(message: string): void;
  /**
   * Whether device work may run now. The board bounds the host time devices spend per slice: once it is
   * spent, notifications wait (deferred) for the next step, so a guest that notifies in a tight loop
   * cannot stretch a slice, and with it pause and the CPU quota. Absent means always.
   */
  mayWork?(): boolean;
  /** Host milliseconds a device just spent on the guest's behalf, charged to the slice. */
  worked?(ms: number): void;
}

export class VirtioMmioTransport implements MmioDevice, VirtioContext {
  readonly name: string;
  readonly base: number;
  readonly size = SLOT_SIZE;
  readonly device: VirtioDevice;
  readonly memory: GuestMemory;
  private readonly host: VirtioMmioHost;
  private readonly queues: Virtqueue[];
  private readonly offered: FeatureWords;
  private s: VirtioMmioState;
  /** Queues whose device asked to be notified again at the next step (VirtioContext.defer). */
  private deferred: boolean[];
  private anyDeferred = false;

  constructor(base: number, device: VirtioDevice, host: VirtioMmioHost) {
    this.base = base;
    this.device = device;
    this.host = host;
    this.memory = host.memory;
    this.name = `${device.name}@${base.toString(16)}`;
    this.offered = [
      (device.features[0] | TRANSPORT_FEATURES[0]) >>> 0,
      (device.features[1] | TRANSPORT_FEATURES[1]) >>> 0,
    ];
    this.queues = device.queueMaxSizes.map((max, i) => new Virtqueue(i, max, host.memory));
    this.deferred = this.queues.map(() => false);
    this.s = this.initialState();
    device.attach(this);
  }

  private initialState(): VirtioMmioState {
    return {
      status: 0,
      deviceFeaturesSel: 0,
      driverFeaturesSel: 0,
      driverFeatures: [0, 0],
      queueSel: 0,
      interruptStatus: 0,
      configGeneration: 0,
      queueResetDone: this.queues.map(() => false),
      failure: null,
    };
  }

  // --- VirtioContext -------------------------------------------------------------------------------

  queue(index: number): Virtqueue {
    return this.queues[index];
  }

  get negotiated(): FeatureWords {
    return this.s.driverFeatures;
  }

  get active(): boolean {
    return (this.s.status & (STATUS_DRIVER_OK | STATUS_DEVICE_NEEDS_RESET)) === STATUS_DRIVER_OK;
  }

  usedBuffers(index: number): void {
    const q = this.queues[index];
    if (q?.takeInterrupt()) this.raise(INT_USED_BUFFER);
  }

  log(message: string): void {
    this.host.log(`${this.name}: ${message}`);
  }

  defer(index: number): void {
    if (!(index >= 0 && index < this.deferred.length) || this.deferred[index]) return;
    this.deferred[index] = true;
    if (!this.anyDeferred) {
      this.anyDeferred = true;
      this.host.wake();
    }
  }

  /** Whether a device waits for runDeferred (the run loop must not sleep on wfi while it does). */
  get hasDeferred(): boolean {
    return this.anyDeferred;
  }

  /**
   * One step of deferred device work: every queue whose device asked for it is notified again. Called by
   * the board's run loop between batches of guest instructions, so it runs within the VM's time slice.
   */
  runDeferred(): void {
    if (!this.anyDeferred) return;
    this.anyDeferred = false;
    for (let i = 0; i < this.deferred.length; i++) {
      if (!this.deferred[i]) continue;
      this.deferred[i] = false;
      if (this.active && this.queues[i].ready) this.work(i);
    }
  }

  /** The device serves queue `index`, its time charged to the board's slice. */
  private work(index: number): void {
    const worked = this.host.worked;
    const start = worked ? performance.now() : 0;
    this.guarded(`queue ${index}`, () => this.device.notify(index));
    if (worked) worked(performance.now() - start);
  }

  configChanged(): void {
    this.s.configGeneration = (this.s.configGeneration + 1) >>> 0;
    if (this.s.status & STATUS_DRIVER_OK) this.raise(INT_CONFIG_CHANGE);
  }

  fail(reason: string): void {
    if (this.s.status & STATUS_DEVICE_NEEDS_RESET) return;
    this.s.failure = reason;
    this.host.log(`${this.name}: ${reason}; device needs reset`);
    this.s.status |= STATUS_DEVICE_NEEDS_RESET;
    if (this.s.status & STATUS_DRIVER_OK) this.raise(INT_CONFIG_CHANGE);
  }

  /** Why the device last asked for a reset (null if it never did since the driver's last reset). */
  get failure(): string | null {
    return this.s.failure;
  }

  private raise(bits: number): void {
    const had = this.s.interruptStatus;
    this.s.interruptStatus |= bits;
    if (had === 0) {
      this.host.irq.set(true);
      this.host.wake();
    }
  }

  /** Runs device code for the guest: any failure becomes DEVICE_NEEDS_RESET, never a host exception. */
  private guarded(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.fail(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // --- Registers -------------------------------------------------------------------------------------

  read(offset: number, size: number, out: Int32Array): boolean {
    if ((offset & (size - 1)) !== 0) return false;
    if (offset >= REG.config) {
      const config = this.device.config;
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < size; i++) {
        const at = offset - REG.config + i;
        const byte = at < config.length ? config[at] : 0;
        if (i < 4) lo |= byte << (8 * i);
        else hi |= byte << (8 * (i - 4));
      }
      out[0] = lo;
      out[1] = hi;
      return true;
    }
    // Registers are 32 bits wide; other widths read as zero, as QEMU answers them.
    out[0] = size === 4 ? this.register(offset) : 0;
    return true;
  }

  private register(offset: number): number {
    const s = this.s;
    const q = this.queues[s.queueSel];
    switch (offset) {
      case REG.magic:
        return MAGIC;
      case REG.version:
        return 2;
      case REG.deviceId:
        return this.device.deviceId;
      case REG.vendorId:
        return VENDOR_QEMU;
      case REG.deviceFeatures:
        return s.deviceFeaturesSel < 2 ? this.offered[s.deviceFeaturesSel] | 0 : 0;
      case REG.queueNumMax:
        return q ? q.maxSize : 0;
      case REG.queueReady:
        return q?.ready ? 1 : 0;
      case REG.queueReset:
        return q && s.queueResetDone[s.queueSel] ? 1 : 0;
      case REG.interruptStatus:
        return s.interruptStatus;
      case REG.status:
        return s.status;
      case REG.shmLenLow:
      case REG.shmLenHigh:
        // No shared memory regions: length all ones means "no such region".
        return -1;
      case REG.configGeneration:
        return s.configGeneration | 0;
      case REG.queueNum:
        return q ? q.state.size : 0;
      case REG.queueDescLow:
        return q ? q.state.desc[0] | 0 : 0;
      case REG.queueDescHigh:
        return q ? q.state.desc[1] | 0 : 0;
      case REG.queueDriverLow:
        return q ? q.state.driver[0] | 0 : 0;
      case REG.queueDriverHigh:
        return q ? q.state.driver[1] | 0 : 0;
      case REG.queueDeviceLow:
        return q ? q.state.device[0] | 0 : 0;
      case REG.queueDeviceHigh:
        return q ? q.state.device[1] | 0 : 0;
      default:
        return 0;
    }
  }

  write(offset: number, size: number, lo: number, _hi: number): boolean {
    if ((offset & (size - 1)) !== 0) return false;
    if (offset >= REG.config) {
      const at = offset - REG.config;
      if (this.device.writeConfig && at + size <= this.device.config.length) {
        this.guarded('configuration write', () => this.device.writeConfig?.(at, size, lo >>> 0));
      }
      return true;
    }
    if (size !== 4) return true;
    const value = lo >>> 0;
    const s = this.s;
    const q = this.queues[s.queueSel];
    switch (offset) {
      case REG.deviceFeaturesSel:
        s.deviceFeaturesSel = value;
        break;
      case REG.driverFeaturesSel:
        s.driverFeaturesSel = value;
        break;
      case REG.driverFeatures:
        // Features are fixed once the driver set FEATURES_OK.
        if (s.driverFeaturesSel < 2 && !(s.status & STATUS_FEATURES_OK))
          s.driverFeatures[s.driverFeaturesSel] = value;
        break;
      case REG.queueSel:
        s.queueSel = value;
        break;
      case REG.queueNum:
        if (q && !q.ready) q.state.size = value;
        break;
      case REG.queueDescLow:
        if (q && !q.ready) q.state.desc[0] = value;
        break;
      case REG.queueDescHigh:
        if (q && !q.ready) q.state.desc[1] = value;
        break;
      case REG.queueDriverLow:
        if (q && !q.ready) q.state.driver[0] = value;
        break;
      case REG.queueDriverHigh:
        if (q && !q.ready) q.state.driver[1] = value;
        break;
      case REG.queueDeviceLow:
        if (q && !q.ready) q.state.device[0] = value;
        break;
      case REG.queueDeviceHigh:
        if (q && !q.ready) q.state.device[1] = value;
        break;
      case REG.queueReady:
        if (q) this.setQueueReady(s.queueSel, value === 1);
        break;
      case REG.queueReset:
        if (q && value === 1 && hasFeature(s.driverFeatures, F_RING_RESET)) this.resetQueue(s.queueSel);
        break;
      case REG.queueNotify:
        // An index that names no queue is ignored, as a notification to nowhere.
        if (value < this.queues.length && this.active && this.queues[value].ready) {
          if (this.host.mayWork?.() === false) this.defer(value);
          else this.work(value);
        }
        break;
      case REG.interruptAck:
        s.interruptStatus &= ~value;
        if (s.interruptStatus === 0) this.host.irq.set(false);
        break;
      case REG.status:
        this.setStatus(value & 0xff);
        break;
      default:
        // Read-only and unknown registers ignore writes.
        break;
    }
    return true;
  }

  private setQueueReady(index: number, ready: boolean): void {
    const q = this.queues[index];
    if (!ready) {
      q.state.ready = false;
      return;
    }
    if (q.ready) return;
    this.guarded(`queue ${index} setup`, () => {
      q.enable(
        hasFeature(this.s.driverFeatures, F_EVENT_IDX),
        hasFeature(this.s.driverFeatures, F_INDIRECT_DESC),
      );
      this.s.queueResetDone[index] = false;
      // Buffers made available before the queue was enabled (or re-enabled after a reset) are served now.
      if (this.active) this.device.notify(index);
    });
  }

  private resetQueue(index: number): void {
    this.guarded(`queue ${index} reset`, () => this.device.resetQueue?.(index));
    this.queues[index].reset();
    this.s.queueResetDone[index] = true;
  }

  private setStatus(value: number): void {
    const s = this.s;
    if (value === 0) {
      this.resetDevice();
      return;
    }
    let next = value | (s.status & STATUS_DEVICE_NEEDS_RESET);
    if (value & STATUS_FEATURES_OK && !(s.status & STATUS_FEATURES_OK)) {
      // The driver may accept only what was offered, and a modern device needs VERSION_1.
      const f = s.driverFeatures;
      const subset = (f[0] & ~this.offered[0]) === 0 && (f[1] & ~this.offered[1]) === 0;
      if (!subset || !hasFeature(f, F_VERSION_1)) next &= ~STATUS_FEATURES_OK;
    }
    const starting = next & STATUS_DRIVER_OK && !(s.status & STATUS_DRIVER_OK);
    s.status = next;
    if (starting) {
      this.guarded('activation', () => {
        this.device.activate();
        for (const q of this.queues) if (q.ready && q.hasAvailable()) this.device.notify(q.index);
      });
    }
  }

  private resetDevice(): void {
    this.guarded('reset', () => this.device.reset());
    for (const q of this.queues) q.reset();
    this.deferred.fill(false);
    this.anyDeferred = false;
    const generation = this.s.configGeneration;
    this.s = this.initialState();
    this.s.configGeneration = generation;
    this.host.irq.set(false);
  }

  /** Resets as on power-on (board reset); the device forgets requests in flight. */
  powerOnReset(): void {
    this.resetDevice();
  }

  saveState(): SavedVirtioMmio {
    const s = this.s;
    return {
      ...s,
      driverFeatures: [...s.driverFeatures],
      queueResetDone: [...s.queueResetDone],
      queues: this.queues.map((q) => ({
        ...q.state,
        desc: [...q.state.desc],
        driver: [...q.state.driver],
        device: [...q.state.device],
      })),
      device: this.device.saveState(),
    };
  }

  /** Restores the transport and its queues (the device model's own state is the device's business). */
  restoreState(state: SavedVirtioMmio): void {
    this.s = {
      status: state.status,
      deviceFeaturesSel: state.deviceFeaturesSel,
      driverFeaturesSel: state.driverFeaturesSel,
      driverFeatures: [...state.driverFeatures],
      queueSel: state.queueSel,
      interruptStatus: state.interruptStatus,
      configGeneration: state.configGeneration,
      queueResetDone: [...state.queueResetDone],
      failure: state.failure,
    };
    const eventIdx = hasFeature(state.driverFeatures, F_EVENT_IDX);
    const indirect = hasFeature(state.driverFeatures, F_INDIRECT_DESC);
    for (const q of this.queues) q.restore(state.queues[q.index], eventIdx, indirect);
    this.host.irq.set(this.s.interruptStatus !== 0);
  }
}
