/**
 * Decodes RV64GC instructions into the packed form the interpreter executes (see opcodes.ts).
 *
 * Compressed instructions are first expanded into their 32-bit equivalents, so that one decoder of
 * the base encodings serves both; the packed word remembers the original length.
 */

import { encB, encI, encJ, encR, encS } from './encoder.js';
import { FpOp } from './fp-ops.js';
import { Op, PACK_COMPRESSED, PACK_RD_SHIFT, PACK_RS1_SHIFT, PACK_RS2_SHIFT } from './opcodes.js';
import { X_SINK } from './state-layout.js';

/** Immediate of the instruction most recently decoded (avoids allocating a result object). */
export let decodedImm = 0;

function pack(op: Op, rd: number, rs1: number, rs2: number): number {
  return (
    op |
    ((rd === 0 ? X_SINK : rd) << (PACK_RD_SHIFT + 1)) |
    (rs1 << (PACK_RS1_SHIFT + 1)) |
    (rs2 << (PACK_RS2_SHIFT + 1))
  );
}

/** Like pack, but rd names an FP register (or is unused), so x0 is not redirected to the sink. */
function packRaw(op: Op, rd: number, rs1: number, rs2: number): number {
  return op | (rd << (PACK_RD_SHIFT + 1)) | (rs1 << (PACK_RS1_SHIFT + 1)) | (rs2 << (PACK_RS2_SHIFT + 1));
}

function illegal(bits: number): number {
  decodedImm = bits;
  return Op.ILLEGAL;
}

const LOAD_OPS = [Op.LB, Op.LH, Op.LW, Op.LD, Op.LBU, Op.LHU, Op.LWU, Op.ILLEGAL];
const STORE_OPS = [Op.SB, Op.SH, Op.SW, Op.SD, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL];
const BRANCH_OPS = [Op.BEQ, Op.BNE, Op.ILLEGAL, Op.ILLEGAL, Op.BLT, Op.BGE, Op.BLTU, Op.BGEU];
const OPIMM_OPS = [Op.ADDI, Op.SLLI, Op.SLTI, Op.SLTIU, Op.XORI, Op.SRLI, Op.ORI, Op.ANDI];
const OP_OPS = [Op.ADD, Op.SLL, Op.SLT, Op.SLTU, Op.XOR, Op.SRL, Op.OR, Op.AND];
const MULDIV_OPS = [Op.MUL, Op.MULH, Op.MULHSU, Op.MULHU, Op.DIV, Op.DIVU, Op.REM, Op.REMU];
const MULDIVW_OPS = [Op.MULW, Op.ILLEGAL, Op.ILLEGAL, Op.ILLEGAL, Op.DIVW, Op.DIVUW, Op.REMW, Op.REMUW];
const CSR_OPS = [Op.ILLEGAL, Op.CSRRW, Op.CSRRS, Op.CSRRC, Op.ILLEGAL, Op.CSRRWI, Op.CSRRSI, Op.CSRRCI];

/** Decodes a 32-bit instruction. Returns the packed word; the immediate is left in decodedImm. */
export function decode32(insn: number): number {
  const opcode = insn & 0x7f;
  const rd = (insn >>> 7) & 31;
  const funct3 = (insn >>> 12) & 7;
  const rs1 = (insn >>> 15) & 31;
  const rs2 = (insn >>> 20) & 31;
  const funct7 = insn >>> 25;
  const immI = insn >> 20;
  decodedImm = 0;
  switch (opcode) {
    case 0x37: // LUI
      decodedImm = insn & 0xfffff000;
      return pack(Op.LUI, rd, 0, 0);
    case 0x17: // AUIPC
      decodedImm = insn & 0xfffff000;
      return pack(Op.AUIPC, rd, 0, 0);
    case 0x6f: {
      // JAL
      decodedImm =
        ((insn >> 31) << 20) |
        (((insn >>> 12) & 0xff) << 12) |
        (((insn >>> 20) & 1) << 11) |
        (((insn >>> 21) & 0x3ff) << 1);
      return pack(Op.JAL, rd, 0, 0);
    }
    case 0x67:
      if (funct3 !== 0) return illegal(insn);
      decodedImm = immI;
      return pack(Op.JALR, rd, rs1, 0);
    case 0x63: {
      const op = BRANCH_OPS[funct3];
      if (op === Op.ILLEGAL) return illegal(insn);
      decodedImm =
        ((insn >> 31) << 12) |
        (((insn >>> 7) & 1) << 11) |
        (((insn >>> 25) & 0x3f) << 5) |
        (((insn >>> 8) & 0xf) << 1);
      return pack(op, 0, rs1, rs2);
    }
    case 0x03: {
      const op = LOAD_OPS[funct3];
      if (op === Op.ILLEGAL) return illegal(insn);
      decodedImm = immI;
      return pack(op, rd, rs1, 0);
    }
    case 0x23: {
      const op = STORE_OPS[funct3];
      if (op === Op.ILLEGAL) return illegal(insn);
      decodedImm = ((insn >> 25) << 5) | ((insn >>> 7) & 31);
      return pack(op, 0, rs1, rs2);
    }
    case 0x13: {
      const op = OPIMM_OPS[funct3];
      if (op === Op.SLLI) {
        if (insn >>> 26 !== 0) return illegal(insn);
        decodedImm = (insn >>> 20) & 63;
      } else if (op === Op.SRLI) {
        const top = insn >>> 26;
        if (top === 0x10) {
          decodedImm = (insn >>> 20) & 63;
          return pack(Op.SRAI, rd, rs1, 0);
        }
        if (top !== 0) return illegal(insn);
        decodedImm = (insn >>> 20) & 63;
      } else {
        decodedImm = immI;
        if (op === Op.ADDI) {
          if (rs1 === 0) return pack(Op.LI, rd, 0, 0);
          if (immI === 0) return pack(Op.MV, rd, rs1, 0);
        }
      }
      return pack(op, rd, rs1, 0);
    }
    case 0x1b: {
      // OP-IMM-32
      if (funct3 === 0) {
        decodedImm = immI;
        return pack(Op.ADDIW, rd, rs1, 0);
      }
      decodedImm = rs2;
      if (funct3 === 1 && funct7 === 0) return pack(Op.SLLIW, rd, rs1, 0);
      if (funct3 === 5 && funct7 === 0) return pack(Op.SRLIW, rd, rs1, 0);
      if (funct3 === 5 && funct7 === 0x20) return pack(Op.SRAIW, rd, rs1, 0);
      return illegal(insn);
    }
    case 0x33: {
      if (funct7 === 0) return pack(OP_OPS[funct3], rd, rs1, rs2);
      if (funct7 === 1) return pack(MULDIV_OPS[funct3], rd, rs1, rs2);
      if (funct7 === 0x20) {
        if (funct3 === 0) return pack(Op.SUB, rd, rs1, rs2);
        if (funct3 === 5) return pack(Op.SRA, rd, rs1, rs2);
      }
      return illegal(insn);
    }
    case 0x3b: {
      if (funct7 === 0) {
        if (funct3 === 0) return pack(Op.ADDW, rd, rs1, rs2);
        if (funct3 === 1) return pack(Op.SLLW, rd, rs1, rs2);
        if (funct3 === 5) return pack(Op.SRLW, rd, rs1, rs2);
      } else if (funct7 === 0x20) {
        if (funct3 === 0) return pack(Op.SUBW, rd, rs1, rs2);
        if (funct3 === 5) return pack(Op.SRAW, rd, rs1, rs2);
      } else if (funct7 === 1) {
        const op = MULDIVW_OPS[funct3];
        if (op !== Op.ILLEGAL) return pack(op, rd, rs1, rs2);
      }
      return illegal(insn);
    }
    case 0x2f:
      return decodeAtomic(insn, rd, funct3, rs1, rs2);
    case 0x0f:
      if (funct3 === 0) return pack(Op.FENCE, 0, 0, 0);
      if (funct3 === 1) return pack(Op.FENCE_I, 0, 0, 0);
      return illegal(insn);
    case 0x73:
      return decodeSystem(insn, rd, funct3, rs1, rs2, funct7);
    case 0x07:
      decodedImm = immI;
      if (funct3 === 2) return packRaw(Op.FLW, rd, rs1, 0);
      if (funct3 === 3) return packRaw(Op.FLD, rd, rs1, 0);
      return illegal(insn);
    case 0x27:
      decodedImm = ((insn >> 25) << 5) | ((insn >>> 7) & 31);
      if (funct3 === 2) return packRaw(Op.FSW, 0, rs1, rs2);
      if (funct3 === 3) return packRaw(Op.FSD, 0, rs1, rs2);
      return illegal(insn);
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f:
      return decodeFusedMultiplyAdd(insn, opcode, rd, funct3, rs1, rs2);
    case 0x53:
      return decodeFloat(insn, rd, funct3, rs1, rs2, funct7);
    default:
      return illegal(insn);
  }
}

function decodeAtomic(insn: number, rd: number, funct3: number, rs1: number, rs2: number): number {
  const funct5 = insn >>> 27;
  let lr: Op;
  let sc: Op;
  let amo: Op;
  if (funct3 === 2) {
    lr = Op.LR_W;
    sc = Op.SC_W;
    amo = Op.AMO_W;
  } else if (funct3 === 3) {
    lr = Op.LR_D;
    sc = Op.SC_D;
    amo = Op.AMO_D;
  } else {
    return illegal(insn);
  }
  if (funct5 === 0x02) {
    if (rs2 !== 0) return illegal(insn);
    return pack(lr, rd, rs1, 0);
  }
  if (funct5 === 0x03) return pack(sc, rd, rs1, rs2);
  switch (funct5) {
    case 0x00:
    case 0x01:
    case 0x04:
    case 0x08:
    case 0x0c:
    case 0x10:
    case 0x14:
    case 0x18:
    case 0x1c:
      decodedImm = funct5;
      return pack(amo, rd, rs1, rs2);
    default:
      return illegal(insn);
  }
}

function decodeSystem(
  insn: number,
  rd: number,
  funct3: number,
  rs1: number,
  rs2: number,
  funct7: number,
): number {
  if (funct3 === 0) {
    if (funct7 === 0x09) {
      if (rd !== 0) return illegal(insn);
      return packRaw(Op.SFENCE_VMA, 0, rs1, rs2);
    }
    if (rd !== 0 || rs1 !== 0) return illegal(insn);
    switch (insn >>> 20) {
      case 0x000:
        return pack(Op.ECALL, 0, 0, 0);
      case 0x001:
        return pack(Op.EBREAK, 0, 0, 0);
      case 0x102:
        return pack(Op.SRET, 0, 0, 0);
      case 0x302:
        return pack(Op.MRET, 0, 0, 0);
      case 0x105:
        return pack(Op.WFI, 0, 0, 0);
      default:
        return illegal(insn);
    }
  }
  const op = CSR_OPS[funct3];
  if (op === Op.ILLEGAL) return illegal(insn);
  // The CSR number goes in the immediate; bits 12.. keep the raw instruction's rs1/uimm and rd fields
  // so the CSR logic can tell "csrrs rd, csr, x0" (a pure read) from a write.
  decodedImm = (insn >>> 20) | (rs1 << 12) | (rd << 17);
  return pack(op, rd, rs1, 0);
}

function roundingModeIsValid(rm: number): boolean {
  return rm !== 5 && rm !== 6;
}

function fpOp(fpop: FpOp, rm: number, rs3: number, rd: number, rs1: number, rs2: number): number {
  decodedImm = fpop | (rm << 8) | (rs3 << 11);
  return packRaw(Op.FP, rd, rs1, rs2);
}

function decodeFusedMultiplyAdd(
  insn: number,
  opcode: number,
  rd: number,
  rm: number,
  rs1: number,
  rs2: number,
): number {
  const fmt = (insn >>> 25) & 3;
  const rs3 = insn >>> 27;
  if (fmt > 1 || !roundingModeIsValid(rm)) return illegal(insn);
  const double = fmt === 1;
  let op: FpOp;
  switch (opcode) {
    case 0x43:
      op = double ? FpOp.FMADD_D : FpOp.FMADD_S;
      break;
    case 0x47:
      op = double ? FpOp.FMSUB_D : FpOp.FMSUB_S;
      break;
    case 0x4b:
      op = double ? FpOp.FNMSUB_D : FpOp.FNMSUB_S;
      break;
    default:
      op = double ? FpOp.FNMADD_D : FpOp.FNMADD_S;
      break;
  }
  return fpOp(op, rm, rs3, rd, rs1, rs2);
}

function decodeFloat(insn: number, rd: number, rm: number, rs1: number, rs2: number, funct7: number): number {
  const fmt = funct7 & 3;
  if (fmt > 1) return illegal(insn);
  const d = fmt === 1;
  const rmOk = roundingModeIsValid(rm);
  switch (funct7 >>> 2) {
    case 0x00:
      return rmOk ? fpOp(d ? FpOp.FADD_D : FpOp.FADD_S, rm, 0, rd, rs1, rs2) : illegal(insn);
    case 0x01:
      return rmOk ? fpOp(d ? FpOp.FSUB_D : FpOp.FSUB_S, rm, 0, rd, rs1, rs2) : illegal(insn);
    case 0x02:
      return rmOk ? fpOp(d ? FpOp.FMUL_D : FpOp.FMUL_S, rm, 0, rd, rs1, rs2) : illegal(insn);
    case 0x03:
      return rmOk ? fpOp(d ? FpOp.FDIV_D : FpOp.FDIV_S, rm, 0, rd, rs1, rs2) : illegal(insn);
    case 0x0b:
      if (rs2 !== 0 || !rmOk) return illegal(insn);
      return fpOp(d ? FpOp.FSQRT_D : FpOp.FSQRT_S, rm, 0, rd, rs1, 0);
    case 0x04:
      if (rm === 0) return fpOp(d ? FpOp.FSGNJ_D : FpOp.FSGNJ_S, 0, 0, rd, rs1, rs2);
      if (rm === 1) return fpOp(d ? FpOp.FSGNJN_D : FpOp.FSGNJN_S, 0, 0, rd, rs1, rs2);
      if (rm === 2) return fpOp(d ? FpOp.FSGNJX_D : FpOp.FSGNJX_S, 0, 0, rd, rs1, rs2);
      return illegal(insn);
    case 0x05:
      if (rm === 0) return fpOp(d ? FpOp.FMIN_D : FpOp.FMIN_S, 0, 0, rd, rs1, rs2);
      if (rm === 1) return fpOp(d ? FpOp.FMAX_D : FpOp.FMAX_S, 0, 0, rd, rs1, rs2);
      return illegal(insn);
    case 0x08:
      if (!rmOk) return illegal(insn);
      if (!d && rs2 === 1) return fpOp(FpOp.FCVT_S_D, rm, 0, rd, rs1, 0);
      if (d && rs2 === 0) return fpOp(FpOp.FCVT_D_S, rm, 0, rd, rs1, 0);
      return illegal(insn);
    case 0x14:
      if (rm === 2) return fpOp(d ? FpOp.FEQ_D : FpOp.FEQ_S, 0, 0, rd, rs1, rs2);
      if (rm === 1) return fpOp(d ? FpOp.FLT_D : FpOp.FLT_S, 0, 0, rd, rs1, rs2);
      if (rm === 0) return fpOp(d ? FpOp.FLE_D : FpOp.FLE_S, 0, 0, rd, rs1, rs2);
      return illegal(insn);
    case 0x18: {
      if (!rmOk || rs2 > 3) return illegal(insn);
      const ops = d
        ? [FpOp.FCVT_W_D, FpOp.FCVT_WU_D, FpOp.FCVT_L_D, FpOp.FCVT_LU_D]
        : [FpOp.FCVT_W_S, FpOp.FCVT_WU_S, FpOp.FCVT_L_S, FpOp.FCVT_LU_S];
      return fpOp(ops[rs2], rm, 0, rd, rs1, 0);
    }
    case 0x1a: {
      if (!rmOk || rs2 > 3) return illegal(insn);
      const ops = d
        ? [FpOp.FCVT_D_W, FpOp.FCVT_D_WU, FpOp.FCVT_D_L, FpOp.FCVT_D_LU]
        : [FpOp.FCVT_S_W, FpOp.FCVT_S_WU, FpOp.FCVT_S_L, FpOp.FCVT_S_LU];
      return fpOp(ops[rs2], rm, 0, rd, rs1, 0);
    }
    case 0x1c:
      if (rs2 !== 0) return illegal(insn);
      if (rm === 0) return fpOp(d ? FpOp.FMV_X_D : FpOp.FMV_X_W, 0, 0, rd, rs1, 0);
      if (rm === 1) return fpOp(d ? FpOp.FCLASS_D : FpOp.FCLASS_S, 0, 0, rd, rs1, 0);
      return illegal(insn);
    case 0x1e:
      if (rs2 !== 0 || rm !== 0) return illegal(insn);
      return fpOp(d ? FpOp.FMV_D_X : FpOp.FMV_W_X, 0, 0, rd, rs1, 0);
    default:
      return illegal(insn);
  }
}

const bit = (h: number, n: number): number => (h >>> n) & 1;
const bits = (h: number, hi: number, lo: number): number => (h >>> lo) & ((1 << (hi - lo + 1)) - 1);
const signExtend = (value: number, width: number): number => (value << (32 - width)) >> (32 - width);

/**
 * Expands a 16-bit RVC instruction into the equivalent 32-bit instruction, or returns -1 for reserved
 * and illegal encodings (including the all-zero halfword).
 */
export function expandCompressed(h: number): number {
  const quadrant = h & 3;
  const funct3 = h >>> 13;
  const rdp = bits(h, 4, 2) + 8;
  const rs1p = bits(h, 9, 7) + 8;
  const rd = bits(h, 11, 7);
  const rs2 = bits(h, 6, 2);
  if (quadrant === 0) {
    switch (funct3) {
      case 0: {
        const imm = (bits(h, 12, 11) << 4) | (bits(h, 10, 7) << 6) | (bit(h, 6) << 2) | (bit(h, 5) << 3);
        if (imm === 0) return -1;
        return encI(0x13, rdp, 0, 2, imm);
      }
      case 1:
        return encI(0x07, rdp, 3, rs1p, (bits(h, 12, 10) << 3) | (bits(h, 6, 5) << 6));
      case 2:
        return encI(0x03, rdp, 2, rs1p, (bits(h, 12, 10) << 3) | (bit(h, 6) << 2) | (bit(h, 5) << 6));
      case 3:
        return encI(0x03, rdp, 3, rs1p, (bits(h, 12, 10) << 3) | (bits(h, 6, 5) << 6));
      case 5:
        return encS(0x27, 3, rs1p, rdp, (bits(h, 12, 10) << 3) | (bits(h, 6, 5) << 6));
      case 6:
        return encS(0x23, 2, rs1p, rdp, (bits(h, 12, 10) << 3) | (bit(h, 6) << 2) | (bit(h, 5) << 6));
      case 7:
        return encS(0x23, 3, rs1p, rdp, (bits(h, 12, 10) << 3) | (bits(h, 6, 5) << 6));
      default:
        return -1;
    }
  }
  if (quadrant === 1) {
    const imm6 = signExtend((bit(h, 12) << 5) | rs2, 6);
    switch (funct3) {
      case 0:
        return encI(0x13, rd, 0, rd, imm6);
      case 1:
        if (rd === 0) return -1;
        return encI(0x1b, rd, 0, rd, imm6);
      case 2:
        return encI(0x13, rd, 0, 0, imm6);
      case 3: {
        if (rd === 2) {
          const imm = signExtend(
            (bit(h, 12) << 9) | (bit(h, 6) << 4) | (bit(h, 5) << 6) | (bits(h, 4, 3) << 7) | (bit(h, 2) << 5),
            10,
          );
          if (imm === 0) return -1;
          return encI(0x13, 2, 0, 2, imm);
        }
        if (imm6 === 0) return -1;
        return ((imm6 << 12) & 0xfffff000) | (rd << 7) | 0x37;
      }
      case 4: {
        const funct2 = bits(h, 11, 10);
        const shamt = (bit(h, 12) << 5) | rs2;
        if (funct2 === 0) return encI(0x13, rs1p, 5, rs1p, shamt);
        if (funct2 === 1) return encI(0x13, rs1p, 5, rs1p, shamt | 0x400);
        if (funct2 === 2) return encI(0x13, rs1p, 7, rs1p, imm6);
        const sub = bits(h, 6, 5);
        if (bit(h, 12) === 0) {
          if (sub === 0) return encR(0x33, rs1p, 0, rs1p, rdp, 0x20);
          if (sub === 1) return encR(0x33, rs1p, 4, rs1p, rdp, 0);
          if (sub === 2) return encR(0x33, rs1p, 6, rs1p, rdp, 0);
          return encR(0x33, rs1p, 7, rs1p, rdp, 0);
        }
        if (sub === 0) return encR(0x3b, rs1p, 0, rs1p, rdp, 0x20);
        if (sub === 1) return encR(0x3b, rs1p, 0, rs1p, rdp, 0);
        return -1;
      }
      case 5: {
        const imm = signExtend(
          (bit(h, 12) << 11) |
            (bit(h, 11) << 4) |
            (bits(h, 10, 9) << 8) |
            (bit(h, 8) << 10) |
            (bit(h, 7) << 6) |
            (bit(h, 6) << 7) |
            (bits(h, 5, 3) << 1) |
            (bit(h, 2) << 5),
          12,
        );
        return encJ(0, imm);
      }
      default: {
        const imm = signExtend(
          (bit(h, 12) << 8) |
            (bits(h, 11, 10) << 3) |
            (bits(h, 6, 5) << 6) |
            (bits(h, 4, 3) << 1) |
            (bit(h, 2) << 5),
          9,
        );
        return encB(funct3 === 6 ? 0 : 1, rs1p, 0, imm);
      }
    }
  }
  if (quadrant === 2) {
    switch (funct3) {
      case 0:
        return encI(0x13, rd, 1, rd, (bit(h, 12) << 5) | rs2);
      case 1:
        return encI(0x07, rd, 3, 2, (bit(h, 12) << 5) | (bits(h, 6, 5) << 3) | (bits(h, 4, 2) << 6));
      case 2:
        if (rd === 0) return -1;
        return encI(0x03, rd, 2, 2, (bit(h, 12) << 5) | (bits(h, 6, 4) << 2) | (bits(h, 3, 2) << 6));
      case 3:
        if (rd === 0) return -1;
        return encI(0x03, rd, 3, 2, (bit(h, 12) << 5) | (bits(h, 6, 5) << 3) | (bits(h, 4, 2) << 6));
      case 4:
        if (bit(h, 12) === 0) {
          if (rs2 === 0) {
            if (rd === 0) return -1;
            return encI(0x67, 0, 0, rd, 0);
          }
          return encR(0x33, rd, 0, 0, rs2, 0);
        }
        if (rs2 === 0) {
          if (rd === 0) return 0x00100073;
          return encI(0x67, 1, 0, rd, 0);
        }
        return encR(0x33, rd, 0, rd, rs2, 0);
      case 5:
        return encS(0x27, 3, 2, rs2, (bits(h, 12, 10) << 3) | (bits(h, 9, 7) << 6));
      case 6:
        return encS(0x23, 2, 2, rs2, (bits(h, 12, 9) << 2) | (bits(h, 8, 7) << 6));
      default:
        return encS(0x23, 3, 2, rs2, (bits(h, 12, 10) << 3) | (bits(h, 9, 7) << 6));
    }
  }
  return -1;
}

/** Decodes a 16-bit instruction; illegal ones carry their 16 bits as the immediate (for mtval). */
export function decode16(h: number): number {
  const expanded = expandCompressed(h);
  if (expanded === -1) return illegal(h) | PACK_COMPRESSED;
  const packed = decode32(expanded);
  if ((packed & 0xff) === Op.ILLEGAL) decodedImm = h;
  return packed | PACK_COMPRESSED;
}
