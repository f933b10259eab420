/**
 * The host terminal as the guest's serial console, in the manner of QEMU's -nographic: raw mode, and
 * Ctrl-A as an escape key (Ctrl-A x quits, Ctrl-A h lists the escapes, Ctrl-A a sends a Ctrl-A).
 */

const CTRL_A = 0x01;

export interface ConsoleHandlers {
  input(bytes: Uint8Array): void;
  quit(): void;
}

const HELP =
  '\r\nC-a h    print this help\r\nC-a x    exit the emulator\r\nC-a a    send C-a to the guest\r\n';

export class TerminalConsole {
  private escaping = false;
  private readonly handlers: ConsoleHandlers;
  private readonly onData = (chunk: Buffer): void => this.handle(chunk);
  private rawMode = false;

  constructor(handlers: ConsoleHandlers) {
    this.handlers = handlers;
  }

  attach(): void {
    const stdin = process.stdin;
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      this.rawMode = true;
    }
    stdin.on('data', this.onData);
    stdin.resume();
  }

  detach(): void {
    const stdin = process.stdin;
    stdin.off('data', this.onData);
    if (this.rawMode) stdin.setRawMode(false);
    stdin.pause();
  }

  /**
   * Guest output to the terminal. False when stdout is backed up (an asynchronous pipe or terminal whose
   * reader lags): the caller then holds the guest back until whenDrained. On Linux stdout writes are
   * synchronous for files, pipes and terminals, and then it is the write itself that waits.
   */
  write(bytes: Uint8Array): boolean {
    return process.stdout.write(bytes);
  }

  get backedUp(): boolean {
    return process.stdout.writableNeedDrain;
  }

  whenDrained(fn: () => void): void {
    process.stdout.once('drain', fn);
  }

  private handle(chunk: Uint8Array): void {
    const forward: number[] = [];
    for (const byte of chunk) {
      if (this.escaping) {
        this.escaping = false;
        const key = String.fromCharCode(byte).toLowerCase();
        if (key === 'x') {
          this.flush(forward);
          process.stderr.write('\r\nQEMU-style escape: terminating the VM\r\n');
          this.handlers.quit();
          return;
        }
        if (key === 'h') process.stderr.write(HELP);
        else if (byte === CTRL_A || key === 'a') forward.push(CTRL_A);
        continue;
      }
      if (byte === CTRL_A) this.escaping = true;
      else forward.push(byte);
    }
    this.flush(forward);
  }

  private flush(bytes: number[]): void {
    if (bytes.length > 0) this.handlers.input(Uint8Array.from(bytes));
  }
}
