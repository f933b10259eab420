# Self-modifying code: after fence.i, instruction fetch sees earlier stores,
# whether the patched code is a separate routine that already ran (and may
# sit in a decoded-block cache), the instruction right after the fence in
# the same straight-line sequence, a compressed instruction, or a whole
# routine copied into a fresh buffer.
#include "macros.h"

# addi a0, zero, imm
#define LI_A0(imm) ((((imm) & 0xfff) << 20) | (10 << 7) | 0x13)
# c.li a0, imm (imm in -32..31)
#define C_LI_A0(imm) ((2 << 13) | ((((imm) >> 5) & 1) << 12) | (10 << 7) | (((imm) & 0x1f) << 2) | 1)

TEST_BEGIN
  .option push
  .option norvc

  # ---- a routine that already ran, patched in place, many times
  li s0, 1
1:
  la t0, patch_routine
  slli t2, s0, 20
  li t1, LI_A0(0)
  or t1, t1, t2
  sw t1, 0(t0)
  fence.i
  call patch_routine
  CHECK_EQR a0, s0
  addi s0, s0, 1
  li t0, 20
  blt s0, t0, 1b

  # ---- patching the very next instruction of the running sequence
  li s0, 100
2:
  la t0, 3f
  slli t2, s0, 20
  li t1, LI_A0(0)
  or t1, t1, t2
  sw t1, 0(t0)
  fence.i
3:
  addi a0, zero, 1              # replaced before it executes
  CHECK_EQR a0, s0
  addi s0, s0, 1
  li t0, 105
  blt s0, t0, 2b

  # ---- a compressed instruction, patched twice
  la t0, c_patch_site
  li t1, C_LI_A0(-7)
  sh t1, 0(t0)
  fence.i
  call c_patch_site
  CHECK_EQ a0, -7
  la t0, c_patch_site
  li t1, C_LI_A0(13)
  sh t1, 0(t0)
  fence.i
  call c_patch_site
  CHECK_EQ a0, 13

  # ---- a routine copied into a buffer, then replaced by another one
  la a1, routine_a
  la a2, routine_a_end
  la a3, code_buf
6:
  lw t0, 0(a1)
  sw t0, 0(a3)
  addi a1, a1, 4
  addi a3, a3, 4
  bltu a1, a2, 6b
  fence.i
  li a0, 3
  la t0, code_buf
  jalr t0
  CHECK_EQ a0, 3 * 7 + 1
  la a1, routine_b
  la a2, routine_b_end
  la a3, code_buf
6:
  lw t0, 0(a1)
  sw t0, 0(a3)
  addi a1, a1, 4
  addi a3, a3, 4
  bltu a1, a2, 6b
  fence.i
  li a0, 3
  la t0, code_buf
  jalr t0
  CHECK_EQ a0, 3 - 10

  .option pop
TEST_END

  .text
  .option push
  .option norvc
patch_routine:
  addi a0, zero, 0
  ret

  .option push
  .option rvc
c_patch_site:
  c.li a0, 5
  c.jr ra
  .option pop

  .balign 4
routine_a:
  li t0, 7
  mul a0, a0, t0
  addi a0, a0, 1
  ret
routine_a_end:
routine_b:
  addi a0, a0, -10
  ret
  nop
  nop
routine_b_end:
  .option pop

  .data
  .balign 64
code_buf:
  .skip 64
