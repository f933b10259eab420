/**
 * An open regular file of a share: I/O goes through its descriptor, never the path again, so the file
 * stays the one that was opened whatever happens to its name. Its descriptor counts against the
 * share's FdAccount until close().
 */
import type { FileHandle } from 'node:fs/promises';
import type { FdAccount } from './fd-budget.js';
import { ERRNO, errnoOf, FsError, rethrow } from './fs-errno.js';
import type { ShareFile, ShareStat } from './share.js';

export class SharedFile implements ShareFile {
  private readonly handle: FileHandle;
  private readonly fds: FdAccount;
  readonly writable: boolean;
  private closed = false;

  /** Takes over `handle`, whose descriptor was acquired from `fds`. */
  constructor(handle: FileHandle, writable: boolean, fds: FdAccount) {
    this.handle = handle;
    this.writable = writable;
    this.fds = fds;
  }

  async read(into: Uint8Array, position: number): Promise<number> {
    try {
      let done = 0;
      // A short read from a regular file only means end of file, except for signals; loop to fill.
      while (done < into.length) {
        const { bytesRead } = await this.handle.read(into, done, into.length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    } catch (e) {
      rethrow(e);
    }
  }

  async write(data: Uint8Array, position: number): Promise<number> {
    if (!this.writable) throw new FsError(ERRNO.EBADF, 'file not open for writing');
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await this.handle.write(data, done, data.length - done, position + done);
        if (bytesWritten === 0) break;
        done += bytesWritten;
      }
      return done;
    } catch (e) {
      rethrow(e);
    }
  }

  async stat(): Promise<ShareStat> {
    try {
      return await this.handle.stat({ bigint: true });
    } catch (e) {
      rethrow(e);
    }
  }

  async truncate(size: number): Promise<void> {
    if (!this.writable) throw new FsError(ERRNO.EBADF, 'file not open for writing');
    try {
      await this.handle.truncate(size);
    } catch (e) {
      rethrow(e);
    }
  }

  async sync(dataOnly: boolean): Promise<void> {
    try {
      if (dataOnly) await this.handle.datasync();
      else await this.handle.sync();
    } catch (e) {
      // Some host file systems cannot sync a read-only descriptor; the data is not ours to lose then.
      if (errnoOf(e) !== ERRNO.EBADF && errnoOf(e) !== ERRNO.EINVAL) rethrow(e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close().catch(() => {});
    this.fds.release();
  }
}
