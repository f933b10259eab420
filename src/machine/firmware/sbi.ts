/**
 * The built-in SBI firmware: what OpenSBI does for a supervisor-mode kernel, done by the host.
 *
 * It sees every trap bound for M-mode (Hart.machineTrapHandler). An `ecall` from S-mode is an SBI call
 * (extension id in a7, function in a6, arguments in a0..a5, error and value returned in a0/a1); it
 * is served here and the kernel resumes after the ecall, never having left S-mode. Implements the
 * SBI 2.0 extensions Linux uses: base, legacy console/timer/IPI/shutdown, TIME, IPI, RFENCE, HSM,
 * SRST and DBCN.
 */
import { CAUSE_SUPERVISOR_ECALL, MIP_SSIP, PRIV_S } from '../../cpu/constants.js';
import { CSR_MARCHID, CSR_MIMPID, CSR_MIP, CSR_MVENDORID, CSR_STIMECMP } from '../../cpu/csr-numbers.js';
import type { Hart } from '../../cpu/hart.js';

export const SBI_SPEC_VERSION = 2 << 24;
/** Implementation id reported by sbi_get_impl_id; not one of the ids the SBI spec assigns to others. */
export const SBI_IMPL_ID = 0x7479;
export const SBI_IMPL_VERSION = 1;

const EXT_BASE = 0x10;
const EXT_TIME = 0x54494d45;
const EXT_IPI = 0x735049;
const EXT_RFENCE = 0x52464e43;
const EXT_HSM = 0x48534d;
const EXT_SRST = 0x53525354;
const EXT_DBCN = 0x4442434e;
const LEGACY_SET_TIMER = 0x00;
const LEGACY_CONSOLE_PUTCHAR = 0x01;
const LEGACY_CONSOLE_GETCHAR = 0x02;
const LEGACY_CLEAR_IPI = 0x03;
const LEGACY_SEND_IPI = 0x04;
const LEGACY_REMOTE_FENCE_I = 0x05;
const LEGACY_REMOTE_SFENCE_VMA = 0x06;
const LEGACY_REMOTE_SFENCE_VMA_ASID = 0x07;
const LEGACY_SHUTDOWN = 0x08;

const SBI_SUCCESS = 0;

const SBI_ERR_FAILED = -1;
const SBI_ERR_NOT_SUPPORTED = -2;
const SBI_ERR_INVALID_PARAM = -3;
const SBI_ERR_INVALID_ADDRESS = -5;
const SBI_ERR_ALREADY_AVAILABLE = -6;

/** sbi_system_reset reason codes (SBI 2.0, 10.1): 0 none, 1 system failure; 0xF0000000.. vendor. */
const SRST_REASON_SYSTEM_FAILURE = 1;

const HSM_STARTED = 0;
const HSM_STOPPED = 1;

const A0 = 10;
const TWO32 = 4294967296;

/** What the firmware needs from the board. */
export interface SbiPlatform {
  readonly harts: readonly Hart[];
  /**
   * Console output: takes what it has room for, copying it (`bytes` is a view of guest RAM), and returns
   * how many bytes it took. Its room is bounded, so a guest's write costs the host a bounded buffer.
   */
  consoleWrite(bytes: Uint8Array): number;
  /** Takes up to `max` bytes of pending console input (possibly none). */
  consoleRead(max: number): Uint8Array;
  powerOff(): void;
  reboot(): void;
  /** A trap reached M-mode that no firmware handles: the guest is beyond saving. */
  fatal(message: string): void;
  /** The supervisor reported a system failure (SRST reason 1) on its way to a reset or power-off. */
  systemFailure?(detail: string): void;
  /** Starts a stopped hart in S-mode at `pc` with a0 = hartid, a1 = opaque. */
  startHart(hartId: number, pc: number, opaque: bigint): void;
  stopHart(hartId: number): void;
  hartRunning(hartId: number): boolean;
}

export class BuiltinSbi {
  private readonly platform: SbiPlatform;

  constructor(platform: SbiPlatform) {
    this.platform = platform;
    for (const hart of platform.harts) {
      hart.machineTrapHandler = (cause, interrupt, epcLo, epcHi) =>
        this.onTrap(hart, cause, interrupt, epcLo, epcHi);
    }
  }

  private onTrap(hart: Hart, cause: number, interrupt: boolean, epcLo: number, epcHi: number): boolean {
    if (!interrupt && cause === CAUSE_SUPERVISOR_ECALL && hart.priv === PRIV_S) {
      this.call(hart);
      hart.pc = epcHi * TWO32 + (epcLo >>> 0) + 4;
      return true;
    }
    const pc = BigInt.asUintN(64, (BigInt(epcHi) << 32n) | BigInt(epcLo >>> 0));
    this.platform.fatal(
      `hart ${hart.hartId}: ${interrupt ? 'interrupt' : 'exception'} ${cause} reached machine mode at pc 0x${pc.toString(16)}, ` +
        'which the built-in firmware does not handle',
    );
    hart.yieldRequested = true;
    return true;
  }

  private reg(hart: Hart, r: number): bigint {
    return (BigInt(hart.x[2 * r + 1]) << 32n) | BigInt(hart.x[2 * r] >>> 0);
  }

  private regLow(hart: Hart, r: number): number {
    return hart.x[2 * r];
  }

  private ret(hart: Hart, error: number, value: bigint | number = 0): void {
    hart.x[2 * A0] = error;
    hart.x[2 * A0 + 1] = error < 0 ? -1 : 0;
    const v = BigInt.asIntN(64, BigInt(value));
    hart.x[2 * (A0 + 1)] = Number(BigInt.asIntN(32, v));
    hart.x[2 * (A0 + 1) + 1] = Number(v >> 32n);
  }

  /** Legacy calls return their result in a0 only. */
  private retLegacy(hart: Hart, value: number): void {
    hart.x[2 * A0] = value;
    hart.x[2 * A0 + 1] = value < 0 ? -1 : 0;
  }

  private call(hart: Hart): void {
    const ext = this.regLow(hart, 17) >>> 0;
    const fn = this.regLow(hart, 16) >>> 0;
    switch (ext) {
      case LEGACY_SET_TIMER:
        this.setTimer(hart, this.reg(hart, A0));
        this.retLegacy(hart, 0);
        return;
      case LEGACY_CONSOLE_PUTCHAR: {
        // A full console loses the character; the legacy call has no way to ask the caller to retry.
        const taken = this.platform.consoleWrite(Uint8Array.of(this.regLow(hart, A0) & 0xff));
        this.retLegacy(hart, taken === 1 ? 0 : SBI_ERR_FAILED);
        return;
      }
      case LEGACY_CONSOLE_GETCHAR: {
        const b = this.platform.consoleRead(1);
        this.retLegacy(hart, b.length ? b[0] : -1);
        return;
      }
      case LEGACY_CLEAR_IPI:
        hart.csr[CSR_MIP * 2] &= ~MIP_SSIP;
        this.retLegacy(hart, 0);
        return;
      case LEGACY_SEND_IPI:
        // The legacy call passes a pointer to a hart mask; with no way to trust it, every hart but the
        // caller is signalled, which is what a broadcast caller wants and harmless otherwise.
        for (const h of this.platform.harts) if (h !== hart) this.raiseSoftware(h);
        this.retLegacy(hart, 0);
        return;
      case LEGACY_REMOTE_FENCE_I:
        this.retLegacy(hart, 0);
        return;
      case LEGACY_REMOTE_SFENCE_VMA:
      case LEGACY_REMOTE_SFENCE_VMA_ASID:
        for (const h of this.platform.harts) h.flushTlb();
        this.retLegacy(hart, 0);
        return;
      case LEGACY_SHUTDOWN:
        this.platform.powerOff();
        hart.yieldRequested = true;
        return;
      case EXT_BASE:
        this.base(hart, fn);
        return;
      case EXT_TIME:
        if (fn !== 0) return this.ret(hart, SBI_ERR_NOT_SUPPORTED);
        this.setTimer(hart, this.reg(hart, A0));
        return this.ret(hart, SBI_SUCCESS);
      case EXT_IPI:
        if (fn !== 0) return this.ret(hart, SBI_ERR_NOT_SUPPORTED);
        return this.ret(
          hart,
          this.forHarts(hart, (h) => this.raiseSoftware(h)),
        );
      case EXT_RFENCE:
        if (fn > 6) return this.ret(hart, SBI_ERR_NOT_SUPPORTED);
        // fence.i needs nothing: decoded instructions are invalidated by stores. The sfence variants
        // flush whole TLBs, which is always a correct (if coarse) answer.
        return this.ret(
          hart,
          this.forHarts(hart, (h) => {
            if (fn !== 0) h.flushTlb();
          }),
        );
      case EXT_HSM:
        this.hsm(hart, fn);
        return;
      case EXT_SRST:
        this.systemReset(hart, fn);
        return;
      case EXT_DBCN:
        this.debugConsole(hart, fn);
        return;
      default:
        this.ret(hart, SBI_ERR_NOT_SUPPORTED);
    }
  }

  private base(hart: Hart, fn: number): void {
    switch (fn) {
      case 0:
        return this.ret(hart, SBI_SUCCESS, SBI_SPEC_VERSION);
      case 1:
        return this.ret(hart, SBI_SUCCESS, SBI_IMPL_ID);
      case 2:
        return this.ret(hart, SBI_SUCCESS, SBI_IMPL_VERSION);
      case 3: {
        const probed = this.regLow(hart, A0) >>> 0;
        const known = [EXT_BASE, EXT_TIME, EXT_IPI, EXT_RFENCE, EXT_HSM, EXT_SRST, EXT_DBCN];
        const legacy = probed <= LEGACY_SHUTDOWN;
        return this.ret(hart, SBI_SUCCESS, known.includes(probed) || legacy ? 1 : 0);
      }
      case 4:
        return this.ret(hart, SBI_SUCCESS, this.csr64(hart, CSR_MVENDORID));
      case 5:
        return this.ret(hart, SBI_SUCCESS, this.csr64(hart, CSR_MARCHID));
      case 6:
        return this.ret(hart, SBI_SUCCESS, this.csr64(hart, CSR_MIMPID));
      default:
        return this.ret(hart, SBI_ERR_NOT_SUPPORTED);
    }
  }

  private csr64(hart: Hart, csr: number): bigint {
    return (BigInt(hart.csr[csr * 2 + 1]) << 32n) | BigInt(hart.csr[csr * 2] >>> 0);
  }

  /** With Sstc the supervisor timer is stimecmp itself; setting it also clears a pending STIP. */
  private setTimer(hart: Hart, when: bigint): void {
    hart.csr[CSR_STIMECMP * 2] = Number(BigInt.asIntN(32, when));
    hart.csr[CSR_STIMECMP * 2 + 1] = Number(BigInt.asIntN(32, when >> 32n));
    hart.yieldRequested = true;
  }

  private raiseSoftware(hart: Hart): void {
    hart.csr[CSR_MIP * 2] |= MIP_SSIP;
    hart.waiting = false;
    hart.yieldRequested = true;
  }

  /** Applies `action` to the harts named by (hart_mask in a0, hart_mask_base in a1). */
  private forHarts(hart: Hart, action: (h: Hart) => void): number {
    const mask = this.reg(hart, A0);
    const base = this.reg(hart, A0 + 1);
    const harts = this.platform.harts;
    if (base === -1n) {
      for (const h of harts) action(h);
      return SBI_SUCCESS;
    }
    for (let bit = 0n; bit < 64n; bit++) {
      if (((BigInt.asUintN(64, mask) >> bit) & 1n) === 0n) continue;
      const id = Number(base + bit);
      if (id < 0 || id >= harts.length) return SBI_ERR_INVALID_PARAM;
      action(harts[id]);
    }
    return SBI_SUCCESS;
  }

  private hsm(hart: Hart, fn: number): void {
    const harts = this.platform.harts;
    const target = Number(this.reg(hart, A0));
    switch (fn) {
      case 0: {
        if (!(target >= 0 && target < harts.length)) return this.ret(hart, SBI_ERR_INVALID_PARAM);
        if (this.platform.hartRunning(target)) return this.ret(hart, SBI_ERR_ALREADY_AVAILABLE);
        const pc = Number(BigInt.asUintN(64, this.reg(hart, A0 + 1)));
        this.platform.startHart(target, pc, this.reg(hart, A0 + 2));
        return this.ret(hart, SBI_SUCCESS);
      }
      case 1:
        this.platform.stopHart(hart.hartId);
        hart.yieldRequested = true;
        return this.ret(hart, SBI_SUCCESS);
      case 2:
        if (!(target >= 0 && target < harts.length)) return this.ret(hart, SBI_ERR_INVALID_PARAM);
        return this.ret(hart, SBI_SUCCESS, this.platform.hartRunning(target) ? HSM_STARTED : HSM_STOPPED);
      case 3:
        // Retentive suspend is a wfi as far as the guest can tell; resuming continues after the call.
        hart.waiting = true;
        hart.yieldRequested = true;
        return this.ret(hart, SBI_SUCCESS);
      default:
        return this.ret(hart, SBI_ERR_NOT_SUPPORTED);
    }
  }

  private systemReset(hart: Hart, fn: number): void {
    if (fn !== 0) return this.ret(hart, SBI_ERR_NOT_SUPPORTED);
    const type = this.regLow(hart, A0) >>> 0;
    const reason = this.regLow(hart, A0 + 1) >>> 0;
    // Reserved and vendor types and reasons: none is implemented here (SBI 2.0, 10.1).
    if (type > 2 || reason > SRST_REASON_SYSTEM_FAILURE) return this.ret(hart, SBI_ERR_INVALID_PARAM);
    if (reason === SRST_REASON_SYSTEM_FAILURE)
      this.platform.systemFailure?.('SBI system reset with reason "system failure"');
    if (type === 0) this.platform.powerOff();
    else this.platform.reboot();
    hart.yieldRequested = true;
    this.ret(hart, SBI_SUCCESS);
  }

  private debugConsole(hart: Hart, fn: number): void {
    if (fn === 2) {
      // write_byte blocks in the spec's words; a full console fails it instead of holding the host.
      const taken = this.platform.consoleWrite(Uint8Array.of(this.regLow(hart, A0) & 0xff));
      return this.ret(hart, taken === 1 ? SBI_SUCCESS : SBI_ERR_FAILED);
    }
    if (fn !== 0 && fn !== 1) return this.ret(hart, SBI_ERR_NOT_SUPPORTED);
    const length = Number(BigInt.asUintN(64, this.reg(hart, A0)));
    const address = Number(
      BigInt.asUintN(64, (this.reg(hart, A0 + 2) << 32n) | BigInt.asUintN(32, this.reg(hart, A0 + 1))),
    );
    const offset = address - hart.ramBase;
    if (!(offset >= 0 && offset + length <= hart.ramSize)) return this.ret(hart, SBI_ERR_INVALID_ADDRESS);
    if (fn === 0) {
      // Non-blocking (SBI 2.0, 12.1): the console takes what it has room for and the caller retries the
      // rest, so one call never copies more than the console's bounded buffer.
      const taken = this.platform.consoleWrite(hart.ram8.subarray(offset, offset + length));
      return this.ret(hart, SBI_SUCCESS, taken);
    }
    const input = this.platform.consoleRead(length);
    for (let i = 0; i < input.length; i++) hart.writeRam(offset + i, 1, input[i], 0);
    return this.ret(hart, SBI_SUCCESS, input.length);
  }
}
