/**
 * An in-process Ethernet switch between the NICs of VMs, with every port bound to the MAC address its
 * NIC was configured with, as cloud virtual switches do (port security, anti-spoofing):
 *
 * - A frame whose source address is not its port's own is dropped and counted. A guest therefore
 *   cannot pose as a neighbour to divert the neighbour's unicast, nor spray source addresses.
 * - The address table is the set of bound addresses, one per port, filled when a port connects and
 *   never from traffic. Its size is the port count, capped per switch (MAX_PORTS), so no sequence of
 *   frames grows it or moves an entry.
 * - Unicast goes only to the port that owns the destination. A destination no port owns is dropped
 *   (counted), not flooded: every address on the switch is known, so flooding would only hand the
 *   frame to guests it is not for. Broadcast and multicast go to every other port.
 * - A frame never goes back out of the port it came in on and never leaves its switch: switches with
 *   different names are separate networks.
 *
 * Delivery is synchronous: a receiver's onReceive runs inside the sender's send(). Receivers must not
 * mutate the frame (every port gets the same bytes) and must not call back into the sender's device
 * synchronously; VirtioNet only queues the frame there and writes guest RAM from a microtask.
 */
import { formatMac } from './mac.js';
import type { NetBackend } from './net-backend.js';

/** Ports (and so table entries) per switch: 128 VMs with 8 NICs each. */
export const MAX_SWITCH_PORTS = 1024;
const ETH_HEADER = 14;

/** A MAC address as one number (48 bits fit a double exactly), so lookups allocate nothing. */
function macKey(bytes: Uint8Array, at: number): number {
  const high = (bytes[at] << 8) | bytes[at + 1];
  const low = ((bytes[at + 2] << 24) | (bytes[at + 3] << 16) | (bytes[at + 4] << 8) | bytes[at + 5]) >>> 0;
  return high * 0x1_0000_0000 + low;
}

/** What a switch did with the frames its ports sent. */
export interface SwitchCounters {
  /** Unicast frames delivered to the one port that owns the destination. */
  forwarded: number;
  /** Broadcast and multicast frames delivered to every other port. */
  flooded: number;
  /** Runts (shorter than an Ethernet header) and frames addressed to their own port. */
  dropped: number;
  /** Frames whose source address was not their port's: never delivered anywhere. */
  spoofed: number;
  /** Unicast frames to an address no port owns. */
  unknownDestination: number;
}

/** A NIC's port on a switch. */
export interface SwitchPort extends NetBackend {
  /** The only source address this port may send from. */
  readonly mac: Uint8Array;
  /** Frames this port sent with another source address (dropped). */
  readonly framesSpoofed: number;
}

class Port implements SwitchPort {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly key: number;
  linkUp = true;
  framesSpoofed = 0;
  onReceive: (frame: Uint8Array) => void = () => {};
  onLinkChange: (up: boolean) => void = () => {};
  private readonly owner: VirtualSwitch;

  constructor(owner: VirtualSwitch, label: string, mac: Uint8Array) {
    this.owner = owner;
    this.mac = mac.slice();
    this.key = macKey(this.mac, 0);
    this.name = `switch ${owner.name} (${label}, ${formatMac(mac)})`;
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
  private readonly ports = new Set<Port>();
  /** Bound MAC (as macKey) -> its port: exactly one entry per connected port. */
  private readonly table = new Map<number, Port>();
  private readonly log: (message: string) => void;
  readonly counters: SwitchCounters = {
    forwarded: 0,
    flooded: 0,
    dropped: 0,
    spoofed: 0,
    unknownDestination: 0,
  };

  /** `log` hears of each port's first spoofed frame (later ones are only counted). */
  constructor(name: string, log: (message: string) => void = () => {}) {
    this.name = name;
    this.log = log;
  }

  /**
   * A new port that may send only from `mac` (its NIC's configured address); `label` names it in
   * messages (e.g. "vm nic 0"). Throws when the address is not a unicast MAC, another port already
   * owns it, or the switch is full.
   */
  connect(label: string, mac: Uint8Array): SwitchPort {
    const where = `switch ${this.name} (${label})`;
    if (mac.length !== 6) throw new Error(`${where}: a MAC address has 6 bytes, not ${mac.length}`);
    if (mac[0] & 1) throw new Error(`${where}: mac ${formatMac(mac)} is a multicast address`);
    const owner = this.table.get(macKey(mac, 0));
    if (owner !== undefined) {
      throw new Error(`${where}: mac ${formatMac(mac)} is already on this switch (${owner.name})`);
    }
    if (this.ports.size >= MAX_SWITCH_PORTS) {
      throw new Error(`${where}: the switch already has its maximum of ${MAX_SWITCH_PORTS} ports`);
    }
    const port = new Port(this, label, mac);
    this.ports.add(port);
    this.table.set(port.key, port);
    return port;
  }

  get portCount(): number {
    return this.ports.size;
  }

  /** Entries in the address table (one per port, whatever the ports send). */
  get tableSize(): number {
    return this.table.size;
  }

  /** @internal Called by a port's send(). */
  forward(from: Port, frame: Uint8Array): void {
    const c = this.counters;
    if (frame.length < ETH_HEADER) {
      c.dropped++;
      return;
    }
    if (macKey(frame, 6) !== from.key) {
      c.spoofed++;
      if (from.framesSpoofed++ === 0) {
        this.log(
          `${from.name}: dropped a frame from ${formatMac(frame.subarray(6, 12))}; a port may only send from its own mac (further ones are only counted)`,
        );
      }
      return;
    }
    if ((frame[0] & 1) === 0) {
      const to = this.table.get(macKey(frame, 0));
      if (to === undefined) c.unknownDestination++;
      else if (to === from) c.dropped++;
      else {
        c.forwarded++;
        to.onReceive(frame);
      }
      return;
    }
    c.flooded++;
    for (const port of this.ports) if (port !== from) port.onReceive(frame);
  }

  /** @internal Called by a port's close(): the port and its address leave the switch. */
  detach(port: Port): void {
    this.ports.delete(port);
    if (this.table.get(port.key) === port) this.table.delete(port.key);
  }
}

/** The switches of one process, by name: VMs naming the same switch share it. */
export class SwitchRegistry {
  private readonly switches = new Map<string, VirtualSwitch>();
  private readonly log: (message: string) => void;

  constructor(log: (message: string) => void = () => {}) {
    this.log = log;
  }

  get(name: string): VirtualSwitch {
    let s = this.switches.get(name);
    if (!s) {
      s = new VirtualSwitch(name, this.log);
      this.switches.set(name, s);
    }
    return s;
  }
}
