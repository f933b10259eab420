/**
 * The fid table of one 9P session: what each fid the guest made names (a share-relative path) and
 * holds (an open file, an open directory stream, an xattr value), bounded in count and in the bytes of
 * the paths it keeps, so that a guest cannot grow host memory by making fids.
 *
 * Fids name objects by path, so a rename moves the fids below it along (move()).
 */
import { ERRNO } from '../../../../storage/fs-errno.js';
import type { DirEntry, ShareDirectory, ShareFile } from '../../../../storage/share.js';
import { ProtocolError } from './wire.js';

/** Longest share-relative path a fid may name, in characters (Linux's PATH_MAX). */
export const MAX_PATH = 4096;
/** Fids a session may hold by default: a guest caching many dentries (cache=loose) holds one each. */
export const DEFAULT_MAX_FIDS = 16384;
/** Characters of all the fids' paths together, by default. */
export const DEFAULT_MAX_PATH_CHARS = 4 << 20;

/** A directory opened by Tlopen: a stream and the offset (entries consumed) Treaddir continues from. */
export interface OpenDirectory {
  /** null after a failed reopen: the next Treaddir opens it again. */
  stream: ShareDirectory | null;
  /** Entries consumed: the offset of the next entry ('.' and '..' are the first two). */
  next: number;
  /** '.' and '..' already taken from the stream's front (0, 1 or 2). */
  synthetic: number;
  /** An entry taken from the stream that did not fit the last reply. */
  peeked: DirEntry | null;
  /** Treaddir requests on one directory run one after the other: the stream has one position. */
  busy: Promise<void>;
}

export interface Fid {
  /** Share-relative path ('' is the root). */
  readonly path: string;
  qidType: number;
  /** Set by Tlopen/Tlcreate of a regular file. */
  file?: ShareFile;
  /** Set by Tlopen of a directory. */
  dir?: OpenDirectory;
  /** Set by Txattrwalk: the attribute's value, which Tread returns. */
  xattr?: Uint8Array;
  /** A Tlopen/Tlcreate is opening something for this fid. */
  opening?: boolean;
  /** Clunked: whatever an operation still in flight opens for it must be closed, not kept. */
  closed?: boolean;
}

export class FidTable {
  private readonly fids = new Map<number, Fid>();
  private readonly maxFids: number;
  private readonly maxPathChars: number;
  private pathChars = 0;

  constructor(options: { maxFids?: number; maxPathChars?: number } = {}) {
    this.maxFids = options.maxFids ?? DEFAULT_MAX_FIDS;
    this.maxPathChars = options.maxPathChars ?? DEFAULT_MAX_PATH_CHARS;
  }

  get size(): number {
    return this.fids.size;
  }

  get(id: number): Fid {
    const f = this.fids.get(id);
    if (!f) throw new ProtocolError(`fid ${id} is not in use`, ERRNO.EBADF);
    return f;
  }

  /** Throws unless `id` is free (checked before work whose result add() will store under it). */
  checkFree(id: number): void {
    if (this.fids.has(id)) throw new ProtocolError(`fid ${id} is already in use`, ERRNO.EBADF);
  }

  /** Throws unless a fid may name `path`. */
  static checkPath(path: string): void {
    if (path.length > MAX_PATH)
      throw new ProtocolError(`path of ${path.length} characters is too long`, ERRNO.ENAMETOOLONG);
  }

  /** Stores a new fid under a free id (EMFILE beyond the table's bounds). */
  add(id: number, fid: Fid): Fid {
    this.checkFree(id);
    FidTable.checkPath(fid.path);
    if (this.fids.size >= this.maxFids)
      throw new ProtocolError(`${this.maxFids} fids in use, the most a session may hold`, ERRNO.EMFILE);
    if (this.pathChars + fid.path.length > this.maxPathChars)
      throw new ProtocolError('the fids hold too many path characters', ERRNO.EMFILE);
    this.fids.set(id, fid);
    this.pathChars += fid.path.length;
    return fid;
  }

  /** Removes a fid (its resources are the caller's to close). */
  delete(id: number): Fid | undefined {
    const f = this.fids.get(id);
    if (!f) return undefined;
    this.fids.delete(id);
    this.pathChars -= f.path.length;
    f.closed = true;
    return f;
  }

  /** Removes every fid, returning them (their resources are the caller's to close). */
  clear(): Fid[] {
    const all = [...this.fids.values()];
    for (const f of all) f.closed = true;
    this.fids.clear();
    this.pathChars = 0;
    return all;
  }

  /** Points fid `f` at another path (Tlcreate turns a directory fid into the new file's). */
  repath(f: Fid, path: string): void {
    FidTable.checkPath(path);
    this.setPath(f, path);
  }

  private setPath(f: Fid, path: string): void {
    if (!f.closed) this.pathChars += path.length - f.path.length;
    (f as { path: string }).path = path;
  }

  /** Throws unless moving `from` to `to` keeps every fid's path within bounds (call before renaming). */
  checkMove(from: string, to: string): void {
    const prefix = `${from}/`;
    let growth = 0;
    for (const f of this.fids.values()) {
      if (f.path !== from && !f.path.startsWith(prefix)) continue;
      FidTable.checkPath(to + f.path.slice(from.length));
      growth += to.length - from.length;
    }
    if (this.pathChars + growth > this.maxPathChars)
      throw new ProtocolError('the fids would hold too many path characters', ERRNO.EMFILE);
  }

  /**
   * Follows a rename: fids at or below `from` now live at `to`. It cannot fail (the host rename is
   * done); checkMove() before it keeps the bounds, give or take fids made by requests in between.
   */
  move(from: string, to: string): void {
    const prefix = `${from}/`;
    for (const f of this.fids.values()) {
      if (f.path === from || f.path.startsWith(prefix)) this.setPath(f, to + f.path.slice(from.length));
    }
  }

  values(): IterableIterator<Fid> {
    return this.fids.values();
  }
}
