/**
 * Encoders of the base instruction formats (R, I, S, B, U, J): used to expand compressed instructions
 * and to build the interpreter's warm-up program.
 */
export function encI(opcode: number, rd: number, funct3: number, rs1: number, imm: number): number {
  return ((imm & 0xfff) << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode;
}
export function encS(opcode: number, funct3: number, rs1: number, rs2: number, imm: number): number {
  return (
    (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) | ((imm & 31) << 7) | opcode
  );
}
export function encR(
  opcode: number,
  rd: number,
  funct3: number,
  rs1: number,
  rs2: number,
  funct7: number,
): number {
  return (funct7 << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode;
}
export function encB(funct3: number, rs1: number, rs2: number, imm: number): number {
  return (
    (((imm >> 12) & 1) << 31) |
    (((imm >> 5) & 0x3f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (funct3 << 12) |
    (((imm >> 1) & 0xf) << 8) |
    (((imm >> 11) & 1) << 7) |
    0x63
  );
}
export function encJ(rd: number, imm: number): number {
  return (
    (((imm >> 20) & 1) << 31) |
    (((imm >> 1) & 0x3ff) << 21) |
    (((imm >> 11) & 1) << 20) |
    (((imm >> 12) & 0xff) << 12) |
    (rd << 7) |
    0x6f
  );
}

export function encU(opcode: number, rd: number, imm20: number): number {
  return ((imm20 & 0xfffff) << 12) | (rd << 7) | opcode;
}

/** R4 format (fused multiply-add): rs3 in bits 31..27, fmt in 26..25. */
export function encR4(
  opcode: number,
  rd: number,
  rm: number,
  rs1: number,
  rs2: number,
  rs3: number,
  fmt: number,
): number {
  return (rs3 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) | opcode;
}
