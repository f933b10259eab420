/**
 * An open directory of a share read as a stream: entries come from the host a few at a time (Node's
 * Dir buffers DIR_BUFFER of them), so listing a directory of any size holds a bounded number of names
 * in memory, whoever asks and however many directories are open at once. Its descriptor counts
 * against the share's FdAccount until close().
 */
import type { Dir, Dirent } from 'node:fs';
import type { FdAccount } from './fd-budget.js';
import { rethrow } from './fs-errno.js';
import type { DirEntry, ShareDirectory } from './share.js';

/** Entries Node reads from the host at once (and holds) per open directory. */
export const DIR_BUFFER = 32;

function direntType(d: Dirent): number {
  if (d.isDirectory()) return 4;
  if (d.isFile()) return 8;
  if (d.isSymbolicLink()) return 10;
  if (d.isFIFO()) return 1;
  if (d.isCharacterDevice()) return 2;
  if (d.isBlockDevice()) return 6;
  if (d.isSocket()) return 12;
  return 0;
}

export class SharedDirectory implements ShareDirectory {
  private readonly dir: Dir;
  private readonly fds: FdAccount;
  private closed = false;

  /** Takes over `dir`, whose descriptor was acquired from `fds`. */
  constructor(dir: Dir, fds: FdAccount) {
    this.dir = dir;
    this.fds = fds;
  }

  async next(): Promise<DirEntry | null> {
    try {
      const d = await this.dir.read();
      return d === null ? null : { name: d.name, type: direntType(d) };
    } catch (e) {
      rethrow(e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dir.close().catch(() => {});
    this.fds.release();
  }
}
