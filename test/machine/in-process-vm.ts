/**
 * VirtMachine instances in the test process, so that they can share in-process switches (their run loops
 * interleave on one event loop), driven with the same console protocol as GuestSession.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VirtioDevice } from '../../src/machine/devices/virtio/device.js';
import { type MachineExit, VirtMachine } from '../../src/machine/virt/virt-machine.js';
import { ConsoleSession, REPO_ROOT } from './guest-session.js';

export const DEFAULT_KERNEL = join(REPO_ROOT, 'images', 'linux', 'Image.gz');
export const DEFAULT_INITRD = join(REPO_ROOT, 'images', 'linux', 'initramfs.cpio.gz');

export interface InProcessVmOptions {
  virtio?: VirtioDevice[];
  ramSize?: number;
  bootargs?: string;
}

/** A VirtMachine running in this process with the default guest. */
export class InProcessVm extends ConsoleSession {
  readonly label: string;
  readonly machine: VirtMachine;
  readonly exited: Promise<MachineExit>;
  private exit: MachineExit | null = null;
  readonly logs: string[] = [];

  constructor(label: string, options: InProcessVmOptions = {}) {
    super();
    this.label = label;
    this.machine = new VirtMachine({
      ramSize: options.ramSize ?? 128 * 2 ** 20,
      harts: 1,
      bios: 'builtin',
      kernel: { name: DEFAULT_KERNEL, bytes: readFileSync(DEFAULT_KERNEL) },
      initrd: { name: DEFAULT_INITRD, bytes: readFileSync(DEFAULT_INITRD) },
      bootargs: options.bootargs ?? 'console=ttyS0',
      virtio: options.virtio,
    });
    this.machine.onOutput = (bytes) => {
      this.text += Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    };
    this.machine.onLog = (message) => {
      this.logs.push(message);
      this.text += `\n[typervisor: ${message}]\n`;
    };
    this.exited = this.machine.run().then((exit) => {
      this.exit = exit;
      return exit;
    });
  }

  protected stoppedReason(): string | null {
    return this.exit === null ? null : `the VM stopped (${JSON.stringify(this.exit)})`;
  }

  send(text: string): void {
    this.machine.sendInput(Buffer.from(text, 'latin1'));
  }

  /** Pulls the plug and waits for the run loop (and the devices' close) to finish. */
  async stop(): Promise<void> {
    this.machine.powerOff();
    await this.exited;
  }
}
