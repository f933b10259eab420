/**
 * The VM manager with real VMs (the bundled guest) in real runners: isolation between VMs, crash
 * reasons, graceful shutdown through SysRq, persistence and autostart, the memory budget and the CPU
 * quota. At most three VMs run at once (CI has two cores).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type VmInfo, VmmError, type VmSpec, type VmState } from '../../src/vmm/types.js';
import { DEFAULT_KERNEL, VmManager } from '../../src/vmm/vm-manager.js';
import { ConsoleSession, PROMPT } from '../machine/guest-session.js';

const BOOT_MS = 180_000;
const MiB = 2 ** 20;
const haveGuest = existsSync(DEFAULT_KERNEL);

/** A VM's console through attachConsole, driven like a serial line. */
class ManagedConsole extends ConsoleSession {
  readonly label: string;
  private readonly manager: VmManager;
  private readonly console: { input(bytes: Uint8Array): void; detach(): void };

  constructor(manager: VmManager, name: string) {
    super();
    this.label = name;
    this.manager = manager;
    this.console = manager.attachConsole(name, (bytes) => {
      this.text += Buffer.from(bytes).toString('latin1');
    });
  }

  protected stoppedReason(): string | null {
    const info = this.manager.get(this.label);
    return info.state === 'stopped' || info.state === 'crashed' ? `${info.state}: ${info.reason}` : null;
  }

  send(text: string): void {
    this.console.input(Buffer.from(text, 'latin1'));
  }

  detach(): void {
    this.console.detach();
  }
}

function dataDir(): string {
  // Short: the switch sockets live under it and Unix socket paths are limited to ~100 bytes.
  return mkdtempSync(join(tmpdir(), 'tv-vmm-'));
}

/** A directory for disk images beside the data dir (never in it: the data dir is the daemon's). */
function imageDir(dir: string): { images: string; imageRoots: { path: string; readOnly: boolean }[] } {
  const images = `${dir}-images`;
  mkdirSync(images, { recursive: true });
  return { images, imageRoots: [{ path: images, readOnly: false }] };
}

function spec(name: string, extra: Partial<VmSpec> = {}): VmSpec {
  return { name, vcpus: 1, memoryMiB: 64, boot: {}, ...extra };
}

async function rejects(promise: Promise<unknown>, status: number, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof VmmError, `a VmmError, not ${e}`);
    assert.equal(e.status, status, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

async function waitState(manager: VmManager, name: string, states: VmState[], ms = 30_000): Promise<VmInfo> {
  const end = Date.now() + ms;
  for (;;) {
    const info = manager.get(name);
    if (states.includes(info.state)) return info;
    if (Date.now() > end) throw new Error(`${name} is still ${info.state} (${info.reason}) after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function echo(vm: ManagedConsole, word: string): Promise<void> {
  assert.equal(await vm.command(`echo ${word}`, PROMPT, 30_000), `${word}\n`);
}

test('definitions: 400, 404, 409, 422 and 507; MACs generated once and kept; delete keeps the disk', async () => {
  const dir = dataDir();
  const { images, imageRoots } = imageDir(dir);
  const manager = await VmManager.open({
    dataDir: dir,
    imageRoots,
    memoryBudgetBytes: 512 * MiB,
    perVmOverheadBytes: 64 * MiB,
  });
  try {
    const disk = join(images, 'disk.img');
    writeFileSync(disk, Buffer.alloc(1 * MiB));
    const a = await manager.create(spec('a', { nics: [{ switch: 'lan' }], disks: [{ path: disk }] }));
    assert.equal(a.state, 'stopped');
    const mac = a.spec.nics?.[0].mac ?? '';
    assert.match(mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
    const stored = JSON.parse(readFileSync(join(dir, 'vms', 'a.json'), 'utf8')) as VmSpec;
    assert.equal(stored.nics?.[0].mac, mac, 'the generated MAC is part of the stored definition');
    assert.deepEqual(manager.budget(), {
      totalBytes: 512 * MiB,
      usedBytes: 128 * MiB,
      perVmOverheadBytes: 64 * MiB,
    });

    await rejects(manager.create(spec('a')), 409);
    assert.throws(
      () => manager.get('nope'),
      (e: VmmError) => e.status === 404,
    );
    await rejects(manager.start('nope'), 404);
    await rejects(manager.create(spec('Bad name')), 400);
    await rejects(
      manager.create(spec('b', { disks: [{ path: '/nonexistent/x.img' }] })),
      422,
      /^disks\[0\]\.path: \/nonexistent\/x\.img: no such file$/,
    );
    await rejects(
      manager.create(spec('b', { boot: { kernel: '/nonexistent/Image' } })),
      422,
      /^boot\.kernel: /,
    );
    // 128 MiB taken; 400 MiB + 64 MiB overhead more would be 592 MiB of a 512 MiB budget.
    await rejects(manager.create(spec('b', { memoryMiB: 400 })), 507, /memory budget/);
    await manager.create(spec('b', { memoryMiB: 300 }));
    await rejects(manager.pause('b'), 409);

    // A disk a live VM writes belongs to it alone; read-only on both sides may be shared.
    await manager.start('a');
    await manager.delete('b');
    await manager.create(spec('c', { memoryMiB: 16, disks: [{ path: disk }] }));
    await rejects(manager.start('c'), 409, /^disks\[0\]\.path: .* is in use by a$/);
    await manager.stop('a');
    await manager.delete('c');

    await manager.delete('a');
    assert.equal(existsSync(join(dir, 'vms', 'a.json')), false);
    assert.equal(existsSync(disk), true, 'a disk image the user supplied is never deleted');
    // The data dir is the daemon's: nothing in it is a disk, whatever the roots say.
    const inside = join(dir, 'inside.img');
    writeFileSync(inside, Buffer.alloc(MiB));
    await rejects(
      manager.create(spec('d', { disks: [{ path: inside }] })),
      403,
      /^disks\[0\]\.path: .*inside the daemon's data dir/,
    );
    assert.deepEqual(
      manager
        .events()
        .filter((e) => e.type === 'created' || e.type === 'deleted')
        .map((e) => `${e.type} ${e.vm}`),
      ['created a', 'created b', 'deleted b', 'created c', 'deleted c', 'deleted a'],
    );
    const seq = manager.events().at(-2)?.seq ?? 0;
    assert.deepEqual(
      manager.events(seq).map((e) => e.type),
      ['deleted'],
    );
  } finally {
    await manager.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(images, { recursive: true, force: true });
  }
});

test('three VMs side by side: a SIGKILL, a kernel panic and a shutdown each stay with their VM', {
  skip: haveGuest ? false : 'images/linux not built',
  timeout: 600_000,
}, async (t) => {
  const dir = dataDir();
  const { images, imageRoots } = imageDir(dir);
  const manager = await VmManager.open({ dataDir: dir, imageRoots });
  const consoles: ManagedConsole[] = [];
  try {
    await manager.create(spec('one'));
    await manager.create(spec('two', { nics: [{ switch: 'lan', mac: '52:54:00:00:00:02' }] }));
    // A worker thread runner, on the same switch as a process runner: the hub bridges both.
    const disk = join(images, 'three.img');
    writeFileSync(disk, Buffer.alloc(4 * MiB, 0x5a));
    await manager.create(
      spec('three', {
        runner: 'thread',
        nics: [{ switch: 'lan', mac: '52:54:00:00:00:03' }],
        disks: [{ path: disk, readOnly: true }],
        limits: { diskBytesPerSecond: 1 * MiB },
      }),
    );
    const started = Date.now();
    const infos = await Promise.all(['one', 'two', 'three'].map((name) => manager.start(name)));
    for (const info of infos) assert.equal(info.state, 'running', `${info.spec.name}: ${info.reason}`);
    const [one, two, three] = ['one', 'two', 'three'].map((name) => new ManagedConsole(manager, name));
    consoles.push(one, two, three);
    await Promise.all(consoles.map((c) => c.waitFor(PROMPT, BOOT_MS)));
    t.diagnostic(`three VMs booted to a shell in ${Date.now() - started} ms`);

    for (const [vm, address] of [
      [two, '10.0.0.2'],
      [three, '10.0.0.3'],
    ] as const) {
      assert.match(
        await vm.command(`ip addr add ${address}/24 dev eth0 && ip link set eth0 up && echo configured`),
        /configured\n/,
      );
    }
    const ping = await three.command('ping -c 3 -i 0.2 -W 5 10.0.0.2');
    assert.match(ping, /3 packets transmitted, 3 packets received, 0% packet loss/);

    // The disk's token bucket: 4 MiB at 1 MiB/s take about 4 s (unlimited, well under one).
    const readStarted = Date.now();
    assert.match(await three.command('dd if=/dev/vda of=/dev/null bs=64k 2>&1'), /64\+0 records in/);
    const readMs = Date.now() - readStarted;
    t.diagnostic(`4 MiB from a disk limited to 1 MiB/s took ${readMs} ms`);
    assert.ok(readMs >= 3000 && readMs < 15_000, `${readMs} ms`);
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok((manager.get('three').metrics?.diskReadBytes ?? 0) >= 4 * MiB);

    // kill -9 of one runner: that VM is crashed with the signal as its reason, the others carry on.
    const pid = manager.get('one').pid;
    assert.ok(pid !== undefined && pid !== process.pid, 'a process runner has a pid of its own');
    process.kill(pid, 'SIGKILL');
    const killed = await waitState(manager, 'one', ['crashed']);
    assert.match(killed.reason ?? '', /SIGKILL/);
    t.diagnostic(`one: ${killed.reason}`);
    await echo(two, 'ok-2');
    await echo(three, 'ok-3');

    // The kernel's panic line printed by guest user space, on the console and through the kernel's own
    // log: only the machine's panic report (pvpanic) crashes a VM, never console text.
    await two.command("echo 'Kernel panic - not syncing: fake from user space'");
    await two.command("echo 'Kernel panic - not syncing: fake via the kernel log' > /dev/kmsg");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(manager.get('two').state, 'running', manager.get('two').reason);
    await echo(two, 'not-panicked');

    // A guest kernel panic, reported by the kernel through the board's pvpanic device: crashed with the
    // report and the console's panic line as a hint, runner stopped, the others carry on.
    two.send('echo c > /proc/sysrq-trigger\n');
    const panicked = await waitState(manager, 'two', ['crashed']);
    assert.match(
      panicked.reason ?? '',
      /^guest kernel panic: pvpanic: guest panicked \(console: Kernel panic - not syncing: sysrq triggered crash\)$/,
    );
    t.diagnostic(`two: ${panicked.reason}`);
    assert.equal(panicked.pid, undefined);
    assert.match(Buffer.from(manager.logs('two')).toString('latin1'), /Kernel panic - not syncing/);
    await echo(three, 'ok-3-again');

    // Pause: input waits, nothing runs; resume: the guest goes on where it was.
    await manager.pause('three');
    three.send('echo resumed-$((6*7))\n');
    await new Promise((r) => setTimeout(r, 1000));
    assert.doesNotMatch(three.transcript, /resumed-42/);
    assert.equal((await manager.resume('three')).state, 'running');
    await three.waitFor('resumed-42', 30_000);
    await three.waitFor(PROMPT, 30_000);

    const shutdownStarted = Date.now();
    const stopped = await manager.shutdown('three', 30);
    t.diagnostic(`graceful shutdown took ${Date.now() - shutdownStarted} ms`);
    assert.equal(stopped.state, 'stopped');
    assert.match(stopped.reason ?? '', /guest powered off \(code 0\)/);
    assert.doesNotMatch(stopped.reason ?? '', /forced/);
    const types = manager.events().map((e) => `${e.vm} ${e.type}`);
    assert.ok(types.includes('one crashed') && types.includes('three stopped'), types.join(', '));
  } finally {
    for (const c of consoles) c.detach();
    await manager.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(images, { recursive: true, force: true });
  }
});

test('definitions survive a restart, autostart VMs start, and the CPU quota holds a spinning guest', {
  skip: haveGuest ? false : 'images/linux not built',
  timeout: 600_000,
}, async (t) => {
  const dir = dataDir();
  const first = await VmManager.open({ dataDir: dir });
  const created = await first.create(
    spec('hog', { autostart: true, limits: { cpuPercent: 25 }, nics: [{ switch: 'lan' }] }),
  );
  await first.create(spec('idle'));
  await first.close();

  const started = Date.now();
  const manager = await VmManager.open({ dataDir: dir });
  const hog = new ManagedConsole(manager, 'hog');
  try {
    assert.deepEqual(
      manager
        .list()
        .map((i) => `${i.spec.name} ${i.state}`)
        .sort(),
      ['hog running', 'idle stopped'],
    );
    assert.equal(manager.get('hog').spec.nics?.[0].mac, created.spec.nics?.[0].mac, 'the MAC is kept');
    await hog.waitFor(PROMPT, BOOT_MS);
    t.diagnostic(`the autostarted VM booted at 25% of a core in ${Date.now() - started} ms`);

    hog.send('while :; do :; done &\n');
    await hog.waitFor(PROMPT, 30_000);
    // Metrics come once a second; take the CPU time at the moment a fresh sample arrives.
    const fresh = async (): Promise<{ at: number; cpu: number; instructions: number }> => {
      const before = manager.get('hog').metrics?.cpuSeconds;
      for (;;) {
        await new Promise((r) => setTimeout(r, 20));
        const m = manager.get('hog').metrics;
        if (m !== undefined && m.cpuSeconds !== before)
          return { at: performance.now(), cpu: m.cpuSeconds, instructions: m.instructions };
      }
    };
    await new Promise((r) => setTimeout(r, 2000));
    const a = await fresh();
    await new Promise((r) => setTimeout(r, 8000));
    const b = await fresh();
    const share = (b.cpu - a.cpu) / ((b.at - a.at) / 1000);
    t.diagnostic(`a spinning guest limited to 25% used ${(share * 100).toFixed(1)}% of a core`);
    assert.ok(share <= 0.35, `CPU share ${share}`);
    // The upper bound means something only if the guest really ran flat out; how much CPU it got below
    // its quota depends on the host's load, so the proof is the work done, not a share.
    const executed = b.instructions - a.instructions;
    assert.ok(executed > 20e6, `the guest did spin (${executed} instructions in 8 s)`);
    // The quota slows the guest, it does not starve it: the shell still answers.
    await echo(hog, 'still-here');
    const stopped = await manager.stop('hog');
    assert.equal(stopped.state, 'stopped');
    assert.match(stopped.reason ?? '', /power pulled/);
  } finally {
    hog.detach();
    await manager.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a runner over its memory cap, and one whose machine cannot be built, crash with the reason', {
  skip: haveGuest ? false : 'images/linux not built',
  timeout: 120_000,
}, async () => {
  const dir = dataDir();
  const { images, imageRoots } = imageDir(dir);
  // 1 MiB of overhead: no Node process fits in 16 MiB + 1 MiB, so the cap strikes at the first poll.
  const manager = await VmManager.open({ dataDir: dir, imageRoots, perVmOverheadBytes: 1 * MiB });
  try {
    await manager.create(spec('greedy', { memoryMiB: 16 }));
    await manager.start('greedy');
    const greedy = await waitState(manager, 'greedy', ['crashed']);
    assert.match(greedy.reason ?? '', /^memory cap exceeded/);
    // A directory is not a disk image: refused when the VM is defined.
    await rejects(
      manager.create(spec('broken', { disks: [{ path: images }] })),
      422,
      /not a regular file \(a directory\)$/,
    );
    // What only opening can tell (a raw image holds whole sectors): the runner fails, the VM is crashed.
    const odd = join(images, 'odd.img');
    writeFileSync(odd, Buffer.alloc(1000));
    await manager.create(spec('broken', { disks: [{ path: odd }] }));
    const broken = await manager.start('broken');
    assert.equal(broken.state, 'crashed');
    assert.match(
      broken.reason ?? '',
      /^cannot start: disks\[0\]\.path: .*odd\.img: size 1000 bytes is not a multiple of 512/,
    );
    // Crashed VMs start again (and fail again, here), and can be deleted.
    await manager.delete('broken');
  } finally {
    await manager.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(images, { recursive: true, force: true });
  }
});
