/**
 * A guest's side of virtio-9p for tests: 9P messages built and parsed with the server's own wire
 * format, posted through a TestDriver, and the session set-up (Tversion, Tattach of fid 0).
 */
import assert from 'node:assert/strict';
import { T } from '../../../../src/machine/devices/virtio/9p/server.js';
import { NOFID, NOTAG, Reader, Writer } from '../../../../src/machine/devices/virtio/9p/wire.js';
import { Virtio9p, type Virtio9pOptions } from '../../../../src/machine/devices/virtio/9p.js';
import { SharedFolder } from '../../../../src/storage/shared-folder.js';
import { TestDriver } from './test-driver.js';

export const QSIZE = 128;
export const MSIZE = 0x20000;

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;

export type Driver = TestDriver<Virtio9p>;

/** A driver for `device`, started: MOUNT_TAG and VERSION_1, queue 0 only. */
export function driver(device: Virtio9p): Driver {
  // Every request gets fresh reply room (MSIZE), and RAM is never reused.
  const d = new TestDriver(device, 64 << 20);
  start(d);
  return d;
}

/** Resets the device and sets it up again; requests posted before are dropped. */
export function start(d: Driver): void {
  d.init({ features: [1, 1], size: QSIZE }); // VIRTIO_9P_MOUNT_TAG, VERSION_1
}

/**
 * Posts `request` with `replyRoom` writable bytes (split over two buffers, as Linux does for zero-copy
 * reads) and resolves with the reply.
 */
export async function post(
  d: Driver,
  request: Uint8Array,
  replyRoom = MSIZE,
  notify = true,
): Promise<Uint8Array> {
  const first = Math.min(11, replyRoom);
  const head = d.submit(0, [request], [first, replyRoom - first]);
  if (notify) d.kick(0);
  return d.writtenBytes(0, await d.completion(0, head));
}

let nextTag = 1;
export function msg(type: number, build: (w: Writer) => void, tag = nextTag++ & 0x7fff): Uint8Array {
  const w = new Writer();
  build(w);
  return w.finish(type, tag);
}

export interface Reply {
  type: number;
  tag: number;
  r: Reader;
}

export function parse(reply: Uint8Array): Reply {
  const r = new Reader(reply);
  const size = r.u32();
  assert.equal(size, reply.length, 'the size field is the reply length');
  return { type: r.u8(), tag: r.u16(), r };
}

/** Sends a request and expects its R-message; returns a reader positioned after the header. */
export async function ok(d: Driver, type: number, build: (w: Writer) => void, room = MSIZE): Promise<Reader> {
  const p = parse(await post(d, msg(type, build), room));
  if (p.type === T.lerror + 1) assert.fail(`T${type} failed with errno ${p.r.u32()}`);
  assert.equal(p.type, type + 1);
  return p.r;
}

/** Sends a request and expects Rlerror; returns the errno. */
export async function fails(
  d: Driver,
  type: number,
  build: (w: Writer) => void,
  room = MSIZE,
): Promise<number> {
  const p = parse(await post(d, msg(type, build), room));
  assert.equal(p.type, T.lerror + 1, `T${type} should have failed`);
  return p.r.u32();
}

/** A started device on `share` (a path, or a folder opened with options) with fid 0 attached to its root. */
export async function session(
  share: string | SharedFolder,
  readOnly = false,
  options: Partial<Virtio9pOptions> = {},
): Promise<Driver> {
  const folder = typeof share === 'string' ? await SharedFolder.open(share, { readOnly }) : share;
  const d = driver(new Virtio9p(folder, { tag: 'host0', ...options }));
  const p = parse(
    await post(
      d,
      msg(T.version, (w) => w.u32(MSIZE).str('9P2000.L'), NOTAG),
    ),
  );
  assert.equal(p.type, T.version + 1);
  assert.equal(p.r.u32(), MSIZE);
  assert.equal(p.r.str(), '9P2000.L');
  await ok(d, T.attach, (w) => w.u32(0).u32(NOFID).str('root').str('').u32(0));
  return d;
}

export function walk(d: Driver, fid: number, newfid: number, ...names: string[]): Promise<Reader> {
  return ok(d, T.walk, (w) => {
    w.u32(fid).u32(newfid).u16(names.length);
    for (const n of names) w.str(n);
  });
}

export function readQid(r: Reader): { type: number; version: number; path: bigint } {
  return { type: r.u8(), version: r.u32(), path: r.u64() };
}

export async function readAll(d: Driver, fid: number): Promise<string> {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (;;) {
    const r = await ok(d, T.read, (w) => w.u32(fid).u64(offset).u32(7));
    const n = r.u32();
    if (n === 0) break;
    parts.push(r.bytesView(n).slice());
    offset += n;
  }
  return Buffer.concat(parts).toString();
}

export async function listDir(
  d: Driver,
  fid: number,
  count = 4096,
): Promise<Map<string, { type: number; qid: number }>> {
  const seen = new Map<string, { type: number; qid: number }>();
  let offset = 0n;
  for (;;) {
    const r = await ok(d, T.readdir, (w) => w.u32(fid).u64(offset).u32(count));
    const n = r.u32();
    if (n === 0) break;
    const end = r.remaining - n;
    while (r.remaining > end) {
      const qid = readQid(r);
      offset = r.u64();
      const type = r.u8();
      const name = r.str();
      assert.ok(!seen.has(name), `${name} listed once`);
      seen.set(name, { type, qid: qid.type });
    }
  }
  return seen;
}

/** Posts every request at once (one notify) with `room` reply bytes each; resolves with the replies in order. */
export async function batch(d: Driver, requests: Uint8Array[], room = 256): Promise<Reply[]> {
  const replies = requests.map((r) => post(d, r, room, false));
  d.kick(0);
  return (await Promise.all(replies)).map(parse);
}

/** The errno of an Rlerror, 0 for any other reply. */
export function errnoOf(p: Reply): number {
  return p.type === T.lerror + 1 ? new Reader(p.r.bytesView(4)).u32() : 0;
}
