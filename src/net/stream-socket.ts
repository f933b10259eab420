/**
 * A network cable over TCP, compatible with QEMU's `-netdev socket,connect=/listen=` and
 * `-netdev stream`: each Ethernet frame travels as a 4-byte big-endian length followed by the frame.
 * One side listens and the other connects; the link is up while the connection is.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { NetBackend } from './net-backend.js';

/**
 * The longest frame accepted from a peer. QEMU sends at most 64 KiB plus a virtio-net header; a larger
 * length means the peer speaks another protocol (or is hostile), so the connection is dropped instead
 * of allocating what it asks for.
 */
export const MAX_STREAM_FRAME = 65536 + 64;
/** Frames are dropped, not queued without bound, while the peer does not read (send never blocks). */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;

/** Splits a byte stream into length-prefixed frames, whatever the chunk boundaries. */
export class FrameReader {
  private readonly header = new Uint8Array(4);
  private headerFill = 0;
  private frame: Uint8Array | null = null;
  private frameFill = 0;
  private readonly deliver: (frame: Uint8Array) => void;

  constructor(deliver: (frame: Uint8Array) => void) {
    this.deliver = deliver;
  }

  /** Consumes a chunk; returns false (and stops) at a length no frame can have. */
  push(chunk: Uint8Array): boolean {
    let at = 0;
    while (at < chunk.length) {
      if (this.frame === null) {
        while (this.headerFill < 4 && at < chunk.length) this.header[this.headerFill++] = chunk[at++];
        if (this.headerFill < 4) return true;
        this.headerFill = 0;
        const h = this.header;
        const length = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
        if (length > MAX_STREAM_FRAME) return false;
        if (length === 0) continue;
        if (chunk.length - at >= length) {
          // The whole frame is in this chunk: hand out a view, the chunk is never reused.
          this.deliver(chunk.subarray(at, at + length));
          at += length;
          continue;
        }
        this.frame = new Uint8Array(length);
        this.frameFill = 0;
      }
      const n = Math.min(this.frame.length - this.frameFill, chunk.length - at);
      this.frame.set(chunk.subarray(at, at + n), this.frameFill);
      this.frameFill += n;
      at += n;
      if (this.frameFill === this.frame.length) {
        const done = this.frame;
        this.frame = null;
        this.deliver(done);
      }
    }
    return true;
  }

  reset(): void {
    this.headerFill = 0;
    this.frame = null;
  }
}

/** One end of the cable. Subclasses decide where the connection comes from. */
abstract class StreamBackend implements NetBackend {
  abstract readonly name: string;
  onReceive: (frame: Uint8Array) => void = () => {};
  onLinkChange: (up: boolean) => void = () => {};
  protected socket: Socket | null = null;
  protected closed = false;
  framesDropped = 0;
  /** Why the last connection ended, when the peer's data made no sense. */
  lastError: string | null = null;

  get linkUp(): boolean {
    return this.socket !== null;
  }

  send(frame: Uint8Array): void {
    const socket = this.socket;
    if (socket === null || socket.writableLength > MAX_UNSENT_BYTES) {
      this.framesDropped++;
      return;
    }
    const out = Buffer.allocUnsafe(4 + frame.length);
    out.writeUInt32BE(frame.length, 0);
    out.set(frame, 4);
    socket.write(out);
  }

  /** Makes `socket` the connection: frames flow and the link comes up. */
  protected adopt(socket: Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    const reader = new FrameReader((frame) => this.onReceive(frame));
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      if (!reader.push(chunk)) {
        this.lastError = 'the peer sent a frame length beyond any Ethernet frame';
        socket.destroy();
      }
    });
    // 'close' follows 'error', so the link goes down in one place.
    socket.on('error', (e) => {
      this.lastError = e.message;
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (!this.closed) this.onLinkChange(false);
    });
    this.onLinkChange(true);
  }

  abstract close(): Promise<void>;

  protected async closeSocket(): Promise<void> {
    const socket = this.socket;
    if (socket === null) return;
    this.socket = null;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }
}

class ConnectedStream extends StreamBackend {
  readonly name: string;

  constructor(host: string, port: number, socket: Socket) {
    super();
    this.name = `socket ${host}:${port}`;
    this.adopt(socket);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.closeSocket();
  }
}

export class ListeningStream extends StreamBackend {
  readonly name: string;
  /** The port listened on (the one the system chose when asked for port 0). */
  readonly port: number;
  private readonly server: Server;

  constructor(host: string, server: Server) {
    super();
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    this.name = `listen ${host}:${this.port}`;
    this.server = server;
    server.on('connection', (socket) => {
      // One peer at a time, like a cable: later callers are hung up on until the first one leaves.
      if (this.socket !== null || this.closed) {
        socket.destroy();
        return;
      }
      this.adopt(socket);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.closeSocket();
    await serverClosed;
  }
}

/** Connects to a listening peer (QEMU's `-netdev socket,listen=` or another Typervisor). */
export function connectStream(host: string, port: number): Promise<NetBackend> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    const failed = (e: Error): void => {
      socket.destroy();
      reject(new Error(`cannot connect to ${host}:${port}: ${e.message}`));
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      socket.off('error', failed);
      resolve(new ConnectedStream(host, port, socket));
    });
  });
}

/**
 * Listens for one peer (QEMU's `-netdev socket,connect=` or another Typervisor); resolves once
 * listening, with the link down until a peer connects.
 */
export function listenStream(host: string, port: number): Promise<ListeningStream> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    const failed = (e: Error): void => {
      server.close();
      reject(new Error(`cannot listen on ${host}:${port}: ${e.message}`));
    };
    server.once('error', failed);
    server.listen({ host, port }, () => {
      server.off('error', failed);
      // A server error after listening (rare: resource exhaustion) must not crash the host.
      server.on('error', () => {});
      resolve(new ListeningStream(host, server));
    });
  });
}
