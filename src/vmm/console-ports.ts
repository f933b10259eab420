/**
 * Host sides of virtio-console ports: a Unix socket a host program connects to (as QEMU's
 * `-chardev socket,server=on`), or nothing at all.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { CharPort } from '../machine/devices/virtio/char-port.js';

/** Unsent bytes at which a port asks the guest to wait (CharPort.writable turns false). */
export const PORT_BACKPRESSURE_BYTES = 256 * 1024;
/** Unsent bytes beyond which a port drops what the guest writes anyway (emergency writes ignore `writable`). */
export const PORT_DROP_BYTES = 1024 * 1024;

class UnixSocketPort implements CharPort {
  readonly name: string;
  readonly path: string;
  onInput: (bytes: Uint8Array) => void = () => {};
  onConnectionChange: (connected: boolean) => void = () => {};
  onWritable: () => void = () => {};
  /** Guest bytes dropped because the client did not read them. */
  droppedBytes = 0;
  private readonly server: Server;
  private client: Socket | null = null;
  private closed = false;

  constructor(name: string, path: string, server: Server) {
    this.name = name;
    this.path = path;
    this.server = server;
    server.on('connection', (socket) => this.accept(socket));
    // Errors after listening (e.g. EMFILE on accept) must not crash the VM; the port just stays idle.
    server.on('error', () => {});
  }

  get connected(): boolean {
    return this.client !== null;
  }

  get writable(): boolean {
    return this.client === null || this.client.writableLength < PORT_BACKPRESSURE_BYTES;
  }

  private accept(socket: Socket): void {
    // One client at a time, like a serial line: a second one is turned away rather than left waiting
    // with bytes it cannot know were not delivered.
    if (this.client !== null || this.closed) {
      socket.destroy();
      return;
    }
    this.client = socket;
    socket.on('data', (b: Buffer) => {
      if (this.client === socket) this.onInput(new Uint8Array(b.buffer, b.byteOffset, b.length));
    });
    socket.on('error', () => {});
    socket.on('drain', () => {
      if (this.client === socket) this.onWritable();
    });
    socket.on('close', () => {
      if (this.client !== socket) return;
      this.client = null;
      if (!this.closed) {
        this.onConnectionChange(false);
        // Output held back for the gone client now goes nowhere; the guest must not wait for it.
        this.onWritable();
      }
    });
    this.onConnectionChange(true);
  }

  write(bytes: Uint8Array): void {
    const c = this.client;
    if (!c?.writable) return;
    if (c.writableLength + bytes.length > PORT_DROP_BYTES) {
      this.droppedBytes += bytes.length;
      return;
    }
    c.write(bytes);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client?.destroy();
    this.client = null;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    removeSocket(this.path);
  }
}

/** Removes a leftover socket file; anything else at `path` is refused, never deleted. */
function removeStaleSocket(path: string): void {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!stat.isSocket()) {
    throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  }
  unlinkSync(path);
}

function removeSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Already gone (or removed by someone else): nothing to clean up.
  }
}

/**
 * A port whose host side is a Unix socket listening at `path`; connected while a client is attached.
 * Errors name the path but not the flag: the caller knows which flag it was.
 */
export async function unixSocketPort(name: string, path: string): Promise<CharPort> {
  removeStaleSocket(path);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    const failed = (e: Error) => reject(new Error(`cannot listen on ${path}: ${e.message}`));
    server.once('error', failed);
    server.listen(path, () => {
      server.off('error', failed);
      resolve();
    });
  });
  return new UnixSocketPort(name, path, server);
}

/** A port with nothing attached: the guest sees it closed, and what it writes is discarded. */
export function nullPort(name: string): CharPort {
  return {
    name,
    connected: false,
    onInput: () => {},
    onConnectionChange: () => {},
    write: () => {},
    close: async () => {},
  };
}
