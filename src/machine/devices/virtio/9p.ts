/**
 * virtio-9p (VIRTIO 1.2 section 5.11, "9P transport"): one request queue carrying 9P2000.L messages,
 * a request in the device-readable buffers of a chain and its reply written to the device-writable
 * ones, and a mount tag in the configuration space (VIRTIO_9P_MOUNT_TAG) that the guest names in
 * `mount -t 9p -o trans=virtio TAG DIR`.
 *
 * Requests are served concurrently because host file I/O is asynchronous; each completes on its own,
 * and completions that land in the same turn of the event loop share one used-buffer interrupt.
 *
 * Work in flight is bounded: at most `maxRequests` requests at once, holding at most `maxBytes` of
 * host memory (the request's copy plus the room its reply may take, which for Tread and Treaddir is
 * what the guest asked for). A request over the bound is not taken: it waits in the ring (at most one
 * chain is parked, its bytes still in guest RAM) until earlier ones complete.
 *
 * A driver reset starts a new server (a new session without fids): replies of the old one still in
 * flight are dropped, and it closes its host files once they settle; until then its requests still
 * count against the bound.
 */
import type { Share } from '../../../storage/share.js';
import { DEFAULT_MAX_MSIZE, P9Server, type P9ServerOptions, T } from './9p/server.js';
import { HEADER_SIZE } from './9p/wire.js';
import { DEVICE_ID, type FeatureWords, featureWords } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';
import type { DescriptorChain } from './virtqueue.js';

/** VIRTIO_9P_MOUNT_TAG: the configuration space holds the tag. */
const F_MOUNT_TAG = 0;
/** As many requests as Linux keeps in flight on one channel. */
const QUEUE_SIZE = 128;
/** Requests served at once by default; more wait in the ring. */
export const DEFAULT_MAX_REQUESTS = 32;
/** Host bytes the requests in flight may hold by default (requests and reply room). */
export const DEFAULT_MAX_BYTES = 4 << 20;
/** Room reserved for a reply other than Rread/Rreaddir beyond the request's size (Rreadlink, Rgetattr...). */
const SMALL_REPLY = 8192;
/** What a request in flight costs beyond its buffers (objects, promises). */
const REQUEST_OVERHEAD = 256;
/** Tread and Treaddir: header, fid[4], offset[8], count[4]. */
const IO_REQUEST_HEADER = HEADER_SIZE + 16;
/** Rread and Rreaddir: header, count[4]. */
const IO_REPLY_HEADER = HEADER_SIZE + 4;

export interface Virtio9pOptions extends P9ServerOptions {
  tag: string;
  /** Requests served at once (default DEFAULT_MAX_REQUESTS). */
  maxRequests?: number;
  /** Host bytes held by requests in flight (default DEFAULT_MAX_BYTES; at least two msize). */
  maxBytes?: number;
}

export interface Virtio9pState {
  tag: string;
  root: string;
  readOnly: boolean;
  requests: number;
  errors: number;
  bytesRead: number;
  bytesWritten: number;
  inFlight: number;
  /** Host bytes the requests in flight hold now (requests and reply room). */
  bytesInFlight: number;
  fids: number;
  /** Host descriptors the share holds now. */
  openFiles: number;
}

/** A request taken from the ring: how much it may read and write, and what that costs the host. */
interface Admission {
  chain: DescriptorChain;
  requestLength: number;
  replyRoom: number;
  cost: number;
}

export class Virtio9p implements VirtioDevice {
  readonly deviceId = DEVICE_ID.p9;
  readonly name: string;
  readonly features: FeatureWords = featureWords(F_MOUNT_TAG);
  readonly queueMaxSizes = [QUEUE_SIZE];
  readonly config: Uint8Array;
  private readonly folder: Share;
  private readonly tag: string;
  private readonly serverOptions: P9ServerOptions;
  private readonly maxMsize: number;
  private readonly maxRequests: number;
  private readonly maxBytes: number;
  private ctx!: VirtioContext;
  private server: P9Server;
  /** Counters of servers retired by resets, so that saveState totals survive them. */
  private readonly retired = { requests: 0, errors: 0, bytesRead: 0, bytesWritten: 0 };
  private readonly closing = new Set<Promise<void>>();
  /** Bumped by every reset: a reply computed for an older epoch belongs to buffers the driver took back. */
  private epoch = 0;
  private inFlight = 0;
  private bytesInFlight = 0;
  /** A chain taken from the ring that did not fit the bound yet (its bytes are still in guest RAM). */
  private parked: Admission | null = null;
  private flushQueued = false;

  /** The device owns `folder` from now on: close() closes it. */
  constructor(folder: Share, options: Virtio9pOptions) {
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
    this.maxMsize = options.maxMsize ?? DEFAULT_MAX_MSIZE;
    this.maxRequests = Math.max(1, options.maxRequests ?? DEFAULT_MAX_REQUESTS);
    // One request of the largest size must always fit, or the queue would stall.
    this.maxBytes = Math.max(
      options.maxBytes ?? DEFAULT_MAX_BYTES,
      2 * this.maxMsize + SMALL_REPLY + REQUEST_OVERHEAD,
    );
    this.serverOptions = {
      maxMsize: this.maxMsize,
      maxFids: options.maxFids,
      maxPathChars: options.maxPathChars,
    };
    this.server = new P9Server(folder, this.serverOptions);
  }

  attach(ctx: VirtioContext): void {
    this.ctx = ctx;
  }

  activate(): void {}

  notify(index: number): void {
    if (index === 0) this.pump();
  }

  /** Takes requests from the ring while the bound allows. Throws what the queue throws (a broken ring). */
  private pump(): void {
    const q = this.ctx.queue(0);
    while (this.inFlight < this.maxRequests) {
      let next = this.parked;
      this.parked = null;
      if (next === null) {
        const chain = q.pop();
        if (chain === null) return;
        next = this.admission(chain);
      }
      if (this.inFlight > 0 && this.bytesInFlight + next.cost > this.maxBytes) {
        this.parked = next;
        return;
      }
      this.start(next);
    }
  }

  /**
   * What a request will cost, from its header (and count field) alone: nothing is copied before the
   * request is admitted. The guest may change the bytes before they are copied; the sizes decided here
   * are what the copy and the reply are limited to all the same.
   */
  private admission(chain: DescriptorChain): Admission {
    const head = new Uint8Array(Math.min(chain.readableLength, IO_REQUEST_HEADER));
    chain.read(this.ctx.memory, head);
    const view = new DataView(head.buffer);
    const size = head.length >= 4 ? view.getUint32(0, true) : 0;
    const requestLength = Math.min(chain.readableLength, Math.max(HEADER_SIZE, size), this.maxMsize);
    const type = head.length > 4 ? head[4] : 0;
    let replyRoom: number;
    if ((type === T.read || type === T.readdir) && head.length >= IO_REQUEST_HEADER) {
      replyRoom = IO_REPLY_HEADER + view.getUint32(IO_REQUEST_HEADER - 4, true);
    } else {
      replyRoom = SMALL_REPLY + requestLength;
    }
    replyRoom = Math.min(replyRoom, chain.writableLength, this.maxMsize);
    return { chain, requestLength, replyRoom, cost: requestLength + replyRoom + REQUEST_OVERHEAD };
  }

  private start(a: Admission): void {
    const request = new Uint8Array(a.requestLength);
    a.chain.read(this.ctx.memory, request);
    const epoch = this.epoch;
    this.inFlight++;
    this.bytesInFlight += a.cost;
    void this.server.handle(request, a.replyRoom).then((reply) => {
      this.inFlight--;
      this.bytesInFlight -= a.cost;
      // Outside the transport's guard: a broken ring found here must fail the device, not throw.
      try {
        if (epoch === this.epoch) {
          const written = a.chain.write(this.ctx.memory, reply);
          this.ctx.queue(0).push(a.chain.head, written);
          this.completed();
        }
        if (this.ctx.active) this.pump();
      } catch (e) {
        this.ctx.fail(`completing a request: ${(e as Error).message}`);
      }
    });
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
    this.parked = null;
    this.retire();
  }

  resetQueue(index: number): void {
    // The driver took back every buffer of the queue; the session (fids) belongs to the driver still.
    if (index !== 0) return;
    this.epoch++;
    this.parked = null;
  }

  private retire(): void {
    const old = this.server;
    const c = old.counters;
    this.retired.requests += c.requests;
    this.retired.errors += c.errors;
    this.retired.bytesRead += c.bytesRead;
    this.retired.bytesWritten += c.bytesWritten;
    this.server = new P9Server(this.folder, this.serverOptions);
    const done = old.close().then(() => {
      this.closing.delete(done);
    });
    this.closing.add(done);
  }

  async close(): Promise<void> {
    this.epoch++;
    this.parked = null;
    this.retire();
    while (this.closing.size > 0) await Promise.all([...this.closing]);
    await this.server.close();
    await this.folder.close();
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
      bytesInFlight: this.bytesInFlight,
      fids: this.server.fidCount,
      openFiles: this.folder.openFiles,
    };
  }
}
