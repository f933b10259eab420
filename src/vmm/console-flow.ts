/**
 * Flow control of a VM's console between its runner and the manager, so that a guest that writes (or
 * a client that types) faster than the other side takes never grows a host buffer without bound.
 *
 * Output: the runner sends chunks and counts what the manager has not acknowledged. Past a window it
 * tells the machine to hold output (the guest then sees a busy transmitter: backpressure, nothing
 * lost); should output keep coming anyway, past a hard limit it is dropped and counted.
 *
 * Input: what the runner hands the machine waits there until the guest reads it; past a bound, new
 * input is dropped and counted (a guest that never reads its console must not make the host keep
 * everything a client types or pastes).
 */
import { INPUT_QUEUE_BYTES, MAX_OUTPUT_CHUNK, OUTPUT_HARD_LIMIT, OUTPUT_WINDOW } from './runner-protocol.js';

export class OutputWindow {
  /** Bytes sent and not acknowledged yet. */
  unacked = 0;
  dropped = 0;
  private ready = true;

  constructor(
    private readonly send: (chunk: Uint8Array) => void,
    private readonly setReady: (ready: boolean) => void,
    private readonly window = OUTPUT_WINDOW,
    private readonly hardLimit = OUTPUT_HARD_LIMIT,
  ) {}

  push(data: Uint8Array): void {
    for (let at = 0; at < data.length; at += MAX_OUTPUT_CHUNK) {
      const chunk = data.subarray(at, Math.min(data.length, at + MAX_OUTPUT_CHUNK));
      if (this.unacked + chunk.length > this.hardLimit) {
        this.dropped += chunk.length;
        continue;
      }
      // A copy of exactly these bytes: a view would drag its whole buffer across the channel.
      this.send(chunk.slice());
      this.unacked += chunk.length;
    }
    if (this.ready && this.unacked >= this.window) {
      this.ready = false;
      this.setReady(false);
    }
  }

  ack(bytes: number): void {
    this.unacked = Math.max(0, this.unacked - bytes);
    // Half the window of hysteresis: the guest resumes writing in large steps, not byte by byte.
    if (!this.ready && this.unacked <= this.window / 2) {
      this.ready = true;
      this.setReady(true);
    }
  }
}

/**
 * Admits console input into the machine while at most `bound` bytes of it wait for the guest. How much
 * waits is learned from `pending` (the machine's own queue); it is asked only when the estimate says
 * the bound may be reached, and at most every `probeMs`, so a flood of tiny messages stays cheap.
 */
export class InputGate {
  dropped = 0;
  private estimate = 0;
  private lastProbe = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly pending: () => number,
    private readonly bound = INPUT_QUEUE_BYTES,
    private readonly probeMs = 20,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** How many of `length` bytes the machine may take now; the rest is counted as dropped. */
  admit(length: number): number {
    if (this.estimate + length > this.bound) {
      const now = this.now();
      if (now - this.lastProbe >= this.probeMs) {
        this.estimate = this.pending();
        this.lastProbe = now;
      }
    }
    const take = Math.max(0, Math.min(length, this.bound - this.estimate));
    this.estimate += take;
    this.dropped += length - take;
    return take;
  }
}
