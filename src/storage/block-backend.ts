/**
 * Where a virtual disk's bytes live. virtio-blk talks only to this interface, so a raw file today and
 * qcow2 or an overlay later plug in without touching the device. All calls are asynchronous: the vCPU
 * loop never waits for the host disk.
 */
export interface BlockBackend {
  /** What to call the disk in messages (usually the image path). */
  readonly name: string;
  /** Capacity in bytes (a multiple of 512). */
  readonly size: number;
  readonly readOnly: boolean;
  /** Fills the views, in order, from consecutive bytes starting at `position`. */
  readv(views: Uint8Array[], position: number): Promise<void>;
  /** Writes the views, in order, to consecutive bytes starting at `position`. */
  writev(views: Uint8Array[], position: number): Promise<void>;
  /** Returns once everything written so far is on the host's stable storage (fsync). */
  flush(): Promise<void>;
  /** The range's contents no longer matter; reads may return zeroes or old data. */
  discard(position: number, length: number): Promise<void>;
  /** The range reads as zeroes afterwards. */
  writeZeroes(position: number, length: number): Promise<void>;
  /**
   * Milliseconds until the backend takes another request without holding it back (a rate limit);
   * absent or 0 means now. The device leaves requests in the guest's ring meanwhile, so waiting costs
   * no host memory.
   */
  admitInMs?(): number;
  close(): Promise<void>;
}
