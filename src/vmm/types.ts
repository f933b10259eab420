/**
 * The hypervisor's vocabulary, shared by the VM manager (src/vmm), the REST API (src/api) and the CLI:
 * what a VM definition says, the states a VM goes through, and what the manager offers. The JSON
 * Schema of a definition lives in vm-schema.ts and is the one the API validates requests against.
 */

export interface BootSpec {
  /** Linux Image / Image.gz / ELF, or omitted for the bundled default guest. */
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  /** 'builtin' (default), 'none', or a firmware file path (OpenSBI fw_dynamic, ...). */
  firmware?: string;
}

export interface DiskSpec {
  path: string;
  readOnly?: boolean;
  serial?: string;
}

export interface NicSpec {
  /** A virtual switch name: VMs on the same switch share an L2 segment. */
  switch: string;
  /** 52:54:00:xx:xx:xx style; generated (and then kept) when omitted. */
  mac?: string;
}

export interface ShareSpec {
  path: string;
  tag: string;
  readOnly?: boolean;
}

export interface LimitsSpec {
  /** Percent of one host core the VM's vCPU may use (1..100); default 100. */
  cpuPercent?: number;
  /** Disk bandwidth cap in bytes per second per VM (token bucket); absent = unlimited. */
  diskBytesPerSecond?: number;
  /** Network bandwidth cap in bytes per second per NIC (token bucket); absent = unlimited. */
  netBytesPerSecond?: number;
}

export interface VmSpec {
  /** Unique; [a-z0-9][a-z0-9_.-]{0,62}. */
  name: string;
  vcpus: number;
  /** Guest RAM in MiB. */
  memoryMiB: number;
  boot: BootSpec;
  disks?: DiskSpec[];
  nics?: NicSpec[];
  shares?: ShareSpec[];
  /** Entropy device (default true). */
  rng?: boolean;
  /** The WebAssembly tier for hot code (default true); false: the interpreter alone. */
  jit?: boolean;
  limits?: LimitsSpec;
  /** Start when the daemon starts. */
  autostart?: boolean;
  /** 'process' (default: a child process per VM) or 'thread' (a worker thread, for density). */
  runner?: 'process' | 'thread';
}

export type VmState = 'stopped' | 'starting' | 'running' | 'paused' | 'stopping' | 'crashed';

export interface VmMetrics {
  /** Guest instructions retired since the VM started. */
  instructions: number;
  /** Guest MIPS over the last sampling period. */
  mips: number;
  guestRamBytes: number;
  /** Resident set size of the runner process (for thread runners: the daemon's, shared). */
  hostRssBytes: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  netRxBytes: number;
  netTxBytes: number;
  /** Host CPU seconds the runner used. */
  cpuSeconds: number;
  /** Console output the runner dropped because the manager did not take it (bounded buffering). */
  consoleOutputDroppedBytes?: number;
  /** Console input dropped because the guest did not read it (bounded buffering). */
  consoleInputDroppedBytes?: number;
  /** Log lines the guest caused that the per-VM rate limit dropped. */
  logLinesDropped?: number;
}

export interface VmInfo {
  spec: VmSpec;
  state: VmState;
  /** Why the VM is crashed or stopped (exit code, signal, guest panic, memory cap...). */
  reason?: string;
  /** ISO time the VM last started, when it is running or paused. */
  startedAt?: string;
  uptimeSeconds?: number;
  pid?: number;
  metrics?: VmMetrics;
}

export interface VmEvent {
  /** Increases by one with every event the manager records: pass the last one seen to events(since). */
  seq?: number;
  time: string;
  vm: string;
  /** e.g. 'created', 'started', 'paused', 'resumed', 'stopped', 'crashed', 'deleted'. */
  type: string;
  detail?: string;
}

/** Errors the API maps to HTTP statuses. */
export type VmmErrorStatus = 400 | 403 | 404 | 409 | 422 | 429 | 504 | 507;

export class VmmError extends Error {
  readonly status: VmmErrorStatus;
  constructor(status: VmmErrorStatus, message: string) {
    super(message);
    this.status = status;
  }
}

/** What the VM manager offers the API and the CLI. All names are VM names. */
export interface VmManagerApi {
  list(): VmInfo[];
  /** 404 unknown VM. */
  get(name: string): VmInfo;
  /** 409 duplicate name, 507 over the memory budget, 422 a file that does not exist. */
  create(spec: VmSpec): Promise<VmInfo>;
  /** 409 if not stopped/crashed. */
  start(name: string): Promise<VmInfo>;
  pause(name: string): Promise<VmInfo>;
  resume(name: string): Promise<VmInfo>;
  /** Hard reset of a running VM (as the reset button). */
  reset(name: string): Promise<VmInfo>;
  /** Asks the guest to power off; forces a stop after `timeoutSeconds`. */
  shutdown(name: string, timeoutSeconds?: number): Promise<VmInfo>;
  /** Pulls the plug. */
  stop(name: string): Promise<VmInfo>;
  /** 409 if running; never deletes user-supplied disk images. */
  delete(name: string): Promise<void>;
  /** The last console output (a ring buffer of at most 256 KiB per VM). */
  logs(name: string): Uint8Array;
  /** Live console: output as it comes, and a way to type. Returns a detach function. */
  attachConsole(
    name: string,
    onOutput: (bytes: Uint8Array) => void,
  ): { input(bytes: Uint8Array): void; detach(): void };
  /** Recorded events (the last 1000), only those with `seq` greater than `since` when given. */
  events(since?: number): VmEvent[];
  /** Subscribe to events; returns an unsubscribe function. */
  onEvent(listener: (event: VmEvent) => void): () => void;
  /** Host memory budget in bytes and how much VMs have taken (guest RAM + per-VM overhead). */
  budget(): { totalBytes: number; usedBytes: number; perVmOverheadBytes: number };
  /** Stops every VM (daemon shutdown). */
  close(): Promise<void>;
}
