/**
 * Bounds the messages a guest can make its VM log (device errors it caused, say). A guest that fails
 * requests in a loop would otherwise write thousands of lines a second into the host's logs. Messages
 * pass at a steady rate with a burst allowance; the rest are counted, and the next message that passes
 * says how many were dropped, so nothing is lost silently.
 */

/** Lines per second a VM may log once its burst is spent. */
export const LOG_LINES_PER_SECOND = 10;
/** Lines a VM may log at once (a boot with a few failing devices stays complete). */
export const LOG_BURST = 50;
/** Characters kept of one message: guest-chosen names inside it (9p paths, tags) cannot make it huge. */
export const LOG_MAX_CHARS = 512;

export class LogLimiter {
  /** Messages dropped since the machine was built. */
  dropped = 0;
  private tokens: number;
  private last: number;
  private unreported = 0;
  private readonly rate: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(options: { rate?: number; burst?: number; now?: () => number } = {}) {
    this.rate = options.rate ?? LOG_LINES_PER_SECOND;
    this.burst = options.burst ?? LOG_BURST;
    this.now = options.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** The line to log for `message`, or null when it is over the rate and dropped. */
  admit(message: string): string | null {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    if (this.tokens < 1) {
      this.dropped++;
      this.unreported++;
      return null;
    }
    this.tokens -= 1;
    let line = message.length > LOG_MAX_CHARS ? `${message.slice(0, LOG_MAX_CHARS)}…` : message;
    if (this.unreported > 0) {
      line = `${line} (${this.unreported} earlier messages dropped: over ${this.rate} per second)`;
      this.unreported = 0;
    }
    return line;
  }
}
