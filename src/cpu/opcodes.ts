/**
 * Internal operation ids of pre-decoded instructions. Dense small integers so that the interpreter's
 * switch compiles to a jump table. 0 means "not decoded yet" in the decode cache.
 */
export enum Op {
  UNDECODED = 0,
  ILLEGAL,
  LUI,
  AUIPC,
  JAL,
  JALR,
  BEQ,
  BNE,
  BLT,
  BGE,
  BLTU,
  BGEU,
  LB,
  LH,
  LW,
  LD,
  LBU,
  LHU,
  LWU,
  SB,
  SH,
  SW,
  SD,
  ADDI,
  SLTI,
  SLTIU,
  XORI,
  ORI,
  ANDI,
  SLLI,
  SRLI,
  SRAI,
  ADD,
  SUB,
  SLL,
  SLT,
  SLTU,
  XOR,
  SRL,
  SRA,
  OR,
  AND,
  ADDIW,
  SLLIW,
  SRLIW,
  SRAIW,
  ADDW,
  SUBW,
  SLLW,
  SRLW,
  SRAW,
  MUL,
  MULH,
  MULHSU,
  MULHU,
  DIV,
  DIVU,
  REM,
  REMU,
  MULW,
  DIVW,
  DIVUW,
  REMW,
  REMUW,
  LR_W,
  SC_W,
  AMO_W,
  LR_D,
  SC_D,
  AMO_D,
  FENCE,
  FENCE_I,
  ECALL,
  EBREAK,
  MRET,
  SRET,
  WFI,
  SFENCE_VMA,
  CSRRW,
  CSRRS,
  CSRRC,
  CSRRWI,
  CSRRSI,
  CSRRCI,
  FLW,
  FLD,
  FSW,
  FSD,
  FP,
  /** addi rd, x0, imm: the most common instruction of all gets its own case. */
  LI,
  /** addi rd, rs, 0. */
  MV,
  /** Sentinel past the end of a decoded page (see Hart): not an instruction. */
  PAGE_END,
}

/** AMO function codes (funct5 of the A extension), kept in the immediate field of AMO_W/AMO_D. */
export enum Amo {
  ADD = 0x00,
  SWAP = 0x01,
  XOR = 0x04,
  OR = 0x08,
  AND = 0x0c,
  MIN = 0x10,
  MAX = 0x14,
  MINU = 0x18,
  MAXU = 0x1c,
}

/**
 * Packed decoded instruction word:
 *   bits 0..7   Op
 *   bits 8..14  destination as int32 index into the register file (2*rd; x0 becomes the sink slot)
 *   bits 15..20 2*rs1 (or 2*uimm for csrr*i)
 *   bits 21..26 2*rs2
 *   bit  27     1 for a 16-bit (compressed) instruction
 * The immediate lives in a parallel Int32Array.
 */
export const PACK_RD_SHIFT = 8;
export const PACK_RS1_SHIFT = 15;
export const PACK_RS2_SHIFT = 21;
export const PACK_COMPRESSED = 1 << 27;
