/**
 * The device flags of `typervisor run`, in QEMU's spirit: a comma-separated list whose first item may be
 * a bare path, then key=value or bare switches. Parsing only checks syntax; files, sockets and switches
 * are opened by virtio-devices.ts.
 */

export type { ConsolePortSpec, DiskSpec, NetAttachment, NetSpec, ShareSpec } from '../vmm/device-specs.js';

import { parseMac } from '../net/mac.js';
import type { ConsolePortSpec, DiskSpec, NetAttachment, NetSpec, ShareSpec } from '../vmm/device-specs.js';

export class FlagError extends Error {}

function macFlag(text: string, flag: string): Uint8Array {
  try {
    return parseMac(text, flag);
  } catch (e) {
    throw new FlagError((e as Error).message);
  }
}

interface Parsed {
  bare: string[];
  keys: Map<string, string>;
  switches: Set<string>;
}

function split(flag: string, text: string, allowedKeys: string[], allowedSwitches: string[]): Parsed {
  const parsed: Parsed = { bare: [], keys: new Map(), switches: new Set() };
  // ",," stands for a literal comma, as in QEMU's option syntax.
  const items = text
    .replaceAll(',,', '\u0000')
    .split(',')
    .map((s) => s.replaceAll('\u0000', ','));
  items.forEach((item, i) => {
    const eq = item.indexOf('=');
    if (eq > 0) {
      const key = item.slice(0, eq);
      if (!allowedKeys.includes(key)) {
        throw new FlagError(
          `${flag} ${text}: unknown key '${key}' (expected ${allowedKeys.join(', ') || 'none'})`,
        );
      }
      if (parsed.keys.has(key)) throw new FlagError(`${flag} ${text}: '${key}' given twice`);
      parsed.keys.set(key, item.slice(eq + 1));
    } else if (allowedSwitches.includes(item)) {
      parsed.switches.add(item);
    } else if (i === 0 && item !== '') {
      parsed.bare.push(item);
    } else {
      throw new FlagError(`${flag} ${text}: unexpected '${item}'`);
    }
  });
  return parsed;
}

export function parseDisk(text: string): DiskSpec {
  const p = split('--disk', text, ['file', 'serial'], ['ro', 'rw']);
  const path = p.keys.get('file') ?? p.bare[0];
  if (!path) throw new FlagError(`--disk ${text}: no image file (--disk PATH[,ro][,serial=S])`);
  const serial = p.keys.get('serial');
  // The serial is a 20-byte field in the device (VIRTIO_BLK_ID_BYTES).
  if (serial !== undefined && (serial.length === 0 || serial.length > 20 || !/^[\x20-\x7e]+$/.test(serial))) {
    throw new FlagError(`--disk ${text}: serial must be 1..20 printable ASCII characters`);
  }
  return { kind: 'disk', path, readOnly: p.switches.has('ro'), serial };
}

function parsePort(text: string, flag: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new FlagError(`${flag}: port '${text}' is not 0..65535`);
  return port;
}

export function parseNet(text: string): NetSpec {
  const flag = `--net ${text}`;
  const p = split('--net', text, ['switch', 'socket', 'listen', 'mac'], []);
  if (p.bare.length)
    throw new FlagError(`${flag}: expected switch=NAME, socket=HOST:PORT or listen=[HOST:]PORT`);
  const chosen = ['switch', 'socket', 'listen'].filter((k) => p.keys.has(k));
  if (chosen.length !== 1) throw new FlagError(`${flag}: give exactly one of switch=, socket=, listen=`);
  let attachment: NetAttachment;
  const value = p.keys.get(chosen[0]) ?? '';
  if (chosen[0] === 'switch') {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(value))
      throw new FlagError(`${flag}: switch name must be 1..64 of A-Z a-z 0-9 _ . -`);
    attachment = { type: 'switch', name: value };
  } else {
    const colon = value.lastIndexOf(':');
    const host = colon >= 0 ? value.slice(0, colon) : '';
    const port = parsePort(colon >= 0 ? value.slice(colon + 1) : value, flag);
    if (chosen[0] === 'socket') {
      if (!host) throw new FlagError(`${flag}: socket= needs HOST:PORT`);
      attachment = { type: 'connect', host, port };
    } else {
      attachment = { type: 'listen', host: host || '127.0.0.1', port };
    }
  }
  const mac = p.keys.get('mac');
  return { kind: 'net', attachment, mac: mac === undefined ? undefined : macFlag(mac, flag) };
}

export function parseShare(text: string): ShareSpec {
  const p = split('--share', text, ['path', 'tag'], ['ro', 'rw']);
  const path = p.keys.get('path') ?? p.bare[0];
  const tag = p.keys.get('tag');
  if (!path) throw new FlagError(`--share ${text}: no folder (--share PATH,tag=TAG[,ro])`);
  // The mount tag travels in a 16-bit-length config field; Linux matches it with the mount source.
  if (!tag || tag.length > 64 || !/^[\x21-\x7e]+$/.test(tag)) {
    throw new FlagError(`--share ${text}: tag= must be 1..64 printable characters without spaces`);
  }
  return { kind: 'share', path, tag, readOnly: p.switches.has('ro') };
}

export function parseConsolePort(text: string): ConsolePortSpec {
  const p = split('--port', text, ['name', 'socket'], []);
  const name = p.keys.get('name') ?? p.bare[0];
  if (!name || !/^[\x21-\x7e]{1,127}$/.test(name)) {
    throw new FlagError(
      `--port ${text}: name must be 1..127 printable characters (--port NAME[,socket=PATH])`,
    );
  }
  return { name, socket: p.keys.get('socket') };
}
