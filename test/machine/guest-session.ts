/**
 * Drives `typervisor run` as a user at a serial console would: starts the CLI with piped stdio, waits
 * for text to appear, types commands. Used by the boot tests.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export class GuestSession {
  readonly child: ChildProcessWithoutNullStreams;
  private text = '';
  /** Where the next waitFor starts looking, so old matches are not found again. */
  private cursor = 0;
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: 'pipe' });
    this.child.stdout.on('data', (b: Buffer) => {
      this.text += b.toString('latin1');
    });
    this.child.stderr.on('data', (b: Buffer) => {
      this.text += b.toString('latin1');
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get transcript(): string {
    return this.text;
  }

  /** Waits until `pattern` appears after the previous match; returns the text up to and including it. */
  async waitFor(pattern: RegExp | string, timeoutMs: number): Promise<string> {
    const started = Date.now();
    for (;;) {
      const rest = this.text.slice(this.cursor);
      const m = typeof pattern === 'string' ? rest.indexOf(pattern) : rest.search(pattern);
      if (m >= 0) {
        const len =
          typeof pattern === 'string' ? pattern.length : (rest.slice(m).match(pattern)?.[0].length ?? 0);
        const upTo = rest.slice(0, m + len);
        this.cursor += m + len;
        return upTo;
      }
      if (Date.now() - started > timeoutMs) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${pattern}; console so far:\n${this.text.slice(-3000)}`,
        );
      }
      if (this.child.exitCode !== null) {
        throw new Error(
          `the VM exited (${this.child.exitCode}) while waiting for ${pattern}; console:\n${this.text.slice(-3000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  send(text: string): void {
    this.child.stdin.write(text);
  }

  /**
   * Runs a shell command and returns what it printed. The output is framed by marker lines, because
   * the shell's echo of a long command line wraps at the terminal width and cannot be cut off reliably.
   */
  async command(cmd: string, prompt: string, timeoutMs = 60_000): Promise<string> {
    this.send(`echo '<''<<'; ${cmd}; echo '>>''>'\n`);
    await this.waitFor(/\r?\n<<<\r?\n/, timeoutMs);
    const body = await this.waitFor(/>>>\r?\n/, timeoutMs);
    await this.waitFor(prompt, timeoutMs);
    return body.replace(/>>>\r?\n$/, '').replace(/\r/g, '');
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
