/**
 * 9P wire format: little-endian integers, strings as a u16 byte count plus UTF-8, qids as 13 bytes.
 * Every field a guest sends is bounds-checked: reading past the message end, or a string that is not
 * UTF-8, throws ProtocolError, which the server answers with Rlerror instead of failing.
 */
import { ERRNO } from '../../../../storage/shared-folder.js';

/** Message header: size[4] type[1] tag[2]. */
export const HEADER_SIZE = 7;
/** The tag of Tversion, which is outside any session. */
export const NOTAG = 0xffff;
/** The fid meaning "none" (Tattach's afid). */
export const NOFID = 0xffffffff;

export const QID_DIR = 0x80;
export const QID_SYMLINK = 0x02;
export const QID_FILE = 0;

export interface Qid {
  type: number;
  version: number;
  /** 64-bit unique id of the object. */
  path: bigint;
}

export class ProtocolError extends Error {
  readonly errno: number;
  constructor(message: string, errno: number = ERRNO.EINVAL) {
    super(message);
    this.errno = errno;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export class Reader {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos: number;
  private readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): number {
    if (this.end - this.pos < n) throw new ProtocolError(`message ends inside ${what}`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.bytes[this.need(1, 'a u8 field')];
  }

  u16(): number {
    return this.view.getUint16(this.need(2, 'a u16 field'), true);
  }

  u32(): number {
    return this.view.getUint32(this.need(4, 'a u32 field'), true);
  }

  u64(): bigint {
    return this.view.getBigUint64(this.need(8, 'a u64 field'), true);
  }

  /** A u64 that must fit a JavaScript number exactly (offsets, sizes). */
  u64Number(): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError(`${v} is too large`, ERRNO.EOVERFLOW);
    return Number(v);
  }

  str(): string {
    const len = this.u16();
    const at = this.need(len, 'a string');
    try {
      return utf8.decode(this.bytes.subarray(at, at + len));
    } catch {
      throw new ProtocolError('a string is not UTF-8', ERRNO.EILSEQ);
    }
  }

  /** A view (not a copy) of the next n bytes. */
  bytesView(n: number): Uint8Array {
    const at = this.need(n, 'the data');
    return this.bytes.subarray(at, at + n);
  }
}

/** Builds one reply message; the header is filled in by finish(). */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = HEADER_SIZE;

  constructor(capacity = 64) {
    this.buf = new Uint8Array(Math.max(capacity, HEADER_SIZE));
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  /** Reserves n bytes and returns where they start (the buffer may move: index it afterwards). */
  private room(n: number): number {
    if (this.pos + n > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
      grown.set(this.buf.subarray(0, this.pos));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(v: number): this {
    const at = this.room(1);
    this.buf[at] = v;
    return this;
  }

  u16(v: number): this {
    const at = this.room(2);
    this.view.setUint16(at, v, true);
    return this;
  }

  u32(v: number): this {
    const at = this.room(4);
    this.view.setUint32(at, v >>> 0, true);
    return this;
  }

  u64(v: bigint | number): this {
    const big = typeof v === 'bigint' ? v : BigInt(Math.max(0, Math.trunc(v)));
    const at = this.room(8);
    this.view.setBigUint64(at, BigInt.asUintN(64, big), true);
    return this;
  }

  str(s: string): this {
    const bytes = utf8Encoder.encode(s);
    if (bytes.length > 0xffff) throw new ProtocolError('string too long for 9P', ERRNO.ENAMETOOLONG);
    this.u16(bytes.length);
    const at = this.room(bytes.length);
    this.buf.set(bytes, at);
    return this;
  }

  qid(q: Qid): this {
    this.u8(q.type).u32(q.version);
    return this.u64(q.path);
  }

  bytes(b: Uint8Array): this {
    const at = this.room(b.length);
    this.buf.set(b, at);
    return this;
  }

  /** Overwrites a u32 written earlier at `at` (a count known only after what follows it). */
  setU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }

  /** Fills in the header and returns the message. */
  finish(type: number, tag: number): Uint8Array {
    this.view.setUint32(0, this.pos, true);
    this.buf[4] = type;
    this.view.setUint16(5, tag, true);
    return this.buf.subarray(0, this.pos);
  }
}

/** Byte length of a string as 9P sends it (u16 count plus UTF-8 bytes). */
export function strSize(s: string): number {
  return 2 + utf8Encoder.encode(s).length;
}
