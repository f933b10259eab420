/**
 * Turns device specs (from `typervisor run` flags or a VM definition) into virtio device models with their host backends
 * (image files, switches, sockets, folders). Order on the board: disks, NICs, shares, the console,
 * then the entropy device, each kind in the order its flags were given; QEMU fills the slots the same
 * way for the same order of -device flags.
 */

import { Virtio9p } from '../machine/devices/virtio/9p.js';
import { VirtioBlk } from '../machine/devices/virtio/blk.js';
import type { CharPort } from '../machine/devices/virtio/char-port.js';
import { VirtioConsole } from '../machine/devices/virtio/console.js';
import type { VirtioDevice } from '../machine/devices/virtio/device.js';
import { VirtioNet } from '../machine/devices/virtio/net.js';
import { VirtioRng } from '../machine/devices/virtio/rng.js';
import { randomMac } from '../net/mac.js';
import type { NetBackend } from '../net/net-backend.js';
import { connectStream, listenStream } from '../net/stream-socket.js';
import type { BlockBackend } from '../storage/block-backend.js';
import { openRawDisk } from '../storage/raw-file.js';
import { SharedFolder } from '../storage/shared-folder.js';
import { nullPort, unixSocketPort } from './console-ports.js';
import type { ConsolePortSpec, DiskSpec, NetSpec, ShareSpec } from './device-specs.js';

export interface DeviceFlags {
  disks: DiskSpec[];
  nets: NetSpec[];
  shares: ShareSpec[];
  /** A virtio console whose first port (hvc0) is this host stream, if any. */
  consolePort?: CharPort;
  /** Extra named console ports. */
  ports: ConsolePortSpec[];
  rng: boolean;
}

export class DeviceSetupError extends Error {}

/**
 * Where `switch=NAME` NICs plug in: an in-process SwitchRegistry for `typervisor run`; the VM manager's
 * runners pass ports that reach the daemon's switches over a socket. A port is bound to the NIC's MAC:
 * the switch drops frames from any other source address.
 */
export interface SwitchPorts {
  get(name: string): { connect(label: string, mac: Uint8Array): NetBackend };
}

/**
 * Optional layers between a device and its backend (the VM manager's rate limiters): each gets the
 * opened backend and returns the one the device uses, which must close the original when closed.
 */
export interface BackendWrappers {
  disk?: (backend: BlockBackend) => BlockBackend;
  net?: (backend: NetBackend) => NetBackend;
}

async function attempt<T>(what: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (e) {
    throw new DeviceSetupError(`${what}: ${(e as Error).message}`);
  }
}

/**
 * Opens every backend and builds the devices. On failure, whatever was opened is closed again and the
 * error names the flag that failed.
 */
export async function createVirtioDevices(
  flags: DeviceFlags,
  switches: SwitchPorts,
  wrap: BackendWrappers = {},
): Promise<VirtioDevice[]> {
  const devices: VirtioDevice[] = [];
  const opened: { close(): Promise<void> }[] = [];
  try {
    for (const disk of flags.disks) {
      const backend = await attempt(disk.label ?? '--disk', () =>
        openRawDisk(disk.path, { readOnly: disk.readOnly, identity: disk.identity }),
      );
      opened.push(backend);
      devices.push(new VirtioBlk(wrap.disk ? wrap.disk(backend) : backend, { serial: disk.serial }));
    }
    for (const net of flags.nets) {
      const a = net.attachment;
      const mac = net.mac ?? randomMac();
      let backend: NetBackend;
      if (a.type === 'switch') {
        const label = `vm nic ${devices.length}`;
        backend = await attempt('--net', async () => switches.get(a.name).connect(label, mac));
      } else if (a.type === 'connect') backend = await attempt('--net', () => connectStream(a.host, a.port));
      else backend = await attempt('--net', () => listenStream(a.host, a.port));
      opened.push(backend);
      devices.push(new VirtioNet(wrap.net ? wrap.net(backend) : backend, { mac }));
    }
    for (const share of flags.shares) {
      // The share compares the directory it holds open with the one the daemon checked.
      const folder = await attempt(share.label ?? '--share', () =>
        SharedFolder.open(share.path, { readOnly: share.readOnly, identity: share.identity }),
      );
      // The share holds its root descriptor and part of the process's descriptor budget.
      opened.push(folder);
      devices.push(new Virtio9p(folder, { tag: share.tag }));
    }
    if (flags.consolePort || flags.ports.length) {
      const ports: CharPort[] = [flags.consolePort ?? nullPort('console')];
      for (const spec of flags.ports) {
        const port = spec.socket
          ? await attempt(`--port ${spec.name}`, () => unixSocketPort(spec.name, spec.socket as string))
          : nullPort(spec.name);
        opened.push(port);
        ports.push(port);
      }
      devices.push(new VirtioConsole(ports));
    }
    if (flags.rng) devices.push(new VirtioRng());
  } catch (e) {
    await Promise.allSettled(opened.map((o) => o.close()));
    throw e instanceof DeviceSetupError ? e : new DeviceSetupError((e as Error).message);
  }
  return devices;
}
