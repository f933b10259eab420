/**
 * virtio-blk as Linux drives it: the default guest formats, mounts, writes and syncs disks backed by raw
 * image files, and the host checks the result with e2fsprogs (and the other way round).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, test } from 'node:test';
import { CLI, GuestSession, REPO_ROOT } from './guest-session.js';

const IMAGE = join(REPO_ROOT, 'images', 'linux', 'Image.gz');
const INITRD = join(REPO_ROOT, 'images', 'linux', 'initramfs.cpio.gz');
const PROMPT = '~ # ';
const haveGuest = existsSync(IMAGE) && existsSync(INITRD);

/** e2fsprogs lives in /sbin, which is not on every user's PATH. */
function tool(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const d of dirs) if (d && existsSync(join(d, name))) return join(d, name);
  return null;
}

const MKFS = tool('mkfs.ext4');
const DEBUGFS = tool('debugfs');
const E2FSCK = tool('e2fsck');

function skipReason(needs: (string | null)[]): string | false {
  if (process.env.CI) return false;
  if (!haveGuest) return 'images/linux not built';
  if (needs.some((t) => t === null)) return 'e2fsprogs (mkfs.ext4, debugfs, e2fsck) not installed';
  return false;
}

const dir = mkdtempSync(join(tmpdir(), 'typervisor-blk-linux-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A file's bytes inside an ext2/3/4 image, read by debugfs without mounting. */
function debugfsCat(image: string, path: string): Buffer {
  return execFileSync(DEBUGFS as string, ['-R', `cat ${path}`, image], {
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

/** e2fsck -fn: a forced read-only check; exit status 0 means the file system is clean. */
function fsck(image: string): void {
  execFileSync(E2FSCK as string, ['-fn', image], { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function boot(args: string[]): Promise<GuestSession> {
  const vm = new GuestSession(['run', '--mem', '256M', ...args]);
  await vm.waitFor(PROMPT, 240_000);
  // Kernel messages on the console would interleave with command output.
  await vm.command('dmesg -n 1', PROMPT);
  return vm;
}

async function powerOff(vm: GuestSession): Promise<void> {
  vm.send('poweroff -f\n');
  assert.equal(await vm.exited, 0, 'the guest powered off cleanly');
}

test('the guest formats a blank raw disk, writes files and syncs; the host reads them back', {
  skip: skipReason([DEBUGFS, E2FSCK]),
  timeout: 300_000,
}, async () => {
  assert.ok(haveGuest && DEBUGFS && E2FSCK, 'CI needs the default guest and e2fsprogs');
  const image = join(dir, 'blank.img');
  writeFileSync(image, new Uint8Array(16 << 20));
  const vm = await boot(['--disk', `${image},serial=ABC123`]);
  let guestSum = '';
  try {
    assert.equal(await vm.command('cat /sys/block/vda/serial', PROMPT), 'ABC123');
    assert.match(await vm.command('cat /sys/block/vda/ro /sys/block/vda/size', PROMPT), /^0\n32768\n$/);
    // Flushes are only sent to a disk with a volatile write cache (VIRTIO_BLK_F_FLUSH).
    assert.match(await vm.command('cat /sys/block/vda/queue/write_cache', PROMPT), /^write back\n$/);
    // Busybox's mke2fs makes ext2, which the kernel's ext4 driver mounts.
    assert.match(await vm.command('mke2fs -q /dev/vda; echo rc=$?', PROMPT), /rc=0\n$/);
    assert.match(await vm.command('mkdir -p /mnt/d && mount /dev/vda /mnt/d; echo rc=$?', PROMPT), /rc=0\n$/);
    const written = await vm.command(
      'mkdir -p /mnt/d/a/b && echo typervisor-disk-ok > /mnt/d/a/b/note.txt && seq 1 2000 > /mnt/d/seq.txt' +
        ' && dd if=/dev/urandom of=/mnt/d/random.bin bs=4096 count=256 2>/dev/null && sha256sum /mnt/d/random.bin',
      PROMPT,
    );
    guestSum = /^([0-9a-f]{64}) {2}\/mnt\/d\/random\.bin$/m.exec(written)?.[1] ?? '';
    assert.ok(guestSum, `sha256sum printed a digest: ${written}`);
    // sync flushes (FLUSH requests), fstrim discards the free blocks (DISCARD requests).
    assert.match(await vm.command('sync; echo rc=$?', PROMPT), /rc=0\n$/);
    assert.match(await vm.command('fstrim /mnt/d; echo rc=$?', PROMPT), /rc=0\n$/);
    // The block layer's counters show both reached the device and completed (fields 12 and 16).
    const stat = (await vm.command('cat /sys/block/vda/stat', PROMPT)).trim().split(/\s+/).map(Number);
    assert.ok(stat[11] > 0, `discard requests completed: ${stat}`);
    assert.ok(stat[15] > 0, `flush requests completed: ${stat}`);
    // Read back through the page cache dropped, so the bytes come from the device again.
    assert.match(
      await vm.command('echo 3 > /proc/sys/vm/drop_caches; sha256sum /mnt/d/random.bin', PROMPT),
      new RegExp(`^${guestSum} `),
    );
    assert.match(await vm.command('umount /mnt/d; echo rc=$?', PROMPT), /rc=0\n$/);
    await powerOff(vm);
  } finally {
    vm.kill();
  }
  fsck(image);
  assert.equal(debugfsCat(image, '/a/b/note.txt').toString(), 'typervisor-disk-ok\n');
  const seq = Array.from({ length: 2000 }, (_, i) => `${i + 1}\n`).join('');
  assert.equal(debugfsCat(image, '/seq.txt').toString(), seq);
  const random = debugfsCat(image, '/random.bin');
  assert.equal(random.length, 1 << 20);
  assert.equal(sha256(random), guestSum);
});

test('the guest reads and changes a host-made ext4 image; a read-only disk refuses writes', {
  skip: skipReason([MKFS, DEBUGFS, E2FSCK]),
  timeout: 300_000,
}, async () => {
  assert.ok(haveGuest && MKFS && DEBUGFS && E2FSCK, 'CI needs the default guest and e2fsprogs');
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  const random = randomBytes(300_000);
  writeFileSync(join(tree, 'sub', 'random.bin'), random);
  writeFileSync(join(tree, 'hello.txt'), 'hello from the host\n');
  const image = join(dir, 'host.img');
  const roImage = join(dir, 'readonly.img');
  for (const img of [image, roImage]) {
    writeFileSync(img, new Uint8Array(16 << 20));
    execFileSync(MKFS as string, ['-q', '-F', '-d', tree, img], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  const roBefore = sha256(readFileSync(roImage));

  const vm = await boot(['--disk', image, '--disk', `${roImage},ro`]);
  try {
    // vda: read what the host wrote, then change it.
    assert.match(await vm.command('mkdir -p /mnt/a && mount /dev/vda /mnt/a; echo rc=$?', PROMPT), /rc=0\n$/);
    assert.match(
      await vm.command('sha256sum /mnt/a/sub/random.bin', PROMPT),
      new RegExp(`^${sha256(random)} `),
    );
    assert.equal(await vm.command('cat /mnt/a/hello.txt', PROMPT), 'hello from the host\n');
    assert.equal(await vm.command('cat /sys/block/vda/serial', PROMPT), '', 'no serial by default');
    await vm.command(
      'echo and from the guest >> /mnt/a/hello.txt && echo new > /mnt/a/sub/new.txt && sync && umount /mnt/a',
      PROMPT,
    );

    // vdb: read-only all the way down.
    assert.match(await vm.command('cat /sys/block/vdb/ro', PROMPT), /^1\n$/);
    assert.match(
      await vm.command('dd if=/dev/zero of=/dev/vdb bs=512 count=1 2>&1; echo rc=$?', PROMPT),
      /Operation not permitted[\s\S]*rc=1\n$/,
    );
    assert.match(
      await vm.command('mkdir -p /mnt/b && mount -o ro /dev/vdb /mnt/b; echo rc=$?', PROMPT),
      /rc=0\n$/,
    );
    assert.equal(await vm.command('cat /mnt/b/hello.txt', PROMPT), 'hello from the host\n');
    assert.match(
      await vm.command('touch /mnt/b/x 2>&1; echo rc=$?', PROMPT),
      /Read-only file system[\s\S]*rc=1\n$/,
    );
    await vm.command('umount /mnt/b', PROMPT);
    await powerOff(vm);
  } finally {
    vm.kill();
  }
  fsck(image);
  assert.equal(debugfsCat(image, '/hello.txt').toString(), 'hello from the host\nand from the guest\n');
  assert.equal(debugfsCat(image, '/sub/new.txt').toString(), 'new\n');
  assert.equal(sha256(debugfsCat(image, '/sub/random.bin')), sha256(random));
  assert.equal(sha256(readFileSync(roImage)), roBefore, 'the read-only image is byte for byte unchanged');
});

test('typervisor run refuses a disk image it cannot use, naming it, before booting', () => {
  const odd = join(dir, 'odd.img');
  writeFileSync(odd, new Uint8Array(1000));
  for (const [path, why] of [
    [odd, /odd\.img: size 1000 bytes is not a multiple of 512/],
    [join(dir, 'missing.img'), /missing\.img: no such file/],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, 'run', '--disk', path], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, why);
  }
});
