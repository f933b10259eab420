/**
 * What a shared folder must offer the 9p server (src/machine/devices/virtio/9p): an asynchronous file
 * system on share-relative paths ('a/b/c', '' for the root) that can never reach anything outside the
 * share. Implementations throw FsError (fs-errno.ts) with Linux errnos, never host errors.
 *
 * Type-only: the machine layer imports it without loading any host module.
 */

/** The attributes of an object, as Node's BigIntStats carries them. */
export interface ShareStat {
  dev: bigint;
  ino: bigint;
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** How to open a file: the access the guest asked for and the options that matter to the host. */
export interface OpenOptions {
  read: boolean;
  write: boolean;
  truncate?: boolean;
  append?: boolean;
  sync?: boolean;
}

export interface SetAttributes {
  /** Permission bits; setuid, setgid (and sticky on non-directories) are dropped. */
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

/** An open regular file: I/O goes through its descriptor, never the path again. */
export interface ShareFile {
  readonly writable: boolean;
  /** Fills `into` from `position` (fewer bytes only at the end of the file); returns the count. */
  read(into: Uint8Array, position: number): Promise<number>;
  write(data: Uint8Array, position: number): Promise<number>;
  stat(): Promise<ShareStat>;
  truncate(size: number): Promise<void>;
  sync(dataOnly: boolean): Promise<void>;
  close(): Promise<void>;
}

/** An open directory read as a stream, in the host's order, without '.' and '..'. */
export interface ShareDirectory {
  /** The next entry, or null at the end. */
  next(): Promise<DirEntry | null>;
  close(): Promise<void>;
}

export interface Share {
  /** The root's real path on the host (for messages and state). */
  readonly root: string;
  readonly readOnly: boolean;
  /** Host file descriptors the share holds now (open files, directories, walks in progress). */
  readonly openFiles: number;

  /** Attributes of the object itself (a symlink's own, not its target's). */
  lstat(rel: string): Promise<ShareStat>;
  readlink(rel: string): Promise<string>;
  /** Attributes of entries of one directory (null for those that vanished). */
  lstatEntries(dir: string, names: readonly string[]): Promise<(ShareStat | null)[]>;
  statfs(): Promise<FolderStatfs>;
  /** Opens an existing regular file (never through a symlink: a symlink fails with ELOOP). */
  openFile(rel: string, options: OpenOptions): Promise<ShareFile>;
  /** Creates a new regular file (EEXIST if anything, even a dangling symlink, is there). */
  createFile(rel: string, mode: number, options: OpenOptions): Promise<ShareFile>;
  openDirectory(rel: string): Promise<ShareDirectory>;
  mkdir(rel: string, mode: number): Promise<void>;
  symlink(rel: string, target: string): Promise<void>;
  /** A hard link `rel` to the existing object `existing`. */
  link(existing: string, rel: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(rel: string): Promise<void>;
  rmdir(rel: string): Promise<void>;
  /** Removes whatever `rel` is (a file, a symlink or an empty directory). */
  remove(rel: string): Promise<void>;
  setattr(rel: string, attrs: SetAttributes): Promise<void>;
  /** Releases the share's own descriptors (after every file and directory of it was closed). */
  close(): Promise<void>;
}
