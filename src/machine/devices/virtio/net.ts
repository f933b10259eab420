/**
 * virtio-net (VIRTIO 1.2 section 5.1): one receive and one transmit queue, a MAC address and the link
 * status in the configuration space, and nothing else: no checksum or segmentation offloads, no control
 * queue, no multiqueue. Every frame carries the 12-byte virtio_net_hdr (VERSION_1 makes num_buffers
 * part of it even without MRG_RXBUF); with no offloads negotiated the header is all zeros apart from
 * num_buffers, which is always 1 because each received frame fits one buffer chain.
 *
 * Frames from the network wait in a small bounded queue until the driver has posted receive buffers,
 * and are written into guest RAM in batches: everything that arrives before the VM next runs costs one
 * interrupt.
 */
import type { NetBackend } from '../../../net/net-backend.js';
import { DEVICE_ID, type FeatureWords, featureWords } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';
import type { DescriptorChain } from './virtqueue.js';

/** Feature bits of 5.1.3. */
export const NET_F_MAC = 5;
export const NET_F_STATUS = 16;
/** Configuration status bit (5.1.4). */
export const NET_S_LINK_UP = 1;

export const NET_HDR_SIZE = 12;
export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
const QUEUE_SIZE = 256;
/** Frames kept while the driver has no receive buffer posted; beyond this the network's frames drop. */
export const RX_PENDING_LIMIT = 256;
/**
 * The largest frame either way: without GSO a driver never builds more than an MTU-sized frame, and
 * QEMU's stream framing allows up to 64 KiB; anything longer is a driver bug or garbage.
 */
const MAX_FRAME = 65536 + 14 + 4;
/** Frame bytes sent per step; the rest of the transmit ring waits for the run loop's next step. */
const TX_STEP_BYTES = 256 * 1024;

export interface VirtioNetState {
  mac: string;
  backend: string;
  linkUp: boolean;
  pendingRx: number;
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  txPackets: number;
  txBytes: number;
  txDropped: number;
}

export class VirtioNet implements VirtioDevice {
  readonly deviceId = DEVICE_ID.net;
  readonly name: string;
  readonly features: FeatureWords = featureWords(NET_F_MAC, NET_F_STATUS);
  readonly queueMaxSizes = [QUEUE_SIZE, QUEUE_SIZE];
  /** mac[6], status u16, max_virtqueue_pairs u16 (meaningful only with MQ, reported as 1 like QEMU). */
  readonly config = new Uint8Array(10);
  readonly mac: Uint8Array;
  private readonly backend: NetBackend;
  private ctx!: VirtioContext;
  /** Frames from the network not yet in guest RAM, oldest first, from `pendingHead` on. */
  private pending: Uint8Array[] = [];
  private pendingHead = 0;
  private flushScheduled = false;
  /** A receive chain taken from the ring but not filled: it was too small for the frame at hand. */
  private heldRx: DescriptorChain | null = null;
  private readonly header = new Uint8Array(NET_HDR_SIZE);
  private rxPackets = 0;
  private rxBytes = 0;
  private rxDropped = 0;
  private txPackets = 0;
  private txBytes = 0;
  private txDropped = 0;

  constructor(backend: NetBackend, options: { mac: Uint8Array }) {
    if (options.mac.length !== 6)
      throw new RangeError(`virtio-net: a MAC has 6 bytes, not ${options.mac.length}`);
    this.backend = backend;
    this.mac = options.mac.slice();
    this.name = `virtio-net (${backend.name})`;
    this.config.set(this.mac, 0);
    this.config[8] = 1;
    this.setLinkStatus(backend.linkUp);
    // num_buffers is little-endian 1 in every header this device writes.
    this.header[10] = 1;
    backend.onReceive = (frame) => this.receive(frame);
    backend.onLinkChange = (up) => {
      this.setLinkStatus(up);
      this.ctx?.configChanged();
    };
  }

  private setLinkStatus(up: boolean): void {
    this.config[6] = up ? NET_S_LINK_UP : 0;
    this.config[7] = 0;
  }

  attach(ctx: VirtioContext): void {
    this.ctx = ctx;
  }

  activate(): void {}

  notify(index: number): void {
    if (index === RX_QUEUE) this.flushRx();
    else if (index === TX_QUEUE) this.transmit();
  }

  private transmit(): void {
    const q = this.ctx.queue(TX_QUEUE);
    const memory = this.ctx.memory;
    let any = false;
    let step = 0;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      any = true;
      const length = chain.readableLength - NET_HDR_SIZE;
      // A chain too short for the header, or longer than any frame, is the driver's bug: it goes back
      // unsent rather than taking the device down, as a NIC drops a runt.
      if (length <= 0 || length > MAX_FRAME || !this.backend.linkUp) {
        this.txDropped++;
      } else {
        // A copy: the backend may queue the frame, and the driver reuses the buffer once it is used.
        const frame = new Uint8Array(length);
        chain.read(memory, frame, NET_HDR_SIZE);
        this.txPackets++;
        this.txBytes += length;
        this.backend.send(frame);
        step += length;
      }
      q.push(chain.head, 0);
      if (step >= TX_STEP_BYTES) {
        if (q.hasAvailable()) this.ctx.defer(TX_QUEUE);
        break;
      }
    }
    if (any) this.ctx.usedBuffers(TX_QUEUE);
  }

  /** A frame from the network. Never touches guest RAM directly: the backend may call from anywhere. */
  private receive(frame: Uint8Array): void {
    if (!this.ctx?.active || !this.ctx.queue(RX_QUEUE).ready || frame.length > MAX_FRAME) {
      // No driver to take it, as with a NIC whose driver has not brought it up.
      this.rxDropped++;
      return;
    }
    if (this.pending.length - this.pendingHead >= RX_PENDING_LIMIT) {
      this.rxDropped++;
      return;
    }
    this.pending.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flushRx();
      });
    }
  }

  /** Moves pending frames into posted receive buffers; one interrupt for the lot. */
  private flushRx(): void {
    if (this.pendingHead >= this.pending.length) return;
    const ctx = this.ctx;
    if (!ctx.active) return;
    const q = ctx.queue(RX_QUEUE);
    let delivered = false;
    try {
      while (this.pendingHead < this.pending.length) {
        const chain = this.heldRx ?? q.pop();
        this.heldRx = null;
        if (chain === null) break;
        if (chain.writableLength < NET_HDR_SIZE) {
          ctx.fail(
            `receive buffer ${chain.head} has ${chain.writableLength} writable bytes, less than a header`,
          );
          return;
        }
        const frame = this.pending[this.pendingHead];
        this.pending[this.pendingHead++] = EMPTY;
        if (NET_HDR_SIZE + frame.length > chain.writableLength) {
          // Without MRG_RXBUF a frame must fit one chain; this one does not, so it is lost and the
          // chain waits for the next frame.
          this.rxDropped++;
          this.heldRx = chain;
          continue;
        }
        chain.write(ctx.memory, this.header);
        chain.write(ctx.memory, frame, NET_HDR_SIZE);
        q.push(chain.head, NET_HDR_SIZE + frame.length);
        this.rxPackets++;
        this.rxBytes += frame.length;
        delivered = true;
      }
    } catch (e) {
      // Called from a microtask as well as from the transport's guarded notify, so malformed rings end
      // here too and never as a host exception.
      ctx.fail(`receive queue: ${e instanceof Error ? e.message : String(e)}`);
      return;
    } finally {
      if (this.pendingHead >= this.pending.length) {
        this.pending = [];
        this.pendingHead = 0;
      } else if (this.pendingHead >= RX_PENDING_LIMIT) {
        // A queue that never drains completely must not grow behind its head.
        this.pending = this.pending.slice(this.pendingHead);
        this.pendingHead = 0;
      }
    }
    if (delivered) ctx.usedBuffers(RX_QUEUE);
  }

  private dropPending(): void {
    this.rxDropped += this.pending.length - this.pendingHead;
    this.pending = [];
    this.pendingHead = 0;
    this.heldRx = null;
  }

  reset(): void {
    this.dropPending();
  }

  resetQueue(index: number): void {
    if (index === RX_QUEUE) this.heldRx = null;
  }

  async close(): Promise<void> {
    this.dropPending();
    await this.backend.close();
  }

  saveState(): VirtioNetState {
    return {
      mac: Array.from(this.mac, (b) => b.toString(16).padStart(2, '0')).join(':'),
      backend: this.backend.name,
      linkUp: (this.config[6] & NET_S_LINK_UP) !== 0,
      pendingRx: this.pending.length - this.pendingHead,
      rxPackets: this.rxPackets,
      rxBytes: this.rxBytes,
      rxDropped: this.rxDropped,
      txPackets: this.txPackets,
      txBytes: this.txBytes,
      txDropped: this.txDropped,
    };
  }
}

const EMPTY = new Uint8Array(0);
