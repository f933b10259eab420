/**
 * Drives a VM's console as a user at a serial line would: wait for text, type, run commands. The same
 * protocol serves `typervisor run` children (GuestSession), other emulators in child processes (ChildVm,
 * for QEMU) and VMs inside the test process (InProcessVm in in-process-vm.ts).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
export const PROMPT = '~ # ';

/** A console as text: wait for output, type input, run commands framed by markers. */
export abstract class ConsoleSession {
  protected text = '';
  /** Where the next waitFor starts looking, so old matches are not found again. */
  private cursor = 0;
  abstract readonly label: string;

  get transcript(): string {
    return this.text;
  }

  /** Why the VM can produce no more output, or null while it runs. */
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

  /**
   * Runs a shell command and returns what it printed. The output is framed by marker lines, because
   * the shell's echo of a long command line wraps at the terminal width and cannot be cut off reliably.
   */
  async command(cmd: string, prompt = PROMPT, timeoutMs = 60_000): Promise<string> {
    this.send(`echo '<''<<'; ${cmd}; echo '>>''>'\n`);
    await this.waitFor(/\r?\n<<<\r?\n/, timeoutMs);
    const body = await this.waitFor(/>>>\r?\n/, timeoutMs);
    await this.waitFor(prompt, timeoutMs);
    return body.replace(/>>>\r?\n$/, '').replace(/\r/g, '');
  }
}

/** An emulator in a child process whose stdio is the serial console (QEMU -nographic, typervisor run). */
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

/** `typervisor run ARGS...` with its console on pipes. */
export class GuestSession extends ChildVm {
  constructor(args: string[]) {
    super('typervisor', process.execPath, [CLI, ...args]);
  }
}
