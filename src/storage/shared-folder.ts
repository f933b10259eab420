/**
 * A host folder shared with a guest (the host side of virtio-9p): the Share a 9p server works on,
 * confined to the folder.
 *
 * Confinement: names are checked (share-path.ts), and every operation reaches its object by handles
 * (share-root.ts): the root is opened once, each directory on the way is opened relative to the one
 * before without following symlinks, and the last component is used through a call that does not
 * follow it either. The few calls with no such form (chmod, truncate) are made on an O_PATH handle of
 * the object, checked not to be a symlink, through its /proc/self/fd magic link, which reaches the
 * inode itself. Symlinks are objects a guest may create and read, never doors the host walks through,
 * and no change of the host tree between two steps (another VM sharing the folder, the host user) can
 * make an operation land outside the share. No lock is needed for that, so none is taken.
 *
 * Modes: setuid and setgid bits, and the sticky bit of anything but a directory, never reach the
 * host (as with QEMU's security models): a guest must not be able to leave a setuid program behind.
 *
 * Host descriptors: every one the share holds (root, open files and directories, the short-lived
 * handles of walks) is counted against its FdAccount: at most `maxOpenFiles` (EMFILE beyond), and
 * within the process-wide FdBudget (ENFILE when that is used up).
 */
import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { type FdBudget, processFdBudget } from './fd-budget.js';
import { IdentityMismatchError } from './file-identity.js';
import { ERRNO, FsError } from './fs-errno.js';
import type {
  FolderStatfs,
  OpenOptions,
  SetAttributes,
  Share,
  ShareDirectory,
  ShareFile,
  ShareStat,
} from './share.js';
import { checkName, components } from './share-path.js';
import { at, describe, O_PATH, ShareRoot } from './share-root.js';
import { DIR_BUFFER, SharedDirectory } from './shared-directory.js';
import { SharedFile } from './shared-file.js';

export { ERRNO, errnoOf, FsError } from './fs-errno.js';

/** Host descriptors one share may hold by default: open files and directories, plus walks. */
export const DEFAULT_MAX_OPEN_FILES = 1024;
/** Descriptors set aside for each share in the process budget, so that other shares cannot starve it. */
export const DEFAULT_RESERVED_FILES = 32;

const O_NOFOLLOW: number = constants.O_NOFOLLOW;

export interface SharedFolderOptions {
  readOnly: boolean;
  /** Most host descriptors this share holds at once (default DEFAULT_MAX_OPEN_FILES). */
  maxOpenFiles?: number;
  /** The process-wide budget to count them in (default processFdBudget()). */
  fdBudget?: FdBudget;
  /**
   * "dev:ino" the root must have (what the daemon checked): the directory the share holds open is
   * compared, so no swap of the path between the check and the open goes unnoticed.
   */
  identity?: string;
}

function accessFlags(o: OpenOptions): number {
  if (!o.write) return constants.O_RDONLY;
  return o.read ? constants.O_RDWR : constants.O_WRONLY;
}

/** The mode bits of `mode` a guest may set on the host: permissions, and sticky on directories only. */
export function allowedMode(mode: number, directory: boolean): number {
  return mode & (directory ? 0o1777 : 0o777);
}

/** Seconds as the float utimes takes: microseconds survive, as much as most hosts keep anyway. */
function seconds(ns: bigint | 'now' | undefined, fallback: bigint): number {
  if (ns === 'now') return Date.now() / 1000;
  return Number((ns ?? fallback) / 1000n) / 1e6;
}

export class SharedFolder implements Share {
  /** The root's real path on the host (the share itself is reached through its handle). */
  readonly root: string;
  readonly readOnly: boolean;
  private readonly handles: ShareRoot;
  private closed = false;

  private constructor(root: string, readOnly: boolean, handles: ShareRoot) {
    this.root = root;
    this.readOnly = readOnly;
    this.handles = handles;
  }

  static async open(path: string, options: SharedFolderOptions): Promise<SharedFolder> {
    let real: string;
    try {
      real = await fsp.realpath(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `${path}: no such folder` : `${path}: ${(e as Error).message}`);
    }
    const st = await fsp.stat(real);
    if (!st.isDirectory()) throw new Error(`${path}: not a directory`);
    const budget = options.fdBudget ?? processFdBudget();
    const fds = budget.account(`share ${real}`, {
      max: options.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES,
      reserve: DEFAULT_RESERVED_FILES,
    });
    let handles: ShareRoot | null = null;
    try {
      handles = await ShareRoot.open(real, fds);
      if (options.identity !== undefined && handles.identity !== options.identity) {
        throw new IdentityMismatchError(
          `${path}: was replaced after the daemon checked it (device:inode ${handles.identity}, checked ${options.identity})`,
        );
      }
      return new SharedFolder(real, options.readOnly, handles);
    } catch (e) {
      await handles?.dispose();
      fds.close();
      if (e instanceof FsError) throw new Error(`${path}: ${e.message}`);
      throw e;
    }
  }

  get openFiles(): number {
    return this.handles.fds.held;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handles.dispose();
    this.handles.fds.close();
  }

  /** '' names the root itself; anything else its components (checked). */
  private parts(rel: string): string[] {
    return components(rel);
  }

  private mutation(what: string): void {
    if (this.readOnly) throw new FsError(ERRNO.EROFS, `${what}: the share is read-only`);
  }

  /**
   * Runs `op` with an O_PATH handle of the object `rel` names itself (a symlink stays a symlink) and
   * its attributes; `path` is its name in its parent, for calls that do not follow it.
   */
  private async withObject<T>(
    rel: string,
    op: (object: FileHandle, st: ShareStat, path: string | null) => Promise<T>,
  ): Promise<T> {
    const parts = this.parts(rel);
    const h = this.handles;
    if (parts.length === 0) {
      try {
        return await op(h.handle, await h.handle.stat({ bigint: true }), null);
      } catch (e) {
        throw describe(e, rel);
      }
    }
    return h.inParent(parts, rel, async (path) => {
      const object = await h.openHandle(path, O_PATH | O_NOFOLLOW);
      try {
        return await op(object, await object.stat({ bigint: true }), path);
      } finally {
        await h.closeHandle(object);
      }
    });
  }

  // --- Queries ----------------------------------------------------------------------------------------

  async lstat(rel: string): Promise<ShareStat> {
    const parts = this.parts(rel);
    if (parts.length === 0) return this.withObject(rel, async (_, st) => st);
    return this.handles.inParent(parts, rel, (path) => fsp.lstat(path, { bigint: true }));
  }

  readlink(rel: string): Promise<string> {
    const parts = this.parts(rel);
    if (parts.length === 0)
      return Promise.reject(new FsError(ERRNO.EINVAL, 'the share root is not a symlink'));
    return this.handles.inParent(parts, rel, (path) => fsp.readlink(path));
  }

  async lstatEntries(dir: string, names: readonly string[]): Promise<(ShareStat | null)[]> {
    for (const name of names) checkName(name);
    const h = this.handles;
    const handle = await h.directory(this.parts(dir), dir, ERRNO.ELOOP);
    try {
      return await Promise.all(
        names.map((name) => fsp.lstat(at(handle, name), { bigint: true }).catch(() => null)),
      );
    } finally {
      void h.closeHandle(handle);
    }
  }

  async statfs(): Promise<FolderStatfs> {
    try {
      const s = await fsp.statfs(at(this.handles.handle), { bigint: true });
      return {
        bsize: Number(s.bsize),
        blocks: s.blocks,
        bfree: s.bfree,
        bavail: s.bavail,
        files: s.files,
        ffree: s.ffree,
      };
    } catch (e) {
      throw describe(e, '');
    }
  }

  // --- Files and directories --------------------------------------------------------------------------

  openFile(rel: string, options: OpenOptions): Promise<ShareFile> {
    if (options.write || options.truncate) this.mutation(`open ${rel} for writing`);
    return this.withObject(rel, async (object, st) => {
      const type = st.mode & BigInt(constants.S_IFMT);
      if (type === BigInt(constants.S_IFLNK)) throw new FsError(ERRNO.ELOOP, `${rel} is a symlink`);
      if (type === BigInt(constants.S_IFDIR)) throw new FsError(ERRNO.EISDIR, `${rel} is a directory`);
      // FIFOs and devices would block the host or reach host hardware: not shareable.
      if (type !== BigInt(constants.S_IFREG)) throw new FsError(ERRNO.EACCES, `${rel} is not a regular file`);
      let flags = accessFlags(options);
      if (options.truncate) flags |= constants.O_TRUNC;
      if (options.append) flags |= constants.O_APPEND;
      if (options.sync) flags |= constants.O_SYNC;
      // Opening the magic link of the checked handle opens exactly that inode, never a path again.
      const file = await this.handles.openHandle(at(object), flags);
      return new SharedFile(file, options.write, this.handles.fds);
    });
  }

  createFile(rel: string, mode: number, options: OpenOptions): Promise<ShareFile> {
    this.mutation(`create ${rel}`);
    const parts = this.parts(rel);
    if (parts.length === 0) return Promise.reject(new FsError(ERRNO.EEXIST, 'the share root exists'));
    return this.handles.inParent(parts, rel, async (path) => {
      let flags = accessFlags(options) | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;
      if (options.append) flags |= constants.O_APPEND;
      const file = await this.handles.openHandle(path, flags, allowedMode(mode, false));
      return new SharedFile(file, options.write, this.handles.fds);
    });
  }

  async openDirectory(rel: string): Promise<ShareDirectory> {
    const h = this.handles;
    const handle = await h.directory(this.parts(rel), rel, ERRNO.ELOOP);
    try {
      // Through the magic link: the directory just walked to, whatever its path is now.
      const dir = await h.fds.opening(() => fsp.opendir(at(handle), { bufferSize: DIR_BUFFER }));
      return new SharedDirectory(dir, h.fds);
    } catch (e) {
      throw describe(e, rel);
    } finally {
      void h.closeHandle(handle);
    }
  }

  // --- Mutations --------------------------------------------------------------------------------------

  async mkdir(rel: string, mode: number): Promise<void> {
    this.mutation(`mkdir ${rel}`);
    const parts = this.parts(rel);
    if (parts.length === 0) throw new FsError(ERRNO.EEXIST, 'the share root exists');
    await this.handles.inParent(parts, rel, (path) => fsp.mkdir(path, { mode: allowedMode(mode, true) }));
  }

  async symlink(rel: string, target: string): Promise<void> {
    this.mutation(`symlink ${rel}`);
    if (target.includes('\0')) throw new FsError(ERRNO.EINVAL, 'NUL in symlink target');
    const parts = this.parts(rel);
    if (parts.length === 0) throw new FsError(ERRNO.EEXIST, 'the share root exists');
    await this.handles.inParent(parts, rel, (path) => fsp.symlink(target, path));
  }

  /** Runs `op` with both objects' names in their parents (for link and rename). */
  private async inParents(
    a: string,
    b: string,
    root: number,
    op: (pathA: string, pathB: string) => Promise<void>,
  ): Promise<void> {
    const pa = this.parts(a);
    const pb = this.parts(b);
    if (pa.length === 0 || pb.length === 0)
      throw new FsError(root, 'the share root cannot be moved or linked');
    await this.handles.inParent(pa, a, (pathA) => this.handles.inParent(pb, b, (pathB) => op(pathA, pathB)));
  }

  async link(existing: string, rel: string): Promise<void> {
    this.mutation(`link ${rel}`);
    // link(2) does not follow a symlink it links, and refuses directories (EPERM) on its own.
    await this.inParents(existing, rel, ERRNO.EPERM, (from, to) => fsp.link(from, to));
  }

  async rename(from: string, to: string): Promise<void> {
    this.mutation(`rename ${from}`);
    await this.inParents(from, to, ERRNO.EBUSY, (a, b) => fsp.rename(a, b));
  }

  async unlink(rel: string): Promise<void> {
    this.mutation(`unlink ${rel}`);
    const parts = this.parts(rel);
    if (parts.length === 0) throw new FsError(ERRNO.EBUSY, 'cannot remove the share root');
    // Linux's unlink(2) refuses a directory with EISDIR, as the guest expects.
    await this.handles.inParent(parts, rel, (path) => fsp.unlink(path));
  }

  async rmdir(rel: string): Promise<void> {
    this.mutation(`rmdir ${rel}`);
    const parts = this.parts(rel);
    if (parts.length === 0) throw new FsError(ERRNO.EBUSY, 'cannot remove the share root');
    await this.handles.inParent(parts, rel, (path) => fsp.rmdir(path));
  }

  async remove(rel: string): Promise<void> {
    const st = await this.lstat(rel);
    if ((st.mode & BigInt(constants.S_IFMT)) === BigInt(constants.S_IFDIR)) await this.rmdir(rel);
    else await this.unlink(rel);
  }

  /**
   * Changes mode, size and times. Symlinks keep their mode (Linux has none to change) and their size;
   * their times change without following them.
   */
  setattr(rel: string, attrs: SetAttributes): Promise<void> {
    this.mutation(`setattr ${rel}`);
    return this.withObject(rel, async (object, st, path) => {
      const type = st.mode & BigInt(constants.S_IFMT);
      const link = type === BigInt(constants.S_IFLNK);
      const dir = type === BigInt(constants.S_IFDIR);
      // chmod, truncate and utimes through the magic link of a handle that is not a symlink reach
      // that inode, never a path.
      if (attrs.mode !== undefined && !link) await fsp.chmod(at(object), allowedMode(attrs.mode, dir));
      if (attrs.size !== undefined) {
        if (link) throw new FsError(ERRNO.EINVAL, 'cannot truncate a symlink');
        if (dir) throw new FsError(ERRNO.EISDIR, `${rel} is a directory`);
        if (type !== BigInt(constants.S_IFREG))
          throw new FsError(ERRNO.EINVAL, `${rel} is not a regular file`);
        // Node's truncate(path) would open a descriptor of its own, outside the budget.
        const file = await this.handles.openHandle(at(object), constants.O_WRONLY);
        try {
          await file.truncate(attrs.size);
        } finally {
          await this.handles.closeHandle(file);
        }
      }
      if (attrs.atimeNs !== undefined || attrs.mtimeNs !== undefined) {
        const atime = seconds(attrs.atimeNs, st.atimeNs);
        const mtime = seconds(attrs.mtimeNs, st.mtimeNs);
        // A symlink's own times: by its name in its (handle-walked) parent, not following it.
        if (link && path !== null) await fsp.lutimes(path, atime, mtime);
        else await fsp.utimes(at(object), atime, mtime);
      }
    });
  }
}
