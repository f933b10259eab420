/** `typervisor run`: boots a VM on the virt board with the terminal as its serial console. */
import { writeFileSync } from 'node:fs';
import { BootImageError } from '../machine/boot/kernel-image.js';
import type { CharPort } from '../machine/devices/virtio/char-port.js';
import { VirtMachine } from '../machine/virt/virt-machine.js';
import { SwitchRegistry } from '../net/virtual-switch.js';
import type { ConsolePortSpec, DiskSpec, NetSpec, ShareSpec } from '../vmm/device-specs.js';
import { type BootOptions, machineConfig } from '../vmm/machine-config.js';
import { createVirtioDevices, DeviceSetupError } from '../vmm/virtio-devices.js';
import { TerminalConsole } from './console.js';

export interface RunOptions extends BootOptions {
  dumpDtb?: string;
  disk?: DiskSpec[];
  net?: NetSpec[];
  share?: ShareSpec[];
  port?: ConsolePortSpec[];
  rng?: boolean;
  /** Which device the terminal is: the 16550 UART (ttyS0) or a virtio console (hvc0). */
  console: 'serial' | 'virtio';
}

export const EXIT_ERROR = 125;

/** The terminal as the first port of a virtio console: what the guest writes to hvc0 shows up here. */
class TerminalPort implements CharPort {
  readonly name = 'terminal';
  readonly connected = true;
  onInput: (bytes: Uint8Array) => void = () => {};
  onConnectionChange: (connected: boolean) => void = () => {};
  onWritable: () => void = () => {};
  terminal: TerminalConsole | null = null;
  get writable(): boolean {
    return !this.terminal?.backedUp;
  }
  write(bytes: Uint8Array): void {
    if (this.terminal && !this.terminal.write(bytes)) this.terminal.whenDrained(() => this.onWritable());
  }
  async close(): Promise<void> {}
}

export async function runVm(options: RunOptions): Promise<number> {
  let machine: VirtMachine;
  const terminalPort = options.console === 'virtio' ? new TerminalPort() : undefined;
  try {
    const virtio = await createVirtioDevices(
      {
        disks: options.disk ?? [],
        nets: options.net ?? [],
        shares: options.share ?? [],
        consolePort: terminalPort,
        ports: options.port ?? [],
        rng: options.rng ?? false,
      },
      new SwitchRegistry(),
    );
    machine = new VirtMachine({ ...machineConfig(options), virtio });
  } catch (e) {
    if (e instanceof BootImageError || e instanceof RangeError || e instanceof DeviceSetupError) {
      process.stderr.write(`typervisor: ${e.message}\n`);
      return EXIT_ERROR;
    }
    throw e;
  }
  if (options.dumpDtb) {
    writeFileSync(options.dumpDtb, machine.dtb);
    return 0;
  }
  const terminal = new TerminalConsole({
    input: (bytes) => (terminalPort ? terminalPort.onInput(bytes) : machine.sendInput(bytes)),
    quit: () => machine.powerOff(),
  });
  machine.onOutput = (bytes) => {
    if (terminal.write(bytes)) return;
    machine.setOutputReady(false);
    terminal.whenDrained(() => machine.setOutputReady(true));
  };
  machine.onLog = (message) => process.stderr.write(`\r\ntypervisor: ${message}\r\n`);
  machine.onGuestPanic = (detail) =>
    process.stderr.write(`\r\ntypervisor: the guest panicked (${detail})\r\n`);
  if (terminalPort) terminalPort.terminal = terminal;
  terminal.attach();
  let exit: Awaited<ReturnType<VirtMachine['run']>>;
  try {
    exit = await machine.run();
  } finally {
    terminal.detach();
  }
  switch (exit.kind) {
    case 'poweroff':
      return exit.code;
    case 'stopped':
      return 0;
    default:
      process.stderr.write(`\r\ntypervisor: ${exit.message}\n`);
      return 1;
  }
}
