/**
 * A real runner (serveRunner with a real VirtMachine) on a channel the test plays the manager on: console
 * output stays within its window while the manager does not acknowledge it, console input the guest
 * never reads is dropped beyond a bound, and a pause is confirmed once the run loop is parked.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { VirtMachine } from '../../src/machine/virt/virt-machine.js';
import { type RunnerChannel, serveRunner } from '../../src/vmm/runner.js';
import {
  type FromRunner,
  INPUT_QUEUE_BYTES,
  MAX_OUTPUT_CHUNK,
  OUTPUT_HARD_LIMIT,
  OUTPUT_WINDOW,
  type RunnerConfig,
  type ToRunner,
} from '../../src/vmm/runner-protocol.js';
import { FLOOD_UART, SPIN, writeProgram } from './guest-programs.js';

const dir = mkdtempSync(join(tmpdir(), 'tv-runner-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

class TestChannel implements RunnerChannel {
  readonly messages: FromRunner[] = [];
  exited: number | null = null;
  private handler: (m: ToRunner) => void = () => {};

  send(message: FromRunner): void {
    this.messages.push(message);
  }
  onMessage(handler: (m: ToRunner) => void): void {
    this.handler = handler;
  }
  exit(code: number): void {
    this.exited = code;
  }
  cpuSeconds(): number {
    return 0;
  }
  tell(m: ToRunner): void {
    this.handler(m);
  }
  of<T extends FromRunner['type']>(type: T): Extract<FromRunner, { type: T }>[] {
    return this.messages.filter((m) => m.type === type) as Extract<FromRunner, { type: T }>[];
  }
  outputBytes(): number {
    return this.of('output').reduce((n, m) => n + m.data.length, 0);
  }
  async until(what: string, ready: () => boolean, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!ready()) {
      const error = this.of('error')[0];
      if (error) throw new Error(`runner error: ${error.message}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await tick(10);
    }
  }
}

function startRunner(code: Uint8Array, name: string): TestChannel {
  const kernel = writeProgram(join(dir, `${name}.bin`), code);
  const config: RunnerConfig = {
    spec: { name, vcpus: 1, memoryMiB: 16, boot: { firmware: 'none', kernel }, rng: false },
    defaultKernel: kernel,
    defaultInitrd: kernel,
    switchPorts: [],
    identities: {},
  };
  const channel = new TestChannel();
  serveRunner(channel);
  channel.tell({ type: 'start', config });
  return channel;
}

async function stopRunner(channel: TestChannel): Promise<void> {
  channel.tell({ type: 'poweroff' });
  await channel.until('the runner to exit', () => channel.exited !== null);
}

test('console output the manager does not acknowledge stays within the window; acknowledged, it flows', {
  timeout: 60_000,
}, async () => {
  const readiness: boolean[] = [];
  const original = VirtMachine.prototype.setOutputReady;
  VirtMachine.prototype.setOutputReady = function (ready: boolean) {
    readiness.push(ready);
    return original.call(this, ready);
  };
  const channel = startRunner(FLOOD_UART, 'flood');
  try {
    await channel.until('output', () => channel.outputBytes() >= OUTPUT_WINDOW);
    // The guest writes flat out for a second and a half more; nothing is acknowledged.
    await tick(1500);
    const held = channel.outputBytes();
    assert.ok(
      held >= OUTPUT_WINDOW && held <= OUTPUT_HARD_LIMIT,
      `${held} bytes unacknowledged (window ${OUTPUT_WINDOW}, hard limit ${OUTPUT_HARD_LIMIT})`,
    );
    assert.deepEqual(readiness, [false], 'the machine was told to hold output once, at the window');
    for (const m of channel.of('output')) assert.ok(m.data.length <= MAX_OUTPUT_CHUNK);

    // The manager takes everything: the machine may write again, and output goes on.
    channel.tell({ type: 'output-ack', bytes: held });
    // What the machine held moves on at once, and may fill the window again right away.
    assert.deepEqual(readiness.slice(0, 2), [false, true]);
    await channel.until('more output', () => channel.outputBytes() > held + OUTPUT_WINDOW / 2);
  } finally {
    VirtMachine.prototype.setOutputReady = original;
    await stopRunner(channel);
  }
});

test('console input the guest does not read is kept up to a bound, the rest dropped and counted', {
  timeout: 60_000,
}, async () => {
  const channel = startRunner(SPIN, 'deaf');
  try {
    await channel.until('the start', () => channel.of('started').length > 0);
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    for (let i = 0; i < 16; i++) {
      channel.tell({ type: 'input', data: chunk });
      // Probes of the machine's queue are rate-limited; let time pass as a real stream of input would.
      await tick(25);
    }
    assert.deepEqual(
      channel.of('input-ack').map((m) => m.bytes),
      new Array(16).fill(chunk.length),
      'every message is acknowledged, taken or not',
    );
    await channel.until('metrics', () => channel.of('metrics').length > 0, 5000);
    const dropped = channel.of('metrics').at(-1)?.metrics.consoleInputDroppedBytes ?? 0;
    const offered = 16 * chunk.length;
    // The UART's 16-byte FIFO takes a little more than the bound.
    assert.ok(
      dropped >= offered - INPUT_QUEUE_BYTES - 64 && dropped <= offered - INPUT_QUEUE_BYTES,
      `${dropped} of ${offered} bytes dropped (bound ${INPUT_QUEUE_BYTES})`,
    );
  } finally {
    await stopRunner(channel);
  }
});

test('a pause is confirmed once the run loop is parked: no instruction runs after it', {
  timeout: 60_000,
}, async () => {
  const channel = startRunner(SPIN, 'spin');
  try {
    await channel.until('metrics', () => channel.of('metrics').length > 0);
    channel.tell({ type: 'pause' });
    await channel.until('the confirmation', () => channel.of('paused').length > 0, 5000);
    const count = channel.of('metrics').length;
    await channel.until('two more samples', () => channel.of('metrics').length >= count + 2, 5000);
    const [a, b] = channel.of('metrics').slice(-2);
    assert.equal(b.metrics.instructions, a.metrics.instructions, 'paused means nothing runs');
    assert.ok(a.metrics.instructions > 0);
    channel.tell({ type: 'resume' });
    const before = b.metrics.instructions;
    await channel.until(
      'instructions again',
      () => (channel.of('metrics').at(-1)?.metrics.instructions ?? 0) > before,
      5000,
    );
  } finally {
    await stopRunner(channel);
  }
});
