/**
 * A shared folder's root directory handle and the walk from it: how every operation of a share finds
 * its object without any path string being resolved by the host more than one name at a time.
 *
 * Node has no openat(), so this uses Linux's /proc/self/fd/<fd>/<name>: the kernel follows the magic
 * link to the directory open as <fd> (the directory itself, wherever it is now) and looks up only
 * <name> in it. A walk opens one component at a time this way with O_PATH | O_NOFOLLOW | O_DIRECTORY
 * (a symlink or a file fails the open), and the operation itself names `<parent fd>/<last name>`
 * with a call that does not follow a last-component symlink. So a concurrent change of the host tree
 * (another VM sharing the folder swapping a directory for a symlink, the host user moving things) can
 * make an operation fail or touch another object inside the share, never one outside it. (Only the
 * host user can move a directory out of the share; an operation already inside it follows it, as
 * with openat, and the next one walks from the root again.)
 *
 * Every descriptor, including the short-lived ones of a walk, is taken from the share's FdAccount.
 * Hosts without /proc/self/fd (anything but Linux, or Linux without /proc) cannot open a share.
 */
import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { FdAccount } from './fd-budget.js';
import { fileIdentity } from './file-identity.js';
import { ERRNO, errnoOf, FsError, rethrow } from './fs-errno.js';

/** Linux's O_PATH (not in Node's constants): a handle that only names an object, opening nothing. */
export const O_PATH = 0o10000000;
const O_NOFOLLOW: number = constants.O_NOFOLLOW;
const O_DIRECTORY: number = constants.O_DIRECTORY;
const PROC_FD = '/proc/self/fd/';

/** The path through which the kernel reaches `name` inside the directory open as `dir` (or `dir` itself). */
export function at(dir: FileHandle, name?: string): string {
  // A closed FileHandle's fd is -1, so a path built after a close names nothing rather than whatever
  // descriptor took its number.
  return name === undefined ? `${PROC_FD}${dir.fd}` : `${PROC_FD}${dir.fd}/${name}`;
}

export class ShareRoot {
  /** The share's root directory, open (O_PATH) for the share's whole life. */
  readonly handle: FileHandle;
  readonly fds: FdAccount;
  /** "dev:ino" of the directory that was opened (see file-identity.ts). */
  identity = '';

  private constructor(handle: FileHandle, fds: FdAccount) {
    this.handle = handle;
    this.fds = fds;
  }

  /** Opens `path` (already resolved to a real directory) as a share root. */
  static async open(path: string, fds: FdAccount): Promise<ShareRoot> {
    if (process.platform !== 'linux') {
      throw new Error(
        `${path}: shared folders need Linux's /proc/self/fd to walk the share by directory handles; ` +
          `this host (${process.platform}) has none`,
      );
    }
    const handle = await fds.opening(() => fsp.open(path, O_PATH | O_DIRECTORY));
    const root = new ShareRoot(handle, fds);
    try {
      const own = await handle.stat({ bigint: true });
      root.identity = fileIdentity(own);
      const seen = await fsp.stat(at(handle), { bigint: true }).catch(() => null);
      if (seen === null || seen.ino !== own.ino || seen.dev !== own.dev) {
        throw new Error(
          `${path}: /proc/self/fd does not lead to open directories here (is /proc mounted?); ` +
            'shared folders need it to walk the share by directory handles',
        );
      }
    } catch (e) {
      await root.dispose();
      throw e;
    }
    return root;
  }

  /** Opens `path` with a descriptor of the share's account. */
  openHandle(path: string, flags: number, mode?: number): Promise<FileHandle> {
    return this.fds.opening(() => fsp.open(path, flags, mode));
  }

  /** Closes a handle this share opened (the root stays open), giving its descriptor back. */
  async closeHandle(h: FileHandle): Promise<void> {
    if (h === this.handle) return;
    await h.close().catch(() => {});
    this.fds.release();
  }

  /**
   * An O_PATH handle of the directory `parts` name (the root itself for none), opened one component
   * at a time without following any symlink. A symlink on the way fails with EACCES (the share never
   * follows one), one as the directory itself with `lastSymlinkErrno`. Close it with closeHandle().
   */
  async directory(
    parts: readonly string[],
    rel: string,
    lastSymlinkErrno: number = ERRNO.EACCES,
  ): Promise<FileHandle> {
    let dir = this.handle;
    try {
      for (let i = 0; i < parts.length; i++) {
        const next = await this.openHandle(at(dir, parts[i]), O_PATH | O_NOFOLLOW | O_DIRECTORY).catch(
          async (e) => {
            throw await this.explain(
              e,
              dir,
              parts[i],
              rel,
              i === parts.length - 1 ? lastSymlinkErrno : ERRNO.EACCES,
            );
          },
        );
        // The walk's parent is not needed once the child is open: closing it need not hold the walk up.
        void this.closeHandle(dir);
        dir = next;
      }
      return dir;
    } catch (e) {
      void this.closeHandle(dir);
      rethrow(e);
    }
  }

  /**
   * Runs `op` on the last component of `parts` inside its parent directory (walked by handles):
   * `path` names it for calls that do not follow a last-component symlink (lstat, mkdir, unlink...).
   */
  async inParent<T>(
    parts: readonly string[],
    rel: string,
    op: (path: string, parent: FileHandle) => Promise<T>,
  ): Promise<T> {
    const parent = await this.directory(parts.slice(0, -1), rel);
    try {
      return await op(at(parent, parts[parts.length - 1]), parent);
    } catch (e) {
      throw describe(e, rel);
    } finally {
      void this.closeHandle(parent);
    }
  }

  /** Why an O_NOFOLLOW | O_DIRECTORY open of `name` failed: a symlink gets `symlinkErrno`. */
  private async explain(
    e: unknown,
    dir: FileHandle,
    name: string,
    rel: string,
    symlinkErrno: number,
  ): Promise<FsError> {
    const errno = errnoOf(e);
    if (errno === ERRNO.ENOTDIR || errno === ERRNO.ELOOP) {
      const st = await fsp.lstat(at(dir, name)).catch(() => null);
      if (st?.isSymbolicLink())
        return new FsError(symlinkErrno, `${rel}: '${name}' is a symlink, which the share never follows`);
    }
    return describe(e, rel);
  }

  async dispose(): Promise<void> {
    await this.handle.close().catch(() => {});
    this.fds.release();
  }
}

/** An FsError naming the share-relative path (host errors name /proc/self/fd paths, which mean nothing to a reader). */
export function describe(e: unknown, rel: string): FsError {
  if (e instanceof FsError) return e;
  const code = (e as { code?: unknown })?.code;
  return new FsError(errnoOf(e), `${rel || '/'}: ${typeof code === 'string' ? code : (e as Error)?.message}`);
}
