/**
 * Host-target interface of Spike and QEMU's `spike` machine: the guest writes requests to an 8-byte
 * `tohost` word in RAM and reads answers from `fromhost`. Used by bare-metal test programs for console
 * output, write(2)/exit(2) proxying and, above all, reporting their exit code.
 *
 * request = device << 56 | command << 48 | payload
 *   device 0, command 0, odd payload:  exit with code payload >> 1
 *   device 0, even payload:            pointer to magic_mem[8] = {syscall, arg0, arg1, arg2, ...}
 *   device 1, command 1:               console putchar of the low byte
 */
import type { Hart } from '../../cpu/hart.js';

const SYS_WRITE = 64;
const SYS_EXIT = 93;
const ENOSYS = 38;
const TWO32 = 4294967296;

export interface HtifHost {
  /** Console and write(2) output for a file descriptor (1 = stdout, 2 = stderr); `bytes` may be a view of guest RAM, valid during the call. */
  output(fd: number, bytes: Uint8Array): void;
  /** The guest asked to end the run with this code (0 = success). */
  exit(code: number): void;
}

export class Htif {
  private readonly hart: Hart;
  private readonly tohost: number;
  private readonly fromhost: number;
  private readonly host: HtifHost;

  /** tohost/fromhost are RAM byte offsets of the two symbols. */
  constructor(hart: Hart, tohost: number, fromhost: number, host: HtifHost) {
    this.hart = hart;
    this.tohost = tohost;
    this.fromhost = fromhost;
    this.host = host;
    hart.watchedPages[tohost >>> 12] = 1;
    hart.onWatchedStore = (offset, size) => this.onStore(offset, size);
  }

  private onStore(offset: number, size: number): void {
    // A 64-bit request may arrive as two 32-bit stores, low word first: act on the word that completes it.
    const hiWord = this.tohost + 4;
    const completes = (offset === this.tohost && size === 8) || (offset <= hiWord && offset + size > hiWord);
    if (!completes) return;
    const ram = this.hart.ram32;
    const lo = ram[this.tohost >> 2];
    const hi = ram[(this.tohost >> 2) + 1];
    if (lo === 0 && hi === 0) return;
    this.handle(lo, hi);
  }

  private handle(lo: number, hi: number): void {
    const device = hi >>> 24;
    const command = (hi >>> 16) & 0xff;
    const payloadHi = hi & 0xffff;
    const ram = this.hart.ram32;
    ram[this.tohost >> 2] = 0;
    ram[(this.tohost >> 2) + 1] = 0;
    let response = 1;
    if (device === 0 && command === 0) {
      if (lo & 1) {
        this.host.exit((payloadHi * TWO32 + (lo >>> 0) - 1) / 2);
        return;
      }
      response = this.syscall(payloadHi * TWO32 + (lo >>> 0));
      if (response < 0) return;
    } else if (device === 1 && command === 1) {
      this.host.output(1, Uint8Array.of(lo & 0xff));
      response = 0x100 | (lo & 0xff);
    } else if (device === 1 && command === 0) {
      // Console input is not connected; the request stays unanswered, as on a host with no input.
      return;
    }
    ram[this.fromhost >> 2] = response;
    ram[(this.fromhost >> 2) + 1] = (device << 24) | (command << 16);
  }

  /** Runs a proxied system call; returns the fromhost value, or -1 when the run ends. */
  private syscall(address: number): number {
    const hart = this.hart;
    const base = address - hart.ramBase;
    if (!(base >= 0 && base + 64 <= hart.ramSize) || base % 8 !== 0) {
      // A guest error, not the host's: say so on the error stream and answer, with nowhere to put a result.
      const text = `HTIF: ignored a system call whose block at 0x${address.toString(16)} is not aligned RAM\n`;
      this.host.output(2, new TextEncoder().encode(text));
      return 1;
    }
    const word = (i: number): number => {
      const idx = (base >> 2) + 2 * i;
      return (hart.ram32[idx + 1] >>> 0) * TWO32 + (hart.ram32[idx] >>> 0);
    };
    const which = word(0);
    let result: number;
    if (which === SYS_EXIT) {
      this.host.exit(word(1));
      return -1;
    }
    if (which === SYS_WRITE) {
      const fd = word(1);
      const buffer = word(2) - hart.ramBase;
      const length = word(3);
      if (buffer >= 0 && buffer + length <= hart.ramSize) {
        // A view: the host writes it out before this returns, so a large write costs no copy of RAM.
        this.host.output(fd, hart.ram8.subarray(buffer, buffer + length));
        result = length;
      } else {
        result = -14; // EFAULT
      }
    } else {
      result = -ENOSYS;
    }
    hart.ram32[base >> 2] = result | 0;
    hart.ram32[(base >> 2) + 1] = result < 0 ? -1 : 0;
    return 1;
  }
}
