/**
 * Host paths an API client names: allowed roots on real paths, never the data dir, the right kind of
 * file (checked without opening it), one writer per image by identity, and the data dir's own files
 * kept private. The VMs run in fake runners (fake-runner.ts): nothing here boots.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { HostPaths, parseRoot } from '../../src/vmm/host-paths.js';
import { VmmError, type VmSpec } from '../../src/vmm/types.js';
import { VmManager } from '../../src/vmm/vm-manager.js';
import { fakeRunners } from './fake-runner.js';

const MiB = 2 ** 20;

function workspace() {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'tv-paths-')));
  const images = join(root, 'images');
  const readonly = join(root, 'readonly');
  const shares = join(root, 'shares');
  const outside = join(root, 'outside');
  const data = join(root, 'data');
  for (const d of [images, readonly, shares, outside, data]) mkdirSync(d);
  const kernel = join(images, 'k.bin');
  writeFileSync(kernel, Buffer.alloc(4096));
  return { root, images, readonly, shares, outside, data, kernel };
}

function status(fn: () => unknown): { status: number; message: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VmmError, String(e));
    return { status: e.status, message: e.message };
  }
  return { status: 0, message: '' };
}

test('HostPaths: roots on real paths, read-only roots, the data dir never, files of the right kind', () => {
  const w = workspace();
  try {
    const problems: string[] = [];
    mkdirSync(join(w.data, 'inside'));
    const paths = new HostPaths(
      w.data,
      {
        image: [parseRoot(w.images), parseRoot(`${w.readonly},ro`), parseRoot(join(w.data, 'inside'))],
        share: [parseRoot(w.shares)],
      },
      (m) => problems.push(m),
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^image root .*inside is left out: it is inside the data dir/);
    const image = (path: string, write = true) =>
      paths.check('disks[0].path', path, { kind: 'image', write });

    const disk = join(w.images, 'disk.img');
    writeFileSync(disk, Buffer.alloc(MiB));
    const ok = image(disk);
    assert.equal(ok.real, disk);
    const st = statSync(disk, { bigint: true });
    assert.equal(ok.identity, `${st.dev}:${st.ino}`);

    // Outside every root, directly or through a symlink that lives inside one.
    const secret = join(w.outside, 'secret.img');
    writeFileSync(secret, Buffer.alloc(512));
    symlinkSync(secret, join(w.images, 'link.img'));
    for (const path of [
      secret,
      join(w.images, 'link.img'),
      '/etc/passwd',
      join(w.images, '..', 'outside', 'secret.img'),
    ]) {
      const r = status(() => image(path));
      assert.equal(r.status, 403, path);
      assert.match(
        r.message,
        /^disks\[0\]\.path: .*: is outside the allowed image roots \(.*\); the daemon's `serve --image-root DIR` allows more$/,
      );
    }
    // A symlink from outside into a root is fine: what counts is where it leads.
    symlinkSync(disk, join(w.outside, 'in.img'));
    assert.equal(image(join(w.outside, 'in.img')).real, disk);

    // Read-only roots: read-only use only.
    const base = join(w.readonly, 'base.img');
    writeFileSync(base, Buffer.alloc(512));
    assert.equal(image(base, false).real, base);
    const ro = status(() => image(base, true));
    assert.equal(ro.status, 403);
    assert.match(ro.message, /is under a read-only image root/);

    // The data dir: never, even when a root would allow it or a share would contain it.
    const def = join(w.data, 'vms.json');
    writeFileSync(def, '{}');
    const bigRoot = new HostPaths(w.data, { image: [parseRoot(w.root)], share: [parseRoot(w.root)] });
    const inData = status(() => bigRoot.check('boot.kernel', def, { kind: 'image', write: false }));
    assert.equal(inData.status, 403);
    assert.match(inData.message, /^boot\.kernel: .*vms\.json: is inside the daemon's data dir/);
    const around = status(() => bigRoot.check('shares[0].path', w.root, { kind: 'share', write: false }));
    assert.equal(around.status, 403);
    assert.match(around.message, /contains the daemon's data dir/);

    // The right kind of file, found out without opening it (a FIFO's open would block).
    const fifo = join(w.images, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const f = status(() => image(fifo));
    assert.equal(f.status, 422);
    assert.equal(f.message, `disks[0].path: ${fifo}: not a regular file (a FIFO)`);
    const d = status(() => image(w.images));
    assert.equal(d.message, `disks[0].path: ${w.images}: not a regular file (a directory)`);
    assert.equal(status(() => image(join(w.images, 'nope'))).status, 422);
    const big = status(() =>
      paths.check('boot.initrd', disk, { kind: 'image', write: false, maxBytes: MiB - 1 }),
    );
    assert.equal(big.status, 422);
    assert.match(big.message, /1048576 bytes, more than the 0 MiB of the VM's RAM/);

    // Shares: under a share root, and a directory.
    mkdirSync(join(w.shares, 'folder'));
    assert.ok(paths.check('shares[0].path', join(w.shares, 'folder'), { kind: 'share', write: true }));
    assert.equal(
      status(() => paths.check('shares[0].path', w.images, { kind: 'share', write: true })).status,
      403,
    );
    const none = new HostPaths(w.data, { image: [], share: [] });
    assert.match(
      status(() => none.check('shares[0].path', w.shares, { kind: 'share', write: true })).message,
      /outside the allowed share roots \(none are configured\)/,
    );
  } finally {
    rmSync(w.root, { recursive: true, force: true });
  }
});

async function open(w: ReturnType<typeof workspace>, extra: { dataDir?: string } = {}) {
  const { runners, spawn } = fakeRunners();
  const manager = await VmManager.open({
    dataDir: extra.dataDir ?? w.data,
    imageRoots: [{ path: w.images, readOnly: false }],
    shareRoots: [{ path: w.shares, readOnly: false }],
    spawnRunner: spawn,
  });
  const spec = (name: string, more: Partial<VmSpec> = {}): VmSpec => ({
    name,
    vcpus: 1,
    memoryMiB: 16,
    boot: { firmware: 'none', kernel: w.kernel },
    ...more,
  });
  return { manager, runners, spec };
}

async function rejects(promise: Promise<unknown>, code: number, message: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof VmmError, String(e));
    assert.equal(e.status, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

test('the manager checks paths on create and again on start, and hands the runner real paths and identities', async () => {
  const w = workspace();
  const { manager, runners, spec } = await open(w);
  try {
    await rejects(
      manager.create(spec('a', { disks: [{ path: '/etc/passwd', readOnly: true }] })),
      403,
      /^disks\[0\]\.path: \/etc\/passwd: is outside the allowed image roots/,
    );
    await rejects(
      manager.create(spec('a', { boot: { kernel: join(w.data, 'vms') } })),
      403,
      /^boot\.kernel: .*inside the daemon's data dir/,
    );
    await rejects(
      manager.create(spec('a', { shares: [{ path: '/', tag: 'root' }] })),
      403,
      /^shares\[0\]\.path: \/: /,
    );
    const fifo = join(w.images, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await rejects(
      manager.create(spec('a', { disks: [{ path: fifo }] })),
      422,
      /^disks\[0\]\.path: .*fifo: not a regular file \(a FIFO\)$/,
    );
    await rejects(
      manager.create(spec('a', { boot: { kernel: fifo } })),
      422,
      /^boot\.kernel: .*not a regular file \(a FIFO\)$/,
    );

    const disk = join(w.images, 'disk.img');
    writeFileSync(disk, Buffer.alloc(MiB));
    symlinkSync(disk, join(w.images, 'alias.img'));
    mkdirSync(join(w.shares, 'folder'));
    await manager.create(
      spec('a', {
        disks: [{ path: join(w.images, 'alias.img') }],
        shares: [{ path: join(w.shares, 'folder'), tag: 'f' }],
      }),
    );
    await manager.start('a');
    const config = runners[0].config;
    assert.ok(config);
    assert.equal(config.spec.disks?.[0].path, disk, 'the runner opens the real path');
    const st = statSync(disk, { bigint: true });
    assert.equal(config.identities[disk], `${st.dev}:${st.ino}`);
    assert.equal(
      config.identities[w.kernel],
      (() => {
        const k = statSync(w.kernel, { bigint: true });
        return `${k.dev}:${k.ino}`;
      })(),
    );
    assert.ok(config.identities[join(w.shares, 'folder')]);
    assert.equal(
      manager.get('a').spec.disks?.[0].path,
      join(w.images, 'alias.img'),
      'the definition keeps what the user wrote',
    );
    await manager.stop('a');

    // The file changed kind after create: start checks again.
    rmSync(disk);
    execFileSync('mkfifo', [disk]);
    await rejects(manager.start('a'), 422, /^disks\[0\]\.path: .*alias\.img: not a regular file \(a FIFO\)$/);
    assert.equal(runners.length, 1, 'no runner was started for it');
  } finally {
    await manager.close();
    rmSync(w.root, { recursive: true, force: true });
  }
});

test('one writer per image, whatever path names it: symlink, hard link, /proc/self/root', async () => {
  const w = workspace();
  const { manager, spec } = await open(w);
  try {
    const disk = join(w.images, 'shared.img');
    writeFileSync(disk, Buffer.alloc(MiB));
    symlinkSync(disk, join(w.images, 'symlink.img'));
    linkSync(disk, join(w.images, 'hardlink.img'));
    const spellings = [
      join(w.images, 'symlink.img'),
      join(w.images, 'hardlink.img'),
      join(w.images, '.', 'x', '..', 'shared.img'),
    ];
    if (existsSync('/proc/self/root')) spellings.push(`/proc/self/root${disk}`);
    await manager.create(spec('owner', { disks: [{ path: disk }] }));
    await manager.start('owner');
    for (const [i, path] of spellings.entries()) {
      await manager.create(spec(`other${i}`, { disks: [{ path }] }));
      await rejects(manager.start(`other${i}`), 409, /^disks\[0\]\.path: .* is in use by owner$/);
      // Read-only on one side only is refused too; read-only on both is fine.
      await manager.create(spec(`ro${i}`, { disks: [{ path, readOnly: true }] }));
      await rejects(manager.start(`ro${i}`), 409, /is in use by owner$/);
    }
    // One VM naming the same image twice would be two writers as well.
    await manager.create(
      spec('twice', {
        disks: [{ path: join(w.images, 'hardlink.img') }, { path: join(w.images, 'symlink.img') }],
      }),
    );
    await manager.stop('owner');
    await rejects(manager.start('twice'), 409, /^disks\[1\]\.path: .* is the same image as disks\[0\]$/);
    // Free again once the owner stopped.
    assert.equal((await manager.start('other0')).state, 'running');
  } finally {
    await manager.close();
    rmSync(w.root, { recursive: true, force: true });
  }
});

test("the data dir is the daemon user's alone: 0700, definitions 0600, switch sockets in private dirs", async () => {
  const w = workspace();
  chmodSync(w.data, 0o755);
  mkdirSync(join(w.data, 'vms'), { mode: 0o755 });
  writeFileSync(
    join(w.data, 'vms', 'old.json'),
    JSON.stringify({ name: 'old', vcpus: 1, memoryMiB: 16, boot: { firmware: 'none', kernel: w.kernel } }),
    { mode: 0o644 },
  );
  chmodSync(join(w.data, 'vms'), 0o755);
  chmodSync(join(w.data, 'vms', 'old.json'), 0o644);
  let { manager, spec } = await open(w);
  try {
    const mode = (p: string) => statSync(p).mode & 0o777;
    assert.equal(mode(w.data), 0o700, 'an existing data dir is tightened');
    assert.equal(mode(join(w.data, 'vms')), 0o700);
    assert.equal(mode(join(w.data, 'vms', 'old.json')), 0o600, 'an existing definition is tightened');
    await manager.create(spec('new'));
    assert.equal(mode(join(w.data, 'vms', 'new.json')), 0o600);
    assert.equal(mode(join(w.data, 'switches')), 0o700);
    await manager.close();

    // A data dir whose socket paths would be too long: the sockets go to a private temp directory, and
    // nothing that was already in the temp dir is touched (the old code deleted a fixed path there).
    const deep = join(w.root, 'd'.repeat(60), 'e'.repeat(40));
    const switchesDir = join(deep, 'switches');
    const oldPath = join(
      tmpdir(),
      `typervisor-${createHash('sha256').update(join(switchesDir, 'lan.sock')).digest('hex').slice(0, 16)}.sock`,
    );
    writeFileSync(oldPath, 'a file of someone else');
    try {
      ({ manager, spec } = await open(w, { dataDir: deep }));
      await manager.create(spec('net', { nics: [{ switch: 'lan' }] }));
      const info = await manager.start('net');
      assert.equal(info.state, 'running');
      assert.equal(readFileSync(oldPath, 'utf8'), 'a file of someone else');
      const sockets = (manager as unknown as { hub: { tempDir: string | null } }).hub.tempDir;
      assert.ok(sockets !== null && dirname(sockets) === tmpdir(), String(sockets));
      assert.equal(mode(sockets), 0o700);
      await manager.close();
      assert.equal(existsSync(sockets), false, 'the private directory goes with the daemon');
    } finally {
      rmSync(oldPath, { force: true });
    }
  } finally {
    await manager.close();
    rmSync(w.root, { recursive: true, force: true });
  }
});
