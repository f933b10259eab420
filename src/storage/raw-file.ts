/**
 * Raw image files as block backends: byte N of the disk is byte N of the file. I/O goes through a
 * FileHandle with positioned readv/writev, so the buffers handed in (views of guest RAM) are read and
 * written by the host kernel directly, without copies.
 */
import { constants, type FileHandle, open } from 'node:fs/promises';
import type { BlockBackend } from './block-backend.js';
import { expectIdentity, fileKind } from './file-identity.js';

const SECTOR = 512;
/** Not on Windows, where opening cannot block on a FIFO anyway. */
const NONBLOCK = constants.O_NONBLOCK ?? 0;
const NOCTTY = constants.O_NOCTTY ?? 0;
/** Shared by every backend and only ever read by the kernel, so one allocation serves all zero writes. */
const ZERO_CHUNK = 1 << 20;
let zeroChunk: Uint8Array | null = null;
/** Iovecs per writeZeroes call: 16 MiB per system call keeps both calls and latency moderate. */
const ZERO_IOVECS = 16;

function zeroes(): Uint8Array {
  zeroChunk ??= new Uint8Array(ZERO_CHUNK);
  return zeroChunk;
}

/** Views remaining after `done` bytes of `views` were transferred (only built on short transfers). */
function advance(views: Uint8Array[], done: number): Uint8Array[] {
  let i = 0;
  let skip = done;
  while (i < views.length && skip >= views[i].length) {
    skip -= views[i].length;
    i++;
  }
  const rest = views.slice(i);
  if (rest.length > 0 && skip > 0) rest[0] = rest[0].subarray(skip);
  return rest;
}

function totalLength(views: Uint8Array[]): number {
  let n = 0;
  for (const v of views) n += v.length;
  return n;
}

class RawDisk implements BlockBackend {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  private readonly file: FileHandle;
  private closing: Promise<void> | null = null;

  constructor(name: string, file: FileHandle, size: number, readOnly: boolean) {
    this.name = name;
    this.file = file;
    this.size = size;
    this.readOnly = readOnly;
  }

  async readv(views: Uint8Array[], position: number): Promise<void> {
    let pending = views;
    let at = position;
    let left = totalLength(views);
    while (left > 0) {
      const { bytesRead } = await this.file.readv(pending, at);
      if (bytesRead === 0) {
        // The file shrank under us (another process truncated it): what lies past its end reads as
        // zeroes, like a hole, rather than leaving whatever the buffers held before.
        for (const v of pending) v.fill(0);
        return;
      }
      left -= bytesRead;
      at += bytesRead;
      // Short transfers happen (signals, more iovecs than IOV_MAX): carry on where the kernel stopped.
      if (left > 0) pending = advance(pending, bytesRead);
    }
  }

  async writev(views: Uint8Array[], position: number): Promise<void> {
    if (this.readOnly) throw new Error(`${this.name}: the disk is read-only`);
    let pending = views;
    let at = position;
    let left = totalLength(views);
    while (left > 0) {
      const { bytesWritten } = await this.file.writev(pending, at);
      if (bytesWritten === 0) throw new Error(`${this.name}: write at byte ${at} made no progress`);
      left -= bytesWritten;
      at += bytesWritten;
      if (left > 0) pending = advance(pending, bytesWritten);
    }
  }

  async flush(): Promise<void> {
    // fdatasync: the data and whatever metadata is needed to read it back (the file's size), which is
    // all a disk flush promises.
    await this.file.datasync();
  }

  async discard(_position: number, _length: number): Promise<void> {
    // Node cannot punch holes (no fallocate), and writing zeroes would turn a cheap TRIM into a full
    // write of the range. Discarded contents are undefined by the spec, so keeping the old data is valid.
    if (this.readOnly) throw new Error(`${this.name}: the disk is read-only`);
  }

  async writeZeroes(position: number, length: number): Promise<void> {
    if (this.readOnly) throw new Error(`${this.name}: the disk is read-only`);
    const zero = zeroes();
    const iovecs: Uint8Array[] = [];
    let at = position;
    let left = length;
    while (left > 0) {
      iovecs.length = 0;
      let batch = 0;
      while (iovecs.length < ZERO_IOVECS && batch < left) {
        const n = Math.min(ZERO_CHUNK, left - batch);
        iovecs.push(n === ZERO_CHUNK ? zero : zero.subarray(0, n));
        batch += n;
      }
      await this.writev(iovecs, at);
      at += batch;
      left -= batch;
    }
  }

  close(): Promise<void> {
    this.closing ??= this.file.close();
    return this.closing;
  }
}

/**
 * Opens a raw image. The disk's capacity is the file's size, which must be a whole number of 512-byte
 * sectors; read-only disks open the file O_RDONLY so that nothing can write it by mistake.
 *
 * Only regular files are disks. The open itself must not wait: without O_NONBLOCK, opening a FIFO
 * blocks until someone opens its other end, and that would hold one of the process's few I/O threads
 * (every fs call of the daemon, for a thread runner) for as long as nobody does. `identity` ("dev:ino"),
 * when given, is the file the caller checked: anything else found at the path now is refused.
 */
export async function openRawDisk(
  path: string,
  options: { readOnly: boolean; identity?: string },
): Promise<BlockBackend> {
  let file: FileHandle;
  try {
    const flags = (options.readOnly ? constants.O_RDONLY : constants.O_RDWR) | NONBLOCK | NOCTTY;
    file = await open(path, flags);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT'
        ? 'no such file'
        : err.code === 'EACCES' || err.code === 'EPERM'
          ? `permission denied${options.readOnly ? '' : ' (add ,ro to use it read-only)'}`
          : err.code === 'EISDIR'
            ? 'is a directory, not a disk image'
            : err.code === 'EROFS'
              ? 'on a read-only file system (add ,ro to use it read-only)'
              : err.code === 'ENXIO'
                ? 'not a regular file (a FIFO or socket nobody serves)'
                : err.message;
    throw new Error(`${path}: ${why}`);
  }
  try {
    const st = await file.stat({ bigint: true });
    if (st.isDirectory()) throw new Error(`${path}: is a directory, not a disk image`);
    if (!st.isFile())
      throw new Error(`${path}: not a regular file (${fileKind(st)}; raw images must be plain files)`);
    expectIdentity(path, st, options.identity);
    if (st.size % BigInt(SECTOR) !== 0n) {
      throw new Error(
        `${path}: size ${st.size} bytes is not a multiple of ${SECTOR} (a raw image holds whole sectors)`,
      );
    }
    return new RawDisk(path, file, Number(st.size), options.readOnly);
  } catch (e) {
    await file.close().catch(() => {});
    throw e;
  }
}
