/**
 * NS16550A UART as on QEMU virt (reg-shift 0, 8 registers at byte stride, the rest of the 0x100 window
 * unmapped). The register semantics follow QEMU's hw/char/serial.c and the 16550A datasheet where the
 * Linux 8250 driver, OpenSBI and U-Boot look:
 *
 * - Transmission is instant while the host keeps up: THR bytes go to a host-side buffer at once, so
 *   LSR.THRE and LSR.TEMT stay set and the THRE interrupt is re-armed by every THR write and every IER
 *   write (Linux's startup THRE test and its transmit loop depend on both). When the host stops taking
 *   output and that buffer fills, the transmitter reads as busy (THRE and TEMT clear, no THRE interrupt)
 *   until hostReady(): a guest that waits for THRE waits, and bytes written regardless are lost, as on a
 *   real line. So console output costs the host a bounded buffer whatever the guest does.
 * - Host input waits in a bounded host-side queue (INPUT_QUEUE_LIMIT) and moves into the RX FIFO as the
 *   guest reads RBR; input beyond the queue is refused (receive() says how much it took). Only loopback
 *   overruns the FIFO (LSR.OE).
 * - RX interrupts are level-derived from the FIFO: "data available" (IIR 0x04) at or above the trigger
 *   level, "character timeout" (0x0C) below it. Real hardware raises the timeout after four character
 *   times; raising it at once is what software sees from a host that types slower than that.
 * - A host break (receiveBreak) arrives as a real 16550 delivers one: a NUL character in the FIFO whose
 *   entry carries the break flag; LSR.BI shows (and raises the line-status interrupt) when that entry
 *   reaches the top of the FIFO, and clears when LSR is read. Linux's 8250 driver then treats the next
 *   character as a Magic SysRq command, which is how the VMM asks a guest to power off.
 */
import type { InterruptLine } from '../irq.js';
import type { MmioDevice } from './device.js';

export interface UartBackend {
  /**
   * Takes output for the host, copying what it keeps (the view is the UART's buffer); returns how many
   * of the bytes it took (the rest stays in the UART).
   */
  write(bytes: Uint8Array): number;
}

export interface UartState {
  ier: number;
  lcr: number;
  mcr: number;
  fcr: number;
  lsrErrors: number;
  msrDelta: number;
  scr: number;
  dll: number;
  dlm: number;
  rbr: number;
  thrPending: boolean;
  /** Received characters, oldest first; BREAK_ENTRY (0x100) marks a break condition's NUL. */
  rx: number[];
  /** Host input waiting for room in the FIFO, encoded as `rx`. */
  hostQueue: number[];
  txPending: number[];
}

const RBR_THR_DLL = 0;
const IER_DLM = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const IER_ERBFI = 0x01;
const IER_ETBEI = 0x02;
const IER_ELSI = 0x04;
const IER_EDSSI = 0x08;

const IIR_NO_INT = 0x01;
const IIR_MSI = 0x00;
const IIR_THRI = 0x02;
const IIR_RDI = 0x04;
const IIR_RLSI = 0x06;
const IIR_CTI = 0x0c;
const IIR_FIFO_ENABLED = 0xc0;

const FCR_FE = 0x01;
const FCR_RFR = 0x02;
const FCR_XFR = 0x04;
/** FCR bits that stick (enable, DMA mode, trigger level); the reset bits self-clear. */
const FCR_STICKY = 0xc9;

const LCR_DLAB = 0x80;

const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;
const MSR_TERI = 0x04;
/** Modem inputs outside loopback: QEMU's defaults for a console with no modem lines (DCD, DSR, CTS). */
const MSR_IDLE = MSR_DCD | MSR_DSR | MSR_CTS;

const FIFO_SIZE = 16;
/**
 * A FIFO entry's break flag, above the character's 8 bits: real 16550s keep the error bits (PE, FE, BI)
 * per FIFO entry and report them when the entry reaches the top. Only BI can happen here.
 */
export const BREAK_ENTRY = 0x100;
const TX_BUFFER = 4096;
/** Host input the UART holds beyond its FIFO: a paste's worth; a host that sends more is told to wait. */
export const INPUT_QUEUE_LIMIT = 64 * 1024;
const TRIGGER_LEVELS = [1, 4, 8, 14];

export class Uart16550 implements MmioDevice {
  readonly name = 'uart';
  readonly base: number;
  readonly size = 0x100;
  private readonly irq: InterruptLine;
  private readonly backend: UartBackend;

  private ier = 0;
  private lcr = 0;
  private mcr = MCR_OUT2;
  private fcr = 0;
  /** The LSR bits that are events (OE, BI); the rest of LSR is derived. */
  private lsrErrors = 0;
  /** MSR delta bits (low nibble). */
  private msrDelta = 0;
  private scr = 0;
  /** QEMU's reset divisor 0x0C: 9600 baud from its 1.8432 MHz reference. */
  private dll = 0x0c;
  private dlm = 0;
  /** Last byte read from RBR: reading an empty receiver gives it again, as the 16450 register does. */
  private rbr = 0;
  private thrPending = false;
  private irqLevel = false;

  private readonly rx = new Uint16Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;

  private hostQueue = new Uint16Array(256);
  private hostHead = 0;
  private hostCount = 0;

  private readonly tx = new Uint8Array(TX_BUFFER);
  private txCount = 0;
  /** Bytes the guest wrote to THR while the transmitter was busy (the host not taking output). */
  txDropped = 0;

  constructor(base: number, irq: InterruptLine, backend: UartBackend) {
    this.base = base;
    this.irq = irq;
    this.backend = backend;
  }

  read(offset: number, size: number, out: Int32Array): boolean {
    if (offset >= 8 || (offset & (size - 1)) !== 0) return false;
    out[0] = this.readRegister(offset);
    return true;
  }

  write(offset: number, size: number, lo: number, _hi: number): boolean {
    if (offset >= 8 || (offset & (size - 1)) !== 0) return false;
    this.writeRegister(offset, lo & 0xff);
    return true;
  }

  /**
   * Host keyboard input. Returns how many bytes were taken: what the FIFO cannot take yet waits here,
   * up to INPUT_QUEUE_LIMIT; the caller keeps (or drops) the rest.
   */
  receive(bytes: Uint8Array): number {
    const take = Math.min(bytes.length, INPUT_QUEUE_LIMIT - this.hostCount);
    if (take <= 0) return 0;
    const need = this.hostCount + take;
    if (need > this.hostQueue.length) {
      let capacity = this.hostQueue.length * 2;
      while (capacity < need) capacity *= 2;
      const grown = new Uint16Array(capacity);
      for (let i = 0; i < this.hostCount; i++)
        grown[i] = this.hostQueue[(this.hostHead + i) % this.hostQueue.length];
      this.hostQueue = grown;
      this.hostHead = 0;
    }
    const q = this.hostQueue;
    let tail = (this.hostHead + this.hostCount) % q.length;
    for (let i = 0; i < take; i++) {
      q[tail] = bytes[i];
      tail = tail + 1 === q.length ? 0 : tail + 1;
    }
    this.hostCount = need;
    this.refill();
    this.updateIrq();
    return take;
  }

  /**
   * A break condition on the receive line (the host's serial BREAK): one NUL character flagged as a
   * break, in order with the typed input around it.
   */
  receiveBreak(): void {
    if (this.receive(Uint8Array.of(0)) === 0) return;
    const q = this.hostQueue;
    // receive() may already have moved the NUL into the FIFO; flag it wherever it is now.
    if (this.hostCount > 0) q[(this.hostHead + this.hostCount - 1) % q.length] |= BREAK_ENTRY;
    else this.rx[(this.rxHead + this.rxCount - 1) & (FIFO_SIZE - 1)] |= BREAK_ENTRY;
    this.surfaceBreak();
    this.updateIrq();
  }

  /** Host input still waiting for room in the RX FIFO. */
  get queuedInput(): number {
    return this.hostCount;
  }

  /**
   * Hands buffered output to the backend. Output is also flushed at each newline, at each IER write and
   * when the buffer fills; the board should call this before it sleeps or shows output, for guests that
   * poll the UART without newlines or IER writes.
   */
  flush(): void {
    if (this.txCount === 0) return;
    // A view: the backend copies what it keeps, and the buffer is reused.
    const taken = this.backend.write(this.tx.subarray(0, this.txCount));
    if (taken >= this.txCount) this.txCount = 0;
    else if (taken > 0) {
      this.tx.copyWithin(0, taken, this.txCount);
      this.txCount -= taken;
    }
  }

  /** The transmitter can take a byte: the host-side buffer has room. */
  private get thrEmpty(): boolean {
    return this.txCount < TX_BUFFER;
  }

  /**
   * The host takes output again (the board drained its buffer): pending bytes move on and, if that made
   * room, THR reads empty again and its interrupt fires as after any transmission.
   */
  hostReady(): void {
    const wasFull = !this.thrEmpty;
    this.flush();
    if (wasFull && this.thrEmpty) {
      this.thrPending = true;
      this.updateIrq();
    }
  }

  private readRegister(reg: number): number {
    switch (reg) {
      case RBR_THR_DLL:
        return this.lcr & LCR_DLAB ? this.dll : this.readRbr();
      case IER_DLM:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case IIR_FCR: {
        const id = this.interruptId();
        // Reading IIR acknowledges a THRE interrupt, but only when it is the one reported.
        if (id === IIR_THRI) {
          this.thrPending = false;
          this.updateIrq();
        }
        return id | (this.fcr & FCR_FE ? IIR_FIFO_ENABLED : 0);
      }
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR: {
        const value =
          (this.thrEmpty ? LSR_THRE | LSR_TEMT : 0) | (this.rxCount > 0 ? LSR_DR : 0) | this.lsrErrors;
        if (this.lsrErrors !== 0) {
          this.lsrErrors = 0;
          this.updateIrq();
        }
        return value;
      }
      case MSR: {
        const value = this.modemInputs() | this.msrDelta;
        if (this.msrDelta !== 0) {
          this.msrDelta = 0;
          this.updateIrq();
        }
        return value;
      }
      default:
        return this.scr;
    }
  }

  private writeRegister(reg: number, value: number): void {
    switch (reg) {
      case RBR_THR_DLL:
        if (this.lcr & LCR_DLAB) this.dll = value;
        else this.transmit(value);
        return;
      case IER_DLM:
        if (this.lcr & LCR_DLAB) {
          this.dlm = value;
        } else {
          this.ier = value & 0x0f;
          // Linux ends every transmit burst with an IER write (stop_tx clears ETBEI; the console write
          // path restores IER), so output that lacks a newline, such as a shell prompt, shows up here
          // even when the board never calls flush().
          this.flush();
          // THR is empty here unless the host is backed up, so enabling (or re-enabling) ETBEI reports it
          // at once, as the 16550A does and as Linux's startup test of THRE re-assertion expects.
          this.thrPending = this.thrEmpty;
          this.updateIrq();
        }
        return;
      case IIR_FCR:
        this.writeFcr(value);
        return;
      case LCR:
        this.lcr = value;
        return;
      case MCR:
        this.writeMcr(value & 0x1f);
        return;
      case SCR:
        this.scr = value;
        return;
      default:
        // LSR and MSR are read-only (factory test registers on some parts; QEMU ignores them).
        return;
    }
  }

  private transmit(byte: number): void {
    if (this.mcr & MCR_LOOP) {
      this.pushRx(byte);
    } else if (!this.thrEmpty) {
      // Written while LSR said busy: lost, as on a real UART.
      this.txDropped++;
      return;
    } else {
      this.tx[this.txCount++] = byte;
      if (byte === 10 || this.txCount === TX_BUFFER) this.flush();
    }
    // The byte left THR at once unless the host is backed up: then THRE stays clear until hostReady().
    this.thrPending = this.thrEmpty;
    this.updateIrq();
  }

  private writeFcr(value: number): void {
    // Writes that change nothing are no-ops (QEMU compares with the stored value, reset bits included).
    if (value === this.fcr) return;
    // Switching the FIFOs on or off empties them.
    if ((value ^ this.fcr) & FCR_FE) value |= FCR_RFR | FCR_XFR;
    if (value & FCR_RFR) {
      this.rxHead = 0;
      this.rxCount = 0;
    }
    // FCR_XFR has nothing to clear: transmitted bytes never wait in the device.
    this.fcr = value & FCR_STICKY;
    this.refill();
    this.updateIrq();
  }

  private writeMcr(value: number): void {
    const before = this.modemInputs();
    const wasLoop = this.mcr & MCR_LOOP;
    this.mcr = value;
    this.noteModemChange(before, this.modemInputs());
    // Host input was held back during loopback (the receiver hears only the transmitter then).
    if (wasLoop && !(value & MCR_LOOP)) this.refill();
    this.updateIrq();
  }

  /** MSR's upper nibble: real inputs, or in loopback the MCR outputs wired back (RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD). */
  private modemInputs(): number {
    const mcr = this.mcr;
    if ((mcr & MCR_LOOP) === 0) return MSR_IDLE;
    return (
      (mcr & MCR_RTS ? MSR_CTS : 0) |
      (mcr & MCR_DTR ? MSR_DSR : 0) |
      (mcr & MCR_OUT1 ? MSR_RI : 0) |
      (mcr & MCR_OUT2 ? MSR_DCD : 0)
    );
  }

  private noteModemChange(before: number, after: number): void {
    const changed = (before ^ after) >> 4;
    // DCTS, DDSR, DDCD track any change; TERI only the trailing edge of RI.
    let delta = changed & 0x0b;
    if (before & MSR_RI && !(after & MSR_RI)) delta |= MSR_TERI;
    this.msrDelta |= delta;
  }

  private readRbr(): number {
    if (this.rxCount > 0) {
      this.rbr = this.rx[this.rxHead] & 0xff;
      this.rxHead = (this.rxHead + 1) & (FIFO_SIZE - 1);
      this.rxCount--;
      this.refill();
      this.surfaceBreak();
      this.updateIrq();
    }
    return this.rbr;
  }

  /**
   * A break entry at the top of the FIFO shows in LSR.BI. The flag moves from the entry into LSR, so it
   * is reported once: reading LSR clears it, as on the 16550A, while the NUL stays to be read from RBR.
   */
  private surfaceBreak(): void {
    if (this.rxCount === 0) return;
    const top = this.rx[this.rxHead];
    if ((top & BREAK_ENTRY) === 0) return;
    this.rx[this.rxHead] = top & 0xff;
    this.lsrErrors |= LSR_BI;
  }

  /** The receiver's capacity: the FIFO, or the single RBR in 16450 mode. */
  private rxCapacity(): number {
    return this.fcr & FCR_FE ? FIFO_SIZE : 1;
  }

  private pushRx(byte: number): void {
    if (this.rxCount >= this.rxCapacity()) {
      // Overrun keeps what is in the FIFO and loses the new byte.
      this.lsrErrors |= LSR_OE;
      return;
    }
    this.rx[(this.rxHead + this.rxCount) & (FIFO_SIZE - 1)] = byte;
    this.rxCount++;
  }

  private refill(): void {
    if (this.mcr & MCR_LOOP) return;
    const capacity = this.rxCapacity();
    const q = this.hostQueue;
    while (this.hostCount > 0 && this.rxCount < capacity) {
      this.rx[(this.rxHead + this.rxCount) & (FIFO_SIZE - 1)] = q[this.hostHead];
      this.rxCount++;
      this.hostHead = this.hostHead + 1 === q.length ? 0 : this.hostHead + 1;
      this.hostCount--;
    }
    this.surfaceBreak();
  }

  /** IIR bits 3..0: the highest-priority enabled condition (line status, RX, THRE, modem status). */
  private interruptId(): number {
    const ier = this.ier;
    if (ier & IER_ELSI && this.lsrErrors !== 0) return IIR_RLSI;
    if (ier & IER_ERBFI && this.rxCount > 0) {
      if (this.fcr & FCR_FE && this.rxCount < TRIGGER_LEVELS[this.fcr >> 6]) return IIR_CTI;
      return IIR_RDI;
    }
    if (ier & IER_ETBEI && this.thrPending) return IIR_THRI;
    if (ier & IER_EDSSI && this.msrDelta !== 0) return IIR_MSI;
    return IIR_NO_INT;
  }

  private updateIrq(): void {
    // QEMU virt wires the 16550's interrupt straight to the PLIC: MCR.OUT2 gates it only on PCs.
    const level = this.interruptId() !== IIR_NO_INT;
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.irq.set(level);
  }

  saveState(): UartState {
    const rx: number[] = [];
    for (let i = 0; i < this.rxCount; i++) rx.push(this.rx[(this.rxHead + i) & (FIFO_SIZE - 1)]);
    const hostQueue: number[] = [];
    for (let i = 0; i < this.hostCount; i++)
      hostQueue.push(this.hostQueue[(this.hostHead + i) % this.hostQueue.length]);
    return {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      fcr: this.fcr,
      lsrErrors: this.lsrErrors,
      msrDelta: this.msrDelta,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      rbr: this.rbr,
      thrPending: this.thrPending,
      rx,
      hostQueue,
      txPending: Array.from(this.tx.subarray(0, this.txCount)),
    };
  }

  restoreState(state: UartState): void {
    if (state.rx.length > FIFO_SIZE)
      throw new Error(`UART state: ${state.rx.length} bytes in a ${FIFO_SIZE}-byte FIFO`);
    if (state.txPending.length > TX_BUFFER) throw new Error('UART state: too much pending output');
    if (state.hostQueue.length > INPUT_QUEUE_LIMIT) throw new Error('UART state: too much pending input');
    this.ier = state.ier & 0x0f;
    this.lcr = state.lcr & 0xff;
    this.mcr = state.mcr & 0x1f;
    this.fcr = state.fcr & FCR_STICKY;
    this.lsrErrors = state.lsrErrors & (LSR_OE | LSR_BI);
    this.msrDelta = state.msrDelta & 0x0f;
    this.scr = state.scr & 0xff;
    this.dll = state.dll & 0xff;
    this.dlm = state.dlm & 0xff;
    this.rbr = state.rbr & 0xff;
    this.thrPending = state.thrPending;
    this.rx.set(state.rx.map((v) => v & (BREAK_ENTRY | 0xff)));
    this.rxHead = 0;
    this.rxCount = state.rx.length;
    this.hostQueue = new Uint16Array(Math.max(256, state.hostQueue.length));
    this.hostQueue.set(state.hostQueue.map((v) => v & (BREAK_ENTRY | 0xff)));
    this.hostHead = 0;
    this.hostCount = state.hostQueue.length;
    this.tx.set(state.txPending);
    this.txCount = state.txPending.length;
    // Drive the line whatever its last level was: the interrupt controller may have been restored too.
    this.irqLevel = this.interruptId() !== IIR_NO_INT;
    this.irq.set(this.irqLevel);
  }
}
