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
/**
 * Bytes given per buffer: the device may fill less than a buffer holds (5.4.6.2), and a driver asks for
 * tens of bytes at a time, so a chain of huge buffers costs the host no more than this.
 */
export const RNG_MAX_PER_REQUEST = 65536;
/** Bytes served per step before the rest of the ring waits for the run loop's next one. */
export const RNG_STEP_BYTES = 256 * 1024;

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
    let step = 0;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      let written = 0;
      for (let i = chain.readableCount; i < chain.offsets.length && written < RNG_MAX_PER_REQUEST; i++) {
        const length = Math.min(chain.lengths[i], RNG_MAX_PER_REQUEST - written);
        const view = memory.bytes.subarray(chain.offsets[i], chain.offsets[i] + length);
        for (let at = 0; at < length; at += CRYPTO_CHUNK) {
          this.random(view.subarray(at, Math.min(length, at + CRYPTO_CHUNK)));
        }
        memory.written(chain.offsets[i], length);
        written += length;
      }
      this.bytesServed += written;
      q.push(chain.head, written);
      served = true;
      step += written;
      if (step >= RNG_STEP_BYTES) {
        if (q.hasAvailable()) this.ctx.defer(index);
        break;
      }
    }
    if (served) this.ctx.usedBuffers(index);
  }

  reset(): void {}

  async close(): Promise<void> {}

  saveState(): VirtioRngState {
    return { bytesServed: this.bytesServed };
  }
}
