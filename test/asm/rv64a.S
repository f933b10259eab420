# A extension: LR/SC outcomes the ISA guarantees (SC without a reservation
# fails, an SC consumes the reservation, failed SC leaves memory alone),
# every AMO in .w and .d form with .w results sign-extended and neighbours
# untouched, and misaligned / unmapped atomics trapping.
#include "macros.h"

# AMO `op` on memory value `init` with operand `src`: check rd and memory.
.macro T_AMO_W op, init, src, old, new
  la a1, amo_area
  li t0, 0x5555555555555555
  sd t0, 0(a1)
  sd t0, 8(a1)
  li t0, \init
  sw t0, 4(a1)
  li a2, \src
  addi a3, a1, 4
  \op a0, a2, (a3)
  CHECK_EQ a0, \old
  lw a0, 4(a1)
  CHECK_EQ a0, \new
  lw a0, 0(a1)
  CHECK_EQ a0, 0x55555555
  lw a0, 8(a1)
  CHECK_EQ a0, 0x55555555
.endm

.macro T_AMO_D op, init, src, old, new
  la a1, amo_area
  li t0, 0x5555555555555555
  sd t0, 0(a1)
  sd t0, 16(a1)
  li t0, \init
  sd t0, 8(a1)
  li a2, \src
  addi a3, a1, 8
  \op a0, a2, (a3)
  CHECK_EQ a0, \old
  ld a0, 8(a1)
  CHECK_EQ a0, \new
  ld a0, 0(a1)
  CHECK_EQ a0, 0x5555555555555555
  ld a0, 16(a1)
  CHECK_EQ a0, 0x5555555555555555
.endm

.macro T_MISALIGNED insn, off
  la a1, amo_area
  li t0, 0x0102030405060708
  sd t0, 0(a1)
  sd t0, 8(a1)
  addi a3, a1, \off
  li a0, 0x5a5a
  li a2, 0x77
  \insn a0, a2, (a3)
  CHECK_TRAP2 CAUSE_MISALIGNED_STORE, CAUSE_STORE_ACCESS
  # tval is either 0 or the faulting address.
  beqz s10, .Ltv_ok\@
  CHECK_EQR s10, a3
.Ltv_ok\@:
  CHECK_EQ a0, 0x5a5a
  ld a0, 0(a1)
  CHECK_EQ a0, 0x0102030405060708
  ld a0, 8(a1)
  CHECK_EQ a0, 0x0102030405060708
.endm

TEST_BEGIN

  # ---- SC with no reservation ever made must fail and not write.
  la a1, lr_word
  li t0, 0x11111111
  sw t0, 0(a1)
  li a2, 0x22222222
  sc.w a0, a2, (a1)
  CHECK_NE a0, 0
  lw a0, 0(a1)
  CHECK_EQ a0, 0x11111111

  # ---- LR.W / SC.W success; LR.W sign-extends.
  li t0, 0x80000001
  sw t0, 0(a1)
  lr.w a0, (a1)
  CHECK_EQ a0, 0xffffffff80000001
  li a2, 0x12345678
  sc.w a3, a2, (a1)
  CHECK_EQ a3, 0
  lw a0, 0(a1)
  CHECK_EQ a0, 0x12345678
  # SC.W writes only its word.
  lw a0, 4(a1)
  CHECK_EQ a0, 0x33333333

  # The reservation is consumed by the SC: a second SC fails.
  li a2, 0x7777
  sc.w a3, a2, (a1)
  CHECK_NE a3, 0
  lw a0, 0(a1)
  CHECK_EQ a0, 0x12345678

  # ---- LR.D / SC.D
  la a1, lr_dword
  li t0, 0x8000000000000007
  sd t0, 0(a1)
  lr.d a0, (a1)
  CHECK_EQ a0, 0x8000000000000007
  li a2, 0x0123456789abcdef
  sc.d a3, a2, (a1)
  CHECK_EQ a3, 0
  ld a0, 0(a1)
  CHECK_EQ a0, 0x0123456789abcdef
  sc.d a3, x0, (a1)
  CHECK_NE a3, 0
  ld a0, 0(a1)
  CHECK_EQ a0, 0x0123456789abcdef

  # LR/SC with ordering bits behaves the same; an LR/SC retry loop works.
  la a1, lr_dword
1:
  lr.d.aq a0, (a1)
  addi a0, a0, 1
  sc.d.rl a3, a0, (a1)
  bnez a3, 1b
  ld a0, 0(a1)
  CHECK_EQ a0, 0x0123456789abcdf0

  # ---- AMO .w: old value sign-extended into rd, 32-bit result in memory
  T_AMO_W amoswap.w, 0x80000000, 0x7fffffff, 0xffffffff80000000, 0x7fffffff
  T_AMO_W amoadd.w, 0x7fffffff, 1, 0x7fffffff, 0xffffffff80000000
  T_AMO_W amoadd.w, 0xffffffff, 0xffffffff00000002, -1, 1
  T_AMO_W amoand.w, 0xf0f0f0f0, 0xff00ff00, 0xfffffffff0f0f0f0, 0xfffffffff000f000
  T_AMO_W amoor.w, 0x0000f0f0, 0x80000000, 0xf0f0, 0xffffffff8000f0f0
  T_AMO_W amoxor.w, 0xffffffff, 0x0000ffff, -1, 0xffffffffffff0000
  # Signed compares on the low 32 bits of rs2 (upper bits ignored).
  T_AMO_W amomin.w, 0x80000000, 0xffffffff00000001, 0xffffffff80000000, 0xffffffff80000000
  T_AMO_W amomin.w, 5, -3, 5, -3
  T_AMO_W amomax.w, 0x80000000, 0xffffffff00000001, 0xffffffff80000000, 1
  T_AMO_W amomax.w, -5, -3, -5, -3
  T_AMO_W amominu.w, 0x80000000, 0xffffffff00000001, 0xffffffff80000000, 1
  T_AMO_W amominu.w, 3, 0xffffffff, 3, 3
  T_AMO_W amomaxu.w, 0x80000000, 0x00000001, 0xffffffff80000000, 0xffffffff80000000
  T_AMO_W amomaxu.w, 3, 0x1fffffffe, 3, 0xfffffffffffffffe

  # ---- AMO .d
  T_AMO_D amoswap.d, 0x8000000000000000, 42, 0x8000000000000000, 42
  T_AMO_D amoadd.d, 0x7fffffffffffffff, 1, 0x7fffffffffffffff, 0x8000000000000000
  T_AMO_D amoand.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0x0f000f000f000f00
  T_AMO_D amoor.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0xfff0fff0fff0fff0
  T_AMO_D amoxor.d, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0, 0xff00ff00ff00ff00, 0xf0f0f0f0f0f0f0f0
  T_AMO_D amomin.d, 0x8000000000000000, 1, 0x8000000000000000, 0x8000000000000000
  T_AMO_D amomin.d, 1, -1, 1, -1
  T_AMO_D amomax.d, 0x8000000000000000, 1, 0x8000000000000000, 1
  T_AMO_D amomax.d, -7, -8, -7, -7
  T_AMO_D amominu.d, 0x8000000000000000, 1, 0x8000000000000000, 1
  T_AMO_D amominu.d, -1, -2, -1, -2
  T_AMO_D amomaxu.d, 0x8000000000000000, 1, 0x8000000000000000, 0x8000000000000000
  T_AMO_D amomaxu.d, 1, -1, 1, -1

  # rd == x0 still performs the write; rd == rs2 returns the old value.
  la a1, amo_area
  li t0, 10
  sd t0, 0(a1)
  li a2, 5
  amoadd.d x0, a2, (a1)
  ld a0, 0(a1)
  CHECK_EQ a0, 15
  li a2, 99
  amoswap.d.aqrl a2, a2, (a1)
  CHECK_EQ a2, 15
  ld a0, 0(a1)
  CHECK_EQ a0, 99
  # rd == rs1: the address is used before rd is written.
  mv a3, a1
  amoadd.w a3, a2, (a3)       # a2 holds 15 from the swap
  CHECK_EQ a3, 99
  lw a0, 0(a1)
  CHECK_EQ a0, 114

  # ---- misaligned LR traps (misaligned or access fault, both allowed)
  la a1, amo_area
  CLEAR_TRAP
  li a0, 0x5a5a
  addi a3, a1, 6
  lr.w a0, (a3)
  CHECK_TRAP2 CAUSE_MISALIGNED_LOAD, CAUSE_LOAD_ACCESS
  # rd is not written by a trapping instruction.
  CHECK_EQ a0, 0x5a5a

  addi a3, a1, 4
  lr.d a0, (a3)
  CHECK_TRAP2 CAUSE_MISALIGNED_LOAD, CAUSE_LOAD_ACCESS

  # ---- LR from an address with nothing behind it: load access fault
  li a3, UNMAPPED_PA
  lr.d a0, (a3)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_TVAL UNMAPPED_PA

#ifndef QEMU72_QUIRKS
  # ---- misaligned AMOs: store/AMO address-misaligned (6) or store/AMO
  # access fault (7), rd and memory untouched.  AMOs on unmapped addresses:
  # store/AMO access fault.  (QEMU 7.2 reports these as load exceptions,
  # cause 4 and 5, contrary to the ISA manual.)
  CLEAR_TRAP
  T_MISALIGNED amoadd.w, 2
  T_MISALIGNED amoswap.w, 1
  T_MISALIGNED amoor.w, 7
  T_MISALIGNED amomaxu.w, 3
  T_MISALIGNED amoswap.d, 4
  T_MISALIGNED amoadd.d, 1
  T_MISALIGNED amoand.d, 2
  T_MISALIGNED amominu.d, 6

  li a3, UNMAPPED_PA
  li a2, 1
  li a0, 0x5a5a
  amoadd.w a0, a2, (a3)
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_TVAL UNMAPPED_PA
  CHECK_EQ a0, 0x5a5a
  amoswap.d a0, a2, (a3)
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_TVAL UNMAPPED_PA
  li a3, 0
  amoor.d a0, a2, (a3)
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_TVAL 0
#endif

TEST_END

  .data
  .align 4
lr_word:
  .word 0x11111111, 0x33333333
  .align 4
lr_dword:
  .dword 0, 0
  .align 4
amo_area:
  .dword 0, 0, 0, 0
