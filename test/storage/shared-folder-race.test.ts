import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { SharedFolder } from '../../src/storage/shared-folder.js';

/** Names, modes and contents of every entry of a host folder (not recursive: nothing nests there). */
function snapshot(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((name) => {
      const st = lstatSync(join(dir, name));
      const content = st.isFile()
        ? readFileSync(join(dir, name), 'utf8')
        : st.isSymbolicLink()
          ? `-> ${readlinkSync(join(dir, name))}`
          : '<dir>';
      return `${name} ${(st.mode & 0o7777).toString(8)} ${content}`;
    });
}

/**
 * The host user's side: swaps `dir` with the symlink `link` as fast as renames go, until `stop[0]`
 * is set.
 */
const HOST_SWAPPER = `
const { renameSync } = require('node:fs');
const { workerData } = require('node:worker_threads');
const { dir, link, tmp, stop } = workerData;
const flag = new Int32Array(stop);
const rename = (a, b) => { try { renameSync(a, b); } catch {} };
while (Atomics.load(flag, 0) === 0) {
  rename(dir, tmp);
  rename(link, dir);
  rename(dir, link);
  rename(tmp, dir);
}
`;

// Finding 3 of issue 9: two VMs share one folder; one of them keeps swapping a directory of the share
// with a symlink to a host folder outside it (and the host user does the same to another directory),
// while the other VM works inside those directories. Whatever the interleaving, no operation of the
// second VM may land outside the share.
test('swapping a directory of a share for a symlink never redirects another share user out of it', async (t) => {
  if (process.platform !== 'linux') return t.skip('shares walk by handles through /proc/self/fd (Linux)');
  const root = mkdtempSync(join(tmpdir(), 'typervisor-9p-race-'));
  try {
    const share = join(root, 'share');
    const outside = join(root, 'outside');
    mkdirSync(outside);
    for (const base of [join(share, 'd'), join(share, 'h'), outside]) {
      mkdirSync(base, { recursive: true });
      writeFileSync(join(base, 'target'), 'keep me\n', { mode: 0o644 });
      writeFileSync(join(base, 'x'), 'x\n', { mode: 0o644 });
    }
    const before = snapshot(outside);

    const attacker = await SharedFolder.open(share, { readOnly: false });
    const victim = await SharedFolder.open(share, { readOnly: false });
    // A guest may make a symlink to anything: it is only a link on the host.
    await attacker.symlink('sl', outside);
    symlinkSync(outside, join(share, 'hl'));

    let stop = false;
    let swaps = 0;
    const pause = () => new Promise((r) => setTimeout(r, 1));
    // The attacking VM: d (a directory) -> tmp, sl (the symlink out) -> d, then back, pausing in both
    // states so that the victim's requests straddle the swaps.
    const swapper = (async () => {
      while (!stop) {
        await attacker.rename('d', 'tmp').catch(() => {});
        await attacker.rename('sl', 'd').catch(() => {});
        await pause();
        await attacker.rename('d', 'sl').catch(() => {});
        await attacker.rename('tmp', 'd').catch(() => {});
        await pause();
        swaps++;
      }
    })();
    const stopHost = new SharedArrayBuffer(4);
    const host = new Worker(HOST_SWAPPER, {
      eval: true,
      workerData: {
        dir: join(share, 'h'),
        link: join(share, 'hl'),
        tmp: join(share, 'htmp'),
        stop: stopHost,
      },
    });

    let done = 0;
    let refused = 0;
    const attempt = async (op: () => Promise<unknown>): Promise<void> => {
      try {
        await op();
        done++;
      } catch {
        refused++;
      }
    };
    const worker = async (w: number) => {
      const d = w % 2 ? 'd' : 'h';
      for (let i = 0; !stop; i++) {
        const n = `${w}-${i}`;
        await attempt(async () =>
          (await victim.createFile(`${d}/c${n}`, 0o644, { read: false, write: true })).close(),
        );
        await attempt(async () =>
          (await victim.openFile(`${d}/target`, { read: false, write: true, truncate: true })).close(),
        );
        await attempt(() => victim.setattr(`${d}/target`, { mode: 0o600 }));
        await attempt(() => victim.setattr(`${d}/target`, { size: 0 }));
        await attempt(() => victim.setattr(`${d}/x`, { mtimeNs: 0n }));
        await attempt(() => victim.mkdir(`${d}/m${n}`, 0o755));
        await attempt(() => victim.rename(`${d}/x`, `${d}/y${n}`));
        await attempt(() => victim.rename(`${d}/y${n}`, `${d}/x`));
        await attempt(() => victim.link(`${d}/x`, `${d}/l${n}`));
        await attempt(() => victim.symlink(`${d}/s${n}`, 'anything'));
        await attempt(() => victim.unlink(`${d}/x`));
      }
    };
    const workers = Array.from({ length: 6 }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 4000));
    stop = true;
    Atomics.store(new Int32Array(stopHost), 0, 1);
    await Promise.all([swapper, ...workers, new Promise((r) => host.once('exit', r))]);
    await attacker.close();
    await victim.close();

    t.diagnostic(`${swaps} swaps by the VM, ${done} operations done, ${refused} refused`);
    const escaped = snapshot(outside).filter((line) => !before.includes(line));
    const lost = before.filter((line) => !snapshot(outside).includes(line));
    assert.deepEqual(escaped, [], `${escaped.length} objects made or changed outside the share`);
    assert.deepEqual(lost, [], 'nothing outside the share was removed, renamed or changed');
    // The race was really run: the victim's operations both succeeded (a directory there) and failed.
    assert.ok(swaps > 50, `${swaps} swaps`);
    assert.ok(done > 100 && refused > 100, `${done} operations done, ${refused} refused`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
