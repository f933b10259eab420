# RV64I integer computation: register/immediate ALU ops, their W forms,
# shifts by every amount, lui/auipc, x0 handling and rd==rs aliasing.
#include "macros.h"

# rd = op(a, b) with both operands in registers.
.macro T_RR op, a, b, expect
  li a0, \a
  li a1, \b
  \op a2, a0, a1
  CHECK_EQ a2, \expect
.endm

# rd = op(a, imm).
.macro T_RI op, a, imm, expect
  li a0, \a
  \op a2, a0, \imm
  CHECK_EQ a2, \expect
.endm

TEST_BEGIN

  # ---- add / sub / addw / subw
  T_RR add, 1, 1, 2
  T_RR add, -1, 1, 0
  T_RR add, 0x7fffffffffffffff, 1, 0x8000000000000000
  T_RR add, 0x8000000000000000, -1, 0x7fffffffffffffff
  T_RR add, 0xffffffff, 1, 0x100000000
  T_RR sub, 0, 1, -1
  T_RR sub, 0x8000000000000000, 1, 0x7fffffffffffffff
  T_RR sub, 5, -3, 8
  T_RR sub, 0x100000000, 1, 0xffffffff
  T_RR addw, 0x7fffffff, 1, 0xffffffff80000000
  T_RR addw, 0xffffffff, 1, 0
  T_RR addw, 0x1234567800000001, 0x7654321000000001, 2
  T_RR addw, 0x80000000, 0x80000000, 0
  T_RR addw, 0x7ffffffe, 0, 0x7ffffffe
  T_RR subw, 0, 0x80000000, 0xffffffff80000000
  T_RR subw, 0x80000000, 1, 0x7fffffff
  T_RR subw, 0xabcdef0100000000, 1, -1
  T_RR subw, 3, 0x100000003, 0

  # ---- addi / addiw (12-bit signed immediates at both ends)
  T_RI addi, 0, 2047, 2047
  T_RI addi, 0, -2048, -2048
  T_RI addi, 0x7fffffffffffffff, 1, 0x8000000000000000
  T_RI addi, 1, -2, -1
  T_RI addiw, 0x7fffffff, 1, 0xffffffff80000000
  T_RI addiw, 0x80000000, 0, 0xffffffff80000000
  T_RI addiw, 0xffffffff7fffffff, 0, 0x7fffffff
  T_RI addiw, 0x123456789, -2048, 0x23456789 - 2048
  T_RI addiw, -1, 1, 0

  # ---- slt / sltu / slti / sltiu
  T_RR slt, -1, 1, 1
  T_RR slt, 1, -1, 0
  T_RR slt, 5, 5, 0
  T_RR slt, 0x8000000000000000, 0x7fffffffffffffff, 1
  T_RR sltu, -1, 1, 0
  T_RR sltu, 1, -1, 1
  T_RR sltu, 0x7fffffffffffffff, 0x8000000000000000, 1
  T_RR sltu, 0, 0, 0
  T_RI slti, -2049, -2048, 1
  T_RI slti, -2048, -2048, 0
  T_RI slti, 0x8000000000000000, 0, 1
  T_RI slti, 2046, 2047, 1
  # sltiu compares against the sign-extended immediate as unsigned.
  T_RI sltiu, 0, 1, 1
  T_RI sltiu, 1, 1, 0
  T_RI sltiu, 0xfffffffffffffffe, -1, 1
  T_RI sltiu, -1, -1, 0
  T_RI sltiu, 0x7fffffffffffffff, -2048, 1

  # ---- and / or / xor and immediates (sign-extended)
  T_RR and, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0x0f000f000f000f00
  T_RR or, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xfff0fff0fff0fff0
  T_RR xor, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xf0f0f0f0f0f0f0f0
  T_RI andi, 0x123456789abcdef0, -1, 0x123456789abcdef0
  T_RI andi, 0x123456789abcdef0, 0x7ff, 0x6f0
  T_RI andi, 0x123456789abcdef0, -2048, 0x123456789abcd800
  T_RI ori, 0x1000000000000000, -2048, 0xfffffffffffff800
  T_RI ori, 0x10, 0x7ff, 0x7ff
  T_RI xori, 0x123456789abcdef0, -1, 0xedcba9876543210f
  T_RI xori, 0xff, 0x0f0, 0x0f

  # ---- fixed-value shifts (anchor the exhaustive loops below)
  T_RI slli, 1, 63, 0x8000000000000000
  T_RI srli, 0x8000000000000000, 63, 1
  T_RI srai, 0x8000000000000000, 63, -1
  T_RI srai, 0x4000000000000000, 62, 1
  T_RI slliw, 1, 31, 0xffffffff80000000
  T_RI slliw, 0xffffffff00000001, 0, 1
  T_RI srliw, 0xffffffff80000000, 31, 1
  T_RI srliw, 0xffffffff80000000, 0, 0xffffffff80000000
  T_RI srliw, 0x00000000ffffffff, 1, 0x7fffffff
  T_RI sraiw, 0x0000000080000000, 31, -1
  T_RI sraiw, 0xffffffff7fffffff, 30, 1
  T_RI sraiw, 0x12345678f0000000, 4, 0xffffffffff000000
  # Register shift amounts use only the low 6 (or 5 for W) bits.
  T_RR sll, 1, 64 + 4, 16
  T_RR srl, 256, -1, 0
  T_RR sra, 0x8000000000000000, 0x7c0 | 60, -8
  T_RR sllw, 1, 32 + 3, 8
  T_RR srlw, 0x80000000, 0xffffffe0 | 31, 1
  T_RR sraw, 0x80000000, 32 + 31, -1

  # ---- every shift amount: register form vs. repeated shift-by-one
  li s0, 0x8badf00ddeadbeef
  li s1, 0              # amount
  mv s2, s0             # expected sll
  mv s3, s0             # expected srl
  mv s4, s0             # expected sra
1:
  sll a0, s0, s1
  CHECK_EQR a0, s2
  srl a0, s0, s1
  CHECK_EQR a0, s3
  sra a0, s0, s1
  CHECK_EQR a0, s4
  slli s2, s2, 1
  srli s3, s3, 1
  srai s4, s4, 1
  addi s1, s1, 1
  li t0, 64
  blt s1, t0, 1b

  # W forms: results are the 32-bit value, sign-extended.
  li s0, 0x1234567887654321
  li s1, 0
  li s2, 0xffffffff87654321   # expected sllw (as a sign-extended 32-bit value)
  li s3, 0x87654321           # expected srlw, zero-extended 32 bits
  li s4, 0xffffffff87654321   # expected sraw
1:
  sllw a0, s0, s1
  CHECK_EQR a0, s2
  srlw a0, s0, s1
  sext.w t1, s3
  CHECK_EQR a0, t1
  sraw a0, s0, s1
  CHECK_EQR a0, s4
  slliw s2, s2, 1
  srli s3, s3, 1
  sraiw s4, s4, 1
  addi s1, s1, 1
  li t0, 32
  blt s1, t0, 1b

  # ---- every immediate shift amount agrees with the register form
  li s0, 0xc3a5968778695a3c
  .set sh, 0
  .rept 64
    li s1, sh
    slli a0, s0, sh
    sll a1, s0, s1
    CHECK_EQR a0, a1
    srli a0, s0, sh
    srl a1, s0, s1
    CHECK_EQR a0, a1
    srai a0, s0, sh
    sra a1, s0, s1
    CHECK_EQR a0, a1
    .set sh, sh + 1
  .endr
  .set sh, 0
  .rept 32
    li s1, sh
    slliw a0, s0, sh
    sllw a1, s0, s1
    CHECK_EQR a0, a1
    srliw a0, s0, sh
    srlw a1, s0, s1
    CHECK_EQR a0, a1
    sraiw a0, s0, sh
    sraw a1, s0, s1
    CHECK_EQR a0, a1
    .set sh, sh + 1
  .endr

  # ---- lui / auipc
  lui a0, 0x80000
  CHECK_EQ a0, 0xffffffff80000000
  lui a0, 0x7ffff
  CHECK_EQ a0, 0x7ffff000
  lui a0, 0xfffff
  CHECK_EQ a0, -4096
  lui a0, 0
  CHECK_EQ a0, 0

  .option push
  .option norvc
lbl_auipc0:
  auipc a0, 0
  CHECK_ADDR a0, lbl_auipc0
lbl_auipc1:
  auipc a0, 0x12345
  la a1, lbl_auipc1
  sub a0, a0, a1
  CHECK_EQ a0, 0x12345000
lbl_auipc2:
  auipc a0, 0x80000       # immediate is sign-extended: pc - 2 GiB
  la a1, lbl_auipc2
  sub a0, a0, a1
  CHECK_EQ a0, 0xffffffff80000000
  .option pop

  # ---- x0 as destination is discarded, as source reads zero
  li a0, 77
  add x0, a0, a0
  addi x0, x0, 5
  lui x0, 0x12345
  mv a1, x0
  CHECK_EQ a1, 0
  add a1, x0, a0
  CHECK_EQ a1, 77

  # ---- aliasing: rd == rs1 == rs2
  li a0, 21
  add a0, a0, a0
  CHECK_EQ a0, 42
  sub a0, a0, a0
  CHECK_EQ a0, 0
  li a0, 3
  sll a0, a0, a0
  CHECK_EQ a0, 24
  li a0, -5
  slt a0, a0, a0
  CHECK_EQ a0, 0

TEST_END
