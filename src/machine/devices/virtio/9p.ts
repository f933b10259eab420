/**
 * virtio-9p (VIRTIO 1.2 section 5.11, "9P transport"): one request queue carrying 9P2000.L messages,
 * a request in the device-readable buffers of a chain and its reply written to the device-writable
 * ones, and a mount tag in the configuration space (VIRTIO_9P_MOUNT_TAG) that the guest names in
 * `mount -t 9p -o trans=virtio TAG DIR`.
 *
 * Requests are served concurrently because host file I/O is asynchronous; each completes on its own,
 * and completions that land in the same turn of the event loop share one used-buffer interrupt. A
 * driver reset starts a new server (a new session without fids): replies of the old one still in
 * flight are dropped, and it closes its host files once they settle.
 */
import type { SharedFolder } from '../../../storage/shared-folder.js';
import { DEFAULT_MAX_MSIZE, P9Server } from './9p/server.js';
import { HEADER_SIZE } from './9p/wire.js';
import { DEVICE_ID, type FeatureWords, featureWords } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';

/** VIRTIO_9P_MOUNT_TAG: the configuration space holds the tag. */
const F_MOUNT_TAG = 0;
/** As many requests as Linux keeps in flight on one channel. */
const QUEUE_SIZE = 128;

export interface Virtio9pState {
  tag: string;
  root: string;
  readOnly: boolean;
  requests: number;
  errors: number;
  bytesRead: number;
  bytesWritten: number;
  inFlight: number;
  fids: number;
}

export class Virtio9p implements VirtioDevice {
  readonly deviceId = DEVICE_ID.p9;
  readonly name: string;
  readonly features: FeatureWords = featureWords(F_MOUNT_TAG);
  readonly queueMaxSizes = [QUEUE_SIZE];
  readonly config: Uint8Array;
  private readonly folder: SharedFolder;
  private readonly tag: string;
  private ctx!: VirtioContext;
  private server: P9Server;
  /** Counters of servers retired by resets, so that saveState totals survive them. */
  private readonly retired = { requests: 0, errors: 0, bytesRead: 0, bytesWritten: 0 };
  private readonly closing = new Set<Promise<void>>();
  /** Bumped by every reset: a reply computed for an older epoch belongs to buffers the driver took back. */
  private epoch = 0;
  private inFlight = 0;
  private flushQueued = false;

  constructor(folder: SharedFolder, options: { tag: string }) {
    const tag = new TextEncoder().encode(options.tag);
    if (tag.length === 0 || tag.length > 0xffff)
      throw new Error(`9p mount tag '${options.tag}' has a bad length`);
    this.folder = folder;
    this.tag = options.tag;
    this.name = `virtio-9p (${options.tag}${folder.readOnly ? ', read-only' : ''})`;
    this.config = new Uint8Array(2 + tag.length);
    this.config[0] = tag.length & 0xff;
    this.config[1] = tag.length >> 8;
    this.config.set(tag, 2);
    this.server = new P9Server(folder);
  }

  attach(ctx: VirtioContext): void {
    this.ctx = ctx;
  }

  activate(): void {}

  notify(index: number): void {
    if (index !== 0) return;
    const q = this.ctx.queue(0);
    const memory = this.ctx.memory;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      // Only as much as the message says it is (and the server could accept) is copied out of RAM.
      const header = new Uint8Array(HEADER_SIZE);
      chain.read(memory, header);
      const size = header[0] | (header[1] << 8) | (header[2] << 16) | (header[3] << 24);
      const length = Math.min(chain.readableLength, Math.max(HEADER_SIZE, size >>> 0), DEFAULT_MAX_MSIZE);
      const request = new Uint8Array(length);
      chain.read(memory, request);
      const epoch = this.epoch;
      const head = chain.head;
      this.inFlight++;
      void this.server.handle(request, chain.writableLength).then((reply) => {
        this.inFlight--;
        if (epoch !== this.epoch) return;
        try {
          const written = chain.write(this.ctx.memory, reply);
          this.ctx.queue(0).push(head, written);
          this.completed();
        } catch (e) {
          this.ctx.fail(`completing a request: ${(e as Error).message}`);
        }
      });
    }
  }

  /** One interrupt for all replies completed in this turn of the event loop. */
  private completed(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.ctx.usedBuffers(0);
    });
  }

  reset(): void {
    this.epoch++;
    this.retire();
  }

  resetQueue(index: number): void {
    // The driver took back every buffer of the queue; the session (fids) belongs to the driver still.
    if (index === 0) this.epoch++;
  }

  private retire(): void {
    const old = this.server;
    const c = old.counters;
    this.retired.requests += c.requests;
    this.retired.errors += c.errors;
    this.retired.bytesRead += c.bytesRead;
    this.retired.bytesWritten += c.bytesWritten;
    this.server = new P9Server(this.folder);
    const done = old.close().then(() => {
      this.closing.delete(done);
    });
    this.closing.add(done);
  }

  async close(): Promise<void> {
    this.epoch++;
    this.retire();
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  saveState(): Virtio9pState {
    const c = this.server.counters;
    return {
      tag: this.tag,
      root: this.folder.root,
      readOnly: this.folder.readOnly,
      requests: this.retired.requests + c.requests,
      errors: this.retired.errors + c.errors,
      bytesRead: this.retired.bytesRead + c.bytesRead,
      bytesWritten: this.retired.bytesWritten + c.bytesWritten,
      inFlight: this.inFlight,
      fids: this.server.fidCount,
    };
  }
}
