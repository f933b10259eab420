# RV64I control transfer: every branch taken and not taken on signed and
# unsigned edge values, backward branches, jal/jalr link values, jalr
# clearing bit 0 of the target, and jalr with rd == rs1.
#include "macros.h"

# Branch `op a, b`; a2 ends up 2 if taken, 1 if it fell through.
.macro T_BR op, a, b, taken
  li a0, \a
  li a1, \b
  li a2, 0
  \op a0, a1, .Ltk\@
  li a2, 1
  j .Ldone\@
.Ltk\@:
  li a2, 2
.Ldone\@:
  .if \taken
    CHECK_EQ a2, 2
  .else
    CHECK_EQ a2, 1
  .endif
.endm

TEST_BEGIN
  .option push
  .option norvc

  T_BR beq, 0, 0, 1
  T_BR beq, 1, 0, 0
  T_BR beq, -1, -1, 1
  T_BR beq, 0x100000000, 0, 0
  T_BR bne, 0, 0, 0
  T_BR bne, 0x8000000000000000, 0, 1
  T_BR bne, -1, -1, 0

  T_BR blt, -1, 1, 1
  T_BR blt, 1, -1, 0
  T_BR blt, 5, 5, 0
  T_BR blt, 0x8000000000000000, 0x7fffffffffffffff, 1
  T_BR blt, 0x7fffffffffffffff, 0x8000000000000000, 0
  T_BR bge, -1, 1, 0
  T_BR bge, 1, -1, 1
  T_BR bge, 5, 5, 1
  T_BR bge, 0x8000000000000000, 0x8000000000000000, 1
  T_BR bge, 0x7fffffffffffffff, 0x8000000000000000, 1

  T_BR bltu, -1, 1, 0
  T_BR bltu, 1, -1, 1
  T_BR bltu, 5, 5, 0
  T_BR bltu, 0x7fffffffffffffff, 0x8000000000000000, 1
  T_BR bltu, 0, 1, 1
  T_BR bgeu, -1, 1, 1
  T_BR bgeu, 1, -1, 0
  T_BR bgeu, 5, 5, 1
  T_BR bgeu, 0, 0xffffffffffffffff, 0
  T_BR bgeu, 0x8000000000000000, 0x7fffffffffffffff, 1

  # Comparisons look at all 64 bits, not just the low word.
  T_BR beq, 0x100000001, 1, 0
  T_BR blt, 0xffffffff, 0x100000000, 1
  T_BR bltu, 0x100000000, 0xffffffff, 0

  # Backward branch loop: 10 iterations.
  li a0, 0
  li a1, 10
1:
  addi a0, a0, 1
  bne a0, a1, 1b
  CHECK_EQ a0, 10

  # ---- jal: link = pc + 4, target is pc-relative
jal_site:
  jal ra, jal_target
jal_back:
  CHECK_EQ a3, 0x77
  CHECK_ADDR t0, jal_back
  j 2f
jal_target:
  li a3, 0x77
  mv t0, ra
  ret
2:
  # jal x0 does not link.
  li ra, 0x1234
  jal x0, 3f
  li a3, 0
3:
  CHECK_EQ ra, 0x1234
  CHECK_EQ a3, 0x77

  # ---- jalr: target = (rs1 + imm) with bit 0 cleared
  la t1, jalr_target
  addi t1, t1, 1
  li a3, 0
  jalr ra, 0(t1)
jalr_back1:
  CHECK_EQ a3, 0x55
  CHECK_ADDR t0, jalr_back1

  la t1, jalr_target + 21
  li a3, 0
  jalr ra, -20(t1)            # odd sum, bit 0 dropped
jalr_back2:
  CHECK_EQ a3, 0x55
  CHECK_ADDR t0, jalr_back2

  la t1, jalr_target - 100
  li a3, 0
  jalr ra, 100(t1)
jalr_back3:
  CHECK_EQ a3, 0x55

  # rd == rs1: the target uses the old value, then rd receives the link.
  la a4, jalr_target_a4
  li a3, 0
  jalr a4, 0(a4)
jalr_back4:
  CHECK_EQ a3, 0x66
  CHECK_ADDR a4, jalr_back4

  # jalr x0: plain indirect jump.
  la t1, 4f
  li ra, 0x4321
  jalr x0, 0(t1)
  li ra, 0
4:
  CHECK_EQ ra, 0x4321
  j 5f

jalr_target:
  li a3, 0x55
  mv t0, ra
  jr ra

jalr_target_a4:
  li a3, 0x66
  jr a4

5:
  # Forward jump across more than 1 MiB would need la+jr; check a long
  # jal within range reaches its target.
  li a3, 0
  jal ra, far_target
far_back:
  CHECK_EQ a3, 0x99
  CHECK_ADDR t0, far_back
  .option pop
TEST_END

  .text
  .option push
  .option norvc
  .skip 0x40000
far_target:
  li a3, 0x99
  mv t0, ra
  ret
  .option pop
