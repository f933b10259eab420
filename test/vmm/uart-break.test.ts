/**
 * The 16550's break condition as Linux's 8250 driver consumes it (serial8250_rx_chars): a NUL in the
 * FIFO whose entry carries BI, reported in LSR when that entry is at the top, then the SysRq key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Uart16550 } from '../../src/machine/devices/uart16550.js';
import type { InterruptLine } from '../../src/machine/irq.js';

const RBR = 0;
const IER = 1;
const IIR = 2;
const FCR = 2;
const LSR = 5;
const LSR_DR = 0x01;
const LSR_BI = 0x10;

class Line implements InterruptLine {
  level = false;
  set(level: boolean): void {
    this.level = level;
  }
}

const out = new Int32Array(2);
function rd(uart: Uart16550, reg: number): number {
  assert.ok(uart.read(reg, 1, out));
  return out[0];
}
function wr(uart: Uart16550, reg: number, value: number): void {
  assert.ok(uart.write(reg, 1, value, 0));
}

function setup(fifo = true): { uart: Uart16550; irq: Line } {
  const irq = new Line();
  const uart = new Uart16550(0x1000_0000, irq, { write: () => {} });
  if (fifo) wr(uart, FCR, 0x81);
  return { uart, irq };
}

/** What the 8250 driver's receive loop sees: [lsr, char] per character. */
function receiveLoop(uart: Uart16550): [number, number][] {
  const seen: [number, number][] = [];
  let lsr = rd(uart, LSR);
  while (lsr & (LSR_DR | LSR_BI)) {
    seen.push([lsr & (LSR_DR | LSR_BI), rd(uart, RBR)]);
    lsr = rd(uart, LSR);
  }
  return seen;
}

test('a break is a NUL whose BI shows when it reaches the top of the FIFO, once', () => {
  const { uart } = setup();
  uart.receive(Buffer.from('ab'));
  uart.receiveBreak();
  uart.receive(Buffer.from('s'));
  assert.deepEqual(receiveLoop(uart), [
    [LSR_DR, 0x61],
    [LSR_DR, 0x62],
    [LSR_DR | LSR_BI, 0],
    [LSR_DR, 0x73],
  ]);
  assert.equal(rd(uart, LSR) & LSR_BI, 0);
});

test('BI raises the line-status interrupt, and reading LSR acknowledges it', () => {
  const { uart, irq } = setup();
  wr(uart, IER, 0x04); // ELSI only
  uart.receiveBreak();
  assert.equal(irq.level, true);
  assert.equal(rd(uart, IIR) & 0x0f, 0x06);
  assert.equal(rd(uart, LSR) & LSR_BI, LSR_BI);
  assert.equal(irq.level, false);
  assert.equal(rd(uart, RBR), 0);
});

test('without FIFOs (16450 mode) and behind a full FIFO the break waits its turn', () => {
  const { uart } = setup(false);
  uart.receive(Buffer.from('x'));
  uart.receiveBreak();
  uart.receive(Buffer.from('o'));
  assert.deepEqual(receiveLoop(uart), [
    [LSR_DR, 0x78],
    [LSR_DR | LSR_BI, 0],
    [LSR_DR, 0x6f],
  ]);
  const full = setup().uart;
  full.receive(Buffer.alloc(20, 0x41));
  full.receiveBreak();
  const seen = receiveLoop(full);
  assert.equal(seen.length, 21);
  assert.deepEqual(seen[20], [LSR_DR | LSR_BI, 0]);
  assert.ok(seen.slice(0, 20).every(([lsr]) => lsr === LSR_DR));
});

test('a pending break survives saveState/restoreState as plain data', () => {
  const { uart } = setup();
  uart.receive(Buffer.alloc(18, 0x41));
  uart.receiveBreak();
  const state = uart.saveState();
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(state)));
  const copy = setup().uart;
  copy.restoreState(JSON.parse(JSON.stringify(state)));
  const seen = receiveLoop(copy);
  assert.equal(seen.length, 19);
  assert.deepEqual(seen[18], [LSR_DR | LSR_BI, 0]);
});
