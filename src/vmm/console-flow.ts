/**
 * Flow control of a VM's console between its runner and the manager, so that a guest that writes (or
 * a client that types) faster than the other side takes never grows a host buffer without bound.
 *
 * Output: the runner sends chunks and counts what the manager has not acknowledged. Past a window it
 * tells the machine to hold output (the guest then sees a busy transmitter: backpressure, nothing
 * lost); should output keep coming anyway, past a hard limit it is dropped and counted.
 *
 * Input is bounded where it waits: the machine takes what its UART queue has room for (sendInput says
 * how much), and the runner counts the rest as dropped; a guest that never reads its console must not
 * make the host keep everything a client types or pastes.
 */
import { MAX_OUTPUT_CHUNK, OUTPUT_HARD_LIMIT, OUTPUT_WINDOW } from './runner-protocol.js';

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
