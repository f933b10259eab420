/**
 * virtio-console (VIRTIO 1.2 section 5.3) with multiport: port 0 is the console (hvc0 in Linux), ports
 * 1.. are named byte streams (/dev/vportNpM, found by name under /sys/class/virtio-ports). Each port is
 * a CharPort on the host side.
 *
 * Queues: port 0 receiveq/transmitq (0, 1), the control receiveq/transmitq (2, 3), then one pair per
 * further port (4, 5), (6, 7)... Host bytes wait in a bounded per-port buffer until the guest has both
 * opened the port and posted receive buffers, as QEMU holds them; control messages to the guest wait
 * likewise for control receive buffers. Everything the guest sends is validated, and a guest mistake is
 * at worst ignored and counted, or turned into DEVICE_NEEDS_RESET through ctx.fail().
 */
import type { CharPort } from './char-port.js';
import { DEVICE_ID, type FeatureWords, featureWords, hasFeature } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';
import type { DescriptorChain } from './virtqueue.js';

/** Feature bits (5.3.3). */
export const CONSOLE_F_SIZE = 0;
export const CONSOLE_F_MULTIPORT = 1;
export const CONSOLE_F_EMERG_WRITE = 2;

/** Control events (5.3.6.2). */
export const CONTROL = {
  deviceReady: 0,
  deviceAdd: 1,
  deviceRemove: 2,
  portReady: 3,
  consolePort: 4,
  resize: 5,
  portOpen: 6,
  portName: 7,
} as const;

/** struct virtio_console_control: u32 id, u16 event, u16 value. */
const CONTROL_SIZE = 8;
/** Configuration space: cols u16, rows u16, max_nr_ports u32, emerg_wr u32. */
const CONFIG_SIZE = 12;
const CONFIG_EMERG_WR = 8;
const QUEUE_SIZE = 256;
/** Host bytes a port holds for a guest that does not read; more is dropped (and counted). */
export const PENDING_LIMIT = 1 << 20;
/** Guest bytes moved to a port per step; the rest of its transmit ring waits for the next step. */
export const TX_STEP_BYTES = 64 * 1024;
/** Control messages held for a driver that posts no control buffers; a bound so a stuck guest cannot grow host memory. */
const CONTROL_PENDING_LIMIT = 1024;

/** Queue indices of port `i` (5.3.2). */
export function receiveQueueOf(port: number): number {
  return port === 0 ? 0 : 2 * port + 2;
}
export function transmitQueueOf(port: number): number {
  return receiveQueueOf(port) + 1;
}
export const CONTROL_RECEIVEQ = 2;
export const CONTROL_TRANSMITQ = 3;

interface ControlMessage {
  id: number;
  event: number;
  value: number;
  extra?: Uint8Array;
}

interface PortState {
  readonly port: CharPort;
  /** The driver sent PORT_READY (multiport): it knows the port, so open/name messages make sense. */
  ready: boolean;
  /** The guest has the port open (driver's PORT_OPEN); without multiport, port 0 is always open. */
  guestOpen: boolean;
  /** Host bytes not yet in guest buffers, oldest first; `pendingHead` bytes of pending[0] are gone. */
  pending: Uint8Array[];
  pendingHead: number;
  pendingBytes: number;
  bytesToGuest: number;
  bytesFromGuest: number;
  droppedBytes: number;
  /** A transmit chain taken but not wholly consumed (its step's budget ran out), and how far in. */
  heldTx: DescriptorChain | null;
  heldTxAt: number;
}

export interface VirtioConsolePortState {
  name: string;
  hostConnected: boolean;
  ready: boolean;
  guestOpen: boolean;
  pendingBytes: number;
  bytesToGuest: number;
  bytesFromGuest: number;
  droppedBytes: number;
}

export interface VirtioConsoleState {
  multiport: boolean;
  driverReady: boolean;
  pendingControl: number;
  controlSent: number;
  controlReceived: number;
  badControl: number;
  droppedControl: number;
  ports: VirtioConsolePortState[];
}

export class VirtioConsole implements VirtioDevice {
  readonly deviceId = DEVICE_ID.console;
  readonly name: string;
  readonly features: FeatureWords = featureWords(CONSOLE_F_MULTIPORT, CONSOLE_F_EMERG_WRITE);
  readonly queueMaxSizes: readonly number[];
  readonly config = new Uint8Array(CONFIG_SIZE);
  private ctx!: VirtioContext;
  private readonly ports: PortState[];
  private driverReady = false;
  private controlQueue: ControlMessage[] = [];
  private controlSent = 0;
  private controlReceived = 0;
  private badControl = 0;
  private droppedControl = 0;

  constructor(ports: CharPort[]) {
    if (ports.length < 1) throw new RangeError('virtio-console needs at least one port (the console)');
    this.name = `virtio-console (${ports.map((p) => p.name).join(', ')})`;
    this.ports = ports.map((port) => ({
      port,
      ready: false,
      guestOpen: false,
      pending: [],
      pendingHead: 0,
      pendingBytes: 0,
      bytesToGuest: 0,
      bytesFromGuest: 0,
      droppedBytes: 0,
      heldTx: null,
      heldTxAt: 0,
    }));
    this.queueMaxSizes = new Array(2 * ports.length + 2).fill(QUEUE_SIZE);
    new DataView(this.config.buffer).setUint32(4, ports.length, true);
    this.ports.forEach((p, i) => {
      p.port.onInput = (bytes) => this.hostGuarded(() => this.input(i, bytes));
      p.port.onConnectionChange = (connected) => this.hostGuarded(() => this.connectionChanged(i, connected));
      // The host caught up: the guest's waiting output moves on at the run loop's next step.
      p.port.onWritable = () => {
        if (this.ctx?.active) this.ctx.defer(transmitQueueOf(i));
      };
    });
  }

  attach(ctx: VirtioContext): void {
    this.ctx = ctx;
  }

  private get multiport(): boolean {
    return hasFeature(this.ctx.negotiated, CONSOLE_F_MULTIPORT);
  }

  activate(): void {
    // Without multiport there is no handshake: the single port is open from the start.
    if (!this.multiport) this.ports[0].guestOpen = true;
  }

  writeConfig(offset: number, _size: number, value: number): void {
    // emerg_wr carries one character; the driver may write it even before feature negotiation.
    if (offset === CONFIG_EMERG_WR) {
      this.ports[0].bytesFromGuest++;
      this.ports[0].port.write(Uint8Array.of(value & 0xff));
    }
  }

  notify(index: number): void {
    if (index === CONTROL_RECEIVEQ) this.flushControl();
    else if (index === CONTROL_TRANSMITQ) this.controlFromGuest();
    else {
      const port = index < 2 ? 0 : (index - 2) >> 1;
      if (port >= this.ports.length) return;
      if (index === receiveQueueOf(port)) this.flushInput(port);
      else this.output(port);
    }
  }

  reset(): void {
    this.driverReady = false;
    this.controlQueue = [];
    for (const p of this.ports) {
      p.ready = false;
      p.guestOpen = false;
      p.pending = [];
      p.pendingHead = 0;
      p.pendingBytes = 0;
      p.heldTx = null;
      p.heldTxAt = 0;
    }
  }

  resetQueue(index: number): void {
    const port = index < 2 ? 0 : (index - 2) >> 1;
    const p = this.ports[port];
    if (p && index === transmitQueueOf(port)) {
      p.heldTx = null;
      p.heldTxAt = 0;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.ports.map((p) => p.port.close()));
  }

  saveState(): VirtioConsoleState {
    return {
      multiport: this.ctx ? this.multiport : false,
      driverReady: this.driverReady,
      pendingControl: this.controlQueue.length,
      controlSent: this.controlSent,
      controlReceived: this.controlReceived,
      badControl: this.badControl,
      droppedControl: this.droppedControl,
      ports: this.ports.map((p) => ({
        name: p.port.name,
        hostConnected: p.port.connected,
        ready: p.ready,
        guestOpen: p.guestOpen,
        pendingBytes: p.pendingBytes,
        bytesToGuest: p.bytesToGuest,
        bytesFromGuest: p.bytesFromGuest,
        droppedBytes: p.droppedBytes,
      })),
    };
  }

  /**
   * Host events arrive outside any register access, so the transport's guard does not cover them; a
   * malformed queue found here must still end as DEVICE_NEEDS_RESET, not as an exception in an I/O
   * callback.
   */
  private hostGuarded(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.ctx?.fail(`host event: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // --- Host to guest -----------------------------------------------------------------------------------

  private input(index: number, bytes: Uint8Array): void {
    const p = this.ports[index];
    const room = PENDING_LIMIT - p.pendingBytes;
    const take = Math.min(room, bytes.length);
    p.droppedBytes += bytes.length - take;
    if (take > 0) {
      // A copy: the port may reuse its buffer once onInput returns.
      p.pending.push(bytes.slice(0, take));
      p.pendingBytes += take;
    }
    this.flushInput(index);
  }

  /** Moves pending host bytes into the port's receive buffers while the guest has the port open. */
  private flushInput(index: number): void {
    const p = this.ports[index];
    if (p.pendingBytes === 0 || !p.guestOpen || !this.ctx?.active) return;
    const qi = receiveQueueOf(index);
    const q = this.ctx.queue(qi);
    const memory = this.ctx.memory;
    let used = false;
    while (p.pendingBytes > 0) {
      const chain = q.pop();
      if (chain === null) break;
      let written = 0;
      while (p.pending.length > 0 && written < chain.writableLength) {
        const chunk = p.pending[0];
        const n = chain.write(memory, chunk.subarray(p.pendingHead), written);
        written += n;
        p.pendingHead += n;
        if (p.pendingHead >= chunk.length) {
          p.pending.shift();
          p.pendingHead = 0;
        }
        if (n === 0) break;
      }
      p.pendingBytes -= written;
      p.bytesToGuest += written;
      q.push(chain.head, written);
      used = true;
    }
    if (used) this.ctx.usedBuffers(qi);
  }

  private connectionChanged(index: number, connected: boolean): void {
    const p = this.ports[index];
    if (this.ctx?.active && this.multiport && p.ready)
      this.sendControl(index, CONTROL.portOpen, connected ? 1 : 0);
  }

  // --- Guest to host -----------------------------------------------------------------------------------

  /**
   * Moves guest output to the port: at most TX_STEP_BYTES per step, and nothing while the port's host
   * side is backed up. A chain larger than what is left of the step is taken in parts.
   */
  private output(index: number): void {
    const p = this.ports[index];
    const qi = transmitQueueOf(index);
    const q = this.ctx.queue(qi);
    const memory = this.ctx.memory;
    const chunks: Uint8Array[] = [];
    let total = 0;
    let used = false;
    while (total < TX_STEP_BYTES && p.port.writable !== false) {
      const chain = p.heldTx ?? q.pop();
      p.heldTx = null;
      if (chain === null) break;
      const left = chain.readableLength - p.heldTxAt;
      const n = Math.min(left, TX_STEP_BYTES - total);
      if (n > 0) {
        const bytes = new Uint8Array(n);
        chain.read(memory, bytes, p.heldTxAt);
        chunks.push(bytes);
        total += n;
      }
      if (n < left) {
        p.heldTx = chain;
        p.heldTxAt += n;
        break;
      }
      p.heldTxAt = 0;
      q.push(chain.head, 0);
      used = true;
    }
    if (total > 0) {
      p.bytesFromGuest += total;
      // One write per step, so a socket sees the guest's burst as one chunk.
      p.port.write(chunks.length === 1 ? chunks[0] : concat(chunks, total));
    }
    // Out of budget with output left: the next step goes on. A backed-up port calls onWritable instead.
    if (p.port.writable !== false && (p.heldTx !== null || q.hasAvailable())) this.ctx.defer(qi);
    if (used) this.ctx.usedBuffers(qi);
  }

  // --- Control queues ----------------------------------------------------------------------------------

  private controlFromGuest(): void {
    const q = this.ctx.queue(CONTROL_TRANSMITQ);
    const memory = this.ctx.memory;
    const message = new Uint8Array(CONTROL_SIZE);
    const view = new DataView(message.buffer);
    let used = false;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      q.push(chain.head, 0);
      used = true;
      if (chain.read(memory, message) < CONTROL_SIZE) {
        this.badControl++;
        continue;
      }
      this.controlReceived++;
      this.handleControl(view.getUint32(0, true), view.getUint16(4, true), view.getUint16(6, true));
    }
    if (used) this.ctx.usedBuffers(CONTROL_TRANSMITQ);
  }

  private handleControl(id: number, event: number, value: number): void {
    if (!this.multiport) {
      this.badControl++;
      return;
    }
    if (event === CONTROL.deviceReady) {
      if (value !== 1 || this.driverReady) return;
      this.driverReady = true;
      for (let i = 0; i < this.ports.length; i++) this.sendControl(i, CONTROL.deviceAdd, 1);
      return;
    }
    const p = this.ports[id];
    if (id >= this.ports.length || p === undefined) {
      this.badControl++;
      return;
    }
    switch (event) {
      case CONTROL.portReady:
        // value 0: the driver could not set the port up; it stays unknown to the guest.
        if (value !== 1 || p.ready) return;
        p.ready = true;
        if (id === 0) this.sendControl(id, CONTROL.consolePort, 1);
        else if (p.port.name) {
          this.sendControl(id, CONTROL.portName, 1, new TextEncoder().encode(p.port.name));
        }
        if (p.port.connected) this.sendControl(id, CONTROL.portOpen, 1);
        return;
      case CONTROL.portOpen:
        p.guestOpen = value === 1;
        if (p.guestOpen) this.flushInput(id);
        return;
      default:
        this.badControl++;
    }
  }

  private sendControl(id: number, event: number, value: number, extra?: Uint8Array): void {
    if (event === CONTROL.portOpen) {
      // Only the latest open state matters; replacing a queued one keeps the queue bounded by port count.
      const queued = this.controlQueue.find((m) => m.id === id && m.event === CONTROL.portOpen);
      if (queued) {
        queued.value = value;
        this.flushControl();
        return;
      }
    }
    if (this.controlQueue.length >= CONTROL_PENDING_LIMIT) this.droppedControl++;
    else this.controlQueue.push({ id, event, value, extra });
    this.flushControl();
  }

  private flushControl(): void {
    if (this.controlQueue.length === 0 || !this.ctx.active) return;
    const q = this.ctx.queue(CONTROL_RECEIVEQ);
    const memory = this.ctx.memory;
    let used = false;
    while (this.controlQueue.length > 0) {
      const chain = q.pop();
      if (chain === null) break;
      const m = this.controlQueue.shift() as ControlMessage;
      const bytes = new Uint8Array(CONTROL_SIZE + (m.extra?.length ?? 0));
      const view = new DataView(bytes.buffer);
      view.setUint32(0, m.id, true);
      view.setUint16(4, m.event, true);
      view.setUint16(6, m.value, true);
      if (m.extra) bytes.set(m.extra, CONTROL_SIZE);
      // A buffer too small for the message gets what fits: the driver sees the short length.
      q.push(chain.head, chain.write(memory, bytes));
      this.controlSent++;
      used = true;
    }
    if (used) this.ctx.usedBuffers(CONTROL_RECEIVEQ);
  }
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
