/**
 * The VM manager against runners that misbehave, played by the test (fake-runner.ts): every message is
 * validated before use, console output and input are flow-controlled, a pause is reported only once
 * the runner confirms it, and a guest panic is what the machine reports, never what the console says.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { INPUT_IN_FLIGHT, MAX_TEXT } from '../../src/vmm/runner-protocol.js';
import { VmmError, type VmSpec } from '../../src/vmm/types.js';
import { MAX_CONSOLE_CLIENTS, VmManager } from '../../src/vmm/vm-manager.js';
import { type FakeRunner, fakeRunners } from './fake-runner.js';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

async function withManager(
  run: (ctx: {
    manager: VmManager;
    runners: FakeRunner[];
    spec: (name: string) => VmSpec;
    logs: object[];
  }) => Promise<void>,
  options: { setup?: (r: FakeRunner) => void; pauseConfirmMs?: number } = {},
): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tv-fake-'));
  const images = join(root, 'images');
  mkdirSync(images);
  const kernel = join(images, 'k.bin');
  writeFileSync(kernel, Buffer.alloc(4096));
  const { runners, spawn } = fakeRunners(options.setup);
  const logs: object[] = [];
  const manager = await VmManager.open({
    dataDir: join(root, 'data'),
    imageRoots: [{ path: images, readOnly: false }],
    spawnRunner: spawn,
    log: (line) => logs.push(line),
    ...(options.pauseConfirmMs !== undefined ? { pauseConfirmMs: options.pauseConfirmMs } : {}),
  });
  const spec = (name: string): VmSpec => ({
    name,
    vcpus: 1,
    memoryMiB: 16,
    boot: { firmware: 'none', kernel },
  });
  try {
    await run({ manager, runners, spec, logs });
  } finally {
    await manager.close();
    rmSync(root, { recursive: true, force: true });
  }
}

test('runner messages of the wrong shape are dropped, counted and never reach /metrics or the log whole', async () => {
  await withManager(async ({ manager, runners, spec, logs }) => {
    await manager.create(spec('vm'));
    await manager.start('vm');
    const runner = runners[0];
    const good = {
      instructions: 1,
      mips: 2,
      guestRamBytes: 3,
      hostRssBytes: 4,
      diskReadBytes: 5,
      diskWriteBytes: 6,
      netRxBytes: 7,
      netTxBytes: 8,
      cpuSeconds: 9,
    };
    runner.say({ type: 'metrics', metrics: good });
    assert.equal(manager.get('vm').metrics?.instructions, 1);
    for (const bad of [
      { type: 'metrics', metrics: { ...good, instructions: '1\ntypervisor_vms 999' } },
      { type: 'metrics', metrics: { ...good, mips: Number.NaN } },
      { type: 'metrics', metrics: { ...good, cpuSeconds: Number.POSITIVE_INFINITY } },
      { type: 'metrics', metrics: { ...good, netTxBytes: -1 } },
      { type: 'metrics', metrics: null },
      { type: 'output', data: 'text, not bytes' },
      { type: 'output', data: new Uint8Array(1024 * 1024) },
      { type: 'exit', exit: { kind: 'poweroff', code: '0; rm -rf /' } },
      { type: 'log', message: { toString: () => 'x' } },
      { type: 'input-ack', bytes: 1e12 },
      { type: 'nonsense' },
      null,
      42,
    ]) {
      runner.say(bad);
    }
    const info = manager.get('vm');
    assert.equal(info.state, 'running', 'nothing of that changed the VM');
    assert.deepEqual(info.metrics, good, 'the last well-formed metrics stand');
    assert.equal(manager.logs('vm').length, 0, 'no output was taken');
    const warnings = logs.filter((l) => /malformed runner message/.test(JSON.stringify(l)));
    assert.equal(warnings.length, 10, 'the first ten are logged, the rest only counted');

    // A log line is cut to a bound: a runner cannot write megabyte lines into the daemon's log.
    runner.say({ type: 'log', message: 'y'.repeat(1024 * 1024) });
    const line = logs.at(-1) as { device?: string };
    assert.ok(
      line.device !== undefined && line.device.length > MAX_TEXT && line.device.length < MAX_TEXT + 100,
    );
  });
});

test('console output is acknowledged byte for byte, so the runner can hold its window', async () => {
  await withManager(async ({ manager, runners, spec }) => {
    await manager.create(spec('vm'));
    await manager.start('vm');
    const runner = runners[0];
    runner.say({ type: 'output', data: new Uint8Array(1000).fill(0x41) });
    runner.say({ type: 'output', data: new Uint8Array(24).fill(0x42) });
    assert.deepEqual(
      runner.sent('output-ack').map((m) => m.bytes),
      [1000, 24],
    );
    assert.equal(manager.logs('vm').length, 1024);
  });
});

test('console input is bounded in flight to the runner; clients per VM are capped', async () => {
  await withManager(async ({ manager, runners, spec }) => {
    await manager.create(spec('vm'));
    await manager.start('vm');
    const runner = runners[0];
    const consoles = [manager.attachConsole('vm', () => {})];
    // The runner does not acknowledge: whatever a client types beyond the bound is dropped.
    for (let i = 0; i < 64; i++) consoles[0].input(new Uint8Array(16 * 1024).fill(0x61));
    const sent = runner.sent('input').reduce((n, m) => n + m.data.length, 0);
    assert.equal(sent, INPUT_IN_FLIGHT);
    // Acknowledged input makes room again.
    runner.say({ type: 'input-ack', bytes: 4096 });
    consoles[0].input(new Uint8Array(10_000));
    assert.equal(runner.sent('input').at(-1)?.data.length, 4096);
    runner.say({
      type: 'metrics',
      metrics: {
        instructions: 0,
        mips: 0,
        guestRamBytes: 0,
        hostRssBytes: 0,
        diskReadBytes: 0,
        diskWriteBytes: 0,
        netRxBytes: 0,
        netTxBytes: 0,
        cpuSeconds: 0,
      },
    });
    assert.equal(
      manager.get('vm').metrics?.consoleInputDroppedBytes,
      64 * 16 * 1024 - INPUT_IN_FLIGHT + 10_000 - 4096,
    );

    for (let i = 1; i < MAX_CONSOLE_CLIENTS; i++) consoles.push(manager.attachConsole('vm', () => {}));
    assert.throws(
      () => manager.attachConsole('vm', () => {}),
      (e: VmmError) => e.status === 429,
    );
    consoles.pop()?.detach();
    manager.attachConsole('vm', () => {}).detach();
  });
});

test("a panic line on the console is only a hint: the machine's panic report crashes the VM", async () => {
  await withManager(async ({ manager, runners, spec }) => {
    await manager.create(spec('vm'));
    await manager.start('vm');
    const runner = runners[0];
    // What guest user space can do: print the kernel's panic line (echo, or a crafted file name).
    runner.say({ type: 'output', data: Buffer.from('Kernel panic - not syncing: fake\n') });
    runner.say({ type: 'output', data: Buffer.from('Kernel panic - not syncing: unfinished') });
    await tick(1000);
    assert.equal(manager.get('vm').state, 'running', 'console text decides nothing');

    runner.say({
      type: 'output',
      data: Buffer.from('\nKernel panic - not syncing: VFS: Unable to mount root fs\n'),
    });
    runner.say({ type: 'panic', detail: 'pvpanic: guest panicked' });
    for (let i = 0; i < 100 && manager.get('vm').state !== 'crashed'; i++) await tick(10);
    const info = manager.get('vm');
    assert.equal(info.state, 'crashed');
    assert.equal(
      info.reason,
      'guest kernel panic: pvpanic: guest panicked (console: Kernel panic - not syncing: VFS: Unable to mount root fs)',
    );
    assert.equal(runner.sent('poweroff').length, 1, 'the runner was told to stop');
  });
});

test('pause answers once the runner confirms; a runner that never does is crashed (504)', async () => {
  let confirming = true;
  await withManager(
    async ({ manager, runners, spec }) => {
      await manager.create(spec('good'));
      await manager.start('good');
      const pausing = manager.pause('good');
      assert.equal(manager.get('good').state, 'running', 'not paused before the runner says so');
      assert.equal((await pausing).state, 'paused');
      assert.equal(runners[0].sent('pause').length, 1);
      await manager.resume('good');

      confirming = false;
      await manager.create(spec('stuck'));
      await manager.start('stuck');
      const started = Date.now();
      const [a, b] = await Promise.allSettled([manager.pause('stuck'), manager.pause('stuck')]);
      for (const r of [a, b]) {
        assert.equal(r.status, 'rejected');
        assert.ok(r.reason instanceof VmmError && r.reason.status === 504, String(r.reason));
      }
      assert.ok(Date.now() - started >= 290);
      assert.equal(runners[1].sent('pause').length, 1, 'one pause in flight, however many requests');
      for (let i = 0; i < 100 && manager.get('stuck').state !== 'crashed'; i++) await tick(10);
      const info = manager.get('stuck');
      assert.equal(info.state, 'crashed');
      assert.match(info.reason ?? '', /did not confirm a pause within 0\.3 s/);
      assert.ok(runners[1].killed);
    },
    {
      pauseConfirmMs: 300,
      setup: (r) => {
        r.confirmPause = confirming;
      },
    },
  );
});

test('thread runners get a heap cap: the per-VM overhead allowance', async () => {
  await withManager(async ({ manager, runners, spec }) => {
    await manager.create({ ...spec('t'), runner: 'thread' });
    await manager.start('t');
    assert.equal(runners[0].kind, 'thread');
    assert.equal(runners[0].options.heapLimitBytes, 160 * 2 ** 20);
  });
});
