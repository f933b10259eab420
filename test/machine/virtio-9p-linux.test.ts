import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GuestSession, REPO_ROOT } from './guest-session.js';

const IMAGE = join(REPO_ROOT, 'images', 'linux', 'Image.gz');
const INITRD = join(REPO_ROOT, 'images', 'linux', 'initramfs.cpio.gz');
const PROMPT = '~ # ';
const haveGuest = existsSync(IMAGE) && existsSync(INITRD);

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const hashIn = (text: string): string | undefined => text.match(/\b[0-9a-f]{64}\b/)?.[0];

test('Linux mounts host folders over virtio-9p: read, write, rename, remove, read-only, no way out', {
  skip: !haveGuest && !process.env.CI ? 'images/linux not built' : false,
  timeout: 300_000,
}, async () => {
  assert.ok(haveGuest, 'CI needs the committed default guest in images/linux');
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-9p-linux-'));
  try {
    const rw = join(dir, 'rw');
    const ro = join(dir, 'ro');
    const outside = join(dir, 'outside');
    for (const d of [rw, ro, outside]) mkdirSync(d);
    const secret = `host-secret-${randomBytes(8).toString('hex')}`;
    writeFileSync(join(outside, 'secret'), `${secret}\n`);
    const blob = randomBytes(300_000);
    writeFileSync(join(rw, 'blob.bin'), blob);
    writeFileSync(join(ro, 'readme'), 'read-only content\n');
    // Ways out a host user might leave in a share: absolute and relative links to files and folders.
    symlinkSync(join(outside, 'secret'), join(rw, 'abs'));
    symlinkSync('../outside/secret', join(rw, 'rel'));
    symlinkSync(outside, join(rw, 'outdir'));
    symlinkSync('/', join(rw, 'hostroot'));

    const vm = new GuestSession(['run', '--share', `${rw},tag=host0`, '--share', `${ro},tag=ro0,ro`]);
    const run = (cmd: string): Promise<string> => vm.command(cmd, PROMPT, 120_000);
    try {
      await vm.waitFor(PROMPT, 240_000);
      // Kernel messages (such as the entropy pool's) would land in the middle of command output.
      await run('dmesg -n 1');
      assert.match(
        await run(
          'mkdir -p /mnt/rw /mnt/ro && mount -t 9p -o trans=virtio,version=9p2000.L host0 /mnt/rw && ' +
            'mount -t 9p -o trans=virtio,version=9p2000.L ro0 /mnt/ro && echo mounted',
        ),
        /^mounted\n$/,
      );
      // Reading a host file.
      assert.equal(hashIn(await run('sha256sum /mnt/rw/blob.bin')), sha256(blob));
      // Writing from the guest, small and large.
      await run('echo written-by-guest > /mnt/rw/out.txt');
      assert.equal(readFileSync(join(rw, 'out.txt'), 'utf8'), 'written-by-guest\n');
      const guestSum = hashIn(
        await run('dd if=/dev/urandom of=/mnt/rw/rand bs=64k count=4 2>/dev/null; sha256sum /mnt/rw/rand'),
      );
      assert.equal(guestSum, sha256(readFileSync(join(rw, 'rand'))));
      // Directories, renames and removal.
      assert.match(
        await run('mkdir /mnt/rw/d && echo x > /mnt/rw/d/f && mv /mnt/rw/d /mnt/rw/e && cat /mnt/rw/e/f'),
        /^x\n$/,
      );
      assert.equal(readFileSync(join(rw, 'e', 'f'), 'utf8'), 'x\n');
      await run('mv /mnt/rw/out.txt /mnt/rw/e/moved.txt && rm /mnt/rw/rand');
      assert.ok(existsSync(join(rw, 'e', 'moved.txt')) && !existsSync(join(rw, 'out.txt')));
      assert.ok(!existsSync(join(rw, 'rand')));
      const ls = await run('ls -la /mnt/rw');
      assert.match(ls, /300000 .* blob\.bin\n/);
      assert.match(ls, /^d.* e\n/m);
      assert.match(ls, /^l.* abs -> .*\/outside\/secret\n/m, 'symlinks show as links');
      await run('rm -r /mnt/rw/e');
      assert.ok(!existsSync(join(rw, 'e')));

      // Symlinks are resolved by the guest in its own file system, never by the host.
      const attempts = await run(
        'for p in abs rel outdir/secret hostroot/' +
          `${outside.slice(1)}/secret; do cat /mnt/rw/$p 2>&1; echo "rc=$?"; done`,
      );
      assert.doesNotMatch(attempts, new RegExp(secret), 'no host file outside the share is readable');
      assert.equal(attempts.match(/rc=1/g)?.length, 4, attempts);
      assert.match(await run('readlink /mnt/rw/abs'), new RegExp(`${join(outside, 'secret')}\n`));
      assert.match(await run('ls /mnt/rw/hostroot/'), /linuxrc/, "the guest's own root, not the host's");
      // A symlink made in the guest is only a link on the host.
      assert.match(await run('ln -s /etc/passwd /mnt/rw/made && head -c 5 /mnt/rw/made'), /^root:/);
      assert.ok(lstatSync(join(rw, 'made')).isSymbolicLink());
      assert.equal(readlinkSync(join(rw, 'made')), '/etc/passwd');

      // The read-only share.
      assert.equal(await run('cat /mnt/ro/readme'), 'read-only content\n');
      const touch = await run(
        'touch /mnt/ro/new 2>&1; echo "rc=$?"; echo x >> /mnt/ro/readme 2>&1; echo "rc=$?"',
      );
      assert.match(touch, /Read-only file system/);
      assert.doesNotMatch(touch, /rc=0/);
      assert.ok(!existsSync(join(ro, 'new')));
      assert.equal(readFileSync(join(ro, 'readme'), 'utf8'), 'read-only content\n');

      await run('umount /mnt/rw && umount /mnt/ro');
      vm.send('poweroff -f\n');
      assert.equal(await vm.exited, 0);
    } finally {
      vm.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
