/** Ethernet MAC addresses as the flags, the VM definitions and the NIC model see them. */

/**
 * Six bytes from "52:54:00:12:34:56"; throws an Error naming `what` for anything else, or for a
 * multicast address (a NIC's own address must be unicast).
 */
export function parseMac(text: string, what: string): Uint8Array {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(
    text,
  );
  if (!m) throw new Error(`${what}: mac '${text}' is not six hex bytes like 52:54:00:12:34:56`);
  const mac = Uint8Array.from(m.slice(1).map((h) => Number.parseInt(h, 16)));
  if (mac[0] & 1) throw new Error(`${what}: mac '${text}' is a multicast address`);
  return mac;
}

/** A random MAC under QEMU's 52:54:00 prefix, so that two VMs on one switch never collide by default. */
export function randomMac(): Uint8Array {
  const mac = new Uint8Array(6);
  mac.set([0x52, 0x54, 0x00]);
  crypto.getRandomValues(mac.subarray(3));
  return mac;
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}
