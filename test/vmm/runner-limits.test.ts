/**
 * Limits of real runners on tiny bare-metal guests (guest-programs.ts; no Linux to boot): a paused VM
 * costs no CPU, measured from the outside as the kernel accounts the runner process, and a thread
 * runner is held to its heap cap.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { VmInfo, VmSpec, VmState } from '../../src/vmm/types.js';
import { VmManager } from '../../src/vmm/vm-manager.js';
import { SPIN, writeProgram } from './guest-programs.js';

const MiB = 2 ** 20;
const haveProc = existsSync('/proc/self/stat');

function ticksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** CPU seconds (user + system) the kernel has charged to a process. */
function cpuSeconds(pid: number, hz: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / hz;
}

async function cpuShare(pid: number, hz: number, ms: number): Promise<number> {
  const a = cpuSeconds(pid, hz);
  const t = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (cpuSeconds(pid, hz) - a) / ((performance.now() - t) / 1000);
}

async function waitState(manager: VmManager, name: string, states: VmState[], ms = 30_000): Promise<VmInfo> {
  const end = Date.now() + ms;
  for (;;) {
    const info = manager.get(name);
    if (states.includes(info.state)) return info;
    if (Date.now() > end) throw new Error(`${name} is still ${info.state} (${info.reason})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function setup(): { dir: string; images: string; spec: (name: string, extra?: Partial<VmSpec>) => VmSpec } {
  const dir = mkdtempSync(join(tmpdir(), 'tv-limits-'));
  const images = join(dir, 'images');
  mkdirSync(images);
  const kernel = writeProgram(join(images, 'spin.bin'), SPIN);
  return {
    dir,
    images,
    spec: (name, extra = {}) => ({
      name,
      vcpus: 1,
      memoryMiB: 16,
      boot: { firmware: 'none', kernel },
      ...extra,
    }),
  };
}

test('a VM at cpuPercent 10 uses about 10% of a core spinning, and about nothing once paused', {
  skip: haveProc ? false : 'needs /proc to measure the runner from outside',
  timeout: 120_000,
}, async (t) => {
  const { dir, images, spec } = setup();
  const manager = await VmManager.open({
    dataDir: join(dir, 'data'),
    imageRoots: [{ path: images, readOnly: true }],
  });
  try {
    await manager.create(spec('spin', { limits: { cpuPercent: 10 } }));
    const info = await manager.start('spin');
    assert.equal(info.state, 'running', info.reason);
    const pid = info.pid;
    assert.ok(pid !== undefined && pid !== process.pid);
    const hz = ticksPerSecond();
    // Past start-up (module loading, the interpreter warming up), the quota is what the runner costs.
    await new Promise((r) => setTimeout(r, 2000));
    const running = await cpuShare(pid, hz, 4000);
    t.diagnostic(`spinning at cpuPercent 10: ${(running * 100).toFixed(1)}% of a core`);
    assert.ok(running >= 0.025 && running <= 0.3, `running: ${running}`);

    const paused = await manager.pause('spin');
    assert.equal(paused.state, 'paused');
    const idle = await cpuShare(pid, hz, 4000);
    t.diagnostic(`paused: ${(idle * 100).toFixed(2)}% of a core`);
    // The metrics timer still ticks once a second: a few milliseconds, nothing more.
    assert.ok(idle >= 0 && idle <= 0.02, `paused: ${idle}`);
    assert.equal((await manager.resume('spin')).state, 'running');
    await manager.stop('spin');
  } finally {
    await manager.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a thread runner over its heap cap is ended with a clear reason; the daemon carries on', {
  timeout: 60_000,
}, async () => {
  const { dir, images, spec } = setup();
  // 1 MiB of overhead, raised to the 4 MiB floor: no runner's JavaScript fits, so the cap strikes
  // while the thread starts.
  const manager = await VmManager.open({
    dataDir: join(dir, 'data'),
    imageRoots: [{ path: images, readOnly: true }],
    perVmOverheadBytes: 1 * MiB,
  });
  try {
    await manager.create(spec('small', { runner: 'thread' }));
    await manager.start('small');
    const info = await waitState(manager, 'small', ['crashed']);
    assert.match(
      info.reason ?? '',
      /^memory cap exceeded: the runner thread's JavaScript heap reached its limit of 4 MiB$/,
    );
  } finally {
    await manager.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // The daemon (this process) is still here and answering.
  assert.ok(process.memoryUsage().rss > 0);
});
