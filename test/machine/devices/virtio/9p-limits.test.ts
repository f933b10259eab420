/**
 * The host resources one virtio-9p device may hold, whatever its guest does (issue 9, findings 2, 6
 * and 14): fids, host file descriptors (per device and per process), requests and bytes in flight,
 * and directory listings. Each bound is asserted as a band: reached, and not exceeded.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MAX_PATH } from '../../../../src/machine/devices/virtio/9p/fids.js';
import { T } from '../../../../src/machine/devices/virtio/9p/server.js';
import { NOFID, NOTAG } from '../../../../src/machine/devices/virtio/9p/wire.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUESTS } from '../../../../src/machine/devices/virtio/9p.js';
import { FdBudget } from '../../../../src/storage/fd-budget.js';
import { ERRNO } from '../../../../src/storage/fs-errno.js';
import { DEFAULT_MAX_OPEN_FILES, SharedFolder } from '../../../../src/storage/shared-folder.js';
import {
  batch,
  type Driver,
  errnoOf,
  listDir,
  msg,
  O_RDONLY,
  ok,
  type Reply,
  session,
  walk,
} from './9p-session.js';

const temps: string[] = [];
after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function tempShare(): string {
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-9p-limits-'));
  temps.push(dir);
  const share = join(dir, 'share');
  mkdirSync(share);
  writeFileSync(join(share, 'f'), 'a file opened many times\n');
  return share;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;
const linux = process.platform === 'linux';

/**
 * Walks fids first..first+count-1 to 'f' and opens each, `chunk` requests at a time (on several
 * devices at once, interleaved); returns per device how many opens succeeded and the errnos of the rest.
 */
async function openMany(
  devices: Driver[],
  first: number,
  count: number,
): Promise<{ opened: number; errnos: Set<number> }[]> {
  const results = devices.map(() => ({ opened: 0, errnos: new Set<number>() }));
  const chunk = 32;
  for (let at = 0; at < count; at += chunk) {
    const fids = Array.from({ length: Math.min(chunk, count - at) }, (_, i) => first + at + i);
    await Promise.all(
      devices.map(async (d, n) => {
        const walks = await batch(
          d,
          fids.map((fid) => msg(T.walk, (w) => w.u32(0).u32(fid).u16(1).str('f'))),
        );
        for (const p of walks) assert.equal(p.type, T.walk + 1, `walk errno ${errnoOf(p)}`);
        const opens = await batch(
          d,
          fids.map((fid) => msg(T.lopen, (w) => w.u32(fid).u32(O_RDONLY))),
        );
        for (const p of opens) {
          if (p.type === T.lopen + 1) results[n].opened++;
          else results[n].errnos.add(errnoOf(p));
        }
      }),
    );
  }
  return results;
}

async function clunkAll(d: Driver, first: number, count: number): Promise<void> {
  for (let at = 0; at < count; at += 32) {
    const fids = Array.from({ length: Math.min(32, count - at) }, (_, i) => first + at + i);
    await batch(
      d,
      fids.map((fid) => msg(T.clunk, (w) => w.u32(fid))),
    );
  }
}

test('one device holds at most its share of host files: EMFILE beyond, all back after clunk', async (t) => {
  if (!linux) return t.skip('shares need Linux');
  const share = tempShare();
  const baseline = openFds();
  const d = await session(share);
  const tries = DEFAULT_MAX_OPEN_FILES + 300;
  const [r] = await openMany([d], 1, tries);
  const held = openFds() - baseline;
  t.diagnostic(`${r.opened} of ${tries} opens succeeded, ${held} descriptors held`);
  assert.ok(
    r.opened <= DEFAULT_MAX_OPEN_FILES - 1 && r.opened >= DEFAULT_MAX_OPEN_FILES - 40,
    `${r.opened} opened`,
  );
  assert.deepEqual([...r.errnos], [ERRNO.EMFILE], 'the guest gets EMFILE, nothing else');
  assert.ok(held <= DEFAULT_MAX_OPEN_FILES, `${held} host descriptors held`);
  assert.equal(d.device.saveState().openFiles, r.opened + 1);
  // Still serving: a clunk frees a descriptor for the next open.
  await clunkAll(d, 1, tries);
  assert.equal(d.device.saveState().openFiles, 1, 'only the root is left open');
  assert.equal(d.transport.failure, null);
  await d.device.close();
  assert.equal(openFds(), baseline, 'closing the device closes every descriptor');
});

test('two devices in one process stay within the process budget: ENFILE beyond, each keeps its reserve', async (t) => {
  if (!linux) return t.skip('shares need Linux');
  const budget = new FdBudget(300);
  const baseline = openFds();
  const devices = await Promise.all(
    [tempShare(), tempShare()].map(async (share) =>
      session(await SharedFolder.open(share, { readOnly: false, fdBudget: budget })),
    ),
  );
  const tries = 1000;
  const results = await openMany(devices, 1, tries);
  const held = openFds() - baseline;
  t.diagnostic(`opened ${results.map((r) => r.opened).join(' + ')}, ${held} descriptors held`);
  assert.ok(held <= 300, `${held} host descriptors held by two devices with a budget of 300`);
  const total = results[0].opened + results[1].opened;
  // Two roots; near the limit, the opens in flight (32 per device) briefly hold a walk handle each.
  assert.ok(total >= 300 - 2 - 64 && total <= 300 - 2, `${total} files opened in all`);
  for (const r of results) {
    assert.ok(r.opened >= 32, 'each device got at least its reservation');
    assert.deepEqual([...r.errnos], [ERRNO.ENFILE]);
  }
  // What one device gives back, the other can take.
  await clunkAll(devices[0], 1, tries);
  const [again] = await openMany([devices[1]], tries + 1, 100);
  assert.ok(again.opened >= 50, `${again.opened} more opened`);
  for (const d of devices) {
    assert.equal(d.transport.failure, null);
    await d.device.close();
  }
  assert.equal(budget.held, 0);
  assert.equal(openFds(), baseline);
});

test('racing Tclunk against Tlopen of the same fid leaks no host file', async (t) => {
  if (!linux) return t.skip('shares need Linux');
  const d = await session(tempShare());
  for (let round = 0; round < 20; round++) {
    await walk(d, 0, 1, 'f');
    await walk(d, 0, 2);
    await batch(d, [
      msg(T.lopen, (w) => w.u32(1).u32(O_RDONLY)),
      msg(T.lopen, (w) => w.u32(1).u32(O_RDONLY)),
      msg(T.clunk, (w) => w.u32(1)),
      msg(T.lopen, (w) => w.u32(2).u32(O_RDONLY)),
      msg(T.version, (w) => w.u32(8192).str('9P2000.L'), NOTAG),
    ]);
    await ok(d, T.attach, (w) => w.u32(0).u32(NOFID).str('root').str('').u32(0));
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(d.device.saveState().fids, 1);
  assert.equal(d.device.saveState().openFiles, 1, 'nothing but the root is open');
  await d.device.close();
});

test('fids: at most maxFids (EMFILE), their paths at most PATH_MAX (ENAMETOOLONG) and maxPathChars', async () => {
  const share = tempShare();
  // A tree deeper than PATH_MAX characters: names of 240, so 17 of them make a path of exactly 4096.
  const names = Array.from({ length: 18 }, (_, i) => `${String(i).padStart(3, '0')}${'d'.repeat(237)}`);
  // The host's own calls take no path that long: make the second half from inside the first.
  mkdirSync(join(share, ...names.slice(0, 9)), { recursive: true });
  const cwd = process.cwd();
  process.chdir(join(share, ...names.slice(0, 9)));
  try {
    mkdirSync(join(...names.slice(9)), { recursive: true });
  } finally {
    process.chdir(cwd);
  }
  const d = await session(share, false, { maxFids: 100 });
  assert.equal((await walk(d, 0, 1, ...names.slice(0, 16))).u16(), 16);
  // A walk that would go past PATH_MAX stops there (Rwalk with the qids so far, no new fid) ...
  assert.equal((await walk(d, 1, 2, names[16], names[17])).u16(), 1);
  assert.equal((await walk(d, 1, 2, names[16])).u16(), 1);
  assert.equal(names.slice(0, 17).join('/').length, MAX_PATH);
  // ... or fails when its first name does.
  const [tooLong] = await batch(d, [msg(T.walk, (w) => w.u32(2).u32(3).u16(1).str(names[17]))]);
  assert.equal(errnoOf(tooLong), ERRNO.ENAMETOOLONG);
  // 3 fids in use; 200 more are asked for and 97 made.
  const replies: Reply[] = [];
  for (let k = 0; k < 200; k += 25) {
    const walks = Array.from({ length: 25 }, (_, i) =>
      msg(T.walk, (w) =>
        w
          .u32(0)
          .u32(10 + k + i)
          .u16(0),
      ),
    );
    replies.push(...(await batch(d, walks)));
  }
  assert.equal(replies.filter((p) => p.type === T.walk + 1).length, 97);
  assert.deepEqual(
    new Set(replies.filter((p) => p.type !== T.walk + 1).map(errnoOf)),
    new Set([ERRNO.EMFILE]),
  );
  assert.equal(d.device.saveState().fids, 100);
  await d.device.close();

  // The characters of all paths together are bounded too.
  const e = await session(share, false, { maxPathChars: 10_000 });
  assert.equal((await walk(e, 0, 1, ...names.slice(0, 16))).u16(), 16);
  assert.equal((await walk(e, 0, 2, ...names.slice(0, 16))).u16(), 16);
  const [third] = await batch(e, [msg(T.walk, (w) => w.u32(0).u32(3).u16(1).str(names[0]))]);
  assert.equal(third.type, T.walk + 1, 'short paths still fit');
  const [fourth] = await batch(e, [msg(T.walk, (w) => w.u32(2).u32(4).u16(0))]);
  assert.equal(errnoOf(fourth), ERRNO.EMFILE, 'a third long path does not');
  await e.device.close();
  process.chdir(join(share, ...names.slice(0, 9)));
  try {
    rmSync(names[9], { recursive: true });
  } finally {
    process.chdir(cwd);
  }
});

/** Tversion with `msize` (a new session: every fid is gone) and Tattach of fid 0. */
async function newSession(d: Driver, msize: number): Promise<void> {
  const [v] = await batch(d, [msg(T.version, (w) => w.u32(msize).str('9P2000.L'), NOTAG)]);
  assert.equal(v.r.u32(), msize);
  await ok(d, T.attach, (w) => w.u32(0).u32(NOFID).str('root').str('').u32(0));
}

// Finding 2 of issue 9 (the 9p part): a driver filling the ring with requests that each ask for the
// largest reply must not make the device hold a reply buffer for every one of them at once.
test('requests in flight are bounded in number and bytes; the rest wait in the ring and are all answered', async (t) => {
  const share = tempShare();
  writeFileSync(join(share, 'big'), Buffer.alloc(1 << 20, 0x5a));
  mkdirSync(join(share, 'dir'));
  for (let i = 0; i < 300; i++) writeFileSync(join(share, 'dir', `entry-${i}`), '');
  const d = await session(share);
  const MAX = 512 * 1024;
  // INDIRECT_DESC, so that all 128 ring entries can be requests in flight at once.
  d.init({ features: [1 | (1 << 28), 1], size: 128 });
  await newSession(d, MAX);
  await walk(d, 0, 1, 'big');
  await ok(d, T.lopen, (w) => w.u32(1).u32(O_RDONLY));
  await walk(d, 0, 2, 'dir');
  await ok(d, T.lopen, (w) => w.u32(2).u32(O_RDONLY));

  let peakBytes = 0;
  let peakRequests = 0;
  const sample = () => {
    const s = d.device.saveState();
    peakBytes = Math.max(peakBytes, s.bytesInFlight);
    peakRequests = Math.max(peakRequests, s.inFlight);
  };
  /** Fills the ring with `requests`, every reply into one shared buffer, and waits for all answers. */
  const flood = async (requests: Uint8Array[]): Promise<number[]> => {
    peakBytes = 0;
    peakRequests = 0;
    const reply = d.alloc(MAX);
    for (const r of requests) {
      d.submitChain(
        0,
        [
          { addr: d.put(r), length: r.length },
          { addr: reply, length: MAX, write: true },
        ],
        {
          indirect: true,
        },
      );
    }
    d.kick(0);
    sample();
    const written: number[] = [];
    const started = Date.now();
    while (written.length < requests.length) {
      assert.ok(Date.now() - started < 20_000, `${written.length} of ${requests.length} answered`);
      written.push(...d.takeUsed(0).map((u) => u.written));
      sample();
      await new Promise((r) => setImmediate(r));
    }
    return written;
  };

  // 128 requests for 512 KiB each: reads of a 1 MiB file and listings.
  const large = Array.from({ length: 128 }, (_, i) =>
    i % 2
      ? msg(T.read, (w) => w.u32(1).u64(0).u32(0xffffffff))
      : msg(T.readdir, (w) => w.u32(2).u64(0).u32(0xffffffff)),
  );
  const written = await flood(large);
  t.diagnostic(`large requests: ${peakBytes} bytes and ${peakRequests} requests in flight at most`);
  assert.equal(written.filter((n) => n === MAX).length, 64, 'every read filled its reply');
  assert.equal(written.filter((n) => n > 11 && n < MAX).length, 64, 'every listing was answered');
  assert.ok(peakBytes <= DEFAULT_MAX_BYTES, `${peakBytes} bytes in flight`);
  assert.ok(peakBytes >= DEFAULT_MAX_BYTES / 2, `${peakBytes} bytes in flight: the bound is used`);
  assert.ok(peakRequests <= Math.floor(DEFAULT_MAX_BYTES / MAX), `${peakRequests} large requests at once`);

  // 128 small requests: the count bound applies.
  const small = await flood(Array.from({ length: 128 }, () => msg(T.getattr, (w) => w.u32(1).u64(0x7ff))));
  assert.equal(small.length, 128);
  assert.equal(peakRequests, DEFAULT_MAX_REQUESTS, 'at most (and up to) maxRequests at once');
  assert.equal(d.device.saveState().bytesInFlight, 0);
  assert.equal(d.transport.failure, null);
  await d.device.close();
});

// Finding 14 of issue 9 (the 9p part): an open directory must not hold its whole listing.
test('open directories stream their listings: many open listings of a large directory hold little memory', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const share = tempShare();
  mkdirSync(join(share, 'many'));
  const prefix = 'n'.repeat(200);
  for (let i = 0; i < 5000; i++) writeFileSync(join(share, 'many', `${prefix}${i}`), '');
  const d = await session(share);
  const fids = Array.from({ length: 40 }, (_, i) => 10 + i);
  for (const part of [fids.slice(0, 20), fids.slice(20)]) {
    await batch(
      d,
      part.map((fid) => msg(T.walk, (w) => w.u32(0).u32(fid).u16(1).str('many'))),
    );
    const opens = await batch(
      d,
      part.map((fid) => msg(T.lopen, (w) => w.u32(fid).u32(O_RDONLY))),
    );
    for (const p of opens) assert.equal(p.type, T.lopen + 1);
  }
  gc();
  const before = process.memoryUsage().heapUsed;
  for (const part of [fids.slice(0, 20), fids.slice(20)]) {
    const pages = await batch(
      d,
      part.map((fid) => msg(T.readdir, (w) => w.u32(fid).u64(0).u32(8192))),
      8192 + 11,
    );
    for (const p of pages) assert.ok(p.type === T.readdir + 1 && p.r.u32() > 8000, 'a full page');
  }
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  t.diagnostic(`heap grew by ${grown} bytes`);
  assert.ok(grown < 4 << 20, `${grown} bytes of heap held by 40 open listings of 5,000 names`);
  assert.equal(d.device.saveState().openFiles, 41, 'a descriptor per open directory, and the root');

  // The stream lists every entry once, from the start again after a rewind, and from a seek.
  for (let pass = 0; pass < 2; pass++) assert.equal((await listDir(d, 10, 8192)).size, 5002);
  const [seek] = await batch(d, [msg(T.readdir, (w) => w.u32(11).u64(1000).u32(8192))], 8192 + 11);
  seek.r.u32();
  seek.r.bytesView(13);
  assert.equal(seek.r.u64(), 1001n, 'the entry after the first 1,000');
  await d.device.close();
});
