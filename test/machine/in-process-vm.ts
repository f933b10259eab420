/**
 * Drives VMs whose console is not a `typervisor run` child: VirtMachine instances in the test process
 * (so that they can share in-process switches, their run loops interleaving on one event loop) and
 * other emulators started as child processes (QEMU). Same waitFor/command protocol as GuestSession.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VirtioDevice } from '../../src/machine/devices/virtio/device.js';
import { type MachineExit, VirtMachine } from '../../src/machine/virt/virt-machine.js';
import { REPO_ROOT } from './guest-session.js';

export const DEFAULT_KERNEL = join(REPO_ROOT, 'images', 'linux', 'Image.gz');
export const DEFAULT_INITRD = join(REPO_ROOT, 'images', 'linux', 'initramfs.cpio.gz');
export const PROMPT = '~ # ';

/** A console as text: wait for output, type input, run commands framed by markers. */
export abstract class ConsoleSession {
  protected text = '';
  private cursor = 0;
  abstract readonly label: string;

  get transcript(): string {
    return this.text;
  }

  protected abstract stoppedReason(): string | null;
  abstract send(text: string): void;

  /** Waits until `pattern` appears after the previous match; returns the text up to and including it. */
  async waitFor(pattern: RegExp | string, timeoutMs: number): Promise<string> {
    const started = Date.now();
    for (;;) {
      const rest = this.text.slice(this.cursor);
      const m = typeof pattern === 'string' ? rest.indexOf(pattern) : rest.search(pattern);
      if (m >= 0) {
        const len =
          typeof pattern === 'string' ? pattern.length : (rest.slice(m).match(pattern)?.[0].length ?? 0);
        this.cursor += m + len;
        return rest.slice(0, m + len);
      }
      const stopped = this.stoppedReason();
      if (stopped !== null || Date.now() - started > timeoutMs) {
        throw new Error(
          `${this.label}: ${stopped ?? `timed out after ${timeoutMs} ms`} waiting for ${pattern}; console so far:\n${this.text.slice(-3000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Runs a shell command and returns its output (framed by marker lines, see GuestSession.command). */
  async command(cmd: string, timeoutMs = 60_000, prompt = PROMPT): Promise<string> {
    this.send(`echo '<''<<'; ${cmd}; echo '>>''>'\n`);
    await this.waitFor(/\r?\n<<<\r?\n/, timeoutMs);
    const body = await this.waitFor(/>>>\r?\n/, timeoutMs);
    await this.waitFor(prompt, timeoutMs);
    return body.replace(/>>>\r?\n$/, '').replace(/\r/g, '');
  }
}

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

/** An emulator in a child process whose stdio is the serial console (QEMU with -nographic). */
export class ChildVm extends ConsoleSession {
  readonly label: string;
  readonly child: ChildProcessWithoutNullStreams;
  private exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;

  constructor(label: string, command: string, args: string[]) {
    super();
    this.label = label;
    this.child = spawn(command, args, { stdio: 'pipe' });
    const append = (b: Buffer): void => {
      this.text += b.toString('latin1');
    };
    this.child.stdout.on('data', append);
    this.child.stderr.on('data', append);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
    this.child.on('error', (e) => {
      this.text += `\n[spawn failed: ${e.message}]\n`;
      this.exitCode = null;
    });
  }

  protected stoppedReason(): string | null {
    return this.exitCode === undefined ? null : `the process exited (${this.exitCode})`;
  }

  send(text: string): void {
    this.child.stdin.write(text);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
