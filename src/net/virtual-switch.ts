/**
 * An in-process Ethernet switch: a learning bridge (IEEE 802.1D without spanning tree) between the
 * NICs of the VMs in one process. It learns which port each source MAC address lives behind, sends a
 * unicast frame only to that port once known and floods it to every other port until then; broadcast
 * and multicast frames always flood. A frame never goes back out of the port it came in on, and never
 * leaves its switch: switches with different names are separate networks.
 *
 * Delivery is synchronous: a receiver's onReceive runs inside the sender's send(). Receivers must not
 * mutate the frame (every port gets the same bytes) and must not call back into the sender's device
 * synchronously; VirtioNet only queues the frame there and writes guest RAM from a microtask.
 */
import type { NetBackend } from './net-backend.js';

/** Bounds the learned table so that a guest spraying random source addresses costs bounded memory. */
const MAX_LEARNED = 4096;
const ETH_HEADER = 14;

/** A MAC address as one number (48 bits fit a double exactly), so lookups allocate nothing. */
function macKey(frame: Uint8Array, at: number): number {
  const high = (frame[at] << 8) | frame[at + 1];
  const low = ((frame[at + 2] << 24) | (frame[at + 3] << 16) | (frame[at + 4] << 8) | frame[at + 5]) >>> 0;
  return high * 0x1_0000_0000 + low;
}

class SwitchPort implements NetBackend {
  readonly name: string;
  linkUp = true;
  onReceive: (frame: Uint8Array) => void = () => {};
  onLinkChange: (up: boolean) => void = () => {};
  private readonly owner: VirtualSwitch;

  constructor(owner: VirtualSwitch, label: string) {
    this.owner = owner;
    this.name = `switch ${owner.name} (${label})`;
  }

  send(frame: Uint8Array): void {
    if (this.linkUp) this.owner.forward(this, frame);
  }

  async close(): Promise<void> {
    if (!this.linkUp) return;
    this.linkUp = false;
    this.owner.detach(this);
  }
}

export class VirtualSwitch {
  readonly name: string;
  private readonly ports = new Set<SwitchPort>();
  /** Source MAC (as macKey) -> the port it was last seen on, oldest first. */
  private readonly learned = new Map<number, SwitchPort>();
  framesForwarded = 0;
  framesFlooded = 0;
  framesDropped = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** A new port; `label` names it in messages (e.g. "vm nic 0"). */
  connect(label: string): NetBackend {
    const port = new SwitchPort(this, label);
    this.ports.add(port);
    return port;
  }

  get portCount(): number {
    return this.ports.size;
  }

  /** @internal Called by a port's send(). */
  forward(from: SwitchPort, frame: Uint8Array): void {
    if (frame.length < ETH_HEADER) {
      this.framesDropped++;
      return;
    }
    // Only unicast source addresses are learnt: a multicast source is malformed and must not steer traffic.
    if ((frame[6] & 1) === 0) this.learn(macKey(frame, 6), from);
    if ((frame[0] & 1) === 0) {
      const to = this.learned.get(macKey(frame, 0));
      if (to === from) {
        // The destination sits behind the port the frame came from: a bridge filters it.
        this.framesDropped++;
        return;
      }
      if (to !== undefined) {
        this.framesForwarded++;
        to.onReceive(frame);
        return;
      }
    }
    this.framesFlooded++;
    for (const port of this.ports) if (port !== from) port.onReceive(frame);
  }

  private learn(key: number, port: SwitchPort): void {
    const known = this.learned.get(key);
    if (known === port) return;
    if (known !== undefined) this.learned.delete(key);
    else if (this.learned.size >= MAX_LEARNED) {
      const oldest = this.learned.keys().next();
      if (!oldest.done) this.learned.delete(oldest.value);
    }
    this.learned.set(key, port);
  }

  /** @internal Called by a port's close(): the port leaves and the addresses learnt on it are forgotten. */
  detach(port: SwitchPort): void {
    this.ports.delete(port);
    for (const [key, p] of this.learned) if (p === port) this.learned.delete(key);
  }
}

/** The switches of one process, by name: VMs naming the same switch share it. */
export class SwitchRegistry {
  private readonly switches = new Map<string, VirtualSwitch>();
  get(name: string): VirtualSwitch {
    let s = this.switches.get(name);
    if (!s) {
      s = new VirtualSwitch(name);
      this.switches.set(name, s);
    }
    return s;
  }
}
