/** STUB: host sides of virtio-console ports. */
import type { CharPort } from '../machine/devices/virtio/char-port.js';

export async function unixSocketPort(name: string, path: string): Promise<CharPort> {
  throw new Error(`--port ${name}: socket ${path}: not implemented yet`);
}

export function nullPort(name: string): CharPort {
  throw new Error(`--port ${name}: not implemented yet`);
}
