/**
 * virtio-rng (entropy device, VIRTIO 1.2 section 5.4): one request queue; the driver posts writable
 * buffers and the device fills them with random bytes from the host's cryptographic generator
 * (Web Crypto, so the device also runs where Node's own crypto module does not).
 */
import { DEVICE_ID, type FeatureWords } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';

const QUEUE_SIZE = 256;
/** getRandomValues fills at most 64 KiB per call. */
const CRYPTO_CHUNK = 65536;

export interface VirtioRngState {
  bytesServed: number;
}

export class VirtioRng implements VirtioDevice {
  readonly deviceId = DEVICE_ID.entropy;
  readonly name = 'virtio-rng';
  readonly features: FeatureWords = [0, 0];
  readonly queueMaxSizes = [QUEUE_SIZE];
  readonly config = new Uint8Array(0);
  private ctx!: VirtioContext;
  private bytesServed = 0;
  private readonly random: (into: Uint8Array) => void;

  constructor(random: (into: Uint8Array) => void = (into) => crypto.getRandomValues(into)) {
    this.random = random;
  }

  attach(ctx: VirtioContext): void {
    this.ctx = ctx;
  }

  activate(): void {}

  notify(index: number): void {
    const q = this.ctx.queue(index);
    const memory = this.ctx.memory;
    let served = false;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      let written = 0;
      for (const view of chain.writableViews(memory)) {
        for (let at = 0; at < view.length; at += CRYPTO_CHUNK) {
          this.random(view.subarray(at, Math.min(view.length, at + CRYPTO_CHUNK)));
        }
        written += view.length;
      }
      for (let i = chain.readableCount; i < chain.offsets.length; i++)
        memory.written(chain.offsets[i], chain.lengths[i]);
      this.bytesServed += written;
      q.push(chain.head, written);
      served = true;
    }
    if (served) this.ctx.usedBuffers(index);
  }

  reset(): void {}

  async close(): Promise<void> {}

  saveState(): VirtioRngState {
    return { bytesServed: this.bytesServed };
  }
}
