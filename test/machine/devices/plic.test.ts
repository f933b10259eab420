import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIP_MEIP, MIP_MTIP, MIP_SEIP } from '../../../src/cpu/constants.js';
import { Hart } from '../../../src/cpu/hart.js';
import { createStateMemory } from '../../../src/cpu/state-layout.js';
import { SystemBus } from '../../../src/machine/bus.js';
import { Plic } from '../../../src/machine/devices/plic.js';

const RAM_SIZE = 1 << 20;
const PLIC_BASE = 0xc00_0000;

function makeHart(hartId = 0): Hart {
  return new Hart(createStateMemory(RAM_SIZE), new SystemBus(0x8000_0000, RAM_SIZE), { hartId });
}

const out = new Int32Array(2);
function rd(plic: Plic, offset: number): number {
  out[0] = 0;
  assert.ok(plic.read(offset, 4, out), `read at 0x${offset.toString(16)}`);
  return out[0];
}
function wr(plic: Plic, offset: number, value: number): void {
  assert.ok(plic.write(offset, 4, value, 0), `write at 0x${offset.toString(16)}`);
}

const priority = (id: number): number => 4 * id;
const pendingWord = (w: number): number => 0x1000 + 4 * w;
const enableWord = (ctx: number, w: number): number => 0x2000 + 0x80 * ctx + 4 * w;
const threshold = (ctx: number): number => 0x200000 + 0x1000 * ctx;
const claimReg = (ctx: number): number => 0x200004 + 0x1000 * ctx;

/** Source ids used below and the contexts of hart 0: M = 0, S = 1. */
const M = 0;
const S = 1;

function enable(plic: Plic, ctx: number, ...ids: number[]): void {
  for (const id of ids) {
    const w = id >> 5;
    wr(plic, enableWord(ctx, w), rd(plic, enableWord(ctx, w)) | (1 << (id & 31)));
  }
}

function setup(harts = 1): { plic: Plic; hs: Hart[] } {
  const hs: Hart[] = [];
  for (let i = 0; i < harts; i++) hs.push(makeHart(i));
  return { plic: new Plic(PLIC_BASE, hs), hs };
}

test('window, sources and access rules match QEMU virt', () => {
  const { plic } = setup();
  assert.equal(plic.base, PLIC_BASE);
  assert.equal(plic.size, 0x600000);
  assert.equal(plic.sources, 96);
  assert.equal(plic.contexts, 2);
  assert.throws(() => plic.line(0), RangeError);
  assert.throws(() => plic.line(96), RangeError);
  plic.line(95);
  // Only aligned 32-bit accesses.
  assert.equal(plic.read(priority(1), 1, out), false);
  assert.equal(plic.read(priority(1), 2, out), false);
  assert.equal(plic.read(priority(1), 8, out), false);
  assert.equal(plic.read(priority(1) + 2, 4, out), false);
  assert.equal(plic.write(priority(1), 8, 1, 0), false);
  assert.equal(plic.write(threshold(S), 1, 1, 0), false);
  // Registers of contexts that do not exist read as zero and ignore writes.
  wr(plic, threshold(2), 5);
  assert.equal(rd(plic, threshold(2)), 0);
});

test('priorities are 3-bit WARL and source 0 does not exist', () => {
  const { plic } = setup();
  wr(plic, priority(10), 0xff);
  assert.equal(rd(plic, priority(10)), 7);
  wr(plic, priority(10), 9);
  assert.equal(rd(plic, priority(10)), 1);
  wr(plic, priority(0), 5);
  assert.equal(rd(plic, priority(0)), 0);
  wr(plic, threshold(S), 0x1f);
  assert.equal(rd(plic, threshold(S)), 7);
  // Enable bits exist only for sources 1..95.
  wr(plic, enableWord(S, 0), -1);
  wr(plic, enableWord(S, 2), -1);
  assert.equal(rd(plic, enableWord(S, 0)), -2);
  assert.equal(rd(plic, enableWord(S, 2)), -1, 'sources 64..95 all exist');
  assert.equal(rd(plic, enableWord(S, 3)), 0);
});

test('a pending enabled source above threshold raises the right pin; claim returns it and clears pending', () => {
  const { plic, hs } = setup();
  const hart = hs[0];
  hart.mipPins = MIP_MTIP;
  wr(plic, priority(10), 1);
  enable(plic, S, 10);
  plic.line(10).set(true);
  assert.equal(rd(plic, pendingWord(0)), 1 << 10);
  assert.equal(hart.mipPins, MIP_MTIP | MIP_SEIP, 'S context drives SEIP only, other pins untouched');
  assert.equal(rd(plic, claimReg(M)), 0, 'not enabled for the M context');
  assert.equal(rd(plic, claimReg(S)), 10);
  assert.equal(rd(plic, pendingWord(0)), 0);
  assert.equal(hart.mipPins, MIP_MTIP);
  assert.equal(rd(plic, claimReg(S)), 0, 'nothing left to claim');
});

test('M context drives MEIP, and each hart has its own pair of contexts', () => {
  const { plic, hs } = setup(2);
  assert.equal(plic.contexts, 4);
  wr(plic, priority(3), 2);
  wr(plic, priority(4), 2);
  enable(plic, 0, 3); // hart 0, M
  enable(plic, 3, 4); // hart 1, S
  plic.line(3).set(true);
  assert.equal(hs[0].mipPins, MIP_MEIP);
  assert.equal(hs[1].mipPins, 0);
  plic.line(4).set(true);
  assert.equal(hs[1].mipPins, MIP_SEIP);
  assert.equal(rd(plic, claimReg(3)), 4);
  assert.equal(hs[1].mipPins, 0);
  assert.equal(hs[0].mipPins, MIP_MEIP);
  assert.equal(rd(plic, claimReg(0)), 3);
  assert.equal(hs[0].mipPins, 0);
});

test('claims go by priority, ties to the lowest id, across enable words', () => {
  const { plic } = setup();
  for (const [id, p] of [
    [5, 2],
    [40, 6],
    [70, 6],
    [9, 2],
    [3, 1],
  ]) {
    wr(plic, priority(id), p);
    enable(plic, S, id);
    plic.line(id).set(true);
  }
  assert.equal(rd(plic, pendingWord(0)), (1 << 3) | (1 << 5) | (1 << 9));
  assert.equal(rd(plic, pendingWord(1)), 1 << (40 - 32));
  assert.equal(rd(plic, pendingWord(2)), 1 << (70 - 64));
  const order = [];
  for (let i = 0; i < 6; i++) order.push(rd(plic, claimReg(S)));
  assert.deepEqual(order, [40, 70, 5, 9, 3, 0]);
});

test('threshold masks priorities at or below it', () => {
  const { plic, hs } = setup();
  wr(plic, priority(7), 3);
  enable(plic, S, 7);
  wr(plic, threshold(S), 3);
  plic.line(7).set(true);
  assert.equal(hs[0].mipPins & MIP_SEIP, 0);
  assert.equal(rd(plic, claimReg(S)), 0);
  assert.equal(rd(plic, pendingWord(0)), 1 << 7, 'still pending, just masked');
  wr(plic, threshold(S), 2);
  assert.equal(hs[0].mipPins & MIP_SEIP, MIP_SEIP);
  wr(plic, threshold(S), 7);
  assert.equal(hs[0].mipPins & MIP_SEIP, 0, 'raising the threshold drops the pin');
  // Priority 0 never interrupts, even with threshold 0.
  wr(plic, threshold(S), 0);
  wr(plic, priority(7), 0);
  assert.equal(hs[0].mipPins & MIP_SEIP, 0);
  assert.equal(rd(plic, claimReg(S)), 0);
  // Masking by priority is how Linux masks a source; unmasking delivers what was pending.
  wr(plic, priority(7), 1);
  assert.equal(rd(plic, claimReg(S)), 7);
});

test('enabling a source that is already pending raises the pin at once', () => {
  const { plic, hs } = setup();
  wr(plic, priority(12), 1);
  plic.line(12).set(true);
  assert.equal(hs[0].mipPins, 0);
  enable(plic, S, 12);
  assert.equal(hs[0].mipPins, MIP_SEIP);
  wr(plic, enableWord(S, 0), 0);
  assert.equal(hs[0].mipPins, 0);
});

test('a claimed source is not signalled again until completed; a high level re-triggers at completion', () => {
  const { plic, hs } = setup();
  const line = plic.line(10);
  wr(plic, priority(10), 1);
  enable(plic, S, 10);
  line.set(true);
  assert.equal(rd(plic, claimReg(S)), 10);
  // The device keeps its line high (or toggles it) while the handler runs.
  line.set(false);
  line.set(true);
  assert.equal(hs[0].mipPins, 0, 'masked while claimed');
  assert.equal(rd(plic, pendingWord(0)), 0);
  assert.equal(rd(plic, claimReg(S)), 0);
  wr(plic, claimReg(S), 10);
  assert.equal(rd(plic, pendingWord(0)), 1 << 10, 'still high at completion: pending again');
  assert.equal(hs[0].mipPins, MIP_SEIP);
  assert.equal(rd(plic, claimReg(S)), 10);
  // This time the handler quiets the device before completing.
  line.set(false);
  wr(plic, claimReg(S), 10);
  assert.equal(rd(plic, pendingWord(0)), 0);
  assert.equal(hs[0].mipPins, 0);
  assert.equal(rd(plic, claimReg(S)), 0);
});

test('a line that drops before the claim withdraws its request (as QEMU does)', () => {
  const { plic, hs } = setup();
  wr(plic, priority(2), 1);
  enable(plic, S, 2);
  plic.line(2).set(true);
  plic.line(2).set(false);
  assert.equal(rd(plic, pendingWord(0)), 0);
  assert.equal(hs[0].mipPins, 0);
  assert.equal(rd(plic, claimReg(S)), 0);
});

test('completions of unclaimed or non-existent ids are ignored', () => {
  const { plic, hs } = setup();
  const line = plic.line(5);
  wr(plic, priority(5), 1);
  wr(plic, priority(6), 1);
  enable(plic, S, 5, 6);
  line.set(true);
  assert.equal(rd(plic, claimReg(S)), 5);
  wr(plic, claimReg(S), 6);
  wr(plic, claimReg(S), 0);
  wr(plic, claimReg(S), 1000);
  wr(plic, claimReg(S), -1);
  assert.equal(hs[0].mipPins, 0, 'source 5 stays claimed');
  // Completion is global: the M context may complete what S claimed (QEMU does not check).
  wr(plic, claimReg(M), 5);
  assert.equal(hs[0].mipPins, MIP_SEIP);
});

test('a source enabled in both contexts is claimed once', () => {
  const { plic, hs } = setup();
  wr(plic, priority(8), 1);
  enable(plic, M, 8);
  enable(plic, S, 8);
  plic.line(8).set(true);
  assert.equal(hs[0].mipPins, MIP_MEIP | MIP_SEIP);
  assert.equal(rd(plic, claimReg(M)), 8);
  assert.equal(hs[0].mipPins, 0);
  assert.equal(rd(plic, claimReg(S)), 0);
});

test('the pending array is read-only', () => {
  const { plic } = setup();
  wr(plic, pendingWord(0), -1);
  assert.equal(rd(plic, pendingWord(0)), 0);
  plic.line(1).set(true);
  wr(plic, pendingWord(0), 0);
  assert.equal(rd(plic, pendingWord(0)), 2);
});

test('a rising pin asks the hart to leave its run loop; a falling one does not', () => {
  const { plic, hs } = setup();
  const hart = hs[0];
  wr(plic, priority(10), 1);
  enable(plic, S, 10);
  hart.yieldRequested = false;
  plic.line(10).set(true);
  assert.equal(hart.yieldRequested, true);
  hart.yieldRequested = false;
  rd(plic, claimReg(S));
  assert.equal(hart.yieldRequested, false);
});

test('the Linux irq-sifive-plic sequence: init, claim, handle, complete', () => {
  const { plic, hs } = setup();
  const hart = hs[0];
  // Probe: every context disabled, every source priority 1, S threshold 0 (OpenSBI owns the M context).
  for (let w = 0; w < 3; w++) wr(plic, enableWord(S, w), 0);
  for (let id = 1; id < 96; id++) wr(plic, priority(id), 1);
  wr(plic, threshold(S), 0);
  enable(plic, S, 1, 10, 11);
  const uart = plic.line(10);
  const rtc = plic.line(11);
  uart.set(true);
  rtc.set(true);
  assert.equal(hart.mipPins, MIP_SEIP);
  // Handler loop: claim until 0, each handler quiets its device, then completes.
  const handled = [];
  for (;;) {
    const id = rd(plic, claimReg(S));
    if (id === 0) break;
    handled.push(id);
    (id === 10 ? uart : rtc).set(false);
    wr(plic, claimReg(S), id);
  }
  assert.deepEqual(handled, [10, 11]);
  assert.equal(hart.mipPins, 0);
});

test('saveState and restoreState carry the whole state, and restore drives the pins', () => {
  const a = setup();
  wr(a.plic, priority(10), 4);
  wr(a.plic, priority(20), 3);
  enable(a.plic, S, 10, 20);
  wr(a.plic, threshold(S), 1);
  a.plic.line(10).set(true);
  a.plic.line(20).set(true);
  assert.equal(rd(a.plic, claimReg(S)), 10);
  const state = JSON.parse(JSON.stringify(a.plic.saveState()));

  const b = setup();
  b.plic.restoreState(state);
  assert.equal(b.hs[0].mipPins, MIP_SEIP, 'source 20 is pending');
  assert.equal(rd(b.plic, priority(10)), 4);
  assert.equal(rd(b.plic, threshold(S)), 1);
  assert.equal(rd(b.plic, claimReg(S)), 20);
  // Source 10 was claimed with its line high: completing it re-triggers it.
  wr(b.plic, claimReg(S), 10);
  assert.equal(rd(b.plic, claimReg(S)), 10);
  assert.throws(() => b.plic.restoreState({ ...state, enable: [0] }));
});
