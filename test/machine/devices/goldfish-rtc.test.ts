import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GoldfishRtc } from '../../../src/machine/devices/goldfish-rtc.js';
import type { InterruptLine } from '../../../src/machine/irq.js';

const TIME_LOW = 0x00;
const TIME_HIGH = 0x04;
const ALARM_LOW = 0x08;
const ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10;
const CLEAR_ALARM = 0x14;
const ALARM_STATUS = 0x18;
const CLEAR_INTERRUPT = 0x1c;

class Line implements InterruptLine {
  level = false;
  set(level: boolean): void {
    this.level = level;
  }
}

function setup(start = 1_700_000_000_000_000_000n): { rtc: GoldfishRtc; irq: Line; clock: { ns: bigint } } {
  const clock = { ns: start };
  const irq = new Line();
  return { rtc: new GoldfishRtc(0x101000, irq, () => clock.ns), irq, clock };
}

const out = new Int32Array(2);
function rd(rtc: GoldfishRtc, offset: number): number {
  out[0] = 0;
  assert.ok(rtc.read(offset, 4, out));
  return out[0] >>> 0;
}
function wr(rtc: GoldfishRtc, offset: number, value: number): void {
  assert.ok(rtc.write(offset, 4, value | 0, 0));
}
/** rtc-goldfish's read_time: TIME_LOW first, which latches TIME_HIGH. */
function readTime(rtc: GoldfishRtc): bigint {
  const lo = BigInt(rd(rtc, TIME_LOW));
  const hi = BigInt(rd(rtc, TIME_HIGH));
  return (hi << 32n) | lo;
}
/** rtc-goldfish's set_time and set_alarm write the high half first. */
function setTime(rtc: GoldfishRtc, ns: bigint): void {
  wr(rtc, TIME_HIGH, Number(ns >> 32n));
  wr(rtc, TIME_LOW, Number(ns & 0xffffffffn));
}
function setAlarm(rtc: GoldfishRtc, ns: bigint): void {
  wr(rtc, ALARM_HIGH, Number(ns >> 32n));
  wr(rtc, ALARM_LOW, Number(ns & 0xffffffffn));
}

test('the time reads as 64-bit ns and TIME_LOW latches TIME_HIGH', () => {
  const { rtc, clock } = setup();
  assert.equal(readTime(rtc), clock.ns);
  clock.ns = 0x1_ffff_fff0n;
  const lo = rd(rtc, TIME_LOW);
  clock.ns = 0x2_0000_0010n; // the high word ticks over between the two reads
  assert.equal(rd(rtc, TIME_HIGH), 1, 'the high half of the instant TIME_LOW was read');
  assert.equal(lo, 0xffff_fff0);
  assert.equal(rd(rtc, TIME_HIGH), 1, 'TIME_HIGH reads do not re-latch');
});

test('writing the time sets an offset that keeps running with the host clock', () => {
  const { rtc, clock } = setup();
  const target = 946_684_800_000_000_000n; // 2000-01-01
  setTime(rtc, target);
  assert.equal(readTime(rtc), target);
  clock.ns += 5_000_000_000n;
  assert.equal(readTime(rtc), target + 5_000_000_000n);
  // Each half replaces only its half.
  wr(rtc, TIME_LOW, 0);
  assert.equal(readTime(rtc), (target + 5_000_000_000n) & ~0xffffffffn);
});

test('an alarm fires when due (through poll), then clears with CLEAR_INTERRUPT', () => {
  const { rtc, irq, clock } = setup();
  const now = clock.ns;
  setAlarm(rtc, now + 2_000_000_000n);
  wr(rtc, IRQ_ENABLED, 1);
  assert.equal(rd(rtc, IRQ_ENABLED), 1);
  assert.equal(rd(rtc, ALARM_STATUS), 1);
  assert.equal(rd(rtc, ALARM_LOW), Number((now + 2_000_000_000n) & 0xffffffffn));
  assert.equal(rd(rtc, ALARM_HIGH), Number((now + 2_000_000_000n) >> 32n));
  assert.equal(rtc.nextAlarmNs(), now + 2_000_000_000n);
  clock.ns = now + 1_999_999_999n;
  rtc.poll();
  assert.equal(irq.level, false);
  clock.ns = now + 2_000_000_000n;
  rtc.poll();
  assert.equal(irq.level, true);
  assert.equal(rd(rtc, ALARM_STATUS), 0);
  assert.equal(rtc.nextAlarmNs(), null);
  wr(rtc, CLEAR_INTERRUPT, 1);
  assert.equal(irq.level, false);
  rtc.poll();
  assert.equal(irq.level, false, 'an alarm fires once');
});

test('an alarm already due fires at once; IRQ_ENABLED gates the line but not the event', () => {
  const { rtc, irq, clock } = setup();
  setAlarm(rtc, clock.ns - 1n);
  assert.equal(rd(rtc, ALARM_STATUS), 0);
  assert.equal(irq.level, false, 'interrupt disabled');
  wr(rtc, IRQ_ENABLED, 1);
  assert.equal(irq.level, true, 'the pending event shows once enabled');
  wr(rtc, IRQ_ENABLED, 0);
  assert.equal(irq.level, false);
  wr(rtc, CLEAR_INTERRUPT, 0);
  wr(rtc, IRQ_ENABLED, 1);
  assert.equal(irq.level, false);
});

test('CLEAR_ALARM disarms a pending alarm', () => {
  const { rtc, irq, clock } = setup();
  wr(rtc, IRQ_ENABLED, 1);
  setAlarm(rtc, clock.ns + 10n);
  wr(rtc, CLEAR_ALARM, 1);
  assert.equal(rd(rtc, ALARM_STATUS), 0);
  assert.equal(rtc.nextAlarmNs(), null);
  clock.ns += 100n;
  rtc.poll();
  assert.equal(irq.level, false);
});

test('alarms are in guest RTC time; nextAlarmNs converts to the host clock', () => {
  const { rtc, irq, clock } = setup();
  const host = clock.ns;
  const guest = 946_684_800_000_000_000n;
  setTime(rtc, guest);
  wr(rtc, IRQ_ENABLED, 1);
  setAlarm(rtc, guest + 1000n);
  assert.equal(irq.level, false, 'the alarm is in the past for the host clock but not for the guest');
  assert.equal(rtc.nextAlarmNs(), host + 1000n);
  clock.ns = host + 1000n;
  rtc.poll();
  assert.equal(irq.level, true);
});

test("only aligned 32-bit accesses inside QEMU's 0x24-byte register block", () => {
  const { rtc } = setup();
  assert.equal(rtc.size, 0x1000);
  assert.equal(rtc.read(TIME_LOW, 8, out), false);
  assert.equal(rtc.read(TIME_LOW, 1, out), false);
  assert.equal(rtc.read(2, 4, out), false);
  assert.equal(rtc.read(0x24, 4, out), false);
  assert.equal(rtc.write(0x100, 4, 0, 0), false);
  assert.equal(rd(rtc, 0x20), 0);
  assert.equal(rd(rtc, CLEAR_INTERRUPT), 0);
});

test('saveState and restoreState keep the offset, alarm and interrupt state', () => {
  const a = setup();
  setTime(a.rtc, 123_456_789_000_000_000n);
  wr(a.rtc, IRQ_ENABLED, 1);
  setAlarm(a.rtc, 123_456_790_000_000_000n);
  const state = JSON.parse(JSON.stringify(a.rtc.saveState()));
  const b = setup();
  b.rtc.restoreState(state);
  assert.equal(readTime(b.rtc), 123_456_789_000_000_000n);
  assert.equal(rd(b.rtc, ALARM_STATUS), 1);
  b.clock.ns += 1_000_000_000n;
  b.rtc.poll();
  assert.equal(b.irq.level, true);
});
