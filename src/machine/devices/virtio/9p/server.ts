/**
 * A 9P2000.L file server over a Share, as Linux's v9fs client uses it: one handler per message over
 * the session's fid table (fids.ts). handle() takes one request message and always resolves to one
 * reply message (Rlerror for anything that goes wrong, whatever the guest sent); it never rejects.
 *
 * Fids name objects by their share-relative path, so a rename moves the fids below it along; open
 * files keep their host descriptor, so I/O on them does not care about the path any more. Open
 * directories are streams: a listing is read from the host as the guest pages through it, never
 * held whole.
 *
 * The caller bounds the work: `maxReply` caps the reply (and so what a read allocates), and the
 * device decides how many requests run at once.
 */
import { ERRNO, errnoOf } from '../../../../storage/fs-errno.js';
import type { DirEntry, Share, ShareFile, ShareStat } from '../../../../storage/share.js';
import { checkName } from '../../../../storage/share-path.js';
import { type Fid, FidTable, type OpenDirectory } from './fids.js';
import {
  HEADER_SIZE,
  NOTAG,
  ProtocolError,
  QID_DIR,
  QID_FILE,
  QID_SYMLINK,
  type Qid,
  Reader,
  strSize,
  Writer,
} from './wire.js';

/** Message types (T = request, R = T + 1). */
export const T = {
  lerror: 6,
  statfs: 8,
  lopen: 12,
  lcreate: 14,
  symlink: 16,
  mknod: 18,
  rename: 20,
  readlink: 22,
  getattr: 24,
  setattr: 26,
  xattrwalk: 30,
  xattrcreate: 32,
  readdir: 40,
  fsync: 50,
  lock: 52,
  getlock: 54,
  link: 70,
  mkdir: 72,
  renameat: 74,
  unlinkat: 76,
  version: 100,
  auth: 102,
  attach: 104,
  flush: 108,
  walk: 110,
  read: 116,
  write: 118,
  clunk: 120,
  remove: 122,
} as const;

export const VERSION_9P2000_L = '9P2000.L';
/** Largest message size the server agrees to: what Linux's virtio transport can use at most. */
export const DEFAULT_MAX_MSIZE = 512 * 1024;
/** Rread/Rreaddir: header plus count[4]. */
const IO_HEADER = HEADER_SIZE + 4;
/** More walk elements than the protocol's MAXWELEM are refused. */
const MAX_WALK = 16;
/** Directory entries stat'ed at once for one Treaddir reply. */
const READDIR_BATCH = 64;
/** A directory entry in Rreaddir: qid[13] offset[8] type[1] name[s]. */
const DIRENT_FIXED = 13 + 8 + 1;

// Linux open(2) flags as 9P2000.L carries them (the same numbers on every Linux architecture v9fs uses).
const L_O_ACCMODE = 3;
const L_O_WRONLY = 1;
const L_O_RDWR = 2;
const L_O_EXCL = 0o200;
const L_O_TRUNC = 0o1000;
const L_O_APPEND = 0o2000;
const L_O_DSYNC = 0o10000;
const L_O_SYNC = 0o4010000;
const AT_REMOVEDIR = 0x200;

// Tsetattr valid bits.
const SETATTR_MODE = 1;
const SETATTR_UID = 2;
const SETATTR_GID = 4;
const SETATTR_SIZE = 8;
const SETATTR_ATIME = 16;
const SETATTR_MTIME = 32;
const SETATTR_ATIME_SET = 128;
const SETATTR_MTIME_SET = 256;

/** Rgetattr valid mask: mode, nlink, uid, gid, rdev, atime, mtime, ctime, ino, size, blocks. */
const GETATTR_BASIC = 0x7ffn;
const V9FS_MAGIC = 0x01021997;
const LOCK_SUCCESS = 0;
const LOCK_TYPE_UNLCK = 2;

const S_IFMT = 0o170000n;
const S_IFDIR = 0o040000n;
const S_IFLNK = 0o120000n;
const S_IFREG = 0o100000;
const NS_PER_S = 1_000_000_000n;

export interface P9Counters {
  requests: number;
  errors: number;
  bytesRead: number;
  bytesWritten: number;
}

function parentOf(path: string): string {
  const at = path.lastIndexOf('/');
  return at < 0 ? '' : path.slice(0, at);
}

function childOf(dir: string, name: string): string {
  checkName(name);
  return dir === '' ? name : `${dir}/${name}`;
}

/** Closes what a fid holds (it was removed from the table, or never made it there). */
async function release(f: Fid): Promise<void> {
  await Promise.allSettled([f.file?.close(), f.dir?.stream?.close()]);
}

export interface P9ServerOptions {
  /** Largest msize agreed to (default DEFAULT_MAX_MSIZE). */
  maxMsize?: number;
  /** Fids one session may hold (default fids.ts DEFAULT_MAX_FIDS). */
  maxFids?: number;
  /** Characters of all fid paths together (default fids.ts DEFAULT_MAX_PATH_CHARS). */
  maxPathChars?: number;
}

function timeFields(w: Writer, ns: bigint): void {
  const nsec = ((ns % NS_PER_S) + NS_PER_S) % NS_PER_S;
  w.u64((ns - nsec) / NS_PER_S).u64(nsec);
}

export class P9Server {
  private readonly folder: Share;
  private readonly maxMsize: number;
  private msize: number;
  private readonly fids: FidTable;
  private readonly inFlight = new Map<number, Promise<Uint8Array>>();
  private readonly pending = new Set<Promise<unknown>>();
  private rootDev: bigint | null = null;
  private closed = false;
  readonly counters: P9Counters = { requests: 0, errors: 0, bytesRead: 0, bytesWritten: 0 };

  constructor(folder: Share, options: P9ServerOptions = {}) {
    this.folder = folder;
    this.maxMsize = options.maxMsize ?? DEFAULT_MAX_MSIZE;
    this.msize = this.maxMsize;
    this.fids = new FidTable(options);
  }

  get fidCount(): number {
    return this.fids.size;
  }

  get negotiatedMsize(): number {
    return this.msize;
  }

  /**
   * Serves one request. `maxReply` is the room the guest gave for the reply; reads and listings are
   * cut to fit it, and anything else that would not fit becomes Rlerror.
   */
  handle(request: Uint8Array, maxReply: number): Promise<Uint8Array> {
    const tag = request.length >= HEADER_SIZE ? request[5] | (request[6] << 8) : NOTAG;
    const reply = this.dispatch(request, maxReply).catch((e) => {
      this.counters.errors++;
      return lerror(tag, errorNumber(e));
    });
    // Tflush waits for the request it names; settled requests no longer need tracking.
    this.inFlight.set(tag, reply);
    this.pending.add(reply);
    void reply.then(() => {
      this.pending.delete(reply);
      if (this.inFlight.get(tag) === reply) this.inFlight.delete(tag);
    });
    return reply;
  }

  /** Waits for requests in flight, then clunks every fid (closing host files). */
  async close(): Promise<void> {
    this.closed = true;
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.clunkAll();
  }

  private async clunkAll(): Promise<void> {
    await Promise.allSettled(this.fids.clear().map(release));
  }

  private async dispatch(request: Uint8Array, maxReply: number): Promise<Uint8Array> {
    this.counters.requests++;
    if (this.closed) throw new ProtocolError('the device is shutting down', ERRNO.EIO);
    if (request.length < HEADER_SIZE) throw new ProtocolError('message shorter than its header');
    const size = request[0] | (request[1] << 8) | (request[2] << 16) | (request[3] << 24);
    if (size < HEADER_SIZE || size > request.length)
      throw new ProtocolError(`bad message size ${size >>> 0}`);
    const type = request[4];
    const tag = request[5] | (request[6] << 8);
    const r = new Reader(request, HEADER_SIZE, size);
    const room = Math.min(maxReply, this.msize);
    const w = new Writer();
    switch (type) {
      case T.version:
        await this.version(r, w);
        break;
      case T.attach:
        await this.attach(r, w);
        break;
      case T.walk:
        await this.walk(r, w);
        break;
      case T.lopen:
        await this.lopen(r, w);
        break;
      case T.lcreate:
        await this.lcreate(r, w);
        break;
      case T.read:
        return this.read(r, tag, room);
      case T.write:
        await this.write(r, w);
        break;
      case T.clunk:
        await this.clunk(r);
        break;
      case T.remove:
        await this.remove(r);
        break;
      case T.getattr:
        await this.getattr(r, w);
        break;
      case T.setattr:
        await this.setattr(r);
        break;
      case T.readdir:
        return this.readdir(r, tag, room);
      case T.statfs:
        await this.statfs(r, w);
        break;
      case T.fsync:
        await this.fsync(r);
        break;
      case T.mkdir:
        await this.mkdir(r, w);
        break;
      case T.symlink:
        await this.symlink(r, w);
        break;
      case T.mknod:
        await this.mknod(r, w);
        break;
      case T.readlink:
        await this.readlink(r, w);
        break;
      case T.link:
        await this.link(r);
        break;
      case T.rename:
        await this.rename(r);
        break;
      case T.renameat:
        await this.renameat(r);
        break;
      case T.unlinkat:
        await this.unlinkat(r);
        break;
      case T.xattrwalk:
        await this.xattrwalk(r, w);
        break;
      case T.flush:
        await this.flush(r);
        break;
      case T.lock:
        this.lock(r, w);
        break;
      case T.getlock:
        this.getlock(r, w);
        break;
      default:
        // Tauth, Txattrcreate and the legacy 9P2000/9P2000.u messages.
        throw new ProtocolError(`message type ${type} is not supported`, ERRNO.EOPNOTSUPP);
    }
    const reply = w.finish(type + 1, tag);
    if (reply.length > room) throw new ProtocolError(`reply of ${reply.length} bytes does not fit`);
    return reply;
  }

  // --- Fids and qids ----------------------------------------------------------------------------------

  private fid(id: number): Fid {
    return this.fids.get(id);
  }

  private checkNewFid(id: number): void {
    this.fids.checkFree(id);
  }

  /**
   * Runs `open` for fid `f`, one Tlopen/Tlcreate at a time, so that two requests cannot both open
   * something for it and leave one host file with no fid to close it.
   */
  private async opening(f: Fid, open: () => Promise<void>): Promise<void> {
    if (f.file || f.dir || f.xattr || f.opening) throw new ProtocolError('fid already open', ERRNO.EBADF);
    f.opening = true;
    try {
      await open();
    } finally {
      f.opening = false;
    }
  }

  /** `opened` for fid `f`, unless `f` was clunked meanwhile: then nobody but us will ever close it. */
  private async keep<T extends { close(): Promise<void> }>(f: Fid, opened: T): Promise<T> {
    if (!f.closed) return opened;
    await opened.close();
    throw new ProtocolError('fid clunked while it was being opened', ERRNO.EBADF);
  }

  /** A directory fid that was not opened: the parent in create-like requests. */
  private dirFid(id: number): Fid {
    const f = this.fid(id);
    if (f.qidType !== QID_DIR) throw new ProtocolError(`fid ${id} is not a directory`, ERRNO.ENOTDIR);
    return f;
  }

  private qid(st: ShareStat): Qid {
    const fmt = st.mode & S_IFMT;
    const type = fmt === S_IFDIR ? QID_DIR : fmt === S_IFLNK ? QID_SYMLINK : QID_FILE;
    // Inode numbers are unique per host device; a mount inside the share gets its device mixed in.
    let path = st.ino;
    if (this.rootDev !== null && st.dev !== this.rootDev) path ^= BigInt.asUintN(16, st.dev) << 48n;
    const version = type === QID_DIR ? 0 : Number(BigInt.asUintN(32, st.mtimeNs ^ (st.size << 20n)));
    return { type, version, path: BigInt.asUintN(64, path) };
  }

  private async qidOf(path: string): Promise<Qid> {
    return this.qid(await this.folder.lstat(path));
  }

  /** Renames on the host, then moves the fids at or below `from` along. */
  private async renamePath(from: string, to: string): Promise<void> {
    this.fids.checkMove(from, to);
    await this.folder.rename(from, to);
    this.fids.move(from, to);
  }

  // --- Session ----------------------------------------------------------------------------------------

  private async version(r: Reader, w: Writer): Promise<void> {
    const msize = r.u32();
    const version = r.str();
    if (msize < 256) throw new ProtocolError(`msize ${msize} is too small`);
    // A new version starts a new session: every fid of the old one is gone.
    await this.clunkAll();
    this.msize = Math.min(msize, this.maxMsize);
    w.u32(this.msize).str(version.startsWith(VERSION_9P2000_L) ? VERSION_9P2000_L : 'unknown');
  }

  private async attach(r: Reader, w: Writer): Promise<void> {
    const fid = r.u32();
    r.u32(); // afid: no authentication
    r.str(); // uname
    r.str(); // aname: there is one tree per device
    this.checkNewFid(fid);
    const st = await this.folder.lstat('');
    this.rootDev = st.dev;
    this.fids.add(fid, { path: '', qidType: QID_DIR });
    w.qid(this.qid(st));
  }

  private async flush(r: Reader): Promise<void> {
    const oldtag = r.u16();
    // Requests are not cancelled: the flushed one is answered first, as 9P allows.
    await this.inFlight.get(oldtag);
  }

  // --- Walking and opening ----------------------------------------------------------------------------

  private async walk(r: Reader, w: Writer): Promise<void> {
    const fidId = r.u32();
    const newId = r.u32();
    const n = r.u16();
    if (n > MAX_WALK) throw new ProtocolError(`walk of ${n} names`);
    const names: string[] = [];
    for (let i = 0; i < n; i++) names.push(r.str());
    const from = this.fid(fidId);
    if (newId !== fidId) this.checkNewFid(newId);
    let path = from.path;
    let type = from.qidType;
    const qids: Qid[] = [];
    for (const name of names) {
      try {
        // A symlink is not walked through: the client reads it and walks the target itself.
        if (type !== QID_DIR) throw new ProtocolError('walk from a non-directory', ERRNO.ENOTDIR);
        // '..' of the root is the root, as in every 9P server; the tree has no way up.
        const next = name === '..' ? parentOf(path) : childOf(path, name);
        FidTable.checkPath(next);
        const qid = await this.qidOf(next);
        path = next;
        type = qid.type;
        qids.push(qid);
      } catch (e) {
        if (qids.length === 0) throw e;
        break;
      }
    }
    if (qids.length === n) {
      if (newId === fidId) {
        if (from.closed) throw new ProtocolError(`fid ${fidId} was clunked meanwhile`, ERRNO.EBADF);
        this.fids.delete(fidId);
        await release(from);
      }
      this.fids.add(newId, { path, qidType: type });
    }
    w.u16(qids.length);
    for (const q of qids) w.qid(q);
  }

  private async lopen(r: Reader, w: Writer): Promise<void> {
    const f = this.fid(r.u32());
    const flags = r.u32();
    const access = flags & L_O_ACCMODE;
    const write = access === L_O_WRONLY || access === L_O_RDWR;
    await this.opening(f, async () => {
      const qid = await this.qidOf(f.path);
      if (qid.type === QID_DIR) {
        if (write) throw new ProtocolError('a directory is not writable', ERRNO.EISDIR);
        const stream = await this.keep(f, await this.folder.openDirectory(f.path));
        f.dir = { stream, next: 0, synthetic: 0, peeked: null, busy: Promise.resolve() };
      } else {
        const options = {
          read: access !== L_O_WRONLY,
          write,
          truncate: (flags & L_O_TRUNC) !== 0,
          append: (flags & L_O_APPEND) !== 0,
          sync: (flags & (L_O_SYNC | L_O_DSYNC)) !== 0,
        };
        f.file = await this.keep(f, await this.folder.openFile(f.path, options));
      }
      f.qidType = qid.type;
      // iounit 0: the client uses msize less the I/O header.
      w.qid(f.file ? this.qid(await f.file.stat()) : qid).u32(0);
    });
  }

  private async lcreate(r: Reader, w: Writer): Promise<void> {
    const f = this.dirFid(r.u32());
    const name = r.str();
    const flags = r.u32();
    const mode = r.u32();
    r.u32(); // gid: files belong to the host user
    const path = childOf(f.path, name);
    FidTable.checkPath(path);
    const access = flags & L_O_ACCMODE;
    const options = {
      read: access !== L_O_WRONLY,
      write: access === L_O_WRONLY || access === L_O_RDWR,
      append: (flags & L_O_APPEND) !== 0,
    };
    await this.opening(f, async () => {
      let file: ShareFile;
      try {
        file = await this.folder.createFile(path, mode, options);
      } catch (e) {
        // Without O_EXCL, open(O_CREAT) of a file that appeared meanwhile just opens it.
        if (errnoOf(e) !== ERRNO.EEXIST || flags & L_O_EXCL) throw e;
        file = await this.folder.openFile(path, { ...options, truncate: (flags & L_O_TRUNC) !== 0 });
      }
      f.file = await this.keep(f, file);
      const qid = this.qid(await file.stat());
      this.fids.repath(f, path);
      f.qidType = qid.type;
      w.qid(qid).u32(0);
    });
  }

  private async clunk(r: Reader): Promise<void> {
    const id = r.u32();
    this.fid(id);
    const f = this.fids.delete(id);
    if (f) await release(f);
  }

  private async remove(r: Reader): Promise<void> {
    const id = r.u32();
    const f = this.fid(id);
    // The fid is clunked even when the removal fails.
    this.fids.delete(id);
    await release(f);
    if (f.path === '') throw new ProtocolError('cannot remove the share root', ERRNO.EBUSY);
    await this.folder.remove(f.path);
  }

  // --- I/O --------------------------------------------------------------------------------------------

  private async read(r: Reader, tag: number, room: number): Promise<Uint8Array> {
    const f = this.fid(r.u32());
    const offset = r.u64Number();
    const count = Math.max(0, Math.min(r.u32(), room - IO_HEADER));
    const out = new Uint8Array(IO_HEADER + count);
    let n: number;
    if (f.xattr) {
      const data = f.xattr.subarray(Math.min(offset, f.xattr.length));
      n = Math.min(count, data.length);
      out.set(data.subarray(0, n), IO_HEADER);
    } else if (f.file) {
      n = await f.file.read(out.subarray(IO_HEADER), offset);
    } else if (f.dir) {
      throw new ProtocolError('read of a directory', ERRNO.EISDIR);
    } else {
      throw new ProtocolError('read of a fid that is not open', ERRNO.EBADF);
    }
    this.counters.bytesRead += n;
    const view = new DataView(out.buffer);
    view.setUint32(0, IO_HEADER + n, true);
    out[4] = T.read + 1;
    view.setUint16(5, tag, true);
    view.setUint32(HEADER_SIZE, n, true);
    return out.subarray(0, IO_HEADER + n);
  }

  private async write(r: Reader, w: Writer): Promise<void> {
    const f = this.fid(r.u32());
    const offset = r.u64Number();
    const count = r.u32();
    const data = r.bytesView(count);
    if (f.dir) throw new ProtocolError('write to a directory', ERRNO.EISDIR);
    if (!f.file) throw new ProtocolError('write to a fid that is not open', ERRNO.EBADF);
    const n = await f.file.write(data, offset);
    this.counters.bytesWritten += n;
    w.u32(n);
  }

  private async fsync(r: Reader): Promise<void> {
    const f = this.fid(r.u32());
    // Older clients send no datasync field.
    const dataOnly = r.remaining >= 4 ? r.u32() !== 0 : false;
    await f.file?.sync(dataOnly);
  }

  // --- Attributes -------------------------------------------------------------------------------------

  private async getattr(r: Reader, w: Writer): Promise<void> {
    const f = this.fid(r.u32());
    r.u64(); // request_mask: the basic set is always cheap to send
    // An open file may have been unlinked meanwhile: its descriptor still knows its attributes.
    const st = f.file ? await f.file.stat() : await this.folder.lstat(f.path);
    w.u64(GETATTR_BASIC).qid(this.qid(st));
    w.u32(Number(st.mode)).u32(Number(st.uid)).u32(Number(st.gid));
    w.u64(st.nlink).u64(st.rdev).u64(st.size).u64(st.blksize).u64(st.blocks);
    timeFields(w, st.atimeNs);
    timeFields(w, st.mtimeNs);
    timeFields(w, st.ctimeNs);
    w.u64(0).u64(0); // btime (not in the valid mask)
    w.u64(0).u64(0); // gen, data_version
  }

  private async setattr(r: Reader): Promise<void> {
    const f = this.fid(r.u32());
    const valid = r.u32();
    const mode = r.u32();
    r.u32(); // uid
    r.u32(); // gid
    const size = r.u64Number();
    const atime = r.u64() * NS_PER_S + r.u64();
    const mtime = r.u64() * NS_PER_S + r.u64();
    const changes = SETATTR_MODE | SETATTR_UID | SETATTR_GID | SETATTR_SIZE | SETATTR_ATIME | SETATTR_MTIME;
    if ((valid & changes) === 0) return;
    if (this.folder.readOnly) throw new ProtocolError('the share is read-only', ERRNO.EROFS);
    // Ownership stays with the host user running the VM: uid/gid changes are accepted and ignored.
    if (valid & SETATTR_SIZE && f.file?.writable) {
      await f.file.truncate(size);
    }
    const attrs = {
      mode: valid & SETATTR_MODE ? mode : undefined,
      size: valid & SETATTR_SIZE && !f.file?.writable ? size : undefined,
      atimeNs: valid & SETATTR_ATIME ? (valid & SETATTR_ATIME_SET ? atime : ('now' as const)) : undefined,
      mtimeNs: valid & SETATTR_MTIME ? (valid & SETATTR_MTIME_SET ? mtime : ('now' as const)) : undefined,
    };
    if (Object.values(attrs).some((v) => v !== undefined)) await this.folder.setattr(f.path, attrs);
  }

  private async statfs(r: Reader, w: Writer): Promise<void> {
    this.fid(r.u32());
    const s = await this.folder.statfs();
    w.u32(V9FS_MAGIC).u32(s.bsize);
    w.u64(s.blocks).u64(s.bfree).u64(s.bavail).u64(s.files).u64(s.ffree);
    w.u64(0).u32(255); // fsid, namelen
  }

  private async xattrwalk(r: Reader, w: Writer): Promise<void> {
    const fidId = r.u32();
    const f = this.fid(fidId);
    const newId = r.u32();
    const name = r.str();
    // The share has no extended attributes: the list is empty and every name is absent, which is
    // what ls and cp expect from a file system without them.
    if (name !== '') throw new ProtocolError(`no attribute ${name}`, ERRNO.ENODATA);
    if (newId === fidId) {
      this.fids.delete(fidId);
      await release(f);
    }
    this.fids.add(newId, { path: f.path, qidType: f.qidType, xattr: new Uint8Array(0) });
    w.u64(0);
  }

  private lock(r: Reader, w: Writer): void {
    this.fid(r.u32());
    // Locks are granted: the guest is the share's only user as far as the server knows.
    w.u8(LOCK_SUCCESS);
  }

  private getlock(r: Reader, w: Writer): void {
    this.fid(r.u32());
    r.u8(); // type
    const start = r.u64();
    const length = r.u64();
    const procId = r.u32();
    const clientId = r.str();
    w.u8(LOCK_TYPE_UNLCK).u64(start).u64(length).u32(procId).str(clientId);
  }

  // --- Directories ------------------------------------------------------------------------------------

  private readdir(r: Reader, tag: number, room: number): Promise<Uint8Array> {
    const f = this.fid(r.u32());
    const offset = r.u64();
    const count = Math.max(0, Math.min(r.u32(), room - IO_HEADER));
    const d = f.dir;
    if (!d) throw new ProtocolError('readdir of a fid that is not an open directory', ERRNO.EBADF);
    const reply = d.busy.then(() => this.readdirAt(f, d, offset, count, tag));
    d.busy = reply.then(
      () => {},
      () => {},
    );
    return reply;
  }

  /**
   * One Rreaddir from the directory stream. Offsets are the number of entries consumed, so a client
   * paging through continues the open stream; any other offset (a rewind, a seek) reopens it and
   * skips that many entries, as telldir/seekdir on a changing directory may.
   */
  private async readdirAt(
    f: Fid,
    d: OpenDirectory,
    offset: bigint,
    count: number,
    tag: number,
  ): Promise<Uint8Array> {
    if (d.stream === null || offset !== BigInt(d.next)) await this.seekDir(f, d, offset);
    const w = new Writer(IO_HEADER + count);
    w.u32(0); // count, patched below
    let full = false;
    while (!full) {
      // Take only entries whose reply room is there; the first one that does not fit waits for the next call.
      const batch: DirEntry[] = [];
      let size = w.length - IO_HEADER;
      while (batch.length < READDIR_BATCH) {
        const e = await this.nextEntry(d);
        if (e === null) break;
        const entrySize = DIRENT_FIXED + strSize(e.name);
        if (size + entrySize > count) {
          d.peeked = e;
          full = true;
          break;
        }
        size += entrySize;
        batch.push(e);
      }
      if (batch.length === 0) break;
      const names = batch.filter((e) => e.name !== '.' && e.name !== '..').map((e) => e.name);
      const stats = await this.folder.lstatEntries(f.path, names);
      const byName = new Map(names.map((n, i) => [n, stats[i]]));
      for (const e of batch) {
        let st: ShareStat | null | undefined;
        if (e.name === '.') st = await this.folder.lstat(f.path);
        else if (e.name === '..') st = await this.folder.lstat(parentOf(f.path));
        else st = byName.get(e.name);
        d.next++;
        // An entry that vanished since the stream listed it is skipped.
        if (st) w.qid(this.qid(st)).u64(d.next).u8(e.type).str(e.name);
      }
      if (batch.length < READDIR_BATCH && !full) break;
    }
    w.setU32(HEADER_SIZE, w.length - IO_HEADER);
    return w.finish(T.readdir + 1, tag);
  }

  /** The next entry of an open directory: '.', '..', then the host's, or null at the end. */
  private async nextEntry(d: OpenDirectory): Promise<DirEntry | null> {
    if (d.peeked !== null) {
      const e = d.peeked;
      d.peeked = null;
      return e;
    }
    if (d.synthetic < 2) return { name: d.synthetic++ === 0 ? '.' : '..', type: 4 };
    if (d.stream === null) throw new ProtocolError('the directory is not open', ERRNO.EBADF);
    return d.stream.next();
  }

  /** Reopens the stream of `d` and skips `offset` entries. */
  private async seekDir(f: Fid, d: OpenDirectory, offset: bigint): Promise<void> {
    const old = d.stream;
    d.stream = null;
    d.next = 0;
    d.synthetic = 0;
    d.peeked = null;
    await old?.close();
    const stream = await this.folder.openDirectory(f.path);
    if (f.closed) {
      await stream.close();
      throw new ProtocolError('fid clunked during readdir', ERRNO.EBADF);
    }
    d.stream = stream;
    while (BigInt(d.next) < offset && (await this.nextEntry(d)) !== null) d.next++;
  }

  private async mkdir(r: Reader, w: Writer): Promise<void> {
    const d = this.dirFid(r.u32());
    const name = r.str();
    const mode = r.u32();
    r.u32(); // gid
    const path = childOf(d.path, name);
    await this.folder.mkdir(path, mode);
    w.qid(await this.qidOf(path));
  }

  private async symlink(r: Reader, w: Writer): Promise<void> {
    const d = this.dirFid(r.u32());
    const name = r.str();
    const target = r.str();
    r.u32(); // gid
    const path = childOf(d.path, name);
    await this.folder.symlink(path, target);
    w.qid(await this.qidOf(path));
  }

  private async mknod(r: Reader, w: Writer): Promise<void> {
    const d = this.dirFid(r.u32());
    const name = r.str();
    const mode = r.u32();
    r.u32(); // major
    r.u32(); // minor
    r.u32(); // gid
    const path = childOf(d.path, name);
    const type = mode & Number(S_IFMT);
    // Device nodes, FIFOs and sockets would be host objects the guest reaches through the share.
    if (type !== 0 && type !== S_IFREG) throw new ProtocolError('only regular files', ERRNO.EPERM);
    const file = await this.folder.createFile(path, mode, { read: false, write: true });
    await file.close();
    w.qid(await this.qidOf(path));
  }

  private async readlink(r: Reader, w: Writer): Promise<void> {
    const f = this.fid(r.u32());
    w.str(await this.folder.readlink(f.path));
  }

  private async link(r: Reader): Promise<void> {
    const d = this.dirFid(r.u32());
    const f = this.fid(r.u32());
    const name = r.str();
    await this.folder.link(f.path, childOf(d.path, name));
  }

  private async rename(r: Reader): Promise<void> {
    const f = this.fid(r.u32());
    const d = this.dirFid(r.u32());
    const name = r.str();
    await this.renamePath(f.path, childOf(d.path, name));
  }

  private async renameat(r: Reader): Promise<void> {
    const od = this.dirFid(r.u32());
    const oldName = r.str();
    const nd = this.dirFid(r.u32());
    const newName = r.str();
    await this.renamePath(childOf(od.path, oldName), childOf(nd.path, newName));
  }

  private async unlinkat(r: Reader): Promise<void> {
    const d = this.dirFid(r.u32());
    const name = r.str();
    const flags = r.u32();
    const path = childOf(d.path, name);
    if (flags & AT_REMOVEDIR) await this.folder.rmdir(path);
    else await this.folder.unlink(path);
  }
}

function errorNumber(e: unknown): number {
  if (e instanceof ProtocolError) return e.errno;
  return errnoOf(e);
}

export function lerror(tag: number, errno: number): Uint8Array {
  return new Writer(16).u32(errno).finish(T.lerror + 1, tag);
}
