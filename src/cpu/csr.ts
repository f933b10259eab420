/**
 * Control and status registers: which exist, who may access them, and their WARL behaviour.
 *
 * Values live in the hart's CSR array (two int32 words per CSR number); a few are computed on read
 * (counters, time, mip, sstatus views) and a few writes have side effects (TLB flushes, PMP).
 */
import {
  ALL_INTERRUPTS,
  MEDELEG_WRITABLE,
  MIP_SEIP,
  MIP_SSIP,
  MIP_STIP,
  MSTATUS_FS,
  MSTATUS_HI_SD,
  MSTATUS_HI_UXL_SXL,
  MSTATUS_MPP,
  MSTATUS_MPRV,
  MSTATUS_MXR,
  MSTATUS_SUM,
  MSTATUS_TVM,
  MSTATUS_WRITABLE_LO,
  PRIV_M,
  PRIV_S,
  PRIV_U,
  S_INTERRUPTS,
  SATP_MODE_BARE,
  SATP_MODE_SV39,
  SATP_MODE_SV48,
  SSTATUS_MASK_LO,
  SSTATUS_WRITABLE_LO,
} from './constants.js';
import * as C from './csr-numbers.js';
import type { Hart } from './hart.js';
import { numberToPair, result } from './int64.js';
import { Op } from './opcodes.js';
import { PMP_ENTRIES } from './pmp.js';

const TWO32 = 4294967296;

/** misa: MXL=2 (RV64) with I, M, A, F, D, C, S, U. */
const MISA_LO = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20);
const MISA_HI = 0x80000000 | 0;

let valueLo = 0;
let valueHi = 0;

export function resetCsrs(h: Hart): void {
  h.csr.fill(0);
  const csr = h.csr;
  csr[C.CSR_MISA * 2] = MISA_LO;
  csr[C.CSR_MISA * 2 + 1] = MISA_HI;
  csr[C.CSR_MHARTID * 2] = h.hartId;
  csr[C.CSR_MSTATUS * 2 + 1] = MSTATUS_HI_UXL_SXL;
  h.retired = 0;
  h.instretOffset = 0;
  h.cycleOffset = 0;
  for (let i = 0; i < PMP_ENTRIES; i++) {
    h.pmp.cfg[i] = 0;
    h.pmp.setAddr(i, 0, 0);
  }
}

function isCounter(num: number): boolean {
  return num >= C.CSR_CYCLE && num <= C.CSR_HPMCOUNTER31;
}

/** Counter access from S/U is gated by mcounteren (and scounteren for U). */
function counterAllowed(h: Hart, bit: number): boolean {
  if (h.priv === PRIV_M) return true;
  if (((h.csr[C.CSR_MCOUNTEREN * 2] >>> bit) & 1) === 0) return false;
  if (h.priv === PRIV_U && ((h.csr[C.CSR_SCOUNTEREN * 2] >>> bit) & 1) === 0) return false;
  return true;
}

function setValue(lo: number, hi: number): true {
  valueLo = lo;
  valueHi = hi;
  return true;
}

function setFromNumber(v: number): true {
  numberToPair(v);
  return setValue(result[0], result[1]);
}

function fpEnabled(h: Hart): boolean {
  return (h.csr[C.CSR_MSTATUS * 2] & MSTATUS_FS) !== 0;
}

function stimecmpAllowed(h: Hart): boolean {
  if (h.priv === PRIV_M) return true;
  // Sstc: S-mode reaches stimecmp only when M-mode enabled it and lets S read time.
  return h.csr[C.CSR_MENVCFG * 2 + 1] < 0 && ((h.csr[C.CSR_MCOUNTEREN * 2] >>> 1) & 1) === 1;
}

/** Reads a CSR into valueLo/valueHi. Returns false when the CSR does not exist or may not be read. */
function readCsr(h: Hart, num: number): boolean {
  const csr = h.csr;
  switch (num) {
    case C.CSR_FFLAGS:
      return fpEnabled(h) && setValue(h.fpu.fflags & 31, 0);
    case C.CSR_FRM:
      return fpEnabled(h) && setValue(csr[C.CSR_FRM * 2] & 7, 0);
    case C.CSR_FCSR:
      return fpEnabled(h) && setValue(((csr[C.CSR_FRM * 2] & 7) << 5) | (h.fpu.fflags & 31), 0);
    case C.CSR_CYCLE:
      return counterAllowed(h, 0) && setFromNumber(h.liveRetired + h.cycleOffset);
    case C.CSR_TIME:
      return counterAllowed(h, 1) && setFromNumber(h.readTime());
    case C.CSR_INSTRET:
      return counterAllowed(h, 2) && setFromNumber(h.liveRetired + h.instretOffset);
    case C.CSR_MCYCLE:
      return setFromNumber(h.liveRetired + h.cycleOffset);
    case C.CSR_MINSTRET:
      return setFromNumber(h.liveRetired + h.instretOffset);
    case C.CSR_SSTATUS: {
      const lo = csr[C.CSR_MSTATUS * 2] & SSTATUS_MASK_LO;
      const hi = (csr[C.CSR_MSTATUS * 2 + 1] & (MSTATUS_HI_SD | 3)) | 0;
      return setValue(lo, hi);
    }
    case C.CSR_SIE:
      return setValue(csr[C.CSR_MIE * 2] & csr[C.CSR_MIDELEG * 2], 0);
    case C.CSR_SIP:
      return setValue(h.readMip() & csr[C.CSR_MIDELEG * 2], 0);
    case C.CSR_MIP:
      return setValue(h.readMip(), 0);
    case C.CSR_SATP:
      if (h.priv === PRIV_S && (csr[C.CSR_MSTATUS * 2] & MSTATUS_TVM) !== 0) return false;
      return setValue(csr[num * 2], csr[num * 2 + 1]);
    case C.CSR_STIMECMP:
      return stimecmpAllowed(h) && setValue(csr[num * 2], csr[num * 2 + 1]);
    case C.CSR_STVEC:
    case C.CSR_SCOUNTEREN:
    case C.CSR_SENVCFG:
    case C.CSR_SSCRATCH:
    case C.CSR_SEPC:
    case C.CSR_SCAUSE:
    case C.CSR_STVAL:
    case C.CSR_MVENDORID:
    case C.CSR_MARCHID:
    case C.CSR_MIMPID:
    case C.CSR_MHARTID:
    case C.CSR_MCONFIGPTR:
    case C.CSR_MSTATUS:
    case C.CSR_MISA:
    case C.CSR_MEDELEG:
    case C.CSR_MIDELEG:
    case C.CSR_MIE:
    case C.CSR_MTVEC:
    case C.CSR_MCOUNTEREN:
    case C.CSR_MENVCFG:
    case C.CSR_MCOUNTINHIBIT:
    case C.CSR_MSCRATCH:
    case C.CSR_MEPC:
    case C.CSR_MCAUSE:
    case C.CSR_MTVAL:
    case C.CSR_TSELECT:
    case C.CSR_TDATA1:
    case C.CSR_TDATA2:
    case C.CSR_TDATA3:
      return setValue(csr[num * 2], csr[num * 2 + 1]);
    default:
      break;
  }
  if (num >= C.CSR_PMPCFG0 && num <= C.CSR_PMPCFG15) {
    if (num & 1) return false;
    const first = (num - C.CSR_PMPCFG0) * 4;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 8; i++) {
      const e = first + i;
      const cfg = e < PMP_ENTRIES ? h.pmp.cfg[e] : 0;
      if (i < 4) lo |= cfg << (8 * i);
      else hi |= cfg << (8 * (i - 4));
    }
    return setValue(lo, hi);
  }
  if (num >= C.CSR_PMPADDR0 && num <= C.CSR_PMPADDR63) {
    const e = num - C.CSR_PMPADDR0;
    if (e >= PMP_ENTRIES) return setValue(0, 0);
    return setValue(h.pmp.addrLo[e], h.pmp.addrHi[e]);
  }
  if (isCounter(num)) return counterAllowed(h, num - C.CSR_CYCLE) && setValue(0, 0);
  if (num >= C.CSR_MHPMCOUNTER3 && num <= C.CSR_MHPMCOUNTER31) return setValue(0, 0);
  if (num >= C.CSR_MHPMEVENT3 && num <= C.CSR_MHPMEVENT31) return setValue(0, 0);
  return false;
}

/** Writes a CSR. Returns false when the write is not allowed (the caller raises illegal instruction). */
function writeCsr(h: Hart, num: number, lo: number, hi: number): boolean {
  const csr = h.csr;
  switch (num) {
    case C.CSR_FFLAGS:
      if (!fpEnabled(h)) return false;
      h.fpu.fflags = lo & 31;
      markFpDirty(h);
      return true;
    case C.CSR_FRM:
      if (!fpEnabled(h)) return false;
      csr[C.CSR_FRM * 2] = lo & 7;
      markFpDirty(h);
      return true;
    case C.CSR_FCSR:
      if (!fpEnabled(h)) return false;
      h.fpu.fflags = lo & 31;
      csr[C.CSR_FRM * 2] = (lo >>> 5) & 7;
      markFpDirty(h);
      return true;
    case C.CSR_MCYCLE:
      // The written value is what the next instruction reads: this one's own retirement is not counted.
      h.cycleOffset = (hi >>> 0) * TWO32 + (lo >>> 0) - (h.liveRetired + 1);
      return true;
    case C.CSR_MINSTRET:
      h.instretOffset = (hi >>> 0) * TWO32 + (lo >>> 0) - (h.liveRetired + 1);
      return true;
    case C.CSR_MSTATUS:
      writeStatus(h, (csr[num * 2] & ~MSTATUS_WRITABLE_LO) | (lo & MSTATUS_WRITABLE_LO));
      return true;
    case C.CSR_SSTATUS:
      writeStatus(h, (csr[C.CSR_MSTATUS * 2] & ~SSTATUS_WRITABLE_LO) | (lo & SSTATUS_WRITABLE_LO));
      return true;
    case C.CSR_MISA:
    case C.CSR_MCOUNTINHIBIT:
      return true;
    case C.CSR_MEDELEG:
      csr[num * 2] = lo & MEDELEG_WRITABLE;
      return true;
    case C.CSR_MIDELEG:
      csr[num * 2] = lo & S_INTERRUPTS;
      h.checkInterruptsSoon();
      return true;
    case C.CSR_MIE:
      csr[num * 2] = lo & ALL_INTERRUPTS;
      h.checkInterruptsSoon();
      return true;
    case C.CSR_SIE: {
      const mask = csr[C.CSR_MIDELEG * 2];
      csr[C.CSR_MIE * 2] = (csr[C.CSR_MIE * 2] & ~mask) | (lo & mask);
      h.checkInterruptsSoon();
      return true;
    }
    case C.CSR_MIP: {
      // STIP is read-only while Sstc drives it from stimecmp.
      let writable = MIP_SSIP | MIP_STIP | MIP_SEIP;
      if (csr[C.CSR_MENVCFG * 2 + 1] < 0) writable &= ~MIP_STIP;
      csr[num * 2] = (csr[num * 2] & ~writable) | (lo & writable);
      h.checkInterruptsSoon();
      return true;
    }
    case C.CSR_SIP: {
      const mask = csr[C.CSR_MIDELEG * 2] & MIP_SSIP;
      csr[C.CSR_MIP * 2] = (csr[C.CSR_MIP * 2] & ~mask) | (lo & mask);
      h.checkInterruptsSoon();
      return true;
    }
    case C.CSR_MTVEC:
    case C.CSR_STVEC:
      // Only direct (0) and vectored (1) modes exist; a write with another mode is ignored.
      if ((lo & 3) >= 2) return true;
      csr[num * 2] = lo;
      csr[num * 2 + 1] = hi;
      return true;
    case C.CSR_MEPC:
    case C.CSR_SEPC:
      csr[num * 2] = lo & ~1;
      csr[num * 2 + 1] = hi;
      return true;
    case C.CSR_MCOUNTEREN:
    case C.CSR_SCOUNTEREN:
      csr[num * 2] = lo;
      return true;
    case C.CSR_MENVCFG:
      // FIOM and STCE (Sstc) are implemented; the rest reads as zero.
      csr[num * 2] = lo & 1;
      csr[num * 2 + 1] = hi & (0x80000000 | 0);
      h.checkInterruptsSoon();
      return true;
    case C.CSR_SENVCFG:
      csr[num * 2] = lo & 1;
      return true;
    case C.CSR_MSCRATCH:
    case C.CSR_SSCRATCH:
    case C.CSR_MTVAL:
    case C.CSR_STVAL:
      csr[num * 2] = lo;
      csr[num * 2 + 1] = hi;
      return true;
    case C.CSR_MCAUSE:
    case C.CSR_SCAUSE:
      csr[num * 2] = lo;
      csr[num * 2 + 1] = hi & (0x80000000 | 0);
      return true;
    case C.CSR_STIMECMP:
      if (!stimecmpAllowed(h)) return false;
      csr[num * 2] = lo;
      csr[num * 2 + 1] = hi;
      h.checkInterruptsSoon();
      return true;
    case C.CSR_SATP: {
      if (h.priv === PRIV_S && (csr[C.CSR_MSTATUS * 2] & MSTATUS_TVM) !== 0) return false;
      const mode = hi >>> 28;
      // WARL: a mode we do not implement leaves satp unchanged (Linux probes Sv57, Sv48, Sv39 this way).
      if (mode !== SATP_MODE_BARE && mode !== SATP_MODE_SV39 && mode !== SATP_MODE_SV48) return true;
      csr[num * 2] = lo;
      csr[num * 2 + 1] = hi & (0xf0000000 | 0xffff000 | 0xfff);
      h.flushTlb();
      return true;
    }
    case C.CSR_TSELECT:
    case C.CSR_TDATA1:
    case C.CSR_TDATA2:
    case C.CSR_TDATA3:
      // No triggers: tselect stays 0 and tdata1 reads type 0 ("no trigger"), which debuggers and tests
      // recognise.
      return true;
    default:
      break;
  }
  if (num >= C.CSR_PMPCFG0 && num <= C.CSR_PMPCFG15) {
    if (num & 1) return false;
    const first = (num - C.CSR_PMPCFG0) * 4;
    for (let i = 0; i < 8; i++) {
      const e = first + i;
      if (e >= PMP_ENTRIES) break;
      h.pmp.setCfg(e, i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff);
    }
    h.flushTlb();
    return true;
  }
  if (num >= C.CSR_PMPADDR0 && num <= C.CSR_PMPADDR63) {
    const e = num - C.CSR_PMPADDR0;
    if (e < PMP_ENTRIES) h.pmp.setAddr(e, lo, hi);
    h.flushTlb();
    return true;
  }
  if (num >= C.CSR_MHPMCOUNTER3 && num <= C.CSR_MHPMCOUNTER31) return true;
  if (num >= C.CSR_MHPMEVENT3 && num <= C.CSR_MHPMEVENT31) return true;
  return false;
}

function markFpDirty(h: Hart): void {
  h.csr[C.CSR_MSTATUS * 2] |= MSTATUS_FS;
  h.csr[C.CSR_MSTATUS * 2 + 1] |= MSTATUS_HI_SD;
}

/** Writes mstatus (low word), keeping SD consistent and flushing TLBs when translation rules change. */
function writeStatus(h: Hart, lo: number): void {
  const csr = h.csr;
  const old = csr[C.CSR_MSTATUS * 2];
  // MPP holds only modes that exist (M, S, U); the reserved value 2 is turned into U.
  if ((lo & MSTATUS_MPP) >>> 11 === 2) lo &= ~MSTATUS_MPP;
  csr[C.CSR_MSTATUS * 2] = lo;
  const dirty = (lo & MSTATUS_FS) === MSTATUS_FS;
  csr[C.CSR_MSTATUS * 2 + 1] = MSTATUS_HI_UXL_SXL | (dirty ? MSTATUS_HI_SD : 0);
  // The TLBs hold only translations that succeeded, so a bit that widens access (SUM or MXR set) needs
  // no flush; one that narrows it does, for the sets it narrows. Linux sets and clears SUM around every
  // copy to or from user memory, so this keeps kernel translations (and all fetches) across copies.
  const cleared = old & ~lo;
  if ((cleared & MSTATUS_MXR) !== 0) h.flushDataTlbs(PRIV_U);
  else if ((cleared & MSTATUS_SUM) !== 0) h.flushDataTlbs(PRIV_S);
  // M-mode loads and stores take MPP's view while MPRV is set.
  else if (((old | lo) & MSTATUS_MPRV) !== 0 && ((old ^ lo) & (MSTATUS_MPRV | MSTATUS_MPP)) !== 0) {
    h.flushDataTlbs(PRIV_M);
  }
  h.checkInterruptsSoon();
}

/** Executes a csrrw/csrrs/csrrc (and immediate forms); raises illegal instruction when not allowed. */
export function csrAccess(h: Hart, op: number, imm: number, rd: number, rs1: number): void {
  const num = imm & 0xfff;
  const rs1Field = (imm >>> 12) & 31;
  const rdField = (imm >>> 17) & 31;
  const x = h.x;
  const immediateForm = op === Op.CSRRWI || op === Op.CSRRSI || op === Op.CSRRCI;
  const srcLo = immediateForm ? rs1Field : x[rs1];
  const srcHi = immediateForm ? 0 : x[rs1 + 1];
  const isWrite = op === Op.CSRRW || op === Op.CSRRWI || rs1Field !== 0;
  const bits = illegalBits(num, rs1Field, rdField, op);
  if (h.priv < ((num >>> 8) & 3)) h.raiseIllegal(bits);
  if (isWrite && num >>> 10 === 3) h.raiseIllegal(bits);
  const needsRead = !(op === Op.CSRRW || op === Op.CSRRWI) || rdField !== 0;
  if (!readCsr(h, num)) {
    // Write-only use of an existing CSR still needs it to exist: probe with a read that has no effect.
    h.raiseIllegal(bits);
  }
  const oldLo = valueLo;
  const oldHi = valueHi;
  if (isWrite) {
    let lo = srcLo;
    let hi = srcHi;
    if (op === Op.CSRRS || op === Op.CSRRSI) {
      lo = oldLo | srcLo;
      hi = oldHi | srcHi;
    } else if (op === Op.CSRRC || op === Op.CSRRCI) {
      lo = oldLo & ~srcLo;
      hi = oldHi & ~srcHi;
    }
    if (!writeCsr(h, num, lo, hi)) h.raiseIllegal(bits);
  }
  if (needsRead) {
    x[rd] = oldLo;
    x[rd + 1] = oldHi;
  }
}

/** Rebuilds the instruction word for mtval (the decode cache keeps only its fields). */
function illegalBits(num: number, rs1Field: number, rdField: number, op: number): number {
  const funct3 =
    op === Op.CSRRW
      ? 1
      : op === Op.CSRRS
        ? 2
        : op === Op.CSRRC
          ? 3
          : op === Op.CSRRWI
            ? 5
            : op === Op.CSRRSI
              ? 6
              : 7;
  return ((num << 20) | (rs1Field << 15) | (funct3 << 12) | (rdField << 7) | 0x73) >>> 0;
}
