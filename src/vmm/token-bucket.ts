/**
 * Bandwidth limits for a VM's disks and NICs, as Firecracker's rate limiters do it: a token bucket
 * per device, filled at `rate` bytes per second up to `burst` bytes. The limiters wrap the backends,
 * so the device models stay unaware of them: a disk request or an outgoing frame simply completes later.
 */
import type { NetBackend } from '../net/net-backend.js';
import type { BlockBackend } from '../storage/block-backend.js';

export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  private tokens: number;
  private last: number;
  private readonly now: () => number;

  /** `rate` bytes per second; `burst` defaults to a tenth of a second's worth (at least 64 KiB). */
  constructor(rate: number, burst?: number, now: () => number = () => performance.now()) {
    if (!(rate > 0)) throw new RangeError(`token bucket rate ${rate} is not positive`);
    this.rate = rate;
    this.burst = burst ?? Math.max(65536, rate / 10);
    this.tokens = this.burst;
    this.now = now;
    this.last = now();
  }

  /**
   * Takes `n` tokens and returns how many milliseconds the caller must wait before using them. The
   * bucket may go negative: a request larger than the burst is not refused, it waits for its tokens.
   * Since each reservation is taken at once, later callers queue behind earlier ones in order.
   */
  reserve(n: number): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate;
  }

  /** Milliseconds until the bucket is out of debt (0 when it has tokens): reserve(0) without the name. */
  debtMs(): number {
    return this.reserve(0);
  }
}

function delay(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

function length(views: Uint8Array[]): number {
  let n = 0;
  for (const v of views) n += v.length;
  return n;
}

/** A disk whose reads and writes (bytes moved, not requests) draw from one bucket. */
export class RateLimitedDisk implements BlockBackend {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  private readonly inner: BlockBackend;
  private readonly bucket: TokenBucket;

  constructor(inner: BlockBackend, bucket: TokenBucket) {
    this.inner = inner;
    this.bucket = bucket;
    this.name = inner.name;
    this.size = inner.size;
    this.readOnly = inner.readOnly;
  }

  async readv(views: Uint8Array[], position: number): Promise<void> {
    await delay(this.bucket.reserve(length(views)));
    return this.inner.readv(views, position);
  }

  async writev(views: Uint8Array[], position: number): Promise<void> {
    await delay(this.bucket.reserve(length(views)));
    return this.inner.writev(views, position);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  admitInMs(): number {
    return this.bucket.debtMs();
  }

  discard(position: number, length: number): Promise<void> {
    return this.inner.discard(position, length);
  }

  async writeZeroes(position: number, length: number): Promise<void> {
    // Zeroes are real writes on a raw file, so they cost bandwidth like any other write.
    await delay(this.bucket.reserve(length));
    return this.inner.writeZeroes(position, length);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Frames held back beyond this are dropped, as a full NIC transmit queue drops them. */
const MAX_QUEUED_BYTES = 1024 * 1024;

/** A NIC whose outgoing frames wait for tokens; incoming frames pass untouched. */
export class RateLimitedNic implements NetBackend {
  readonly name: string;
  onReceive: (frame: Uint8Array) => void = () => {};
  onLinkChange: (up: boolean) => void = () => {};
  framesDropped = 0;
  private readonly inner: NetBackend;
  private readonly bucket: TokenBucket;
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(inner: NetBackend, bucket: TokenBucket) {
    this.inner = inner;
    this.bucket = bucket;
    this.name = inner.name;
    inner.onReceive = (frame) => this.onReceive(frame);
    inner.onLinkChange = (up) => this.onLinkChange(up);
  }

  get linkUp(): boolean {
    return this.inner.linkUp;
  }

  send(frame: Uint8Array): void {
    if (this.queue.length === 0) {
      const wait = this.bucket.reserve(frame.length);
      if (wait === 0) {
        this.inner.send(frame);
        return;
      }
      this.enqueue(frame);
      this.timer = setTimeout(() => this.drain(), wait);
      return;
    }
    if (this.queuedBytes + frame.length > MAX_QUEUED_BYTES) {
      this.framesDropped++;
      return;
    }
    this.bucket.reserve(frame.length);
    this.enqueue(frame);
  }

  private enqueue(frame: Uint8Array): void {
    // The device reuses nothing after send() returns, but a copy keeps that promise out of our way.
    this.queue.push(frame.slice());
    this.queuedBytes += frame.length;
  }

  /**
   * Every queued frame already holds its reservation, so the head may go once the bucket's debt is no
   * more than what the frames behind it reserved.
   */
  private headWaitMs(): number {
    const debt = (this.bucket.reserve(0) * this.bucket.rate) / 1000;
    const reservedBehind = this.queuedBytes - this.queue[0].length;
    return Math.max(0, ((debt - reservedBehind) * 1000) / this.bucket.rate);
  }

  private drain(): void {
    this.timer = null;
    while (this.queue.length > 0) {
      const wait = this.headWaitMs();
      if (wait > 0) {
        this.timer = setTimeout(() => this.drain(), Math.max(1, wait));
        return;
      }
      const frame = this.queue.shift() as Uint8Array;
      this.queuedBytes -= frame.length;
      this.inner.send(frame);
    }
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
    this.queuedBytes = 0;
    await this.inner.close();
  }
}
