import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIP_SEIP } from '../../../src/cpu/constants.js';
import { Hart } from '../../../src/cpu/hart.js';
import { createStateMemory } from '../../../src/cpu/state-layout.js';
import { SystemBus } from '../../../src/machine/bus.js';
import { Plic } from '../../../src/machine/devices/plic.js';
import { Uart16550 } from '../../../src/machine/devices/uart16550.js';
import type { InterruptLine } from '../../../src/machine/irq.js';

const RBR = 0;
const THR = 0;
const DLL = 0;
const IER = 1;
const DLM = 1;
const IIR = 2;
const FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

class Line implements InterruptLine {
  level = false;
  changes = 0;
  set(level: boolean): void {
    if (level !== this.level) this.changes++;
    this.level = level;
  }
}

class Sink {
  chunks: Uint8Array[] = [];
  write(bytes: Uint8Array): number {
    this.chunks.push(bytes.slice());
    return bytes.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

function setup(): { uart: Uart16550; irq: Line; sink: Sink } {
  const irq = new Line();
  const sink = new Sink();
  return { uart: new Uart16550(0x1000_0000, irq, sink), irq, sink };
}

const out = new Int32Array(2);
function rd(uart: Uart16550, reg: number): number {
  out[0] = -1;
  assert.ok(uart.read(reg, 1, out), `read reg ${reg}`);
  return out[0];
}
function wr(uart: Uart16550, reg: number, value: number): void {
  assert.ok(uart.write(reg, 1, value, 0), `write reg ${reg}`);
}

/** What Linux's 8250 driver does to bring up a 16550A port (set_termios, then startup). */
function linuxInit(uart: Uart16550): void {
  wr(uart, LCR, 0x80);
  wr(uart, DLL, 0x01);
  wr(uart, DLM, 0x00);
  wr(uart, LCR, 0x03);
  wr(uart, FCR, 0x01);
  wr(uart, FCR, 0x07);
  wr(uart, FCR, 0x00);
  wr(uart, FCR, 0x81); // UART_FCR_ENABLE_FIFO | UART_FCR_R_TRIG_10: trigger at 8 bytes
  rd(uart, LSR);
  rd(uart, RBR);
  rd(uart, IIR);
  rd(uart, MSR);
  wr(uart, MCR, 0x0b); // DTR | RTS | OUT2
}

function drain(uart: Uart16550): number[] {
  const got = [];
  while (rd(uart, LSR) & 0x01) got.push(rd(uart, RBR));
  return got;
}

test("reset values are QEMU's", () => {
  const { uart, irq } = setup();
  assert.equal(uart.size, 0x100);
  assert.equal(rd(uart, IER), 0);
  assert.equal(rd(uart, IIR), 0x01);
  assert.equal(rd(uart, LCR), 0);
  assert.equal(rd(uart, MCR), 0x08);
  assert.equal(rd(uart, LSR), 0x60);
  assert.equal(rd(uart, MSR), 0xb0);
  assert.equal(rd(uart, SCR), 0);
  wr(uart, LCR, 0x80);
  assert.equal(rd(uart, DLL), 0x0c);
  assert.equal(rd(uart, DLM), 0);
  assert.equal(irq.level, false);
});

test('accesses: eight byte registers, wider aligned accesses act on the byte, the rest of the window faults', () => {
  const { uart } = setup();
  wr(uart, SCR, 0x5a);
  assert.ok(uart.read(4, 4, out));
  assert.equal(out[0], 0x08, 'a 32-bit read at MCR');
  assert.ok(uart.write(4, 4, 0x1234_5603, 0));
  assert.equal(rd(uart, MCR), 0x03);
  wr(uart, MCR, 0xe3);
  assert.equal(rd(uart, MCR), 0x03, 'MCR has five bits');
  assert.equal(uart.read(8, 1, out), false);
  assert.equal(uart.read(0xff, 1, out), false);
  assert.equal(uart.write(0x10, 1, 0, 0), false);
  assert.equal(uart.read(5, 4, out), false, 'misaligned');
  assert.equal(uart.read(SCR, 1, out), true);
  assert.equal(out[0], 0x5a);
});

test('divisor latch, LCR, IER and scratch behave as the probe expects', () => {
  const { uart, sink } = setup();
  wr(uart, LCR, 0x83);
  wr(uart, DLL, 0x34);
  wr(uart, DLM, 0x12);
  assert.equal(rd(uart, DLL), 0x34);
  assert.equal(rd(uart, DLM), 0x12);
  assert.equal(rd(uart, LCR), 0x83);
  uart.flush();
  assert.equal(sink.chunks.length, 0, 'DLL writes do not transmit');
  wr(uart, LCR, 0x03);
  assert.equal(rd(uart, IER), 0, 'IER is separate from DLM');
  wr(uart, IER, 0xff);
  assert.equal(rd(uart, IER), 0x0f, 'only the four enables exist');
  wr(uart, IER, 0);
  wr(uart, SCR, 0xa5);
  assert.equal(rd(uart, SCR), 0xa5);
  // IIR reads the same whatever DLAB says.
  wr(uart, LCR, 0x80);
  assert.equal(rd(uart, IIR), 0x01);
});

test('FCR: FIFO bits in IIR and trigger levels', () => {
  const { uart } = setup();
  wr(uart, FCR, 0x01);
  assert.equal(rd(uart, IIR), 0xc1);
  wr(uart, FCR, 0x00);
  assert.equal(rd(uart, IIR), 0x01);
  wr(uart, IER, 0x01);
  for (const [fcr, level] of [
    [0x01, 1],
    [0x41, 4],
    [0x81, 8],
    [0xc1, 14],
  ]) {
    wr(uart, FCR, fcr | 0x02);
    uart.receive(new Uint8Array(level - 1).fill(0x61));
    assert.equal(rd(uart, IIR), level === 1 ? 0xc1 : 0xcc, `below trigger ${level}: character timeout`);
    uart.receive(new Uint8Array([0x62]));
    assert.equal(rd(uart, IIR), 0xc4, `at trigger ${level}: data available`);
    assert.equal(drain(uart).length, level);
  }
});

test("Linux's THRE tests at startup see THRE asserted, acknowledged by IIR, and re-asserted", () => {
  const { uart, irq } = setup();
  linuxInit(uart);
  wr(uart, IER, 0x02);
  assert.equal(irq.level, true);
  assert.equal(rd(uart, IIR), 0xc2);
  assert.equal(irq.level, false, 'reading IIR acknowledged THRE');
  assert.equal(rd(uart, IIR), 0xc1);
  wr(uart, IER, 0);
  wr(uart, IER, 0x02);
  assert.equal(rd(uart, LSR) & 0x60, 0x60);
  assert.equal(rd(uart, IIR), 0xc2, 're-asserted (else Linux flags UART_BUG_THRE)');
  wr(uart, IER, 0);
  assert.equal(irq.level, false);
});

test('transmit: bytes reach the backend in order, THRE stays set and re-arms the interrupt', () => {
  const { uart, irq, sink } = setup();
  linuxInit(uart);
  wr(uart, IER, 0x02);
  const message = 'Linux version 6.1\nprompt# ';
  let sent = 0;
  // The 8250 transmit path: on each THRE interrupt, write up to 16 bytes, until done; then stop TX.
  while (sent < message.length) {
    assert.equal(irq.level, true);
    assert.equal(rd(uart, IIR) & 0x0f, 0x02);
    assert.equal(irq.level, false);
    for (let n = 0; n < 16 && sent < message.length; n++) {
      assert.ok(rd(uart, LSR) & 0x20);
      wr(uart, THR, message.charCodeAt(sent++));
    }
  }
  assert.equal(sink.text(), 'Linux version 6.1\n', 'flushed at the newline');
  // The driver's stop_tx clears ETBEI, which also hands over the prompt that has no newline.
  wr(uart, IER, 0);
  assert.equal(sink.text(), message);
  assert.equal(rd(uart, LSR), 0x60);
});

test('transmit: large output is not lost and the backend keeps its own copies', () => {
  const { uart, sink } = setup();
  const total = 10_000;
  for (let i = 0; i < total; i++) wr(uart, THR, 0x30 + (i % 10));
  uart.flush();
  const all = Buffer.concat(sink.chunks);
  assert.equal(all.length, total);
  for (let i = 0; i < total; i++) assert.equal(all[i], 0x30 + (i % 10));
  const first = Buffer.from(sink.chunks[0]);
  for (let i = 0; i < 5000; i++) wr(uart, THR, 0x41);
  assert.deepEqual(Buffer.from(sink.chunks[0]), first, 'earlier chunks are not overwritten');
  uart.flush();
  uart.flush();
  assert.equal(Buffer.concat(sink.chunks).length, total + 5000, 'empty flush sends nothing');
});

test('receive: more than 16 bytes arrive in order without loss and without overrun', () => {
  const { uart, irq } = setup();
  linuxInit(uart);
  wr(uart, IER, 0x05); // ERBFI | ELSI
  const input = new Uint8Array(300);
  for (let i = 0; i < input.length; i++) input[i] = (i * 7) & 0xff;
  uart.receive(input.subarray(0, 100));
  uart.receive(input.subarray(100));
  assert.equal(uart.queuedInput, 300 - 16);
  assert.equal(irq.level, true);
  assert.equal(rd(uart, IIR), 0xc4);
  const got: number[] = [];
  // Linux's serial8250_rx_chars: read while LSR.DR, 256 characters at most per interrupt.
  while (irq.level) {
    const id = rd(uart, IIR) & 0x0f;
    assert.ok(id === 0x04 || id === 0x0c, `RX interrupt, not ${id}`);
    for (let n = 0; n < 256; n++) {
      const lsr = rd(uart, LSR);
      assert.equal(lsr & 0x1e, 0, 'no overrun or error');
      if (!(lsr & 0x01)) break;
      got.push(rd(uart, RBR));
    }
  }
  assert.deepEqual(got, Array.from(input));
  assert.equal(uart.queuedInput, 0);
  assert.equal(rd(uart, LSR), 0x60);
  assert.equal(rd(uart, IIR), 0xc1);
});

test('receive with the FIFO off holds one byte in RBR and keeps the rest queued', () => {
  const { uart, irq } = setup();
  wr(uart, IER, 0x01);
  uart.receive(new TextEncoder().encode('abc'));
  assert.equal(uart.queuedInput, 2);
  assert.equal(rd(uart, IIR), 0x04, 'no FIFO bits, data available');
  assert.equal(irq.level, true);
  assert.deepEqual(drain(uart), [0x61, 0x62, 0x63]);
  assert.equal(irq.level, false);
  assert.equal(rd(uart, LSR) & 0x03, 0);
  assert.equal(rd(uart, RBR), 0x63, 'an empty receiver reads its last byte again');
});

test('FCR resets: RX reset empties the FIFO, toggling the FIFO empties it, host input then refills', () => {
  const { uart } = setup();
  wr(uart, FCR, 0x01);
  uart.receive(new TextEncoder().encode('0123456789abcdefXYZ'));
  assert.equal(rd(uart, RBR), 0x30);
  wr(uart, FCR, 0x03);
  // The 16 bytes in the FIFO ('1'..'X') are gone; the bytes still queued on the host side move in.
  assert.deepEqual(String.fromCharCode(...drain(uart)), 'YZ');
  uart.receive(new TextEncoder().encode('pq'));
  wr(uart, FCR, 0x05);
  assert.equal(rd(uart, LSR) & 0x01, 1, 'a TX reset leaves RX alone');
  wr(uart, FCR, 0x00);
  assert.equal(rd(uart, LSR) & 0x01, 0, 'disabling the FIFO cleared it');
});

test('IIR reports the highest-priority condition: line status, RX data, THRE, modem status', () => {
  const { uart, irq } = setup();
  wr(uart, FCR, 0x01); // trigger level 1
  // Overrun through loopback: 17 bytes into a 16-byte FIFO.
  wr(uart, MCR, 0x10);
  rd(uart, MSR);
  for (let i = 0; i < 17; i++) wr(uart, THR, 0x40 + i);
  wr(uart, MCR, 0x11); // raising DTR in loopback makes a DSR delta
  wr(uart, IER, 0x0f);
  assert.equal(irq.level, true);
  assert.equal(rd(uart, IIR), 0xc6, 'receiver line status first');
  assert.equal(rd(uart, LSR), 0x63, 'OE | DR | THRE | TEMT');
  assert.equal(rd(uart, LSR) & 0x02, 0, 'reading LSR cleared OE');
  assert.equal(rd(uart, IIR), 0xc4, 'then received data');
  const got = drain(uart);
  assert.equal(got.length, 16);
  assert.equal(got[15], 0x4f, 'the overrunning byte was the one lost');
  assert.equal(rd(uart, IIR), 0xc2, 'then THRE');
  assert.equal(rd(uart, IIR), 0xc0, 'then modem status');
  assert.equal(rd(uart, MSR) & 0x0f, 0x02, 'DDSR');
  assert.equal(rd(uart, IIR), 0xc1);
  assert.equal(irq.level, false);
});

test('interrupt enables gate each condition', () => {
  const { uart, irq } = setup();
  uart.receive(new Uint8Array([1]));
  assert.equal(irq.level, false, 'no ERBFI');
  wr(uart, IER, 0x01);
  assert.equal(irq.level, true);
  wr(uart, IER, 0x00);
  assert.equal(irq.level, false);
  assert.equal(rd(uart, IIR), 0x01);
});

test('loopback: transmitter feeds the receiver, modem outputs feed MSR, host input waits', () => {
  const { uart, sink } = setup();
  linuxInit(uart);
  uart.receive(new TextEncoder().encode('host'));
  assert.equal(rd(uart, RBR), 0x68, 'h');
  // Linux autoconfig's loopback check: MCR = LOOP | OUT2 | RTS must read back DCD | CTS.
  wr(uart, MCR, 0x1a);
  assert.equal(rd(uart, MSR) & 0xf0, 0x90);
  wr(uart, MCR, 0x15);
  assert.equal(rd(uart, MSR) & 0xf0, 0x60, 'DTR→DSR, OUT1→RI');
  // The bytes already received stay; new host input waits until loopback ends.
  uart.receive(new TextEncoder().encode('!'));
  wr(uart, THR, 0x4c);
  wr(uart, THR, 0x42);
  uart.flush();
  assert.equal(sink.chunks.length, 0, 'nothing reaches the host in loopback');
  assert.equal(String.fromCharCode(...drain(uart)), 'ostLB');
  wr(uart, MCR, 0x0b);
  assert.equal(rd(uart, MSR) & 0xf0, 0xb0);
  assert.equal(String.fromCharCode(...drain(uart)), '!');
  wr(uart, THR, 0x78);
  uart.flush();
  assert.equal(sink.text(), 'x');
});

test('modem status deltas in loopback raise the modem interrupt and clear on MSR read', () => {
  const { uart, irq } = setup();
  wr(uart, MCR, 0x10);
  rd(uart, MSR);
  wr(uart, IER, 0x08);
  assert.equal(irq.level, false);
  wr(uart, MCR, 0x14); // OUT1 → RI rises: no TERI on a rising edge
  assert.equal(irq.level, false);
  wr(uart, MCR, 0x10); // RI falls: TERI
  assert.equal(irq.level, true);
  assert.equal(rd(uart, IIR), 0x00);
  assert.equal(rd(uart, MSR), 0x04);
  assert.equal(irq.level, false);
  wr(uart, MCR, 0x1a); // RTS, OUT2 → DCTS, DDCD
  assert.equal(rd(uart, MSR), 0x90 | 0x01 | 0x08);
});

test('wired through the PLIC, the UART raises SEIP on the hart', () => {
  const hart = new Hart(createStateMemory(1 << 20), new SystemBus(0x8000_0000, 1 << 20));
  const plic = new Plic(0xc00_0000, [hart]);
  const sink = new Sink();
  const uart = new Uart16550(0x1000_0000, plic.line(10), sink);
  plic.write(4 * 10, 4, 1, 0);
  plic.write(0x2080, 4, 1 << 10, 0);
  linuxInit(uart);
  uart.receive(new TextEncoder().encode('ls\n'));
  assert.equal(hart.mipPins, 0, 'RX interrupt not enabled yet');
  wr(uart, IER, 0x01);
  assert.equal(hart.mipPins, MIP_SEIP);
  plic.read(0x201004, 4, out);
  assert.equal(out[0], 10);
  assert.equal(hart.mipPins, 0);
  assert.equal(String.fromCharCode(...drain(uart)), 'ls\n');
  plic.write(0x201004, 4, 10, 0);
  assert.equal(hart.mipPins, 0, 'line low at completion: no new interrupt');
  // Input arriving while the previous interrupt is claimed is delivered after completion.
  uart.receive(new Uint8Array([0x71]));
  assert.equal(hart.mipPins, MIP_SEIP);
  plic.read(0x201004, 4, out);
  uart.receive(new Uint8Array([0x72]));
  plic.write(0x201004, 4, 10, 0);
  assert.equal(hart.mipPins, MIP_SEIP, 'still data: re-triggered');
});

test('saveState and restoreState keep registers, FIFO, queued input and pending output', () => {
  const a = setup();
  linuxInit(a.uart);
  wr(a.uart, SCR, 0x77);
  wr(a.uart, IER, 0x01);
  a.uart.receive(new Uint8Array(40).map((_, i) => i));
  rd(a.uart, RBR);
  wr(a.uart, THR, 0x68);
  wr(a.uart, THR, 0x69);
  const state = JSON.parse(JSON.stringify(a.uart.saveState()));

  const b = setup();
  b.uart.restoreState(state);
  assert.equal(b.irq.level, true, 'restore drives the line');
  assert.equal(rd(b.uart, SCR), 0x77);
  assert.equal(rd(b.uart, IER), 0x01);
  assert.equal(rd(b.uart, IIR), 0xc4);
  assert.equal(rd(b.uart, MCR), 0x0b);
  const got = drain(b.uart);
  assert.deepEqual(
    got,
    Array.from({ length: 39 }, (_, i) => i + 1),
  );
  b.uart.flush();
  assert.equal(b.sink.text(), 'hi');
});

// --- Break condition, as Linux's 8250 driver consumes it (serial8250_rx_chars): a NUL in the FIFO
// whose entry carries BI, reported in LSR when that entry is at the top, then the SysRq key. ---------

const LSR_DR = 0x01;
const LSR_BI = 0x10;

function breakSetup(fifo = true): { uart: Uart16550; irq: Line } {
  const { uart, irq } = setup();
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
  const { uart } = breakSetup();
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
  const { uart, irq } = breakSetup();
  wr(uart, IER, 0x04); // ELSI only
  uart.receiveBreak();
  assert.equal(irq.level, true);
  assert.equal(rd(uart, IIR) & 0x0f, 0x06);
  assert.equal(rd(uart, LSR) & LSR_BI, LSR_BI);
  assert.equal(irq.level, false);
  assert.equal(rd(uart, RBR), 0);
});

test('without FIFOs (16450 mode) and behind a full FIFO the break waits its turn', () => {
  const { uart } = breakSetup(false);
  uart.receive(Buffer.from('x'));
  uart.receiveBreak();
  uart.receive(Buffer.from('o'));
  assert.deepEqual(receiveLoop(uart), [
    [LSR_DR, 0x78],
    [LSR_DR | LSR_BI, 0],
    [LSR_DR, 0x6f],
  ]);
  const full = breakSetup().uart;
  full.receive(Buffer.alloc(20, 0x41));
  full.receiveBreak();
  const seen = receiveLoop(full);
  assert.equal(seen.length, 21);
  assert.deepEqual(seen[20], [LSR_DR | LSR_BI, 0]);
  assert.ok(seen.slice(0, 20).every(([lsr]) => lsr === LSR_DR));
});

test('a pending break survives saveState/restoreState as plain data', () => {
  const { uart } = breakSetup();
  uart.receive(Buffer.alloc(18, 0x41));
  uart.receiveBreak();
  const state = uart.saveState();
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(state)));
  const copy = breakSetup().uart;
  copy.restoreState(JSON.parse(JSON.stringify(state)));
  const seen = receiveLoop(copy);
  assert.equal(seen.length, 19);
  assert.deepEqual(seen[18], [LSR_DR | LSR_BI, 0]);
});
