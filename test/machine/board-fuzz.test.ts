/**
 * A hostile guest's view of the whole board, fuzzed: random SBI calls (every extension, legacy ones
 * included, with hostile arguments) against the built-in SBI, and random register accesses against
 * every device on the bus, virtio transports driven with random but often well-formed queue setups over
 * RAM full of random descriptors. The host must never throw, never leave a promise rejection unhandled,
 * keep its guest-fed buffers within their bounds, and spend bounded time in any one access. Seeded: a
 * failure names its seed (TYPERVISOR_FUZZ_SEED replays it).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CAUSE_SUPERVISOR_ECALL, PRIV_S } from '../../src/cpu/constants.js';
import { Virtio9p } from '../../src/machine/devices/virtio/9p.js';
import { BLK_MAX_IN_FLIGHT, VirtioBlk, type VirtioBlkState } from '../../src/machine/devices/virtio/blk.js';
import { VirtioConsole } from '../../src/machine/devices/virtio/console.js';
import type { VirtioDevice } from '../../src/machine/devices/virtio/device.js';
import { REG } from '../../src/machine/devices/virtio/mmio-transport.js';
import { VirtioNet } from '../../src/machine/devices/virtio/net.js';
import { VirtioRng } from '../../src/machine/devices/virtio/rng.js';
import { VIRT } from '../../src/machine/virt/memory-map.js';
import { OUTPUT_LIMIT, VirtMachine } from '../../src/machine/virt/virt-machine.js';
import { SwitchRegistry } from '../../src/net/virtual-switch.js';
import { SharedFolder } from '../../src/storage/shared-folder.js';
import { nullPort } from '../../src/vmm/console-ports.js';
import { MemoryDisk } from './devices/virtio/memory-disk.js';
import { pick, xorshift32 } from './fuzz-random.js';

const SEED = Number(process.env.TYPERVISOR_FUZZ_SEED ?? 0xb0a4d);
const MiB = 2 ** 20;
const RAM_SIZE = 32 * MiB;
const RAM_BASE = VIRT.dram.base;
/** A kernel that spins (`j .`): the fuzzer, not the hart, drives the devices. */
const SPIN = Uint8Array.of(0x6f, 0x00, 0x00, 0x00);
/** Far more than any single access may take; a device that does unbounded work in one call blows it. */
const SLOW_ACCESS_MS = 2000;

const dir = mkdtempSync(join(tmpdir(), 'typervisor-board-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rejections: unknown[] = [];
process.on('unhandledRejection', (e) => rejections.push(e));

function board(virtio: VirtioDevice[] = []): VirtMachine {
  return new VirtMachine({
    ramSize: RAM_SIZE,
    harts: 1,
    bios: 'builtin',
    kernel: { name: 'spin', bytes: SPIN },
    bootargs: '',
    virtio,
  });
}

/** Interesting 64-bit values as [lo, hi] words: edges of RAM, sign bits, all ones, randomness. */
function hostileWord(r: () => number): [number, number] {
  const end = RAM_BASE + RAM_SIZE;
  const choices: (() => [number, number])[] = [
    () => [0, 0],
    () => [-1, -1],
    () => [RAM_BASE | 0, 0],
    () => [(end - (r() % 64)) | 0, 0],
    () => [(RAM_BASE + (r() % RAM_SIZE)) | 0, 0],
    () => [RAM_SIZE, 0],
    () => [0, 0x80000000 | 0],
    () => [r() | 0, r() | 0],
    () => [r() % 16, 0],
    () => [RAM_BASE | 0, 1],
  ];
  return pick(r, choices)();
}

const EXTENSIONS = [
  0x10, 0x54494d45, 0x735049, 0x52464e43, 0x48534d, 0x53525354, 0x4442434e, 0x504d55, 0x535553, 0x43505043,
];

test('fuzz: random SBI calls never throw, answer with SBI error codes, and keep the console bounded', () => {
  const machine = board();
  const hart = machine.harts[0];
  const handler = hart.machineTrapHandler;
  assert.ok(handler, 'the built-in SBI handles machine-mode traps');
  const r = xorshift32(SEED);
  const before = process.memoryUsage();
  const errors = new Set([0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10]);
  let calls = 0;
  let slowest = 0;
  for (let i = 0; i < 20_000; i++) {
    for (let reg = 10; reg <= 15; reg++) {
      const [lo, hi] = hostileWord(r);
      hart.x[2 * reg] = lo;
      hart.x[2 * reg + 1] = hi;
    }
    const legacy = r() % 5 === 0;
    const ext = legacy ? r() % 10 : r() % 8 === 0 ? r() : pick(r, EXTENSIONS);
    hart.x[2 * 17] = ext | 0;
    hart.x[2 * 17 + 1] = 0;
    hart.x[2 * 16] = r() % 4 === 0 ? r() | 0 : r() % 8;
    hart.x[2 * 16 + 1] = 0;
    // Shutdown and reset requests would only end the fuzz early; their effect is tested elsewhere.
    if (ext === 0x53525354 || ext === 8) hart.x[2 * 10] = 7;
    hart.priv = PRIV_S;
    const t0 = performance.now();
    try {
      handler(CAUSE_SUPERVISOR_ECALL, false, hart.pc | 0, 0);
    } catch (e) {
      throw new Error(`seed ${SEED}, call ${i} (ext 0x${(ext >>> 0).toString(16)}): ${(e as Error).stack}`);
    }
    slowest = Math.max(slowest, performance.now() - t0);
    calls++;
    if (!legacy) {
      const a0 = hart.x[20];
      assert.ok(errors.has(a0), `seed ${SEED}, call ${i}: a0 = ${a0} is not an SBI error code`);
    }
    assert.ok(machine.pendingOutput <= OUTPUT_LIMIT, `console output ${machine.pendingOutput} bytes`);
  }
  const grown = process.memoryUsage().rss - before.rss;
  // The console buffer at most, plus the interpreter's own allocations: nothing sized by the guest.
  assert.ok(grown < 64 * MiB, `RSS grew by ${Math.round(grown / MiB)} MiB`);
  assert.ok(slowest < SLOW_ACCESS_MS, `slowest call took ${slowest} ms`);
  assert.equal(calls, 20_000);
});

interface Programmed {
  size: number;
  desc: number;
  avail: number;
  used: number;
}

test('fuzz: random register accesses against every device on the board never throw and stay bounded', async (t) => {
  const share = join(dir, 'share');
  mkdirSync(share, { recursive: true });
  writeFileSync(join(share, 'file'), 'hello');
  const switches = new SwitchRegistry();
  const lan = switches.get('fuzz');
  const peer = lan.connect('peer', Uint8Array.of(0x52, 0x54, 0, 0, 0, 8));
  peer.onReceive = (frame) => peer.send(frame);
  const disk = new MemoryDisk(4 * MiB);
  const blk = new VirtioBlk(disk, { serial: 'FUZZ' });
  const devices: VirtioDevice[] = [
    blk,
    new VirtioNet(lan.connect('fuzzed', Uint8Array.of(0x52, 0x54, 0, 0, 0, 9)), {
      mac: Uint8Array.of(0x52, 0x54, 0, 0, 0, 9),
    }),
    new Virtio9p(await SharedFolder.open(share, { readOnly: false }), { tag: 'fuzz' }),
    new VirtioConsole([nullPort('console'), nullPort('extra')]),
    new VirtioRng(),
  ];
  const machine = board(devices);
  const logs: string[] = [];
  machine.onLog = (m) => logs.push(m);
  const bus = machine.bus;
  const r = xorshift32(SEED ^ 0x9e3779b9);
  const ram = machine.memory.bytes;
  const windows = [
    VIRT.uart0,
    VIRT.plic,
    VIRT.clint,
    VIRT.rtc,
    VIRT.pvpanic,
    ...Array.from({ length: VIRT.virtio.count }, (_, i) => ({
      base: VIRT.virtio.base + i * 0x1000,
      size: 0x1000,
    })),
  ];
  const programmed = new Map<number, Programmed[]>();
  const slot = (i: number) => VIRT.virtio.base + i * 0x1000;
  const w32 = (addr: number, value: number) => bus.writeDevice(addr, 4, value | 0, 0);
  const r32 = (addr: number): number => (bus.readDevice(addr, 4) ? bus.valueLo >>> 0 : 0);
  const randomRam = (align: number): number => RAM_BASE + ((r() % (RAM_SIZE - 0x20000)) & ~(align - 1));

  /** A driver's init sequence, with random (often valid) choices. */
  const init = (base: number): void => {
    w32(base + REG.status, 0);
    w32(base + REG.status, 3);
    w32(base + REG.deviceFeaturesSel, 0);
    const f0 = r32(base + REG.deviceFeatures);
    w32(base + REG.deviceFeaturesSel, 1);
    const f1 = r32(base + REG.deviceFeatures);
    w32(base + REG.driverFeaturesSel, 0);
    w32(base + REG.driverFeatures, r() % 4 === 0 ? r() : f0);
    w32(base + REG.driverFeaturesSel, 1);
    w32(base + REG.driverFeatures, r() % 8 === 0 ? 0 : f1);
    w32(base + REG.status, 11);
    const queues: Programmed[] = [];
    for (let q = 0; q < 8; q++) {
      w32(base + REG.queueSel, q);
      const max = r32(base + REG.queueNumMax);
      if (max === 0) break;
      const size = r() % 8 === 0 ? r() % 1024 : 1 << (r() % (31 - Math.clz32(max) + 1));
      const area = { size, desc: randomRam(16), avail: randomRam(2), used: randomRam(4) };
      w32(base + REG.queueNum, size);
      w32(base + REG.queueDescLow, area.desc);
      w32(base + REG.queueDescHigh, 0);
      w32(base + REG.queueDriverLow, area.avail);
      w32(base + REG.queueDriverHigh, 0);
      w32(base + REG.queueDeviceLow, area.used);
      w32(base + REG.queueDeviceHigh, 0);
      w32(base + REG.queueReady, 1);
      queues.push(area);
    }
    programmed.set(base, queues);
    w32(base + REG.status, 15);
  };

  /** Hostile ring contents: descriptors of any shape, heads and indices anywhere. */
  const scribble = (area: Programmed): void => {
    const view = machine.memory.view;
    const size = Math.max(1, Math.min(area.size, 1024));
    for (let n = r() % 16; n > 0; n--) {
      const d = area.desc - RAM_BASE + 16 * (r() % size);
      if (d + 16 > ram.length) continue;
      const [lo, hi] = hostileWord(r);
      view.setUint32(d, lo >>> 0, true);
      view.setUint32(d + 4, r() % 8 === 0 ? hi >>> 0 : 0, true);
      view.setUint32(d + 8, pick(r, [0, 1, 16, 512, 4096, 65536, RAM_SIZE, 0xffffffff, r()]), true);
      view.setUint16(d + 12, r() & 7, true);
      view.setUint16(d + 14, r() % 4 === 0 ? r() & 0xffff : r() % size, true);
    }
    const a = area.avail - RAM_BASE;
    if (a + 4 + 2 * size > ram.length) return;
    for (let n = r() % 8; n > 0; n--) view.setUint16(a + 4 + 2 * (r() % size), r() % size, true);
    const idx = view.getUint16(a + 2, true);
    view.setUint16(a + 2, (idx + (r() % 4 === 0 ? r() & 0xffff : r() % (size + 1))) & 0xffff, true);
  };

  const before = process.memoryUsage();
  let slowest = 0;
  let accesses = 0;
  let served = false;
  const timed = (what: string, fn: () => void): void => {
    const t0 = performance.now();
    try {
      fn();
    } catch (e) {
      throw new Error(`seed ${SEED}: ${what}: ${(e as Error).stack}`);
    }
    slowest = Math.max(slowest, performance.now() - t0);
    accesses++;
  };
  for (let round = 0; round < 10_000; round++) {
    const action = r() % 10;
    if (action <= 2) {
      const w = pick(r, windows);
      const size = pick(r, [1, 2, 4, 8]);
      const offset = r() % 8 === 0 ? r() % w.size : (r() % Math.min(w.size, 0x200)) & ~(size - 1);
      const addr = w.base + offset;
      if (r() % 2) timed(`read 0x${addr.toString(16)}`, () => bus.readDevice(addr, size));
      else timed(`write 0x${addr.toString(16)}`, () => bus.writeDevice(addr, size, r() | 0, r() | 0));
    } else if (action === 3) {
      const base = slot(r() % VIRT.virtio.count);
      timed(`init 0x${base.toString(16)}`, () => init(base));
    } else if (action <= 6) {
      const bases = [...programmed.keys()];
      if (bases.length === 0) continue;
      const base = pick(r, bases);
      const queues = programmed.get(base) ?? [];
      if (queues.length === 0) continue;
      const q = r() % queues.length;
      scribble(queues[q]);
      timed(`notify 0x${base.toString(16)} queue ${q}`, () => w32(base + REG.queueNotify, q));
      served ||= machine.virtio.some((t) => t.saveState().queues.some((s) => s.usedIdx > 0));
    } else if (action === 7) {
      for (const t of machine.virtio) timed(`deferred work of ${t.name}`, () => t.runDeferred());
    } else if (action === 8) {
      // Host I/O completes between guest accesses, as it does between slices.
      await new Promise((resolve) => setImmediate(resolve));
    } else {
      const base = slot(r() % VIRT.virtio.count);
      timed('interrupt ack', () => w32(base + REG.interruptAck, r32(base + REG.interruptStatus)));
    }
    const blkState = blk.saveState() as VirtioBlkState;
    assert.ok(
      blkState.inFlight <= BLK_MAX_IN_FLIGHT,
      `seed ${SEED}: ${blkState.inFlight} disk requests in flight`,
    );
    assert.ok(machine.pendingOutput <= OUTPUT_LIMIT);
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  machine.powerOff();
  await machine.run();
  const grown = process.memoryUsage().rss - before.rss;
  t.diagnostic(
    `${accesses} accesses, slowest ${slowest.toFixed(1)} ms, RSS +${Math.round(grown / MiB)} MiB, ${logs.length} log lines (${machine.logsDropped} dropped)`,
  );
  assert.deepEqual(rejections, [], 'no promise rejection left unhandled');
  assert.ok(grown < 128 * MiB, `RSS grew by ${Math.round(grown / MiB)} MiB`);
  assert.ok(slowest < SLOW_ACCESS_MS, `slowest access took ${slowest} ms`);
  // The fuzz reaches the devices (or it tests nothing): they failed requests and served others.
  assert.ok(
    logs.some((l) => /needs reset/.test(l)),
    'some queue was rejected',
  );
  assert.ok(served, 'some request was served');
});
