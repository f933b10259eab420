/**
 * A host folder shared with a guest (the host side of virtio-9p): an asynchronous file-system API on
 * paths relative to the share root that can never reach anything outside it.
 *
 * Confinement: every path is checked component by component ('..', '.', absolute paths and names with
 * separators are refused), the parent directory of the object an operation touches is resolved with
 * realpath and must stay under the root's realpath, and the last component is never followed when it
 * is a symlink (lstat, O_NOFOLLOW, lutimes, and an lstat check before the few calls that have no
 * no-follow form). Symlinks are objects a guest may create and read, never doors the host walks through.
 *
 * Races: operations that can put a symlink or another directory where a checked path used to lead
 * (symlink, rename, link) take an exclusive namespace lock; every other path operation holds the lock
 * shared from its check to its use. So a guest cannot redirect one of its own requests with another;
 * only the host user, who owns the folder, can race the checks.
 *
 * Errors are FsError with Linux errno numbers, whatever the host, because they go to a Linux guest.
 */
import { type BigIntStats, constants, type Dirent, promises as fsp } from 'node:fs';
import { join, sep } from 'node:path';

/** Linux errno numbers the 9P2000.L Rlerror reply carries. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOVERFLOW: 75,
  EILSEQ: 84,
  EOPNOTSUPP: 95,
  EDQUOT: 122,
} as const;

export class FsError extends Error {
  /** Linux errno. */
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.errno = errno;
  }
}

/** Node's error codes are the same names on every host; their numbers are not. */
const CODE_TO_ERRNO: Record<string, number> = {
  EPERM: ERRNO.EPERM,
  ENOENT: ERRNO.ENOENT,
  EIO: ERRNO.EIO,
  EBADF: ERRNO.EBADF,
  EAGAIN: ERRNO.EAGAIN,
  EWOULDBLOCK: ERRNO.EAGAIN,
  ENOMEM: ERRNO.ENOMEM,
  EACCES: ERRNO.EACCES,
  EBUSY: ERRNO.EBUSY,
  EEXIST: ERRNO.EEXIST,
  EXDEV: ERRNO.EXDEV,
  ENOTDIR: ERRNO.ENOTDIR,
  EISDIR: ERRNO.EISDIR,
  EINVAL: ERRNO.EINVAL,
  ENFILE: ERRNO.ENFILE,
  EMFILE: ERRNO.EMFILE,
  ETXTBSY: ERRNO.ETXTBSY,
  EFBIG: ERRNO.EFBIG,
  ENOSPC: ERRNO.ENOSPC,
  EROFS: ERRNO.EROFS,
  EMLINK: ERRNO.EMLINK,
  ERANGE: ERRNO.ERANGE,
  ENAMETOOLONG: ERRNO.ENAMETOOLONG,
  ENOSYS: ERRNO.ENOSYS,
  ENOTEMPTY: ERRNO.ENOTEMPTY,
  ELOOP: ERRNO.ELOOP,
  ENODATA: ERRNO.ENODATA,
  EOVERFLOW: ERRNO.EOVERFLOW,
  EILSEQ: ERRNO.EILSEQ,
  ENOTSUP: ERRNO.EOPNOTSUPP,
  EOPNOTSUPP: ERRNO.EOPNOTSUPP,
  EDQUOT: ERRNO.EDQUOT,
};

/** The Linux errno for any error a host call threw (EIO when nothing better is known). */
export function errnoOf(e: unknown): number {
  if (e instanceof FsError) return e.errno;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return (code !== undefined && CODE_TO_ERRNO[code]) || ERRNO.EIO;
}

/** Rethrows a host error as FsError, so callers only ever see Linux errnos. */
function rethrow(e: unknown): never {
  if (e instanceof FsError) throw e;
  throw new FsError(errnoOf(e), (e as Error)?.message ?? String(e));
}

// The host's own open flag values (they differ between Linux, macOS and Windows).
const O_NOFOLLOW: number = constants.O_NOFOLLOW ?? 0;
const O_DIRECTORY: number = constants.O_DIRECTORY ?? 0;
/** Should a regular file turn into a FIFO between the check and the open, the open must not hang. */
const O_NONBLOCK: number = constants.O_NONBLOCK ?? 0;

/** How to open a file: the access the guest asked for and the options that matter to the host. */
export interface OpenOptions {
  read: boolean;
  write: boolean;
  truncate?: boolean;
  append?: boolean;
  sync?: boolean;
}

export interface SetAttributes {
  mode?: number;
  size?: number;
  /** Times in nanoseconds since the epoch; 'now' for the host's current time. */
  atimeNs?: bigint | 'now';
  mtimeNs?: bigint | 'now';
}

export interface DirEntry {
  name: string;
  /** Linux d_type: DT_DIR 4, DT_REG 8, DT_LNK 10... (0 when unknown). */
  type: number;
}

export interface FolderStatfs {
  bsize: number;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
}

/** An open regular file of the share: I/O goes through the descriptor, never the path again. */
export class SharedFile {
  private readonly handle: fsp.FileHandle;
  readonly writable: boolean;
  private closed = false;

  constructor(handle: fsp.FileHandle, writable: boolean) {
    this.handle = handle;
    this.writable = writable;
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

  async stat(): Promise<BigIntStats> {
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
  }
}

/**
 * Shared/exclusive lock with FIFO order (a waiting exclusive holder stops later shared ones), so a
 * stream of reads cannot starve a rename.
 */
class NamespaceLock {
  private shared = 0;
  private exclusive = false;
  private readonly waiting: { exclusive: boolean; go: () => void }[] = [];

  async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await this.acquire(exclusive);
    try {
      return await fn();
    } finally {
      this.release(exclusive);
    }
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.waiting.length === 0 && !this.exclusive && (!exclusive || this.shared === 0)) {
      if (exclusive) this.exclusive = true;
      else this.shared++;
      return Promise.resolve();
    }
    return new Promise((go) => this.waiting.push({ exclusive, go }));
  }

  private release(exclusive: boolean): void {
    if (exclusive) this.exclusive = false;
    else this.shared--;
    while (this.waiting.length > 0 && !this.exclusive) {
      const next = this.waiting[0];
      if (next.exclusive) {
        if (this.shared > 0) break;
        this.exclusive = true;
      } else {
        this.shared++;
      }
      this.waiting.shift();
      next.go();
    }
  }
}

/** A path of the share checked and resolved on the host. */
interface Resolved {
  /** Host path of the object itself (its parent resolved, the last component as given). */
  full: string;
  /** The last component ('' for the root). */
  name: string;
}

function accessFlags(o: OpenOptions): number {
  if (!o.write) return constants.O_RDONLY;
  return o.read ? constants.O_RDWR : constants.O_WRONLY;
}

const IS_WINDOWS = process.platform === 'win32';
const NAME_MAX = 255;

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

/** Seconds as the float utimes takes: microseconds survive, as much as most hosts keep anyway. */
function seconds(ns: bigint | 'now' | undefined, fallback: bigint): number {
  if (ns === 'now') return Date.now() / 1000;
  return Number((ns ?? fallback) / 1000n) / 1e6;
}

export class SharedFolder {
  /** The root's real path on the host. */
  readonly root: string;
  readonly readOnly: boolean;
  private readonly lock = new NamespaceLock();

  private constructor(root: string, readOnly: boolean) {
    this.root = root;
    this.readOnly = readOnly;
  }

  static async open(path: string, options: { readOnly: boolean }): Promise<SharedFolder> {
    let real: string;
    try {
      real = await fsp.realpath(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `${path}: no such folder` : `${path}: ${(e as Error).message}`);
    }
    const st = await fsp.stat(real);
    if (!st.isDirectory()) throw new Error(`${path}: not a directory`);
    return new SharedFolder(real, options.readOnly);
  }

  // --- Paths ------------------------------------------------------------------------------------------

  /**
   * The components of a share-relative path. '' and '.' components are dropped; '..', absolute paths
   * and names that the host would read as more than one component are refused.
   */
  static components(rel: string): string[] {
    if (rel.startsWith('/') || (IS_WINDOWS && /^[a-zA-Z]:|^\\/.test(rel))) {
      throw new FsError(ERRNO.EACCES, `${rel}: absolute paths are outside the share`);
    }
    const parts: string[] = [];
    for (const part of rel.split('/')) {
      if (part === '' || part === '.') continue;
      SharedFolder.checkName(part);
      parts.push(part);
    }
    return parts;
  }

  /** Throws unless `name` is one plain file name (not '.', '..', no separators or NUL). */
  static checkName(name: string): void {
    if (name === '..') throw new FsError(ERRNO.EACCES, `'..' leads outside the share`);
    if (name === '' || name === '.' || name.includes('/') || name.includes('\0')) {
      throw new FsError(ERRNO.EINVAL, `'${name}' is not a file name`);
    }
    if (IS_WINDOWS && /[\\:]/.test(name)) throw new FsError(ERRNO.EINVAL, `'${name}' is not a file name`);
    if (Buffer.byteLength(name) > NAME_MAX) throw new FsError(ERRNO.ENAMETOOLONG, 'name too long');
  }

  private inside(real: string): boolean {
    return real === this.root || real.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep);
  }

  /** Checks the path and resolves its parent; throws EACCES when the parent leads out of the share. */
  private async resolve(rel: string): Promise<Resolved> {
    const parts = SharedFolder.components(rel);
    if (parts.length === 0) return { full: this.root, name: '' };
    const name = parts[parts.length - 1];
    let parent = this.root;
    if (parts.length > 1) {
      try {
        parent = await fsp.realpath(join(this.root, ...parts.slice(0, -1)));
      } catch (e) {
        rethrow(e);
      }
      if (!this.inside(parent)) {
        throw new FsError(ERRNO.EACCES, `${rel}: a symlink on the way leads outside the share`);
      }
    }
    return { full: join(parent, name), name };
  }

  private mutation(what: string): void {
    if (this.readOnly) throw new FsError(ERRNO.EROFS, `${what}: the share is read-only`);
  }

  private shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(false, async () => {
      try {
        return await fn();
      } catch (e) {
        rethrow(e);
      }
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(true, async () => {
      try {
        return await fn();
      } catch (e) {
        rethrow(e);
      }
    });
  }

  // --- Queries ----------------------------------------------------------------------------------------

  /** Attributes of the object itself (a symlink's own, not its target's). */
  lstat(rel: string): Promise<BigIntStats> {
    return this.shared(async () => fsp.lstat((await this.resolve(rel)).full, { bigint: true }));
  }

  readlink(rel: string): Promise<string> {
    return this.shared(async () => fsp.readlink((await this.resolve(rel)).full));
  }

  /** The names in a directory (without '.' and '..') with their types, in the host's order. */
  readdir(rel: string): Promise<DirEntry[]> {
    return this.shared(async () => {
      const r = await this.resolve(rel);
      const st = await fsp.lstat(r.full);
      if (st.isSymbolicLink()) throw new FsError(ERRNO.ELOOP, `${rel} is a symlink`);
      if (!st.isDirectory()) throw new FsError(ERRNO.ENOTDIR, `${rel} is not a directory`);
      const entries = await fsp.readdir(r.full, { withFileTypes: true });
      return entries.map((d) => ({ name: d.name, type: direntType(d) }));
    });
  }

  /**
   * Attributes of several entries of one directory (null for those that vanished), resolving the
   * directory once: what a directory listing needs.
   */
  lstatEntries(dir: string, names: readonly string[]): Promise<(BigIntStats | null)[]> {
    return this.shared(async () => {
      const r = await this.resolve(dir);
      const real = await fsp.realpath(r.full);
      if (!this.inside(real)) throw new FsError(ERRNO.EACCES, `${dir} leads outside the share`);
      return Promise.all(
        names.map((name) => {
          SharedFolder.checkName(name);
          return fsp.lstat(join(real, name), { bigint: true }).catch(() => null);
        }),
      );
    });
  }

  statfs(): Promise<FolderStatfs> {
    return this.shared(async () => {
      const s = await fsp.statfs(this.root, { bigint: true });
      return {
        bsize: Number(s.bsize),
        blocks: s.blocks,
        bfree: s.bfree,
        bavail: s.bavail,
        files: s.files,
        ffree: s.ffree,
      };
    });
  }

  // --- Files ------------------------------------------------------------------------------------------

  /** Opens an existing regular file (never through a symlink: a symlink fails with ELOOP). */
  openFile(rel: string, options: OpenOptions): Promise<SharedFile> {
    if (options.write || options.truncate) this.mutation(`open ${rel} for writing`);
    return this.shared(async () => {
      const r = await this.resolve(rel);
      const st = await fsp.lstat(r.full);
      if (st.isSymbolicLink()) throw new FsError(ERRNO.ELOOP, `${rel} is a symlink`);
      if (st.isDirectory()) throw new FsError(ERRNO.EISDIR, `${rel} is a directory`);
      // FIFOs and devices would block the host or reach host hardware: not shareable.
      if (!st.isFile()) throw new FsError(ERRNO.EACCES, `${rel} is not a regular file`);
      let flags = accessFlags(options) | O_NOFOLLOW | O_NONBLOCK;
      if (options.truncate) flags |= constants.O_TRUNC;
      if (options.append) flags |= constants.O_APPEND;
      if (options.sync && constants.O_SYNC) flags |= constants.O_SYNC;
      const handle = await fsp.open(r.full, flags);
      return new SharedFile(handle, options.write);
    });
  }

  /** Creates a new regular file (fails with EEXIST if anything, even a dangling symlink, is there). */
  createFile(rel: string, mode: number, options: OpenOptions): Promise<SharedFile> {
    this.mutation(`create ${rel}`);
    return this.shared(async () => {
      const r = await this.resolve(rel);
      if (r.name === '') throw new FsError(ERRNO.EEXIST, 'the share root exists');
      let flags = accessFlags(options) | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
      if (options.append) flags |= constants.O_APPEND;
      const handle = await fsp.open(r.full, flags, mode & 0o7777);
      return new SharedFile(handle, options.write);
    });
  }

  /** Checks that a directory can be listed (for opening it), without following a symlink. */
  async openDirectory(rel: string): Promise<void> {
    await this.shared(async () => {
      const r = await this.resolve(rel);
      const handle = await fsp.open(r.full, constants.O_RDONLY | O_NOFOLLOW | O_DIRECTORY).catch((e) => {
        // Windows cannot open directories as files; lstat tells what is there instead.
        if (IS_WINDOWS) return null;
        throw e;
      });
      if (handle) await handle.close();
      else if (!(await fsp.lstat(r.full)).isDirectory())
        throw new FsError(ERRNO.ENOTDIR, `${rel} is not a directory`);
    });
  }

  // --- Mutations --------------------------------------------------------------------------------------

  mkdir(rel: string, mode: number): Promise<void> {
    this.mutation(`mkdir ${rel}`);
    return this.shared(async () => {
      const r = await this.resolve(rel);
      if (r.name === '') throw new FsError(ERRNO.EEXIST, 'the share root exists');
      await fsp.mkdir(r.full, { mode: mode & 0o7777 });
    });
  }

  symlink(rel: string, target: string): Promise<void> {
    this.mutation(`symlink ${rel}`);
    if (target.includes('\0')) throw new FsError(ERRNO.EINVAL, 'NUL in symlink target');
    return this.exclusive(async () => {
      const r = await this.resolve(rel);
      if (r.name === '') throw new FsError(ERRNO.EEXIST, 'the share root exists');
      await fsp.symlink(target, r.full);
    });
  }

  /** A hard link `rel` to the existing object `existing`. */
  link(existing: string, rel: string): Promise<void> {
    this.mutation(`link ${rel}`);
    return this.exclusive(async () => {
      const from = await this.resolve(existing);
      const to = await this.resolve(rel);
      if (from.name === '' || to.name === '') throw new FsError(ERRNO.EPERM, 'cannot link the share root');
      const st = await fsp.lstat(from.full);
      if (st.isDirectory()) throw new FsError(ERRNO.EPERM, 'hard links to directories are not allowed');
      // Only Linux's link(2) promises not to follow a symlink; elsewhere it could link the target.
      if (st.isSymbolicLink() && process.platform !== 'linux')
        throw new FsError(ERRNO.EPERM, 'hard links to symlinks are not supported on this host');
      await fsp.link(from.full, to.full);
    });
  }

  rename(from: string, to: string): Promise<void> {
    this.mutation(`rename ${from}`);
    return this.exclusive(async () => {
      const a = await this.resolve(from);
      const b = await this.resolve(to);
      if (a.name === '' || b.name === '') throw new FsError(ERRNO.EBUSY, 'cannot rename the share root');
      await fsp.rename(a.full, b.full);
    });
  }

  unlink(rel: string): Promise<void> {
    this.mutation(`unlink ${rel}`);
    return this.shared(async () => {
      const r = await this.resolve(rel);
      if (r.name === '') throw new FsError(ERRNO.EBUSY, 'cannot remove the share root');
      const st = await fsp.lstat(r.full);
      if (st.isDirectory()) throw new FsError(ERRNO.EISDIR, `${rel} is a directory`);
      await fsp.unlink(r.full);
    });
  }

  rmdir(rel: string): Promise<void> {
    this.mutation(`rmdir ${rel}`);
    return this.shared(async () => {
      const r = await this.resolve(rel);
      if (r.name === '') throw new FsError(ERRNO.EBUSY, 'cannot remove the share root');
      const st = await fsp.lstat(r.full);
      if (!st.isDirectory()) throw new FsError(ERRNO.ENOTDIR, `${rel} is not a directory`);
      await fsp.rmdir(r.full);
    });
  }

  /** Removes whatever `rel` is (a file, a symlink or an empty directory). */
  async remove(rel: string): Promise<void> {
    const st = await this.lstat(rel);
    if (st.isDirectory()) await this.rmdir(rel);
    else await this.unlink(rel);
  }

  /**
   * Changes mode, size and times. Symlinks keep their mode (Linux has none to change) and their size;
   * their times change without following them.
   */
  setattr(rel: string, attrs: SetAttributes): Promise<void> {
    this.mutation(`setattr ${rel}`);
    return this.shared(async () => {
      const r = await this.resolve(rel);
      const st = await fsp.lstat(r.full, { bigint: true });
      const link = st.isSymbolicLink();
      // The lstat above and the shared lock make these path calls safe: under the lock no request
      // can turn the checked object into a symlink before they run.
      if (attrs.mode !== undefined && !link) await fsp.chmod(r.full, attrs.mode & 0o7777);
      if (attrs.size !== undefined) {
        if (link) throw new FsError(ERRNO.EINVAL, 'cannot truncate a symlink');
        if (st.isDirectory()) throw new FsError(ERRNO.EISDIR, `${rel} is a directory`);
        if (!st.isFile()) throw new FsError(ERRNO.EINVAL, `${rel} is not a regular file`);
        await fsp.truncate(r.full, attrs.size);
      }
      if (attrs.atimeNs !== undefined || attrs.mtimeNs !== undefined) {
        await fsp.lutimes(r.full, seconds(attrs.atimeNs, st.atimeNs), seconds(attrs.mtimeNs, st.mtimeNs));
      }
    });
  }
}
