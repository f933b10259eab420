/**
 * Hostile S-mode programs against the board's host-side bounds (test/machine/programs/hostile/): each
 * attacks a path where guest behaviour used to turn into unbounded host memory or unbounded host work,
 * and checks both that the bound holds and that a well-behaved guest still gets everything through.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { VirtioRng } from '../../src/machine/devices/virtio/rng.js';
import { OUTPUT_LIMIT, VirtMachine } from '../../src/machine/virt/virt-machine.js';
import { buildHostile } from './cross-compile.js';
import { CLI } from './guest-session.js';

const MiB = 2 ** 20;

function machineFor(elf: string, virtio = [] as VirtioRng[]): VirtMachine {
  return new VirtMachine({
    ramSize: 64 * MiB,
    harts: 1,
    bios: 'builtin',
    kernel: { name: elf, bytes: readFileSync(elf) },
    bootargs: '',
    virtio,
  });
}

/** Peak resident memory of process `pid` so far (VmHWM), or null once it is gone. */
function peakRss(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

test('SBI debug console: writes of all of RAM take a bounded buffer each, and every byte taken reaches stdout', async (t) => {
  const elf = buildHostile('dbcn-flood');
  if (elf === null) return t.skip('riscv64-unknown-elf-gcc not installed');
  const child = spawn(process.execPath, [CLI, 'run', '--kernel', elf, '--mem', '64M'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdoutBytes = 0;
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => {
    stdoutBytes += b.length;
  });
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  let peak = 0;
  const poll = setInterval(() => {
    const p = child.pid === undefined ? null : peakRss(child.pid);
    if (p !== null) peak = p;
  }, 20);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearInterval(poll);
  // The program fails with 10..18 if a call took more than the console's buffer, or refused a range
  // that fits, or accepted one that does not.
  assert.equal(code, 0, `exit ${code}; stderr: ${stderr}`);
  assert.equal(stderr, '');
  // Exactly the 16 MiB the SBI said it took: nothing lost, nothing invented.
  assert.equal(stdoutBytes, 16 * MiB);
  // 64 MiB of guest RAM plus a Node.js process; 32 whole-RAM writes used to take gigabytes.
  t.diagnostic(`peak RSS ${Math.round(peak / MiB)} MiB`);
  assert.ok(peak > 64 * MiB && peak < 64 * MiB + 200 * MiB, `peak RSS ${Math.round(peak / MiB)} MiB`);
});

test('UART: a host that takes no output holds the transmitter busy; what is written politely all arrives', async (t) => {
  const elf = buildHostile('uart-flood');
  if (elf === null) return t.skip('riscv64-unknown-elf-gcc not installed');
  const machine = machineFor(elf);
  const chunks: Buffer[] = [];
  machine.onOutput = (bytes) => chunks.push(Buffer.from(bytes));
  machine.setOutputReady(false);
  const exited = machine.run();
  let maxPending = 0;
  // The host stays away until the guest has filled the board's buffer and a while more.
  for (let i = 0; i < 500 && machine.pendingOutput < OUTPUT_LIMIT; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  for (let i = 0; i < 20; i++) {
    maxPending = Math.max(maxPending, machine.pendingOutput);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(chunks.length, 0, 'nothing reached a host that said it takes nothing');
  assert.equal(maxPending, OUTPUT_LIMIT);
  machine.setOutputReady(true);
  const exit = await exited;
  assert.deepEqual(exit, { kind: 'poweroff', code: 0 }, 'the guest saw THRE clear after its flood');
  const text = Buffer.concat(chunks).toString('latin1');
  // The flood kept what the board and the UART's own buffer hold (4 KiB) and lost the rest.
  assert.equal(text.replace(/[^a]/g, '').length, OUTPUT_LIMIT + 4096);
  assert.equal(text.replace(/[^b]/g, '').length, 999);
  assert.ok(text.endsWith('b\n'));
  assert.equal(machine.uart.txDropped, 1_000_000 - OUTPUT_LIMIT - 4096);
});

test('virtio: 16 GiB requests re-posted without end are served in bounded steps; quota, pause and logs hold', async (t) => {
  const elf = buildHostile('virtio-flood');
  if (elf === null) return t.skip('riscv64-unknown-elf-gcc not installed');
  const rng = new VirtioRng();
  const machine = machineFor(elf, [rng]);
  const logs: string[] = [];
  machine.onLog = (m) => logs.push(m);
  const exited = machine.run();
  try {
    // At full speed the driver overflows its ring and is reset about a hundred times a second; each is a
    // DEVICE_NEEDS_RESET message, and the VM's log takes a burst and then a steady trickle of them.
    await new Promise((r) => setTimeout(r, 1500));
    t.diagnostic(`${logs.length} log lines, ${machine.logsDropped} dropped`);
    assert.ok(machine.logsDropped > 20, `${machine.logsDropped} lines dropped`);
    assert.ok(logs.length >= 50 && logs.length <= 50 + 10 * 1.6, `${logs.length} log lines in 1.5 s`);
    assert.ok(logs.some((l) => /earlier messages dropped/.test(l)));

    machine.setCpuQuota(10);
    await new Promise((r) => setTimeout(r, 300));
    const wall0 = performance.now();
    const cpu0 = cpuMs();
    const served0 = rng.saveState().bytesServed;
    await new Promise((r) => setTimeout(r, 2000));
    const share = (cpuMs() - cpu0) / (performance.now() - wall0);
    const served = rng.saveState().bytesServed - served0;
    t.diagnostic(
      `CPU share ${(share * 100).toFixed(1)}% of a core at cpuPercent 10; ${served} random bytes served`,
    );
    // The whole test process: the run loop at its 10% plus the event loop and timers around it.
    assert.ok(share > 0.03 && share < 0.25, `CPU share ${share}`);
    assert.ok(served > 0, 'the device did serve the flood (in steps)');

    await machine.pause();
    const pausedWall = performance.now();
    const pausedCpu = cpuMs();
    const pausedServed = rng.saveState().bytesServed;
    await new Promise((r) => setTimeout(r, 1000));
    const pausedShare = (cpuMs() - pausedCpu) / (performance.now() - pausedWall);
    t.diagnostic(`CPU share while paused ${(pausedShare * 100).toFixed(1)}%`);
    assert.ok(pausedShare < 0.03, `CPU share while paused ${pausedShare}`);
    assert.equal(rng.saveState().bytesServed, pausedServed, 'no device work while paused');
    machine.resume();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(rng.saveState().bytesServed > pausedServed, 'work goes on after resume');
  } finally {
    machine.powerOff();
    await exited;
  }
});
