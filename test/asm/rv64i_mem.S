# RV64I loads and stores: every width, sign vs. zero extension, offsets at
# both ends of the 12-bit range, partial stores leaving neighbours intact,
# and loads whose destination is also the base register.
#include "macros.h"

.macro T_LD op, off, expect
  la a1, pattern
  \op a0, \off(a1)
  CHECK_EQ a0, \expect
.endm

TEST_BEGIN

  # pattern = 80 7f ff 01 fe 00 80 ff | 01 02 03 04 05 06 07 88 (little endian)
  T_LD lb, 0, -128
  T_LD lb, 1, 0x7f
  T_LD lb, 2, -1
  T_LD lb, 3, 1
  T_LD lbu, 0, 0x80
  T_LD lbu, 2, 0xff
  T_LD lbu, 3, 1
  T_LD lh, 0, 0x7f80
  T_LD lh, 2, 0x01ff
  T_LD lh, 6, 0xffffffffffffff80
  T_LD lhu, 6, 0xff80
  T_LD lhu, 4, 0x00fe
  T_LD lw, 0, 0x01ff7f80
  T_LD lw, 4, 0xffffffffff8000fe
  T_LD lwu, 4, 0xff8000fe
  T_LD lwu, 8, 0x04030201
  T_LD lw, 12, 0xffffffff88070605
  T_LD lwu, 12, 0x88070605
  T_LD ld, 0, 0xff8000fe01ff7f80
  T_LD ld, 8, 0x8807060504030201

  # Negative and extreme offsets.
  la a1, pattern + 8
  lb a0, -8(a1)
  CHECK_EQ a0, -128
  lhu a0, -2(a1)
  CHECK_EQ a0, 0xff80
  la a1, pattern + 2047
  lbu a0, -2047(a1)
  CHECK_EQ a0, 0x80
  la a1, pattern - 2047 + 8
  ld a0, 2047(a1)
  CHECK_EQ a0, 0x8807060504030201
  la a1, big_area + 2048
  li a0, 0x5a
  sb a0, -2048(a1)
  sb a0, 2047(a1)
  la a2, big_area
  lbu a0, 0(a2)
  CHECK_EQ a0, 0x5a
  li t0, 4095
  add a2, a2, t0
  lbu a0, 0(a2)
  CHECK_EQ a0, 0x5a

  # Destination == base register.
  la a0, pattern
  ld a0, 8(a0)
  CHECK_EQ a0, 0x8807060504030201

  # A load into x0 still executes but leaves x0 zero.
  la a1, pattern
  ld x0, 0(a1)
  lb x0, 0(a1)
  mv a0, x0
  CHECK_EQ a0, 0

  # ---- stores write exactly their own bytes (the rest of the dword survives)
  la s0, scratch
  li s1, 0x1111111111111111

  sd s1, 0(s0)
  li a0, 0x1234abcd
  sb a0, 3(s0)           # only 0xcd, at byte 3
  ld a0, 0(s0)
  CHECK_EQ a0, 0x11111111cd111111

  sd s1, 0(s0)
  li a0, 0xfedcba9876543210
  sh a0, 6(s0)
  ld a0, 0(s0)
  CHECK_EQ a0, 0x3210111111111111

  sd s1, 0(s0)
  li a0, 0xfedcba9876543210
  sh a0, 2(s0)
  ld a0, 0(s0)
  CHECK_EQ a0, 0x1111111132101111

  sd s1, 0(s0)
  sd s1, 8(s0)
  li a0, 0xfedcba9876543210
  sw a0, 4(s0)
  ld a0, 0(s0)
  CHECK_EQ a0, 0x7654321011111111
  ld a0, 8(s0)
  CHECK_EQ a0, 0x1111111111111111

  li a0, 0x0123456789abcdef
  sd a0, 8(s0)
  ld a1, 8(s0)
  CHECK_EQ a1, 0x0123456789abcdef
  ld a1, 0(s0)
  CHECK_EQ a1, 0x7654321011111111
  lw a1, 12(s0)
  CHECK_EQ a1, 0x01234567
  lhu a1, 8(s0)
  CHECK_EQ a1, 0xcdef
  lh a1, 8(s0)
  CHECK_EQ a1, 0xffffffffffffcdef

  # Storing x0 writes zeros.
  sd x0, 8(s0)
  ld a1, 8(s0)
  CHECK_EQ a1, 0

  # Little-endian byte order across a dword built from byte stores.
  li t0, 0
  li t1, 0x10
1:
  add t2, s0, t0
  add t3, t1, t0
  sb t3, 16(t2)
  addi t0, t0, 1
  li t3, 8
  blt t0, t3, 1b
  ld a0, 16(s0)
  CHECK_EQ a0, 0x1716151413121110
  lwu a0, 20(s0)
  CHECK_EQ a0, 0x17161514
  lhu a0, 18(s0)
  CHECK_EQ a0, 0x1312

TEST_END

  .data
  .align 4
pattern:
  .byte 0x80, 0x7f, 0xff, 0x01, 0xfe, 0x00, 0x80, 0xff
  .byte 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88
  .align 4
scratch:
  .skip 32
  .bss
  .align 12
big_area:
  .skip 4096
