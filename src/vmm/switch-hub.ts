/**
 * Virtual switches shared by VMs that run in different runners. The switches themselves (the learning
 * bridges of src/net/virtual-switch.ts) live in the manager process; each switch listens on a Unix
 * socket, and every NIC of every runner is one connection to it, carrying frames in the QEMU stream
 * framing of src/net/stream-socket.ts (4-byte big-endian length, then the frame). A socket rather than
 * the runner's IPC channel keeps frames off the control channel, needs no extra hop through the
 * manager's message handling, and works the same for process and thread runners.
 */
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetBackend } from '../net/net-backend.js';
import { FrameReader } from '../net/stream-socket.js';
import { VirtualSwitch } from '../net/virtual-switch.js';

/** Frames are dropped, not queued without bound, while a peer does not read. */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
/** sun_path holds 108 bytes on Linux, 104 on macOS; longer paths fail to bind. */
const MAX_SOCKET_PATH = 100;

function writeFrame(socket: Socket, frame: Uint8Array): boolean {
  if (socket.destroyed || socket.writableLength > MAX_UNSENT_BYTES) return false;
  const out = Buffer.allocUnsafe(4 + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, 4);
  socket.write(out);
  return true;
}

interface HubSwitch {
  vswitch: VirtualSwitch;
  server: Server;
  path: string;
  sockets: Set<Socket>;
}

/**
 * The manager's side: one listening socket per switch name, bridged by a VirtualSwitch. Whoever can
 * connect to a switch's socket is on that LAN, so the sockets live in directories only the daemon's
 * user can enter (mode 0700).
 */
export class SwitchHub {
  private readonly dir: string;
  private readonly switches = new Map<string, Promise<HubSwitch>>();
  private readonly log: (message: string) => void;
  /** A private directory of our own in the temp dir, made when a socket path under `dir` is too long. */
  private tempDir: string | null = null;

  constructor(dir: string, log: (message: string) => void = () => {}) {
    this.dir = dir;
    this.log = log;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }

  /**
   * Where a switch's socket lives: under the data dir, or, if that path is too long for a socket, in a
   * fresh directory of the temp dir that mkdtemp made for this hub (0700, nobody else's files in it).
   */
  socketPath(name: string): string {
    const path = join(this.dir, `${name}.sock`);
    if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return path;
    this.tempDir ??= mkdtempSync(join(tmpdir(), 'typervisor-'));
    const hash = createHash('sha256').update(name).digest('hex').slice(0, 16);
    return join(this.tempDir, `${hash}.sock`);
  }

  /** The switch's socket path, listening once this resolves. */
  async ensure(name: string): Promise<string> {
    let pending = this.switches.get(name);
    if (!pending) {
      pending = this.listen(name);
      this.switches.set(name, pending);
      pending.catch(() => this.switches.delete(name));
    }
    return (await pending).path;
  }

  private listen(name: string): Promise<HubSwitch> {
    const path = this.socketPath(name);
    // A socket file left by a daemon that died: nobody listens on it any more. Anything else at the
    // path is not ours to delete (listen then fails with EADDRINUSE, naming the path).
    try {
      if (lstatSync(path).isSocket()) rmSync(path, { force: true });
    } catch {}
    const vswitch = new VirtualSwitch(name);
    const sockets = new Set<Socket>();
    const server = createServer((socket) => this.adopt(vswitch, sockets, socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        server.on('error', (e) => this.log(`switch ${name}: ${e.message}`));
        resolve({ vswitch, server, path, sockets });
      });
    });
  }

  private adopt(vswitch: VirtualSwitch, sockets: Set<Socket>, socket: Socket): void {
    sockets.add(socket);
    const port = vswitch.connect(`hub port ${sockets.size}`);
    port.onReceive = (frame) => {
      writeFrame(socket, frame);
    };
    const reader = new FrameReader((frame) => port.send(frame));
    socket.on('data', (chunk: Buffer) => {
      // A runner speaking garbage loses its port; the switch and the other ports carry on.
      if (!reader.push(chunk)) socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      void port.close();
    });
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.switches.values());
    this.switches.clear();
    for (const r of all) {
      if (r.status !== 'fulfilled') continue;
      const s = r.value;
      for (const socket of s.sockets) socket.destroy();
      await new Promise<void>((resolve) => s.server.close(() => resolve()));
      rmSync(s.path, { force: true });
    }
    if (this.tempDir !== null) rmSync(this.tempDir, { recursive: true, force: true });
    this.tempDir = null;
  }
}

/** How long a NIC waits before dialling its switch again after the connection failed or dropped. */
const RECONNECT_MS = 1000;

/** The runner's side of one NIC: a stream to the hub's socket, link up while connected. */
export class HubPort implements NetBackend {
  readonly name: string;
  onReceive: (frame: Uint8Array) => void = () => {};
  onLinkChange: (up: boolean) => void = () => {};
  framesDropped = 0;
  private socket: Socket | null = null;
  private closed = false;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private readonly path: string;

  constructor(switchName: string, path: string, label: string) {
    this.name = `switch ${switchName} (${label})`;
    this.path = path;
    this.dial();
  }

  get linkUp(): boolean {
    return this.socket !== null;
  }

  private dial(): void {
    this.retry = null;
    if (this.closed) return;
    const socket = createConnection(this.path);
    const reader = new FrameReader((frame) => this.onReceive(frame));
    socket.on('connect', () => {
      if (this.closed) {
        socket.destroy();
        return;
      }
      this.socket = socket;
      this.onLinkChange(true);
    });
    socket.on('data', (chunk: Buffer) => {
      if (!reader.push(chunk)) socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      const wasUp = this.socket === socket;
      if (wasUp) this.socket = null;
      if (this.closed) return;
      if (wasUp) this.onLinkChange(false);
      this.retry = setTimeout(() => this.dial(), RECONNECT_MS);
    });
  }

  send(frame: Uint8Array): void {
    if (this.socket === null || !writeFrame(this.socket, frame)) this.framesDropped++;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    const socket = this.socket;
    this.socket = null;
    if (socket) await new Promise<void>((resolve) => socket.destroy().once('close', () => resolve()));
  }
}

/** The SwitchPorts a runner hands to createVirtioDevices: each switch name maps to a hub socket. */
export function hubSwitchPorts(sockets: Record<string, string>): {
  get(name: string): { connect(label: string): NetBackend };
} {
  return {
    get(name: string) {
      const path = sockets[name];
      if (path === undefined) throw new Error(`switch ${name}: the manager gave no socket for it`);
      return { connect: (label: string) => new HubPort(name, path, label) };
    },
  };
}
