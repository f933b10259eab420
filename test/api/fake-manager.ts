/**
 * An in-memory VmManagerApi for testing the API and the CLI without booting anything: it keeps
 * the state machine and the error statuses the real manager promises (404 unknown, 409 duplicate
 * or wrong state, 422 missing file, 507 over budget), writes a fake boot banner to the console
 * on start, and echoes console input back upper-cased so that tests can see the round trip.
 */
import { existsSync } from 'node:fs';
import type { VmEvent, VmInfo, VmManagerApi, VmSpec, VmState } from '../../src/vmm/types.js';
import { VmmError } from '../../src/vmm/types.js';

interface FakeVm {
  spec: VmSpec;
  state: VmState;
  startedAt?: number;
  log: Buffer;
  consoles: Set<(bytes: Uint8Array) => void>;
}

export const BOOT_BANNER = 'Linux version 6.1.0 (fake)\nWelcome to the fake guest\n# ';

export class FakeManager implements VmManagerApi {
  readonly vms = new Map<string, FakeVm>();
  readonly eventLog: (VmEvent & { seq: number })[] = [];
  /** Replaces fields of a running VM's metrics: what a misbehaving runner might have reported. */
  metricsOverride: Record<string, unknown> = {};
  private readonly listeners = new Set<(e: VmEvent) => void>();
  closed = false;

  constructor(
    private readonly totalBytes = 1024 * 1024 * 1024,
    private readonly perVmOverheadBytes = 16 * 1024 * 1024,
  ) {}

  private find(name: string): FakeVm {
    const vm = this.vms.get(name);
    if (!vm) throw new VmmError(404, `no VM named '${name}'`);
    return vm;
  }

  private info(vm: FakeVm): VmInfo {
    const live = vm.state === 'running' || vm.state === 'paused';
    return {
      spec: vm.spec,
      state: vm.state,
      ...(live && vm.startedAt !== undefined
        ? {
            startedAt: new Date(vm.startedAt).toISOString(),
            uptimeSeconds: (Date.now() - vm.startedAt) / 1000,
            pid: 4242,
            metrics: {
              instructions: 123456789,
              mips: 98.5,
              guestRamBytes: vm.spec.memoryMiB * 1024 * 1024,
              hostRssBytes: 50_000_000,
              diskReadBytes: 4096,
              diskWriteBytes: 512,
              netRxBytes: 100,
              netTxBytes: 200,
              cpuSeconds: 1.5,
              ...(this.metricsOverride as object),
            },
          }
        : {}),
    };
  }

  private emit(vm: string, type: string, detail?: string): void {
    const event = {
      seq: this.eventLog.length + 1,
      time: new Date().toISOString(),
      vm,
      type,
      ...(detail ? { detail } : {}),
    };
    this.eventLog.push(event);
    for (const l of this.listeners) l(event);
  }

  /** Console output from a VM's guest, as a runner would deliver it. */
  emitOutput(name: string, bytes: Uint8Array): void {
    const vm = this.find(name);
    for (const c of vm.consoles) c(bytes);
  }

  private output(vm: FakeVm, text: string): void {
    const bytes = Buffer.from(text);
    vm.log = Buffer.concat([vm.log, bytes]).subarray(-256 * 1024);
    for (const c of vm.consoles) c(bytes);
  }

  private used(): number {
    let used = 0;
    for (const vm of this.vms.values()) used += vm.spec.memoryMiB * 1024 * 1024 + this.perVmOverheadBytes;
    return used;
  }

  private expect(vm: FakeVm, action: string, ...states: VmState[]): void {
    if (!states.includes(vm.state)) {
      throw new VmmError(409, `cannot ${action} VM '${vm.spec.name}': it is ${vm.state}`);
    }
  }

  list(): VmInfo[] {
    return [...this.vms.values()].map((vm) => this.info(vm));
  }

  get(name: string): VmInfo {
    return this.info(this.find(name));
  }

  async create(spec: VmSpec): Promise<VmInfo> {
    if (spec.vcpus !== 1) throw new VmmError(400, `vcpus: ${spec.vcpus} is not supported (only 1 vCPU)`);
    if (this.vms.has(spec.name)) throw new VmmError(409, `a VM named '${spec.name}' already exists`);
    for (const file of [spec.boot.kernel, spec.boot.initrd, ...(spec.disks ?? []).map((d) => d.path)]) {
      if (file !== undefined && !existsSync(file)) throw new VmmError(422, `${file}: no such file`);
    }
    const need = spec.memoryMiB * 1024 * 1024 + this.perVmOverheadBytes;
    if (this.used() + need > this.totalBytes) {
      throw new VmmError(
        507,
        `'${spec.name}' needs ${need} bytes; the budget has ${this.totalBytes - this.used()} left`,
      );
    }
    const vm: FakeVm = { spec, state: 'stopped', log: Buffer.alloc(0), consoles: new Set() };
    this.vms.set(spec.name, vm);
    this.emit(spec.name, 'created');
    return this.info(vm);
  }

  async start(name: string): Promise<VmInfo> {
    const vm = this.find(name);
    this.expect(vm, 'start', 'stopped', 'crashed');
    vm.state = 'running';
    vm.startedAt = Date.now();
    this.emit(name, 'started');
    this.output(vm, BOOT_BANNER);
    return this.info(vm);
  }

  async pause(name: string): Promise<VmInfo> {
    const vm = this.find(name);
    this.expect(vm, 'pause', 'running');
    vm.state = 'paused';
    this.emit(name, 'paused');
    return this.info(vm);
  }

  async resume(name: string): Promise<VmInfo> {
    const vm = this.find(name);
    this.expect(vm, 'resume', 'paused');
    vm.state = 'running';
    this.emit(name, 'resumed');
    return this.info(vm);
  }

  async reset(name: string): Promise<VmInfo> {
    const vm = this.find(name);
    this.expect(vm, 'reset', 'running', 'paused');
    vm.state = 'running';
    vm.startedAt = Date.now();
    this.emit(name, 'reset');
    this.output(vm, BOOT_BANNER);
    return this.info(vm);
  }

  async shutdown(name: string, timeoutSeconds?: number): Promise<VmInfo> {
    const vm = this.find(name);
    this.expect(vm, 'shut down', 'running', 'paused');
    vm.state = 'stopped';
    vm.startedAt = undefined;
    this.emit(name, 'stopped', `guest powered off (timeout ${timeoutSeconds ?? 'default'})`);
    return this.info(vm);
  }

  async stop(name: string): Promise<VmInfo> {
    const vm = this.find(name);
    this.expect(vm, 'stop', 'running', 'paused', 'starting', 'stopping');
    vm.state = 'stopped';
    vm.startedAt = undefined;
    this.emit(name, 'stopped', 'stopped by request');
    return this.info(vm);
  }

  async delete(name: string): Promise<void> {
    const vm = this.find(name);
    this.expect(vm, 'delete', 'stopped', 'crashed');
    this.vms.delete(name);
    this.emit(name, 'deleted');
  }

  logs(name: string): Uint8Array {
    return new Uint8Array(this.find(name).log);
  }

  attachConsole(name: string, onOutput: (bytes: Uint8Array) => void) {
    // As the real manager: a console may be attached to a stopped VM and sees its next boot.
    const vm = this.find(name);
    vm.consoles.add(onOutput);
    return {
      input: (bytes: Uint8Array) => {
        if (vm.state === 'running') this.output(vm, Buffer.from(bytes).toString('latin1').toUpperCase());
      },
      detach: () => {
        vm.consoles.delete(onOutput);
      },
    };
  }

  events(since?: number): VmEvent[] {
    return this.eventLog.filter((e) => since === undefined || e.seq > since).map((e) => ({ ...e }));
  }

  onEvent(listener: (event: VmEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  budget() {
    return {
      totalBytes: this.totalBytes,
      usedBytes: this.used(),
      perVmOverheadBytes: this.perVmOverheadBytes,
    };
  }

  async close(): Promise<void> {
    for (const vm of this.vms.values()) {
      vm.state = 'stopped';
      vm.startedAt = undefined;
    }
    this.closed = true;
  }
}
