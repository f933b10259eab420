/**
 * Virtual switches shared by VMs that run in different runners. The switches themselves (the
 * MAC-bound switches of src/net/virtual-switch.ts) live in the manager process; each switch listens on
 * a Unix socket, and every NIC of every runner is one connection to it, carrying frames in the QEMU
 * stream framing of src/net/stream-socket.ts (4-byte big-endian length, then the frame). A socket
 * rather than the runner's IPC channel keeps frames off the control channel, needs no extra hop
 * through the manager's message handling, and works the same for process and thread runners.
 *
 * Which MAC a connection may send from is decided here, by the manager, never by the runner: before
 * starting a VM the manager admits each of its NICs (switch, MAC from the definition) and gets a
 * random token per NIC, which only that runner is told. A connection's first frame must be a hello
 * carrying a live token; the hub then gives it a switch port bound to that NIC's MAC. A connection
 * with no or a wrong token gets no port. So neither a guest nor a subverted runner nor another local
 * process that reaches the socket can send from a MAC the manager did not give it, and one MAC is
 * admitted once per switch. (Taking the MAC from the runner's own first message would trust the
 * runner, which is the process a guest escape lands in.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatMac } from '../net/mac.js';
import type { NetBackend } from '../net/net-backend.js';
import { FrameReader } from '../net/stream-socket.js';
import {
  MAX_SWITCH_PORTS,
  type SwitchCounters,
  type SwitchPort,
  VirtualSwitch,
} from '../net/virtual-switch.js';

/** Frames are dropped, not queued without bound, while a peer does not read. */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
/** sun_path holds 108 bytes on Linux, 104 on macOS; longer paths fail to bind. */
const MAX_SOCKET_PATH = 100;
/** The hello: this prefix, then the NIC's token in hex. */
const HELLO_PREFIX = 'typervisor-switch-port ';
const HELLO_BYTES = HELLO_PREFIX.length + 64;
/** A connection that has not said hello by then is dropped. */
const HELLO_TIMEOUT_MS = 5000;
/** Connections per switch still waiting for their hello; more are dropped at once. */
const MAX_PENDING_HELLOS = 16;

function writeFrame(socket: Socket, frame: Uint8Array): boolean {
  if (socket.destroyed || socket.writableLength > MAX_UNSENT_BYTES) return false;
  const out = Buffer.allocUnsafe(4 + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, 4);
  socket.write(out);
  return true;
}

/** One NIC the manager admitted to a switch: what its runner needs to connect. */
export interface HubNic {
  switch: string;
  /** The NIC's MAC as 52:54:00:12:34:56: the only source address its port accepts. */
  mac: string;
  /** The switch's Unix socket. */
  socket: string;
  /** Secret for the hello; valid until the manager releases the VM. */
  token: string;
}

interface Admission {
  owner: string;
  label: string;
  mac: Uint8Array;
  /** The connection currently holding the port, if any. */
  live: { socket: Socket; port: SwitchPort } | null;
}

interface HubSwitch {
  vswitch: VirtualSwitch;
  server: Server;
  path: string;
  sockets: Set<Socket>;
  /** Token -> the NIC it admits. */
  admissions: Map<string, Admission>;
  pendingHellos: number;
  /** Connections dropped for a missing or wrong hello, or for too many pending ones. */
  refused: number;
}

/**
 * The manager's side: one listening socket per switch name, bridged by a VirtualSwitch. Whoever can
 * connect to a switch's socket is on that LAN, so the sockets live in directories only the daemon's
 * user can enter (mode 0700).
 */
export class SwitchHub {
  private readonly dir: string;
  private readonly switches = new Map<string, Promise<HubSwitch>>();
  /** The switches already listening, for synchronous release. */
  private readonly listening = new Set<HubSwitch>();
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

  private open(name: string): Promise<HubSwitch> {
    let pending = this.switches.get(name);
    if (!pending) {
      pending = this.listen(name);
      this.switches.set(name, pending);
      pending.catch(() => this.switches.delete(name));
    }
    return pending;
  }

  /** The switch's socket path, listening once this resolves. */
  async ensure(name: string): Promise<string> {
    return (await this.open(name)).path;
  }

  /**
   * Admits `owner`'s NICs (in order) to their switches: each gets a token that lets one connection at
   * a time hold a port bound to its MAC. Throws, admitting none, when a MAC is already admitted to
   * that switch (by this owner or another) or a switch is full.
   */
  async admit(owner: string, nics: { switch: string; mac: Uint8Array }[]): Promise<HubNic[]> {
    const opened = await Promise.all(nics.map((nic) => this.open(nic.switch)));
    for (const [i, nic] of nics.entries()) {
      const s = opened[i];
      const mac = formatMac(nic.mac);
      if (nic.mac.length !== 6 || nic.mac[0] & 1)
        throw new Error(`nics[${i}].mac: ${mac} is not a unicast MAC`);
      for (const a of s.admissions.values()) {
        if (formatMac(a.mac) === mac) {
          throw new Error(
            `nics[${i}].mac: ${mac} is already on switch ${nic.switch} (${a.owner} ${a.label})`,
          );
        }
      }
      for (const [j, other] of nics.entries()) {
        if (j < i && other.switch === nic.switch && formatMac(other.mac) === mac) {
          throw new Error(`nics[${i}].mac: ${mac} is also nics[${j}]'s, on the same switch ${nic.switch}`);
        }
      }
      if (s.admissions.size >= MAX_SWITCH_PORTS) {
        throw new Error(
          `nics[${i}]: switch ${nic.switch} already has its maximum of ${MAX_SWITCH_PORTS} ports`,
        );
      }
    }
    return nics.map((nic, i) => {
      const s = opened[i];
      const token = randomBytes(32).toString('hex');
      s.admissions.set(token, { owner, label: `nic ${i}`, mac: nic.mac.slice(), live: null });
      return { switch: nic.switch, mac: formatMac(nic.mac), socket: s.path, token };
    });
  }

  /** Revokes `owner`'s tokens and cuts their connections: its MACs are free for others again. */
  release(owner: string): void {
    for (const s of this.listening) {
      for (const [token, a] of s.admissions) {
        if (a.owner !== owner) continue;
        s.admissions.delete(token);
        if (a.live) {
          a.live.socket.destroy();
          void a.live.port.close();
          a.live = null;
        }
      }
    }
  }

  /** A switch's counters (and the connections it refused), or undefined if it was never opened. */
  async counters(name: string): Promise<(SwitchCounters & { refused: number; ports: number }) | undefined> {
    const pending = this.switches.get(name);
    if (!pending) return undefined;
    const s = await pending;
    return { ...s.vswitch.counters, refused: s.refused, ports: s.vswitch.portCount };
  }

  private listen(name: string): Promise<HubSwitch> {
    const path = this.socketPath(name);
    // A socket file left by a daemon that died: nobody listens on it any more. Anything else at the
    // path is not ours to delete (listen then fails with EADDRINUSE, naming the path).
    try {
      if (lstatSync(path).isSocket()) rmSync(path, { force: true });
    } catch {}
    const vswitch = new VirtualSwitch(name, this.log);
    const server = createServer();
    const s: HubSwitch = {
      vswitch,
      server,
      path,
      sockets: new Set(),
      admissions: new Map(),
      pendingHellos: 0,
      refused: 0,
    };
    server.on('connection', (socket) => this.adopt(s, socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        server.on('error', (e) => this.log(`switch ${name}: ${e.message}`));
        this.listening.add(s);
        resolve(s);
      });
    });
  }

  private refuse(s: HubSwitch, socket: Socket, why: string): void {
    if (s.refused++ === 0)
      this.log(`switch ${s.vswitch.name}: refused a connection: ${why} (further ones are only counted)`);
    socket.destroy();
  }

  private adopt(s: HubSwitch, socket: Socket): void {
    socket.on('error', () => {});
    if (s.pendingHellos >= MAX_PENDING_HELLOS) {
      this.refuse(s, socket, `more than ${MAX_PENDING_HELLOS} connections waiting to say hello`);
      return;
    }
    s.pendingHellos++;
    s.sockets.add(socket);
    let state: 'hello' | 'open' | 'refused' = 'hello';
    let admission: Admission | null = null;
    let port: SwitchPort | null = null;
    const helloDone = (): void => {
      clearTimeout(timer);
      s.pendingHellos--;
    };
    const timer = setTimeout(() => {
      if (state !== 'hello') return;
      state = 'refused';
      helloDone();
      this.refuse(s, socket, `no hello within ${HELLO_TIMEOUT_MS / 1000} s`);
    }, HELLO_TIMEOUT_MS);
    const reader = new FrameReader((frame) => {
      if (state === 'open') {
        port?.send(frame);
        return;
      }
      if (state === 'refused') return;
      helloDone();
      const text = frame.length === HELLO_BYTES ? Buffer.from(frame).toString('latin1') : '';
      const found = text.startsWith(HELLO_PREFIX)
        ? s.admissions.get(text.slice(HELLO_PREFIX.length))
        : undefined;
      if (found === undefined) {
        state = 'refused';
        this.refuse(s, socket, 'no valid hello (a runner of a VM the manager started sends one first)');
        return;
      }
      // The NIC's runner dialled again (its old connection may not have noticed it died): the newest wins.
      if (found.live) {
        found.live.socket.destroy();
        void found.live.port.close();
      }
      const p = s.vswitch.connect(`${found.owner} ${found.label}`, found.mac);
      p.onReceive = (f) => {
        writeFrame(socket, f);
      };
      state = 'open';
      admission = found;
      port = p;
      found.live = { socket, port: p };
    });
    socket.on('data', (chunk: Buffer) => {
      // A runner speaking garbage loses its port; the switch and the other ports carry on.
      if (state !== 'refused' && !reader.push(chunk)) socket.destroy();
    });
    socket.on('close', () => {
      s.sockets.delete(socket);
      if (state === 'hello') {
        state = 'refused';
        helloDone();
      }
      if (port !== null) void port.close();
      if (admission?.live?.socket === socket) admission.live = null;
    });
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.switches.values());
    this.switches.clear();
    this.listening.clear();
    for (const r of all) {
      if (r.status !== 'fulfilled') continue;
      const s = r.value;
      for (const socket of s.sockets) socket.destroy();
      s.admissions.clear();
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
  private readonly hello: Uint8Array;

  constructor(nic: HubNic, label: string) {
    this.name = `switch ${nic.switch} (${label}, ${nic.mac})`;
    this.path = nic.socket;
    this.hello = Buffer.from(HELLO_PREFIX + nic.token, 'latin1');
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
      // The hub gives this connection the NIC's port only after the hello with its token.
      writeFrame(socket, this.hello);
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

/**
 * The SwitchPorts a runner hands to createVirtioDevices: each NIC (switch name and MAC) finds the
 * admission the manager gave it.
 */
export function hubSwitchPorts(nics: HubNic[]): {
  get(name: string): { connect(label: string, mac: Uint8Array): NetBackend };
} {
  return {
    get(name: string) {
      return {
        connect(label: string, mac: Uint8Array) {
          const nic = nics.find((n) => n.switch === name && n.mac === formatMac(mac));
          if (nic === undefined) {
            throw new Error(`switch ${name}: the manager admitted no port for mac ${formatMac(mac)}`);
          }
          return new HubPort(nic, label);
        },
      };
    },
  };
}
