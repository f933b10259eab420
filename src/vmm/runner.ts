/**
 * One VM's runner: builds the VirtMachine from a definition the way `typervisor run` does (same machine
 * config, same virtio device path), then relays console bytes, control commands and metrics over a
 * channel to the manager. The same code runs in a child process and in a worker thread; only the
 * channel differs (see runner-main.ts).
 */

import { VirtioBlk } from '../machine/devices/virtio/blk.js';
import { VirtioNet } from '../machine/devices/virtio/net.js';
import { VirtMachine } from '../machine/virt/virt-machine.js';
import { parseMac } from '../net/mac.js';
import type { NetBackend } from '../net/net-backend.js';
import type { BlockBackend } from '../storage/block-backend.js';
import { OutputWindow } from './console-flow.js';
import { machineConfig } from './machine-config.js';
import type { FromRunner, RunnerConfig, RunnerMetrics, ToRunner } from './runner-protocol.js';
import { hubSwitchPorts } from './switch-hub.js';
import { RateLimitedDisk, RateLimitedNic, TokenBucket } from './token-bucket.js';
import { createVirtioDevices } from './virtio-devices.js';

export interface RunnerChannel {
  send(message: FromRunner): void;
  onMessage(handler: (message: ToRunner) => void): void;
  /** Ends the runner once the last message is on its way. */
  exit(code: number): void;
  /** Host CPU seconds this runner used (its process, or for a thread its own busy time). */
  cpuSeconds(machine: VirtMachine | null): number;
}

const METRICS_MS = 1000;

async function buildMachine(config: RunnerConfig): Promise<VirtMachine> {
  const spec = config.spec;
  const limits = spec.limits ?? {};
  const diskRate = limits.diskBytesPerSecond;
  const netRate = limits.netBytesPerSecond;
  // One bucket for all of the VM's disks (the limit is per VM); one per NIC (the limit is per NIC).
  const diskBucket = diskRate ? new TokenBucket(diskRate) : null;
  const virtio = await createVirtioDevices(
    {
      disks: (spec.disks ?? []).map((d, i) => ({
        kind: 'disk' as const,
        path: d.path,
        readOnly: d.readOnly ?? false,
        serial: d.serial,
        label: `disks[${i}].path`,
        identity: config.identities[d.path],
      })),
      nets: (spec.nics ?? []).map((n, i) => ({
        kind: 'net' as const,
        attachment: { type: 'switch' as const, name: n.switch },
        mac: n.mac ? parseMac(n.mac, `nics[${i}].mac`) : undefined,
      })),
      shares: (spec.shares ?? []).map((s, i) => ({
        kind: 'share' as const,
        path: s.path,
        tag: s.tag,
        readOnly: s.readOnly ?? false,
        label: `shares[${i}].path`,
        identity: config.identities[s.path],
      })),
      ports: [],
      rng: spec.rng ?? true,
    },
    hubSwitchPorts(config.switchPorts),
    {
      disk: diskBucket ? (b: BlockBackend) => new RateLimitedDisk(b, diskBucket) : undefined,
      net: netRate ? (b: NetBackend) => new RateLimitedNic(b, new TokenBucket(netRate)) : undefined,
    },
  );
  try {
    const machine = new VirtMachine({
      ...machineConfig({
        kernel: spec.boot.kernel,
        initrd: spec.boot.initrd,
        append: spec.boot.cmdline,
        mem: spec.memoryMiB * 2 ** 20,
        smp: spec.vcpus,
        bios: spec.boot.firmware ?? 'builtin',
        defaultKernel: config.defaultKernel,
        defaultInitrd: config.defaultInitrd,
        identities: config.identities,
        labels: { kernel: 'boot.kernel', initrd: 'boot.initrd', firmware: 'boot.firmware' },
        jit: spec.jit === false ? false : {},
      }),
      virtio,
    });
    if (limits.cpuPercent !== undefined) machine.setCpuQuota(limits.cpuPercent);
    return machine;
  } catch (e) {
    await Promise.allSettled(virtio.map((d) => d.close()));
    throw e;
  }
}

function deviceCounters(
  machine: VirtMachine,
): Pick<RunnerMetrics, 'diskReadBytes' | 'diskWriteBytes' | 'netRxBytes' | 'netTxBytes'> {
  const c = { diskReadBytes: 0, diskWriteBytes: 0, netRxBytes: 0, netTxBytes: 0 };
  for (const t of machine.virtio) {
    const d = t.device;
    if (d instanceof VirtioBlk) {
      const s = d.saveState();
      c.diskReadBytes += s.counters.bytesRead;
      c.diskWriteBytes += s.counters.bytesWritten;
    } else if (d instanceof VirtioNet) {
      const s = d.saveState();
      c.netRxBytes += s.rxBytes;
      c.netTxBytes += s.txBytes;
    }
  }
  return c;
}

/** Runs the runner's whole life on `channel`: wait for 'start', run the VM, report, exit. */
export function serveRunner(channel: RunnerChannel): void {
  let machine: VirtMachine | null = null;
  let metricsTimer: ReturnType<typeof setInterval> | null = null;
  let lastInstructions = 0;
  let lastSample = performance.now();
  // Commands that arrive while the machine is being built are applied once it exists.
  const early: ToRunner[] = [];
  let output: OutputWindow | null = null;
  /** Console input the machine refused: its UART queue was full (the guest is not reading). */
  let inputDropped = 0;
  // Control commands run one after another: a pause is confirmed before a later resume is applied.
  let control: Promise<void> = Promise.resolve();

  const fail = (phase: 'setup' | 'fatal', e: unknown): void => {
    const message = e instanceof Error ? e.message : String(e);
    channel.send({ type: 'error', phase, message });
    channel.exit(1);
  };

  const sample = (): void => {
    if (!machine) return;
    const now = performance.now();
    const instructions = machine.instructions;
    const seconds = (now - lastSample) / 1000;
    const metrics: RunnerMetrics = {
      instructions,
      mips: seconds > 0 ? (instructions - lastInstructions) / seconds / 1e6 : 0,
      guestRamBytes: machine.config.ramSize,
      hostRssBytes: process.memoryUsage.rss(),
      cpuSeconds: channel.cpuSeconds(machine),
      ...deviceCounters(machine),
      consoleOutputDroppedBytes: output?.dropped ?? 0,
      consoleInputDroppedBytes: inputDropped,
      logLinesDropped: machine.logsDropped,
    };
    lastInstructions = instructions;
    lastSample = now;
    channel.send({ type: 'metrics', metrics });
  };

  const command = async (m: VirtMachine, c: ToRunner): Promise<void> => {
    switch (c.type) {
      case 'sysrq':
        m.sendBreak();
        m.sendInput(new TextEncoder().encode(c.key.slice(0, 1)));
        return;
      case 'pause':
        // Resolves once the run loop is parked; only then is the pause true, and confirmed.
        await m.pause();
        channel.send({ type: 'paused' });
        return;
      case 'resume':
        m.resume();
        return;
      case 'reset':
        m.reset();
        return;
      default:
        return;
    }
  };

  const apply = (m: ToRunner): void => {
    if (!machine) {
      if (m.type !== 'start') early.push(m);
      return;
    }
    const vm = machine;
    switch (m.type) {
      case 'input': {
        const data = m.data instanceof Uint8Array ? m.data : new Uint8Array(0);
        if (data.length > 0) inputDropped += data.length - vm.sendInput(data);
        channel.send({ type: 'input-ack', bytes: data.length });
        return;
      }
      case 'output-ack':
        if (typeof m.bytes === 'number' && Number.isFinite(m.bytes)) output?.ack(m.bytes);
        return;
      case 'poweroff':
        // Not queued behind a pause that might never complete: pulling the plug always works.
        vm.powerOff();
        return;
      default:
        control = control.then(() => command(vm, m)).catch((e) => fail('fatal', e));
        return;
    }
  };

  const start = async (config: RunnerConfig): Promise<void> => {
    let m: VirtMachine;
    try {
      m = await buildMachine(config);
    } catch (e) {
      fail('setup', e);
      return;
    }
    machine = m;
    output = new OutputWindow(
      (data) => channel.send({ type: 'output', data }),
      (ready) => m.setOutputReady(ready),
    );
    const window = output;
    m.onOutput = (data) => window.push(data);
    m.onLog = (message) => channel.send({ type: 'log', message });
    m.onGuestPanic = (detail) => channel.send({ type: 'panic', detail: String(detail) });
    const running = m.run();
    channel.send({ type: 'started', pid: process.pid });
    for (const c of early.splice(0)) apply(c);
    lastSample = performance.now();
    metricsTimer = setInterval(sample, METRICS_MS);
    let exit: Awaited<typeof running>;
    try {
      exit = await running;
    } catch (e) {
      // A bug in the emulator, not the guest's doing: the manager marks the VM crashed with this.
      fail('fatal', e);
      return;
    } finally {
      if (metricsTimer !== null) clearInterval(metricsTimer);
    }
    sample();
    channel.send({ type: 'exit', exit });
    channel.exit(0);
  };

  let started = false;
  channel.onMessage((m) => {
    if (m.type === 'start') {
      if (started) return;
      started = true;
      void start(m.config);
      return;
    }
    apply(m);
  });
}
