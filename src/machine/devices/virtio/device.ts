/**
 * The contract between a virtio device model (blk, net, console, rng, 9p) and its transport. The
 * transport owns registers, feature negotiation, status, queues and interrupts; the device owns its
 * configuration space and what requests mean. A device never touches a register or an interrupt line
 * itself: it takes chains from `ctx.queue(n)`, pushes completions, and calls `ctx.usedBuffers(n)` once
 * per batch. A device does a bounded amount of work per call (see `defer`).
 */
import type { GuestMemory } from '../../guest-memory.js';
import type { FeatureWords } from './constants.js';
import type { Virtqueue } from './virtqueue.js';

export interface VirtioContext {
  readonly memory: GuestMemory;
  /** The queue with this index (0 <= index < queueMaxSizes.length). */
  queue(index: number): Virtqueue;
  /** Features the driver accepted (valid once the driver set FEATURES_OK). */
  readonly negotiated: FeatureWords;
  /** Call after pushing a batch of completions to `queue`: interrupts the driver if it asked to be. */
  usedBuffers(queue: number): void;
  /** Call after the configuration space changed on its own (link up, resize): bumps the generation. */
  configChanged(): void;
  /**
   * The device stopped taking requests from `queue` before the ring was empty: its work per call is
   * bounded (a step), or it waits for the host (I/O in flight, a rate limit). The transport calls
   * notify(queue) again at the run loop's next step, inside the VM's CPU budget and never while the VM
   * is paused, so no single register write or host event does unbounded work. Safe to call from host
   * callbacks; calling it again before the step is a no-op.
   */
  defer(queue: number): void;
  /** A request the device cannot make sense of: marks the device DEVICE_NEEDS_RESET and tells the driver. */
  fail(reason: string): void;
  /** Tells the user about a host-side problem (a failing disk, a lost connection); the guest sees only errors. */
  log(message: string): void;
  /** True while the driver has the device running (DRIVER_OK and not needing reset). */
  readonly active: boolean;
}

export interface VirtioDevice {
  readonly deviceId: number;
  /** Short name for messages, e.g. "virtio-blk (disk.img)". */
  readonly name: string;
  /** Device-specific feature bits offered (the transport adds VERSION_1, INDIRECT_DESC, EVENT_IDX...). */
  readonly features: FeatureWords;
  /** Largest size of each queue; the array length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Device configuration space bytes (little-endian fields), read by the transport as is. */
  readonly config: Uint8Array;
  /** Called once by the transport before anything else. */
  attach(ctx: VirtioContext): void;
  /** The driver wrote `size` bytes at `offset` of the configuration space (value little-endian). */
  writeConfig?(offset: number, size: number, value: number): void;
  /** The driver set DRIVER_OK: queues are configured, features final. */
  activate(): void;
  /** The driver notified queue `index` (or the device should look at it again). */
  notify(index: number): void;
  /** The driver reset the device (status 0) or it is being torn down: forget requests in flight. */
  reset(): void;
  /** The driver reset one queue (VIRTIO_F_RING_RESET). */
  resetQueue?(index: number): void;
  /** Releases host resources (files, sockets); waits for host I/O in flight. */
  close(): Promise<void>;
  /** Device-specific state as plain data (configuration, backends' identity, counters). */
  saveState(): unknown;
}
