import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { T } from '../../../../src/machine/devices/virtio/9p/server.js';
import {
  NOFID,
  QID_DIR,
  QID_FILE,
  QID_SYMLINK,
  type Writer,
} from '../../../../src/machine/devices/virtio/9p/wire.js';
import { Virtio9p } from '../../../../src/machine/devices/virtio/9p.js';
import { ERRNO, FsError } from '../../../../src/storage/fs-errno.js';
import { SharedFolder } from '../../../../src/storage/shared-folder.js';
import {
  fails,
  listDir,
  MSIZE,
  msg,
  O_CREAT,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  ok,
  parse,
  post,
  readAll,
  readQid,
  session,
  start,
  walk,
} from './9p-session.js';

const temps: string[] = [];
after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function tempTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-9p-'));
  temps.push(dir);
  const share = join(dir, 'share');
  mkdirSync(join(share, 'sub', 'deep'), { recursive: true });
  writeFileSync(join(share, 'hello.txt'), 'hello from the host\n');
  writeFileSync(join(share, 'sub', 'deep', 'leaf'), 'leaf');
  writeFileSync(join(dir, 'secret'), 'outside the share');
  symlinkSync('/etc', join(share, 'etc'));
  symlinkSync('../secret', join(share, 'up'));
  symlinkSync('hello.txt', join(share, 'rel'));
  return share;
}

test('configuration space: device id 9, the mount tag feature and the tag', async () => {
  const folder = await SharedFolder.open(tempTree(), { readOnly: false });
  const dev = new Virtio9p(folder, { tag: 'host0' });
  assert.equal(dev.deviceId, 9);
  assert.equal(dev.features[0] & 1, 1);
  assert.deepEqual([...dev.config], [5, 0, ...Buffer.from('host0')]);
  await assert.rejects(SharedFolder.open(join(tempTree(), 'missing'), { readOnly: false }), /no such folder/);
  await assert.rejects(
    SharedFolder.open(join(tempTree(), 'hello.txt'), { readOnly: false }),
    /not a directory/,
  );
});

test('walk, open, read, getattr and readdir of host files', async () => {
  const share = tempTree();
  const d = await session(share);
  const wr = await walk(d, 0, 1, 'hello.txt');
  assert.equal(wr.u16(), 1);
  const qid = readQid(wr);
  assert.equal(qid.type, QID_FILE);
  assert.equal(qid.path, lstatSync(join(share, 'hello.txt'), { bigint: true }).ino);
  const attr = await ok(d, T.getattr, (w) => w.u32(1).u64(0x7ff));
  assert.equal(attr.u64(), 0x7ffn);
  readQid(attr);
  assert.equal(attr.u32() & 0o170000, 0o100000, 'a regular file');
  attr.u32();
  attr.u32();
  attr.u64();
  attr.u64();
  assert.equal(attr.u64(), 20n, 'size');
  await ok(d, T.lopen, (w) => w.u32(1).u32(O_RDONLY));
  assert.equal(await readAll(d, 1), 'hello from the host\n');
  await ok(d, T.clunk, (w) => w.u32(1));
  assert.equal(await fails(d, T.clunk, (w) => w.u32(1)), ERRNO.EBADF);

  // A multi-name walk and a clone (nwname 0).
  const deep = await walk(d, 0, 2, 'sub', 'deep', 'leaf');
  assert.equal(deep.u16(), 3);
  assert.equal(readQid(deep).type, QID_DIR);
  await walk(d, 2, 3);
  await ok(d, T.lopen, (w) => w.u32(3).u32(O_RDONLY));
  assert.equal(await readAll(d, 3), 'leaf');
  // A walk that fails after the first name returns the qids so far and makes no fid.
  const partial = await walk(d, 0, 4, 'sub', 'nothing', 'x');
  assert.equal(partial.u16(), 1);
  assert.equal(await fails(d, T.getattr, (w) => w.u32(4).u64(0x7ff)), ERRNO.EBADF);
  assert.equal(await fails(d, T.walk, (w) => w.u32(0).u32(4).u16(1).str('nothing')), ERRNO.ENOENT);

  // Readdir in small pages sees every entry once, with qid types; reading a directory fails.
  await walk(d, 0, 5);
  await ok(d, T.lopen, (w) => w.u32(5).u32(O_RDONLY));
  for (const count of [4096, 40]) {
    const list = await listDir(d, 5, count);
    assert.deepEqual([...list.keys()].sort(), ['.', '..', 'etc', 'hello.txt', 'rel', 'sub', 'up']);
    assert.deepEqual(list.get('sub'), { type: 4, qid: QID_DIR });
    assert.deepEqual(list.get('hello.txt'), { type: 8, qid: QID_FILE });
    assert.deepEqual(list.get('etc'), { type: 10, qid: QID_SYMLINK });
  }
  assert.equal(await fails(d, T.read, (w) => w.u32(5).u64(0).u32(100)), ERRNO.EISDIR);
  const st = await ok(d, T.statfs, (w) => w.u32(0));
  assert.equal(st.u32(), 0x01021997);
  assert.ok(st.u32() > 0, 'block size');
  // Extended attributes: an empty list, and no attribute by name.
  const xa = await ok(d, T.xattrwalk, (w) => w.u32(0).u32(6).str(''));
  assert.equal(xa.u64(), 0n);
  assert.equal(await fails(d, T.xattrwalk, (w) => w.u32(0).u32(7).str('security.selinux')), ERRNO.ENODATA);
  assert.equal(d.transport.failure, null);
  await d.device.close();
});

test('create, write, mkdir, rename, link, symlink, setattr and unlink change the host folder', async () => {
  const share = tempTree();
  const d = await session(share);
  await walk(d, 0, 1);
  const created = await ok(d, T.lcreate, (w) =>
    w
      .u32(1)
      .str('new.txt')
      .u32(O_RDWR | 0o100)
      .u32(0o644)
      .u32(0),
  );
  assert.equal(readQid(created).type, QID_FILE);
  const data = Buffer.from('written by the guest');
  const wr = await ok(d, T.write, (w) => w.u32(1).u64(0).u32(data.length).bytes(data));
  assert.equal(wr.u32(), data.length);
  await ok(d, T.fsync, (w) => w.u32(1).u32(0));
  assert.equal(readFileSync(join(share, 'new.txt'), 'utf8'), 'written by the guest');
  // Tsetattr: truncate through the open fid, then mode and times by path.
  await ok(d, T.setattr, (w) => w.u32(1).u32(8).u32(0).u32(0).u32(0).u64(7).u64(0).u64(0).u64(0).u64(0));
  assert.equal(readFileSync(join(share, 'new.txt'), 'utf8'), 'written');
  await walk(d, 0, 2, 'new.txt');
  await ok(d, T.setattr, (w) =>
    w
      .u32(2)
      .u32(1 | 16 | 32 | 128 | 256)
      .u32(0o600)
      .u32(0)
      .u32(0)
      .u64(0)
      .u64(1_000_000)
      .u64(0)
      .u64(2_000_000)
      .u64(0),
  );
  const st = lstatSync(join(share, 'new.txt'));
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(st.mtimeMs, 2_000_000_000);

  const mk = await ok(d, T.mkdir, (w) => w.u32(0).str('dir').u32(0o755).u32(0));
  assert.equal(readQid(mk).type, QID_DIR);
  assert.ok(lstatSync(join(share, 'dir')).isDirectory());
  // A fid below a renamed directory follows it.
  await walk(d, 0, 3, 'sub', 'deep', 'leaf');
  await ok(d, T.renameat, (w) => w.u32(0).str('sub').u32(0).str('moved'));
  assert.ok(lstatSync(join(share, 'moved', 'deep', 'leaf')).isFile());
  await ok(d, T.lopen, (w) => w.u32(3).u32(O_RDONLY));
  assert.equal(await readAll(d, 3), 'leaf');
  await ok(d, T.rename, (w) => w.u32(2).u32(0).str('renamed.txt'));
  assert.equal(readFileSync(join(share, 'renamed.txt'), 'utf8'), 'written');
  await walk(d, 0, 4, 'dir');
  await ok(d, T.link, (w) => w.u32(4).u32(2).str('hard'));
  assert.equal(lstatSync(join(share, 'dir', 'hard')).ino, lstatSync(join(share, 'renamed.txt')).ino);
  const sl = await ok(d, T.symlink, (w) => w.u32(4).str('link').str('/etc/passwd').u32(0));
  assert.equal(readQid(sl).type, QID_SYMLINK);
  await walk(d, 4, 5, 'link');
  assert.equal((await ok(d, T.readlink, (w) => w.u32(5))).str(), '/etc/passwd');
  const mn = await ok(d, T.mknod, (w) => w.u32(4).str('node').u32(0o100644).u32(0).u32(0).u32(0));
  assert.equal(readQid(mn).type, QID_FILE);
  assert.equal(
    await fails(d, T.mknod, (w) => w.u32(4).str('dev').u32(0o020644).u32(1).u32(3).u32(0)),
    ERRNO.EPERM,
  );

  assert.equal(await fails(d, T.unlinkat, (w) => w.u32(0).str('dir').u32(0)), ERRNO.EISDIR);
  assert.equal(await fails(d, T.unlinkat, (w) => w.u32(0).str('dir').u32(0x200)), ERRNO.ENOTEMPTY);
  for (const name of ['hard', 'link', 'node']) await ok(d, T.unlinkat, (w) => w.u32(4).str(name).u32(0));
  await ok(d, T.unlinkat, (w) => w.u32(0).str('dir').u32(0x200));
  await ok(d, T.remove, (w) => w.u32(2));
  assert.throws(() => lstatSync(join(share, 'renamed.txt')));
  assert.throws(() => lstatSync(join(share, 'dir')));
  assert.equal(
    await fails(d, T.lcreate, (w) =>
      w
        .u32(0)
        .str('hello.txt')
        .u32(O_RDWR | 0o100 | 0o200)
        .u32(0o644)
        .u32(0),
    ),
    ERRNO.EEXIST,
  );
  assert.equal(d.transport.failure, null);
  await d.device.close();
});

// Finding 4 of issue 9: a guest must not leave a setuid or setgid program (or any special bit) on the
// host, whether it creates the file with that mode or changes it afterwards.
test('setuid, setgid and sticky bits a guest sets never reach the host (sticky only on directories)', async () => {
  const share = tempTree();
  const d = await session(share);
  const special = (name: string): number => lstatSync(join(share, name)).mode & 0o7000;
  const perms = (name: string): number => lstatSync(join(share, name)).mode & 0o777;
  await walk(d, 0, 1);
  await ok(d, T.lcreate, (w) =>
    w
      .u32(1)
      .str('suid')
      .u32(O_RDWR | O_CREAT)
      .u32(0o6755)
      .u32(0),
  );
  assert.equal(special('suid'), 0, 'Tlcreate 06755 makes no setuid/setgid file');
  assert.equal(perms('suid') & 0o700, 0o700, 'the permission bits stay');
  await ok(d, T.mknod, (w) => w.u32(0).str('node').u32(0o106755).u32(0).u32(0).u32(0));
  assert.equal(special('node'), 0, 'Tmknod');
  await ok(d, T.mkdir, (w) => w.u32(0).str('dir').u32(0o7777).u32(0));
  assert.equal(special('dir'), 0o1000, 'Tmkdir keeps only sticky');
  const chmod = async (fid: number, mode: number) =>
    ok(d, T.setattr, (w) => w.u32(fid).u32(1).u32(mode).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0));
  await walk(d, 0, 2, 'hello.txt');
  await chmod(2, 0o6755);
  assert.equal(lstatSync(join(share, 'hello.txt')).mode & 0o7777, 0o755, 'Tsetattr 06755 on a file: 0755');
  await chmod(2, 0o1644);
  assert.equal(lstatSync(join(share, 'hello.txt')).mode & 0o7777, 0o644, 'no sticky bit on a file');
  await walk(d, 0, 3, 'dir');
  await chmod(3, 0o7755);
  assert.equal(lstatSync(join(share, 'dir')).mode & 0o7777, 0o1755, 'Tsetattr 07755 on a directory: 01755');
  // Through an open fid too (the path Linux takes for fchmod).
  await chmod(1, 0o4777);
  assert.equal(lstatSync(join(share, 'suid')).mode & 0o7777, 0o777);
  assert.equal(d.transport.failure, null);
  await d.device.close();
});

test('sandbox: .. at the root, symlinks out of the share, bad names', async () => {
  const share = tempTree();
  const d = await session(share);
  const top = await walk(d, 0, 1, '..', '..', '..');
  assert.equal(top.u16(), 3);
  const root = readQid(top);
  const self = await walk(d, 0, 2);
  assert.equal(self.u16(), 0);
  const rootAttr = await ok(d, T.getattr, (w) => w.u32(0).u64(0x7ff));
  rootAttr.u64();
  assert.deepEqual(root, readQid(rootAttr), "'..' of the root is the root");
  // Inside a subdirectory '..' goes up, but never above the root.
  const up = await walk(d, 0, 3, 'sub', '..', '..', 'hello.txt');
  assert.equal(up.u16(), 4);
  await ok(d, T.lopen, (w) => w.u32(3).u32(O_RDONLY));
  assert.equal(await readAll(d, 3), 'hello from the host\n');

  // A symlink is walked to (the client reads it) but never through, and cannot be opened.
  for (const link of ['etc', 'up']) {
    const w1 = await walk(d, 0, 10, link);
    assert.equal(w1.u16(), 1);
    assert.equal(readQid(w1).type, QID_SYMLINK);
    assert.equal(await fails(d, T.lopen, (w) => w.u32(10).u32(O_RDONLY)), ERRNO.ELOOP);
    await ok(d, T.clunk, (w) => w.u32(10));
    const through = await walk(d, 0, 11, link, 'passwd');
    assert.equal(through.u16(), 1, 'the walk stops at the symlink');
    assert.equal(await fails(d, T.getattr, (w) => w.u32(11).u64(0x7ff)), ERRNO.EBADF);
  }
  assert.equal((await ok(d, T.walk, (w) => w.u32(0).u32(12).u16(1).str('etc'))).u16(), 1);
  assert.equal((await ok(d, T.readlink, (w) => w.u32(12))).str(), '/etc', 'the link itself is readable');
  // Creating through a symlink into /etc is refused too (the link is not a directory fid).
  assert.equal(
    await fails(d, T.lcreate, (w) =>
      w
        .u32(12)
        .str('x')
        .u32(O_WRONLY | 0o100)
        .u32(0o644)
        .u32(0),
    ),
    ERRNO.ENOTDIR,
  );
  for (const bad of ['a/b', '', '.', '/etc', 'x\0y']) {
    const errno = await fails(d, T.walk, (w) => w.u32(0).u32(13).u16(1).str(bad));
    assert.ok(errno === ERRNO.EINVAL || errno === ERRNO.EACCES, `'${bad}' refused (errno ${errno})`);
    assert.equal(await fails(d, T.mkdir, (w) => w.u32(0).str(bad).u32(0o755).u32(0)), ERRNO.EINVAL);
  }
  assert.equal(await fails(d, T.mkdir, (w) => w.u32(0).str('..').u32(0o755).u32(0)), ERRNO.EACCES);
  assert.equal(await fails(d, T.renameat, (w) => w.u32(0).str('hello.txt').u32(0).str('..')), ERRNO.EACCES);

  // The host side refuses the same paths on its own, whoever calls it.
  const folder = await SharedFolder.open(share, { readOnly: false });
  const errno = async (p: Promise<unknown>): Promise<number> => {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof FsError, String(e));
      return e.errno;
    }
    return 0;
  };
  assert.equal(await errno(folder.lstat('etc/passwd')), ERRNO.EACCES, 'symlinked intermediate directory');
  assert.equal(await errno(folder.openFile('etc/hostname', { read: true, write: false })), ERRNO.EACCES);
  assert.equal(await errno(folder.openFile('up', { read: true, write: false })), ERRNO.ELOOP);
  assert.equal(await errno(folder.openDirectory('etc')), ERRNO.ELOOP);
  assert.equal(await errno(folder.createFile('etc/evil', 0o644, { read: false, write: true })), ERRNO.EACCES);
  assert.equal(await errno(folder.lstat('../secret')), ERRNO.EACCES);
  assert.equal(await errno(folder.lstat('sub/../../secret')), ERRNO.EACCES);
  assert.equal(await errno(folder.lstat('/etc/passwd')), ERRNO.EACCES);
  assert.equal(await errno(folder.setattr('up', { size: 0 })), ERRNO.EINVAL);
  assert.equal(readFileSync(join(share, '..', 'secret'), 'utf8'), 'outside the share');
  assert.equal(await folder.readlink('up'), '../secret');
  await folder.close();
  assert.equal(d.transport.failure, null);
  await d.device.close();
});

test('a read-only share serves reads and refuses every change with EROFS', async () => {
  const share = tempTree();
  const d = await session(share, true);
  await walk(d, 0, 1, 'hello.txt');
  assert.equal(await fails(d, T.lopen, (w) => w.u32(1).u32(O_WRONLY)), ERRNO.EROFS);
  assert.equal(await fails(d, T.lopen, (w) => w.u32(1).u32(O_RDONLY | 0o1000)), ERRNO.EROFS);
  await ok(d, T.lopen, (w) => w.u32(1).u32(O_RDONLY));
  assert.equal(await readAll(d, 1), 'hello from the host\n');
  assert.equal(await fails(d, T.write, (w) => w.u32(1).u64(0).u32(1).u8(0x41)), ERRNO.EBADF);
  await walk(d, 0, 2);
  const erofs: [number, (w: Writer) => void][] = [
    [
      T.lcreate,
      (w) =>
        w
          .u32(2)
          .str('f')
          .u32(O_WRONLY | 0o100)
          .u32(0o644)
          .u32(0),
    ],
    [T.mkdir, (w) => w.u32(0).str('d').u32(0o755).u32(0)],
    [T.symlink, (w) => w.u32(0).str('l').str('x').u32(0)],
    [T.mknod, (w) => w.u32(0).str('n').u32(0o100644).u32(0).u32(0).u32(0)],
    [T.renameat, (w) => w.u32(0).str('hello.txt').u32(0).str('x')],
    [T.unlinkat, (w) => w.u32(0).str('hello.txt').u32(0)],
    [T.link, (w) => w.u32(0).u32(1).str('hard')],
    [T.setattr, (w) => w.u32(1).u32(8).u32(0).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0)],
  ];
  for (const [type, build] of erofs) assert.equal(await fails(d, type, build), ERRNO.EROFS, `T${type}`);
  assert.equal(await fails(d, T.remove, (w) => w.u32(1)), ERRNO.EROFS);
  assert.equal(readFileSync(join(share, 'hello.txt'), 'utf8'), 'hello from the host\n');
  await d.device.close();
});

test('malformed requests get Rlerror, never a host exception or a device failure', async () => {
  const d = await session(tempTree());
  const lerror = async (request: Uint8Array, room = MSIZE): Promise<number> => {
    const p = parse(await post(d, request, room));
    assert.equal(p.type, T.lerror + 1);
    return p.r.u32();
  };
  // A walk whose string runs past the end of the message.
  const cut = msg(T.walk, (w) => w.u32(0).u32(1).u16(1).str('hello.txt'));
  const shortened = cut.slice(0, cut.length - 3);
  new DataView(shortened.buffer).setUint32(0, shortened.length, true);
  assert.equal(await lerror(shortened), ERRNO.EINVAL);
  // A size field larger than the message, one smaller than a header, a lone header byte.
  const big = msg(T.clunk, (w) => w.u32(0));
  new DataView(big.buffer).setUint32(0, 1000, true);
  assert.equal(await lerror(big), ERRNO.EINVAL);
  const tiny = msg(T.clunk, (w) => w.u32(0));
  new DataView(tiny.buffer).setUint32(0, 3, true);
  assert.equal(await lerror(tiny), ERRNO.EINVAL);
  assert.equal(await lerror(new Uint8Array([1])), ERRNO.EINVAL);
  // Unknown fids, unknown message types (legacy 9P2000 Topen is 112), bad UTF-8, huge walks.
  assert.equal(await lerror(msg(T.getattr, (w) => w.u32(999).u64(0x7ff))), ERRNO.EBADF);
  assert.equal(await lerror(msg(112, (w) => w.u32(0).u8(0))), ERRNO.EOPNOTSUPP);
  assert.equal(
    await lerror(
      msg(T.walk, (w) =>
        w
          .u32(0)
          .u32(1)
          .u16(1)
          .u16(2)
          .bytes(new Uint8Array([0xff, 0xfe])),
      ),
    ),
    ERRNO.EILSEQ,
  );
  assert.equal(await lerror(msg(T.walk, (w) => w.u32(0).u32(1).u16(17))), ERRNO.EINVAL);
  assert.equal(
    await lerror(
      msg(T.read, (w) =>
        w
          .u32(0)
          .u64(2n ** 63n)
          .u32(10),
      ),
    ),
    75,
    'EOVERFLOW',
  );
  assert.equal(await lerror(msg(T.attach, (w) => w.u32(0).u32(NOFID).str('').str('').u32(0))), ERRNO.EBADF);
  // A reply that does not fit the writable room: reads shrink to fit, others fail.
  await walk(d, 0, 1, 'hello.txt');
  await ok(d, T.lopen, (w) => w.u32(1).u32(O_RDONLY));
  const small = parse(
    await post(
      d,
      msg(T.read, (w) => w.u32(1).u64(0).u32(1000)),
      16,
    ),
  );
  assert.equal(small.type, T.read + 1);
  assert.equal(small.r.u32(), 5);
  assert.equal(Buffer.from(small.r.bytesView(5)).toString(), 'hello');
  assert.equal(
    await lerror(
      msg(T.getattr, (w) => w.u32(1).u64(0x7ff)),
      64,
    ),
    ERRNO.EINVAL,
  );
  // Even no room at all completes the chain (with nothing written).
  assert.equal(
    (
      await post(
        d,
        msg(T.clunk, (w) => w.u32(77)),
        0,
      )
    ).length,
    0,
  );
  assert.equal(d.transport.failure, null);
  await d.device.close();
});

test('requests run concurrently, completions share interrupts, flush waits for its request', async () => {
  const d = await session(tempTree());
  await walk(d, 0, 1, 'hello.txt');
  await ok(d, T.lopen, (w) => w.u32(1).u32(O_RDONLY));
  const before = d.interrupts;
  const replies = Array.from({ length: 8 }, (_, i) =>
    post(
      d,
      msg(T.read, (w) => w.u32(1).u64(i).u32(4)),
      MSIZE,
      false,
    ),
  );
  d.kick(0);
  const texts = (await Promise.all(replies)).map((r) => {
    const p = parse(r);
    assert.equal(p.type, T.read + 1);
    return Buffer.from(p.r.bytesView(p.r.u32())).toString();
  });
  assert.deepEqual(
    texts,
    Array.from({ length: 8 }, (_, i) => 'hello from the host\n'.slice(i, i + 4)),
  );
  assert.ok(d.interrupts - before < 8, `${d.interrupts - before} interrupts for 8 replies`);

  const readTag = 0x100;
  const read = post(
    d,
    msg(T.read, (w) => w.u32(1).u64(0).u32(5), readTag),
    MSIZE,
    false,
  );
  const flush = post(
    d,
    msg(T.flush, (w) => w.u16(readTag)),
    MSIZE,
    false,
  );
  d.kick(0);
  const order: string[] = [];
  await Promise.all([read.then(() => order.push('read')), flush.then(() => order.push('flush'))]);
  assert.equal(parse(await flush).type, T.flush + 1);
  assert.deepEqual(order, ['read', 'flush'], 'the flushed request is answered first');
  const state = d.device.saveState();
  assert.ok(state.requests >= 14 && state.bytesRead >= 37 && state.fids === 2, JSON.stringify(state));
  await d.device.close();
});

test('a driver reset ends the session: fids are gone, replies in flight are dropped', async () => {
  const d = await session(tempTree());
  await walk(d, 0, 1, 'hello.txt');
  await ok(d, T.lopen, (w) => w.u32(1).u32(O_RDONLY));
  const dropped = post(
    d,
    msg(T.read, (w) => w.u32(1).u64(0).u32(5)),
  );
  start(d);
  await assert.rejects(dropped, /set up again/, 'the request in flight is never completed');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(d.usedIndex(0), 0, 'nothing completed into the new queue');
  const p = parse(
    await post(
      d,
      msg(T.getattr, (w) => w.u32(1).u64(0x7ff)),
    ),
  );
  assert.equal(p.type, T.lerror + 1);
  assert.equal(p.r.u32(), ERRNO.EBADF);
  assert.equal(d.device.saveState().fids, 0);
  await d.device.close();
});
