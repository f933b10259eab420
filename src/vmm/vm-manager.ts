/**
 * The VM manager: the registry of VM definitions, each VM's lifecycle, and one isolated runner per
 * running VM (runner-handle.ts). It is what the daemon's REST API and the CLI drive (VmManagerApi).
 *
 * Lifecycle: stopped → starting → running ⇄ paused; running/paused → stopping → stopped; any state →
 * crashed (with a reason). How a runner's life ended is decided by whoever saw it first (the guest
 * powering off, stop(), a kernel panic the machine reports, the memory cap, the runner dying) and
 * recorded in `ending`; the runner's exit then makes it the VM's state. Nothing a guest or a runner
 * does is allowed to throw in the manager: runners are separate processes or threads, and every message
 * from them is validated (runner-protocol.ts) before use. Host paths in definitions are checked
 * against the allowed roots (host-paths.ts) when a VM is defined and again when it starts.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatMac, parseMac, randomMac } from '../net/mac.js';
import { type AllowedRoot, type CheckedPath, HostPaths } from './host-paths.js';
import { type RunnerHandle, type SpawnOptions, spawnRunner } from './runner-handle.js';
import {
  checkFromRunner,
  type FromRunner,
  INPUT_IN_FLIGHT,
  MAX_OUTPUT_CHUNK,
  type RunnerConfig,
} from './runner-protocol.js';
import { type HubNic, SwitchHub } from './switch-hub.js';
import {
  type VmEvent,
  type VmInfo,
  type VmManagerApi,
  type VmMetrics,
  VmmError,
  type VmSpec,
  type VmState,
} from './types.js';
import { VmStore } from './vm-store.js';

const MiB = 2 ** 20;
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const SWITCH_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const CONSOLE_RING_BYTES = 256 * 1024;
const EVENT_RING = 1000;
/**
 * What a runner may hold beyond guest RAM. A process runner on Node 24 holds about 130 MiB of its own
 * after a boot with the compiled tier (bench:density; 100 MiB of it a Node runtime, V8 heaps and the
 * decode cache), and the tier's code may grow to 16 MiB of wasm plus V8's machine code for it; 64 MiB
 * got default VMs killed at boot on Node 24.
 */
const DEFAULT_OVERHEAD = 160 * MiB;
/** stop(): how long a runner may take to close its devices after being asked, before SIGKILL. */
const STOP_GRACE_MS = 2000;
/** A runner that has not built its machine by then is stuck (it normally takes well under a second). */
const START_TIMEOUT_MS = 60_000;
const MEMORY_POLL_MS = 1000;
/** Between the SysRq keys of a graceful shutdown: sync and remount run as kernel work, not at once. */
const SYSRQ_STEP_MS = 1000;
/** How long a runner may take to confirm that its run loop is parked after `pause`. */
const PAUSE_CONFIRM_MS = 10_000;
/**
 * The line Linux prints when it panics (kernel/panic.c). Guest user space can print it too, so it never
 * decides anything: it is only quoted as a hint once the machine itself reports the panic.
 */
const PANIC_MARK = 'Kernel panic - not syncing';
const PANIC_HINT_CHARS = 300;
/** Console clients (WebSocket consoles, `logs -f`) per VM: each may hold a bounded send queue. */
export const MAX_CONSOLE_CLIENTS = 16;
/** Malformed runner messages logged per runner; the rest are only counted. */
const BAD_MESSAGES_LOGGED = 10;

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEFAULT_KERNEL = join(REPO_ROOT, 'images', 'linux', 'Image.gz');
export const DEFAULT_INITRD = join(REPO_ROOT, 'images', 'linux', 'initramfs.cpio.gz');

export interface VmManagerOptions {
  dataDir: string;
  /**
   * Where disk images, kernels, initrds and firmware may come from, besides the read-only defaults
   * (host-paths.ts: the bundled guest, examples/, Debian's firmware directories). Never the data dir.
   */
  imageRoots?: AllowedRoot[];
  /** Where shared folders may come from; none by default. */
  shareRoots?: AllowedRoot[];
  /** How runners are made (tests pass fakes); default: a child process or a worker thread. */
  spawnRunner?: (
    kind: 'process' | 'thread',
    log: (message: string) => void,
    options: SpawnOptions,
  ) => RunnerHandle;
  /** How long a runner may take to confirm a pause; default 10 s. */
  pauseConfirmMs?: number;
  /** Host memory VMs may take in all (guest RAM + per-VM overhead); default 75% of the host's RAM. */
  memoryBudgetBytes?: number;
  /** What a runner needs besides guest RAM (Node, the interpreter's caches); default 64 MiB. */
  perVmOverheadBytes?: number;
  /** Structured log lines for the daemon's log. */
  log?: (line: object) => void;
}

/** The last `capacity` bytes written, as a circular buffer. */
class ByteRing {
  private readonly buffer: Uint8Array;
  private start = 0;
  private length = 0;

  constructor(capacity: number) {
    this.buffer = new Uint8Array(capacity);
  }

  push(bytes: Uint8Array): void {
    const cap = this.buffer.length;
    const src = bytes.length > cap ? bytes.subarray(bytes.length - cap) : bytes;
    let end = (this.start + this.length) % cap;
    const first = Math.min(src.length, cap - end);
    this.buffer.set(src.subarray(0, first), end);
    this.buffer.set(src.subarray(first), 0);
    end = (end + src.length) % cap;
    const total = this.length + src.length;
    if (total > cap) {
      this.start = end;
      this.length = cap;
    } else {
      this.length = total;
    }
  }

  contents(): Uint8Array {
    const out = new Uint8Array(this.length);
    const cap = this.buffer.length;
    const first = Math.min(this.length, cap - this.start);
    out.set(this.buffer.subarray(this.start, this.start + first));
    out.set(this.buffer.subarray(0, this.length - first), first);
    return out;
  }
}

interface VmClaim {
  identity: string;
  readOnly: boolean;
  field: string;
}

interface Ending {
  state: 'stopped' | 'crashed';
  reason: string;
}

interface Vm {
  spec: VmSpec;
  state: VmState;
  reason?: string;
  startedAt?: number;
  runner: RunnerHandle | null;
  pid?: number;
  metrics?: VmMetrics;
  console: ByteRing;
  listeners: Set<(bytes: Uint8Array) => void>;
  /** Recent console text, to find the kernel's panic line (split across output chunks) for a reason. */
  tail: string;
  /** The last "Kernel panic - not syncing" line seen on the console: quoted when the machine reports a panic. */
  panicHint?: string;
  ending: Ending | null;
  /** Resolved when the current runner has started (or failed to), confirmed a pause, and when it is gone. */
  waiters: { started: (() => void)[]; paused: (() => void)[]; gone: (() => void)[] };
  /** A pause was sent and the runner has not confirmed it yet. */
  pausePending: boolean;
  /** Identities of the disk images the current runner was given, and whether it may write them. */
  claims: VmClaim[];
  /** Console input sent to the runner and not yet acknowledged by it. */
  inputInFlight: number;
  inputDropped: number;
  badMessages: number;
  timers: Set<ReturnType<typeof setTimeout>>;
}

function copySpec(spec: VmSpec): VmSpec {
  return structuredClone(spec);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class VmManager implements VmManagerApi {
  readonly dataDir: string;
  private readonly budgetBytes: number;
  private readonly overhead: number;
  private readonly logLine: (line: object) => void;
  private readonly store: VmStore;
  private readonly hub: SwitchHub;
  private readonly vms = new Map<string, Vm>();
  private readonly eventRing: VmEvent[] = [];
  private eventSeq = 0;
  private readonly eventListeners = new Set<(event: VmEvent) => void>();
  private memoryPoll: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  private readonly paths: HostPaths;
  private readonly spawn: NonNullable<VmManagerOptions['spawnRunner']>;
  private readonly pauseConfirmMs: number;

  private constructor(options: VmManagerOptions) {
    this.dataDir = resolve(options.dataDir);
    this.budgetBytes = options.memoryBudgetBytes ?? Math.floor(totalmem() * 0.75);
    this.overhead = options.perVmOverheadBytes ?? DEFAULT_OVERHEAD;
    this.logLine = options.log ?? (() => {});
    this.spawn = options.spawnRunner ?? spawnRunner;
    this.pauseConfirmMs = options.pauseConfirmMs ?? PAUSE_CONFIRM_MS;
    // The data dir holds definitions and switch sockets: the daemon's alone, whatever it was before.
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    chmodSync(this.dataDir, 0o700);
    this.paths = new HostPaths(
      this.dataDir,
      { image: options.imageRoots ?? [], share: options.shareRoots ?? [] },
      (message) => this.log({ level: 'warn', message }),
    );
    this.store = new VmStore(this.dataDir);
    this.hub = new SwitchHub(join(this.dataDir, 'switches'), (message) => this.log({ message }));
  }

  /** The roots host paths are checked against (real paths), for the daemon's startup log. */
  roots(): { image: AllowedRoot[]; share: AllowedRoot[] } {
    const plain = (r: AllowedRoot & { real: string }) => ({ path: r.real, readOnly: r.readOnly });
    return { image: this.paths.imageRoots.map(plain), share: this.paths.shareRoots.map(plain) };
  }

  /** Loads the stored definitions and starts the VMs marked autostart. */
  static async open(options: VmManagerOptions): Promise<VmManager> {
    const manager = new VmManager(options);
    await manager.store.init();
    const specs = await manager.store.load((file, error) =>
      manager.log({ level: 'warn', message: `ignoring VM definition ${file}: ${error}` }),
    );
    for (const spec of specs) {
      const vm = manager.newVm(spec);
      // A definition edited by hand may lack MACs: fill them in once, so they stay stable from now on.
      if ((spec.nics ?? []).some((n) => !n.mac)) {
        manager.fillMacs(vm.spec);
        await manager.store.save(vm.spec);
      }
      manager.vms.set(spec.name, vm);
    }
    manager.memoryPoll = setInterval(() => manager.pollMemory(), MEMORY_POLL_MS);
    manager.memoryPoll.unref();
    const autostart = [...manager.vms.values()].filter((vm) => vm.spec.autostart);
    await Promise.all(
      autostart.map((vm) =>
        manager
          .start(vm.spec.name)
          .catch((e: Error) =>
            manager.log({ level: 'error', vm: vm.spec.name, message: `autostart: ${e.message}` }),
          ),
      ),
    );
    return manager;
  }

  private log(line: Record<string, unknown>): void {
    try {
      this.logLine({ time: new Date().toISOString(), ...line });
    } catch {}
  }

  private newVm(spec: VmSpec): Vm {
    return {
      spec,
      state: 'stopped',
      runner: null,
      console: new ByteRing(CONSOLE_RING_BYTES),
      listeners: new Set(),
      tail: '',
      ending: null,
      waiters: { started: [], paused: [], gone: [] },
      pausePending: false,
      claims: [],
      inputInFlight: 0,
      inputDropped: 0,
      badMessages: 0,
      timers: new Set(),
    };
  }

  private find(name: string): Vm {
    const vm = this.vms.get(name);
    if (!vm) throw new VmmError(404, `no VM named '${name}'`);
    return vm;
  }

  private info(vm: Vm): VmInfo {
    const live = vm.state === 'running' || vm.state === 'paused' || vm.state === 'stopping';
    const info: VmInfo = { spec: copySpec(vm.spec), state: vm.state };
    if (vm.reason !== undefined) info.reason = vm.reason;
    if (live && vm.startedAt !== undefined) {
      info.startedAt = new Date(vm.startedAt).toISOString();
      info.uptimeSeconds = Math.round((Date.now() - vm.startedAt) / 1000);
    }
    if (vm.runner && vm.pid !== undefined) info.pid = vm.pid;
    if (vm.metrics) info.metrics = { ...vm.metrics };
    return info;
  }

  private event(vm: string, type: string, detail?: string): void {
    const event: VmEvent & { seq: number } = {
      seq: ++this.eventSeq,
      time: new Date().toISOString(),
      vm,
      type,
      ...(detail === undefined ? {} : { detail }),
    };
    this.eventRing.push(event);
    if (this.eventRing.length > EVENT_RING) this.eventRing.shift();
    this.log({ vm, event: type, ...(detail === undefined ? {} : { detail }) });
    for (const listener of this.eventListeners) {
      try {
        listener(event);
      } catch (e) {
        this.log({ level: 'error', message: `event listener: ${(e as Error).message}` });
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Definitions.

  list(): VmInfo[] {
    return [...this.vms.values()].map((vm) => this.info(vm));
  }

  get(name: string): VmInfo {
    return this.info(this.find(name));
  }

  budget(): { totalBytes: number; usedBytes: number; perVmOverheadBytes: number } {
    let used = 0;
    for (const vm of this.vms.values()) used += this.footprint(vm.spec);
    return { totalBytes: this.budgetBytes, usedBytes: used, perVmOverheadBytes: this.overhead };
  }

  private footprint(spec: VmSpec): number {
    return spec.memoryMiB * MiB + this.overhead;
  }

  /** Checks what the JSON Schema cannot (or what a caller skipping the API may get wrong): 400. */
  private normalize(input: VmSpec): VmSpec {
    const bad = (message: string): never => {
      throw new VmmError(400, message);
    };
    if (typeof input !== 'object' || input === null) bad('the VM definition must be an object');
    const spec = copySpec(input);
    if (typeof spec.name !== 'string' || !NAME.test(spec.name))
      bad(`name: '${spec.name}' must match [a-z0-9][a-z0-9_.-]{0,62}`);
    spec.vcpus ??= 1;
    // The board runs one hart today; SMP comes with shared RAM between harts.
    if (spec.vcpus !== 1) bad(`vcpus: ${spec.vcpus} is not supported (only 1 vCPU)`);
    if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 16 || spec.memoryMiB > 2048)
      bad(`memoryMiB: ${spec.memoryMiB} is not a whole number in 16..2048`);
    if (typeof spec.boot !== 'object' || spec.boot === null) bad('boot: must be an object');
    const limits = spec.limits ?? {};
    if (limits.cpuPercent !== undefined && !(limits.cpuPercent >= 1 && limits.cpuPercent <= 100))
      bad(`limits.cpuPercent: ${limits.cpuPercent} is not in 1..100`);
    for (const key of ['diskBytesPerSecond', 'netBytesPerSecond'] as const) {
      const v = limits[key];
      if (v !== undefined && !(Number.isFinite(v) && v > 0))
        bad(`limits.${key}: ${v} is not a positive number`);
    }
    if (spec.runner !== undefined && spec.runner !== 'process' && spec.runner !== 'thread')
      bad(`runner: '${spec.runner}' is neither 'process' nor 'thread'`);
    for (const [i, nic] of (spec.nics ?? []).entries()) {
      if (typeof nic.switch !== 'string' || !SWITCH_NAME.test(nic.switch))
        bad(`nics[${i}].switch: must be 1..64 of A-Z a-z 0-9 _ . -`);
      if (nic.mac !== undefined) {
        try {
          nic.mac = formatMac(parseMac(nic.mac, `nics[${i}]`));
        } catch (e) {
          bad((e as Error).message);
        }
      }
    }
    for (const [i, share] of (spec.shares ?? []).entries()) {
      if (typeof share.tag !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(share.tag))
        bad(`shares[${i}].tag: must be 1..64 printable characters without spaces`);
    }
    // Paths are kept absolute: the daemon's working directory is not the client's.
    const boot = spec.boot;
    if (boot.kernel !== undefined) boot.kernel = resolve(boot.kernel);
    if (boot.initrd !== undefined) boot.initrd = resolve(boot.initrd);
    if (boot.firmware !== undefined && boot.firmware !== 'builtin' && boot.firmware !== 'none')
      boot.firmware = resolve(boot.firmware);
    for (const d of spec.disks ?? []) d.path = resolve(d.path);
    for (const s of spec.shares ?? []) s.path = resolve(s.path);
    return spec;
  }

  /**
   * Checks every host path of a definition (host-paths.ts): 403 outside the allowed roots or touching the
   * data dir, 422 missing, of the wrong kind or larger than the VM's RAM. Returns the checked files by
   * field, with the real path the runner is to open and the identity it must find there.
   */
  private checkPaths(spec: VmSpec): Map<string, CheckedPath & { path: string }> {
    const checked = new Map<string, CheckedPath & { path: string }>();
    const ram = spec.memoryMiB * MiB;
    const file = (field: string, path: string | undefined, write: boolean, bundled = false): void => {
      if (path === undefined) return;
      const c = this.paths.check(field, path, {
        kind: 'image',
        write,
        // Boot files are copied into RAM whole; a disk image is only read as the guest asks.
        ...(field.startsWith('boot.') ? { maxBytes: ram } : {}),
        ...(bundled ? { root: null } : {}),
      });
      checked.set(field, { ...c, path });
    };
    file('boot.kernel', spec.boot.kernel, false);
    file('boot.initrd', spec.boot.initrd, false);
    const fw = spec.boot.firmware;
    if (fw !== undefined && fw !== 'builtin' && fw !== 'none') file('boot.firmware', fw, false);
    if (spec.boot.kernel === undefined && fw !== 'none') {
      // The daemon's own choice, not the client's: no root applies, but it must still fit in RAM.
      file('boot.kernel (the bundled guest)', DEFAULT_KERNEL, false, true);
      if (spec.boot.initrd === undefined)
        file('boot.initrd (the bundled guest)', DEFAULT_INITRD, false, true);
    }
    for (const [i, d] of (spec.disks ?? []).entries()) file(`disks[${i}].path`, d.path, !d.readOnly);
    for (const [i, s] of (spec.shares ?? []).entries()) {
      const c = this.paths.check(`shares[${i}].path`, s.path, { kind: 'share', write: !s.readOnly });
      checked.set(`shares[${i}].path`, { ...c, path: s.path });
    }
    return checked;
  }

  private fillMacs(spec: VmSpec): void {
    for (const nic of spec.nics ?? []) nic.mac ??= formatMac(randomMac());
  }

  async create(input: VmSpec): Promise<VmInfo> {
    this.checkOpen();
    const spec = this.normalize(input);
    if (this.vms.has(spec.name)) throw new VmmError(409, `a VM named '${spec.name}' already exists`);
    this.checkPaths(spec);
    const { totalBytes, usedBytes } = this.budget();
    const need = this.footprint(spec);
    if (usedBytes + need > totalBytes) {
      throw new VmmError(
        507,
        `memory budget exceeded: ${spec.name} needs ${Math.ceil(need / MiB)} MiB (guest RAM + ` +
          `${Math.round(this.overhead / MiB)} MiB overhead) and only ${Math.floor((totalBytes - usedBytes) / MiB)} ` +
          `MiB of the ${Math.floor(totalBytes / MiB)} MiB budget are left`,
      );
    }
    // Generated MACs are part of the definition: a VM keeps its address across restarts.
    this.fillMacs(spec);
    const vm = this.newVm(spec);
    // Claimed before the write, so that a concurrent create of the same name gets its 409.
    this.vms.set(spec.name, vm);
    try {
      await this.store.save(spec);
    } catch (e) {
      this.vms.delete(spec.name);
      throw e;
    }
    this.event(spec.name, 'created');
    return this.info(vm);
  }

  async delete(name: string): Promise<void> {
    const vm = this.find(name);
    if (vm.state !== 'stopped' && vm.state !== 'crashed')
      throw new VmmError(409, `${name} is ${vm.state}; stop it before deleting it`);
    // Only the definition goes: disk images and shared folders belong to the user.
    await this.store.remove(name);
    this.vms.delete(name);
    for (const listener of vm.listeners) vm.listeners.delete(listener);
    this.event(name, 'deleted');
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle.

  /**
   * A disk image a live VM writes is that VM's alone: a second writer (or a reader of a changing image)
   * would see or cause corruption, and one VM could read another's data. Read-only sharing is fine.
   * Images are compared by identity (device and inode), so no symlink, hard link or other spelling of
   * the path makes one file two disks.
   */
  private checkDisksFree(spec: VmSpec, checked: Map<string, CheckedPath>): VmClaim[] {
    const claims: VmClaim[] = [];
    for (const [i, disk] of (spec.disks ?? []).entries()) {
      const identity = checked.get(`disks[${i}].path`)?.identity;
      if (identity === undefined) continue;
      const readOnly = disk.readOnly ?? false;
      const same = claims.find((c) => c.identity === identity && !(readOnly && c.readOnly));
      if (same) throw new VmmError(409, `disks[${i}].path: ${disk.path} is the same image as ${same.field}`);
      for (const other of this.vms.values()) {
        if (other.spec.name === spec.name || other.state === 'stopped' || other.state === 'crashed') continue;
        const theirs = other.claims.find((c) => c.identity === identity);
        if (theirs && !(readOnly && theirs.readOnly)) {
          throw new VmmError(
            409,
            `disks[${i}].path: ${disk.path} is in use by ${other.spec.name}${theirs.readOnly ? ' (read-only there; attach it read-only here too)' : ''}`,
          );
        }
      }
      claims.push({ identity, readOnly, field: `disks[${i}]` });
    }
    return claims;
  }

  async start(name: string): Promise<VmInfo> {
    this.checkOpen();
    const vm = this.find(name);
    if (vm.state !== 'stopped' && vm.state !== 'crashed')
      throw new VmmError(409, `${name} is ${vm.state}, not stopped`);
    // Checked again: the roots or the files may have changed since the definition was made.
    const checked = this.checkPaths(vm.spec);
    vm.claims = this.checkDisksFree(vm.spec, checked);
    vm.state = 'starting';
    vm.reason = undefined;
    vm.ending = null;
    vm.metrics = undefined;
    vm.tail = '';
    vm.panicHint = undefined;
    vm.startedAt = undefined;
    vm.pausePending = false;
    vm.inputInFlight = 0;
    vm.inputDropped = 0;
    vm.badMessages = 0;
    this.event(name, 'starting');
    let switchPorts: HubNic[];
    try {
      // The hub binds each NIC's port to the MAC of the definition, whatever the runner says later.
      const nics = (vm.spec.nics ?? []).map((n, i) => ({
        switch: n.switch,
        mac: parseMac(n.mac ?? '', `nics[${i}].mac`),
      }));
      switchPorts = await this.hub.admit(name, nics);
    } catch (e) {
      this.settle(vm, { state: 'crashed', reason: `cannot start: switch: ${(e as Error).message}` });
      return this.info(vm);
    }
    if (vm.state !== 'starting') return this.info(vm);
    let runner: RunnerHandle;
    try {
      runner = this.spawn(vm.spec.runner ?? 'process', (message) => this.log({ vm: name, runner: message }), {
        // A thread runner's cap: the overhead allowance is what it may take besides its guest RAM.
        heapLimitBytes: this.overhead,
      });
    } catch (e) {
      this.settle(vm, { state: 'crashed', reason: `cannot start a runner: ${(e as Error).message}` });
      return this.info(vm);
    }
    vm.runner = runner;
    vm.pid = runner.pid;
    runner.onMessage = (raw) => {
      if (vm.runner !== runner) return;
      const m = checkFromRunner(raw);
      if ('invalid' in m) {
        this.badRunnerMessage(vm, m.invalid);
        return;
      }
      try {
        this.fromRunner(vm, runner, m);
      } catch (e) {
        this.badRunnerMessage(vm, (e as Error).message);
      }
    };
    runner.onExit = (description) => this.runnerGone(vm, runner, description);
    const config = this.runnerConfig(vm.spec, checked, switchPorts);
    const started = new Promise<void>((r) => vm.waiters.started.push(r));
    runner.send({ type: 'start', config });
    const timeout = this.timer(vm, START_TIMEOUT_MS, () => {
      if (vm.runner !== runner || vm.state !== 'starting') return;
      this.decide(vm, {
        state: 'crashed',
        reason: `runner did not start within ${START_TIMEOUT_MS / 1000} s`,
      });
      runner.kill();
    });
    await started;
    this.clearTimer(vm, timeout);
    return this.info(vm);
  }

  /** The runner's view of a definition: real paths, and the identity each file must still have. */
  private runnerConfig(
    spec: VmSpec,
    checked: Map<string, CheckedPath & { path: string }>,
    switchPorts: HubNic[],
  ): RunnerConfig {
    const real = copySpec(spec);
    const identities: Record<string, string> = {};
    const take = (field: string): string | undefined => {
      const c = checked.get(field);
      if (c === undefined) return undefined;
      identities[c.real] = c.identity;
      return c.real;
    };
    real.boot.kernel = take('boot.kernel') ?? real.boot.kernel;
    real.boot.initrd = take('boot.initrd') ?? real.boot.initrd;
    if (checked.has('boot.firmware')) real.boot.firmware = take('boot.firmware');
    const defaultKernel = take('boot.kernel (the bundled guest)') ?? DEFAULT_KERNEL;
    const defaultInitrd = take('boot.initrd (the bundled guest)') ?? DEFAULT_INITRD;
    for (const [i, d] of (real.disks ?? []).entries()) d.path = take(`disks[${i}].path`) ?? d.path;
    for (const [i, s] of (real.shares ?? []).entries()) s.path = take(`shares[${i}].path`) ?? s.path;
    return { spec: real, defaultKernel, defaultInitrd, switchPorts, identities };
  }

  private badRunnerMessage(vm: Vm, why: string): void {
    vm.badMessages++;
    if (vm.badMessages <= BAD_MESSAGES_LOGGED) {
      this.log({
        level: 'warn',
        vm: vm.spec.name,
        message: `ignored a malformed runner message: ${why}${vm.badMessages === BAD_MESSAGES_LOGGED ? ' (further ones are only counted)' : ''}`,
      });
    }
  }

  /**
   * Answers once the runner confirms that its run loop is parked: only then does no guest instruction
   * or device work run. A runner that does not confirm within the timeout is out of control: it is
   * killed and the VM marked crashed (504).
   */
  async pause(name: string): Promise<VmInfo> {
    const vm = this.find(name);
    if (vm.state !== 'running') throw new VmmError(409, `${name} is ${vm.state}, not running`);
    const runner = vm.runner;
    if (!runner) throw new VmmError(409, `${name} has no runner`);
    const confirmed = new Promise<void>((r) => vm.waiters.paused.push(r));
    if (!vm.pausePending) {
      vm.pausePending = true;
      runner.send({ type: 'pause' });
      const timeout = this.timer(vm, this.pauseConfirmMs, () => {
        if (vm.runner !== runner || !vm.pausePending) return;
        this.decide(vm, {
          state: 'crashed',
          reason: `the runner did not confirm a pause within ${this.pauseConfirmMs / 1000} s`,
        });
        runner.kill();
      });
      void confirmed.then(() => this.clearTimer(vm, timeout));
    }
    await confirmed;
    if ((vm.state as VmState) === 'paused') return this.info(vm);
    const info = this.info(vm);
    if (info.state === 'crashed' && /did not confirm a pause/.test(info.reason ?? ''))
      throw new VmmError(504, `${name}: ${info.reason}; the VM is crashed`);
    throw new VmmError(409, `${name} is ${info.state} (${info.reason ?? 'while pausing'}), not paused`);
  }

  async resume(name: string): Promise<VmInfo> {
    const vm = this.find(name);
    if (vm.state !== 'paused') throw new VmmError(409, `${name} is ${vm.state}, not paused`);
    vm.runner?.send({ type: 'resume' });
    vm.state = 'running';
    this.event(name, 'resumed');
    return this.info(vm);
  }

  async reset(name: string): Promise<VmInfo> {
    const vm = this.find(name);
    if (vm.state !== 'running' && vm.state !== 'paused')
      throw new VmmError(409, `${name} is ${vm.state}, not running`);
    vm.runner?.send({ type: 'reset' });
    vm.tail = '';
    vm.panicHint = undefined;
    this.event(name, 'reset');
    return this.info(vm);
  }

  async stop(name: string): Promise<VmInfo> {
    const vm = this.find(name);
    if (!vm.runner) throw new VmmError(409, `${name} is ${vm.state}, not running`);
    await this.pullPlug(vm, { state: 'stopped', reason: 'stopped: power pulled' });
    return this.info(vm);
  }

  /**
   * Asks the guest to power off as a person at the serial console would: BREAK + SysRq s (sync), u
   * (remount read-only), o (power off). Stock Linux honours this on its serial console when
   * CONFIG_MAGIC_SYSRQ_SERIAL is set (Debian's kernel and the bundled one). No guest agent, no ACPI.
   */
  async shutdown(name: string, timeoutSeconds = 30): Promise<VmInfo> {
    const vm = this.find(name);
    if (vm.state !== 'running' && vm.state !== 'paused')
      throw new VmmError(409, `${name} is ${vm.state}, not running`);
    const runner = vm.runner;
    if (!runner) throw new VmmError(409, `${name} has no runner`);
    // A pause not yet confirmed is undone too: the runner applies commands in order.
    if (vm.state === 'paused' || vm.pausePending) runner.send({ type: 'resume' });
    vm.pausePending = false;
    for (const w of vm.waiters.paused.splice(0)) w();
    vm.state = 'stopping';
    this.event(name, 'stopping', 'shutdown requested');
    const gone = new Promise<void>((r) => vm.waiters.gone.push(r));
    void (async () => {
      for (const key of ['s', 'u', 'o']) {
        if (vm.runner !== runner) return;
        runner.send({ type: 'sysrq', key });
        await sleep(SYSRQ_STEP_MS);
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      gone.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), timeoutSeconds * 1000);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut && vm.runner === runner) {
      await this.pullPlug(vm, {
        state: 'stopped',
        reason: `the guest did not power off within ${timeoutSeconds} s; forced stop`,
      });
    }
    return this.info(vm);
  }

  /** Asks the runner to end (its devices finish in-flight I/O), then kills it after STOP_GRACE_MS. */
  private async pullPlug(vm: Vm, ending: Ending): Promise<void> {
    const runner = vm.runner;
    if (!runner) return;
    this.decide(vm, ending);
    if (vm.state !== 'stopping') {
      vm.state = 'stopping';
      this.event(vm.spec.name, 'stopping');
    }
    const gone = new Promise<void>((r) => vm.waiters.gone.push(r));
    runner.send({ type: 'poweroff' });
    const kill = this.timer(vm, STOP_GRACE_MS, () => runner.kill());
    await gone;
    this.clearTimer(vm, kill);
  }

  /** The first decision about how a runner's life ends is the one recorded. */
  private decide(vm: Vm, ending: Ending): void {
    vm.ending ??= ending;
  }

  /** `m` has passed checkFromRunner: its fields have the documented types and bounds. */
  private fromRunner(vm: Vm, runner: RunnerHandle, m: FromRunner): void {
    switch (m.type) {
      case 'started':
        if (vm.state === 'starting') {
          vm.state = 'running';
          vm.startedAt = Date.now();
          // A thread runner's pid is the daemon's; a process runner's is its own (checked by the handle).
          if (runner.kind === 'process' && runner.pid !== undefined) vm.pid = runner.pid;
          this.event(vm.spec.name, 'started', vm.pid === undefined ? undefined : `pid ${vm.pid}`);
        }
        for (const w of vm.waiters.started.splice(0)) w();
        return;
      case 'output':
        this.consoleOutput(vm, m.data);
        // Acknowledged once taken: the runner keeps at most a window of output unacknowledged.
        runner.send({ type: 'output-ack', bytes: m.data.length });
        return;
      case 'input-ack':
        vm.inputInFlight = Math.max(0, vm.inputInFlight - m.bytes);
        return;
      case 'paused':
        if (!vm.pausePending) return;
        vm.pausePending = false;
        if (vm.state === 'running') {
          vm.state = 'paused';
          this.event(vm.spec.name, 'paused');
        }
        for (const w of vm.waiters.paused.splice(0)) w();
        return;
      case 'panic': {
        // The machine's own report (pvpanic, or an SBI reset for a system failure), never console text.
        const hint = vm.panicHint ? ` (console: ${vm.panicHint})` : '';
        void this.pullPlug(vm, { state: 'crashed', reason: `guest kernel panic: ${m.detail}${hint}` });
        return;
      }
      case 'metrics': {
        const metrics = { ...m.metrics };
        const memory = runner.memory();
        if (memory !== null) metrics.hostRssBytes = memory.rss;
        if (vm.inputDropped > 0)
          metrics.consoleInputDroppedBytes = (metrics.consoleInputDroppedBytes ?? 0) + vm.inputDropped;
        vm.metrics = metrics;
        return;
      }
      case 'log':
        if (m.message) this.log({ vm: vm.spec.name, device: m.message });
        return;
      case 'exit': {
        const exit = m.exit;
        if (exit.kind === 'poweroff')
          this.decide(vm, { state: 'stopped', reason: `guest powered off (code ${exit.code})` });
        else if (exit.kind === 'fatal')
          this.decide(vm, { state: 'crashed', reason: `machine error: ${exit.message}` });
        else this.decide(vm, { state: 'stopped', reason: 'stopped' });
        return;
      }
      case 'error':
        this.decide(vm, {
          state: 'crashed',
          reason: m.phase === 'setup' ? `cannot start: ${m.message}` : `runner error: ${m.message}`,
        });
        return;
    }
  }

  private consoleOutput(vm: Vm, data: Uint8Array): void {
    vm.console.push(data);
    for (const listener of vm.listeners) {
      try {
        listener(data);
      } catch (e) {
        this.log({ level: 'error', vm: vm.spec.name, message: `console listener: ${(e as Error).message}` });
      }
    }
    // Remember the kernel's panic line, should the machine report a panic: a hint in the reason.
    vm.tail = (vm.tail + Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1')).slice(
      -4096,
    );
    // The panic line itself, not the "---[ end Kernel panic - not syncing: ... ]---" that closes it.
    let at = vm.tail.lastIndexOf(PANIC_MARK);
    while (at >= 4 && vm.tail.slice(at - 4, at) === 'end ') at = vm.tail.lastIndexOf(PANIC_MARK, at - 1);
    if (at >= 0) vm.panicHint = vm.tail.slice(at).split(/\r?\n/)[0].trim().slice(0, PANIC_HINT_CHARS);
  }

  private runnerGone(vm: Vm, runner: RunnerHandle, description: string): void {
    if (vm.runner !== runner) return;
    this.settle(vm, vm.ending ?? { state: 'crashed', reason: description });
  }

  /** The runner is gone (or never came): the VM takes the state its ending says. */
  private settle(vm: Vm, ending: Ending): void {
    const runner = vm.runner;
    vm.runner = null;
    runner?.kill();
    this.hub.release(vm.spec.name);
    for (const t of vm.timers) clearTimeout(t);
    vm.timers.clear();
    vm.state = ending.state;
    vm.reason = ending.reason;
    vm.ending = null;
    vm.pid = undefined;
    vm.startedAt = undefined;
    vm.pausePending = false;
    vm.claims = [];
    this.event(vm.spec.name, ending.state === 'crashed' ? 'crashed' : 'stopped', ending.reason);
    for (const w of vm.waiters.started.splice(0)) w();
    for (const w of vm.waiters.paused.splice(0)) w();
    for (const w of vm.waiters.gone.splice(0)) w();
  }

  private timer(vm: Vm, ms: number, run: () => void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      vm.timers.delete(t);
      run();
    }, ms);
    vm.timers.add(t);
    return t;
  }

  private clearTimer(vm: Vm, t: ReturnType<typeof setTimeout>): void {
    clearTimeout(t);
    vm.timers.delete(t);
  }

  /**
   * A process runner may use guest RAM + the per-VM overhead in private memory (RSS without the shared
   * node binary: see RunnerHandle.memory); beyond that it is killed, so that one VM cannot take the
   * host's memory from the others. Thread runners share the daemon's memory and cannot be told apart
   * (their guest RAM is a fixed allocation anyway).
   */
  private pollMemory(): void {
    for (const vm of this.vms.values()) {
      const runner = vm.runner;
      if (runner?.kind !== 'process' || vm.ending !== null) continue;
      const memory = runner.memory();
      if (memory === null) continue;
      if (vm.metrics) vm.metrics.hostRssBytes = memory.rss;
      const cap = this.footprint(vm.spec);
      if (memory.private > cap) {
        this.decide(vm, {
          state: 'crashed',
          reason: `memory cap exceeded: the runner's private memory is ${Math.round(memory.private / MiB)} MiB, its cap ${Math.round(cap / MiB)} MiB (guest RAM + overhead)`,
        });
        runner.kill();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Console and events.

  logs(name: string): Uint8Array {
    return this.find(name).console.contents();
  }

  /**
   * At most MAX_CONSOLE_CLIENTS at once per VM (429). Input is bounded in flight: at most
   * INPUT_IN_FLIGHT bytes sent to the runner and not yet acknowledged; more is dropped and counted.
   */
  attachConsole(
    name: string,
    onOutput: (bytes: Uint8Array) => void,
  ): { input(bytes: Uint8Array): void; detach(): void } {
    const vm = this.find(name);
    if (vm.listeners.size >= MAX_CONSOLE_CLIENTS)
      throw new VmmError(429, `${name} already has ${MAX_CONSOLE_CLIENTS} console clients attached`);
    const listener = (bytes: Uint8Array): void => onOutput(bytes);
    vm.listeners.add(listener);
    return {
      input: (bytes: Uint8Array) => {
        const runner = vm.runner;
        if (!runner || bytes.length === 0) return;
        const take = Math.min(bytes.length, INPUT_IN_FLIGHT - vm.inputInFlight, MAX_OUTPUT_CHUNK);
        vm.inputDropped += bytes.length - Math.max(0, take);
        if (take <= 0) return;
        vm.inputInFlight += take;
        // A copy with its own buffer: a Buffer may be a view into an 8 KiB pool that would travel whole.
        runner.send({ type: 'input', data: new Uint8Array(bytes.subarray(0, take)) });
      },
      detach: () => {
        vm.listeners.delete(listener);
      },
    };
  }

  /** Events with a sequence number above `since` (each event carries its `seq`); all kept ones without. */
  events(since?: number): VmEvent[] {
    const all = this.eventRing as (VmEvent & { seq: number })[];
    return (since === undefined ? all : all.filter((e) => e.seq > since)).map((e) => ({ ...e }));
  }

  onEvent(listener: (event: VmEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  // ---------------------------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) throw new VmmError(409, 'the VM manager is closed');
  }

  /** The pid of a VM's runner process, for tests and diagnostics. */
  runnerPid(name: string): number | undefined {
    return this.find(name).runner?.pid;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.memoryPoll !== null) clearInterval(this.memoryPoll);
    await Promise.all(
      [...this.vms.values()]
        .filter((vm) => vm.runner !== null)
        .map((vm) => this.pullPlug(vm, { state: 'stopped', reason: 'stopped: the VM manager closed' })),
    );
    await this.hub.close();
  }
}
