/**
 * Goldfish RTC as on QEMU virt (hw/rtc/goldfish_rtc.c, Linux drivers/rtc/rtc-goldfish.c): a 64-bit
 * nanosecond wall clock read as TIME_LOW then TIME_HIGH, an alarm armed by writing ALARM_LOW, and one
 * level interrupt (alarm fired and IRQ_ENABLED) cleared by CLEAR_INTERRUPT.
 *
 * The device has no timer of its own: the board calls `poll()` when `nextAlarmNs()` comes due.
 */
import type { InterruptLine } from '../irq.js';
import type { MmioDevice } from './device.js';

const TIME_LOW = 0x00;
const TIME_HIGH = 0x04;
const ALARM_LOW = 0x08;
const ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10;
const CLEAR_ALARM = 0x14;
const ALARM_STATUS = 0x18;
const CLEAR_INTERRUPT = 0x1c;
/** QEMU maps only this much of the 0x1000 slot; accesses past it fault there too. */
const REGISTER_SPAN = 0x24;
const LOW32 = 0xffffffffn;

export interface GoldfishRtcState {
  /** Decimal strings: bigints are not plain data. */
  offset: string;
  alarm: string;
  alarmRunning: boolean;
  irqPending: boolean;
  irqEnabled: boolean;
  timeHigh: number;
}

export class GoldfishRtc implements MmioDevice {
  readonly name = 'rtc';
  readonly base: number;
  readonly size = 0x1000;
  private readonly irq: InterruptLine;
  private readonly nowNs: () => bigint;
  /** RTC time minus nowNs(): changes when the guest sets the clock. */
  private offset = 0n;
  /** The alarm, in RTC time. */
  private alarm = 0n;
  private alarmRunning = false;
  private irqPending = false;
  private irqEnabled = false;
  /** TIME_HIGH as latched by the last TIME_LOW read, so that the two halves belong together. */
  private timeHigh = 0;

  /** `nowNs` is the host's notion of wall-clock time in ns since the epoch; the guest may shift it. */
  constructor(base: number, irq: InterruptLine, nowNs: () => bigint) {
    this.base = base;
    this.irq = irq;
    this.nowNs = nowNs;
  }

  private time(): bigint {
    return BigInt.asUintN(64, this.nowNs() + this.offset);
  }

  read(offset: number, size: number, out: Int32Array): boolean {
    if (size !== 4 || (offset & 3) !== 0 || offset >= REGISTER_SPAN) return false;
    switch (offset) {
      case TIME_LOW: {
        const t = this.time();
        this.timeHigh = Number(t >> 32n) | 0;
        out[0] = Number(t & LOW32) | 0;
        break;
      }
      case TIME_HIGH:
        out[0] = this.timeHigh;
        break;
      case ALARM_LOW:
        out[0] = Number(this.alarm & LOW32) | 0;
        break;
      case ALARM_HIGH:
        out[0] = Number(this.alarm >> 32n) | 0;
        break;
      case IRQ_ENABLED:
        out[0] = this.irqEnabled ? 1 : 0;
        break;
      case ALARM_STATUS:
        out[0] = this.alarmRunning ? 1 : 0;
        break;
      default:
        out[0] = 0;
    }
    return true;
  }

  write(offset: number, size: number, lo: number, _hi: number): boolean {
    if (size !== 4 || (offset & 3) !== 0 || offset >= REGISTER_SPAN) return false;
    const value = BigInt(lo >>> 0);
    switch (offset) {
      case TIME_LOW:
      case TIME_HIGH: {
        // Each half replaces that half of the current time; Linux writes HIGH then LOW.
        const now = this.time();
        const next = offset === TIME_LOW ? (now & ~LOW32) | value : (now & LOW32) | (value << 32n);
        this.offset = BigInt.asIntN(64, this.offset + next - now);
        break;
      }
      case ALARM_LOW:
        this.alarm = (this.alarm & ~LOW32) | value;
        this.arm();
        break;
      case ALARM_HIGH:
        this.alarm = (this.alarm & LOW32) | (value << 32n);
        break;
      case IRQ_ENABLED:
        this.irqEnabled = (lo & 1) !== 0;
        this.update();
        break;
      case CLEAR_ALARM:
        this.alarmRunning = false;
        break;
      case CLEAR_INTERRUPT:
        this.irqPending = false;
        this.update();
        break;
      default:
        break;
    }
    return true;
  }

  /** Fires the alarm if its time has come. */
  poll(): void {
    if (this.alarmRunning && this.time() >= this.alarm) this.fire();
  }

  /** When the armed alarm falls due, on the `nowNs()` time scale; null when none is armed. */
  nextAlarmNs(): bigint | null {
    return this.alarmRunning ? this.alarm - this.offset : null;
  }

  private arm(): void {
    // An alarm that is already due fires at once rather than never (QEMU does the same).
    if (this.alarm <= this.time()) this.fire();
    else this.alarmRunning = true;
  }

  private fire(): void {
    this.alarmRunning = false;
    this.irqPending = true;
    this.update();
  }

  private update(): void {
    this.irq.set(this.irqPending && this.irqEnabled);
  }

  saveState(): GoldfishRtcState {
    return {
      offset: this.offset.toString(),
      alarm: this.alarm.toString(),
      alarmRunning: this.alarmRunning,
      irqPending: this.irqPending,
      irqEnabled: this.irqEnabled,
      timeHigh: this.timeHigh,
    };
  }

  /**
   * The offset is restored as saved, so the guest's clock keeps its relation to the host's (as QEMU's
   * migration does) rather than resuming from the instant of the save.
   */
  restoreState(state: GoldfishRtcState): void {
    this.offset = BigInt(state.offset);
    this.alarm = BigInt.asUintN(64, BigInt(state.alarm));
    this.alarmRunning = state.alarmRunning;
    this.irqPending = state.irqPending;
    this.irqEnabled = state.irqEnabled;
    this.timeHigh = state.timeHigh | 0;
    this.update();
  }
}
