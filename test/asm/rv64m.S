# M extension: multiplication high halves in all three signedness variants,
# W forms (32-bit result sign-extended, upper operand bits ignored), and the
# division corner cases the ISA defines instead of trapping: divide by zero
# and signed overflow (INT_MIN / -1).
#include "macros.h"

.macro T_RR op, a, b, expect
  li a0, \a
  li a1, \b
  \op a2, a0, a1
  CHECK_EQ a2, \expect
.endm

#define INT64_MIN 0x8000000000000000
#define INT64_MAX 0x7fffffffffffffff

TEST_BEGIN

  # ---- mul (low 64 bits, same for any signedness)
  T_RR mul, 7, -3, -21
  T_RR mul, INT64_MIN, -1, INT64_MIN
  T_RR mul, -1, -1, 1
  T_RR mul, 0x123456789abcdef0, 0x10, 0x23456789abcdef00
  T_RR mul, 0x100000000, 0x100000000, 0
  T_RR mul, 0, -1, 0

  # ---- mulh: signed x signed, high 64 bits
  T_RR mulh, -1, -1, 0
  T_RR mulh, INT64_MIN, INT64_MIN, 0x4000000000000000
  T_RR mulh, INT64_MIN, 1, -1
  T_RR mulh, INT64_MAX, INT64_MAX, 0x3fffffffffffffff
  T_RR mulh, -2, 3, -1
  T_RR mulh, INT64_MIN, INT64_MAX, 0xc000000000000000
  T_RR mulh, 0x100000000, 0x100000000, 1

  # ---- mulhu: unsigned x unsigned
  T_RR mulhu, -1, -1, 0xfffffffffffffffe
  T_RR mulhu, INT64_MIN, 2, 1
  T_RR mulhu, -1, 1, 0
  T_RR mulhu, 0x100000000, 0x100000000, 1
  T_RR mulhu, INT64_MIN, INT64_MIN, 0x4000000000000000

  # ---- mulhsu: rs1 signed, rs2 unsigned
  T_RR mulhsu, -1, -1, -1
  T_RR mulhsu, -2, 1, -1
  T_RR mulhsu, 2, -1, 1
  T_RR mulhsu, INT64_MIN, -1, INT64_MIN
  T_RR mulhsu, INT64_MAX, -1, 0x7ffffffffffffffe
  T_RR mulhsu, -1, 0, 0
  T_RR mulhsu, 1, INT64_MIN, 0

  # ---- mulw: low 32 bits of the product, sign-extended
  T_RR mulw, 0x7fffffff, 2, -2
  T_RR mulw, 0x100000003, 0x100000005, 15
  T_RR mulw, 0x10000, 0x10000, 0
  T_RR mulw, 0x8000, 0x10000, 0xffffffff80000000
  T_RR mulw, -1, -1, 1
  T_RR mulw, 0xffffffff, 0xffffffff, 1

  # ---- div / divu / rem / remu: truncation toward zero
  T_RR div, 20, 6, 3
  T_RR div, -20, 6, -3
  T_RR div, 20, -6, -3
  T_RR div, -20, -6, 3
  T_RR rem, 20, 6, 2
  T_RR rem, -20, 6, -2
  T_RR rem, 20, -6, 2
  T_RR rem, -20, -6, -2
  T_RR divu, -1, 2, INT64_MAX
  T_RR divu, -20, 6, 0x2aaaaaaaaaaaaaa7
  T_RR remu, -20, 6, 2
  T_RR remu, 5, -1, 5
  T_RR divu, 5, -1, 0

  # Division by zero: quotient all ones, remainder the dividend.
  T_RR div, 42, 0, -1
  T_RR div, -42, 0, -1
  T_RR divu, 42, 0, -1
  T_RR rem, 42, 0, 42
  T_RR rem, -42, 0, -42
  T_RR remu, -42, 0, -42
  T_RR div, 0, 0, -1
  T_RR remu, 0, 0, 0

  # Signed overflow: quotient INT_MIN, remainder zero.
  T_RR div, INT64_MIN, -1, INT64_MIN
  T_RR rem, INT64_MIN, -1, 0
  T_RR divu, INT64_MIN, -1, 0
  T_RR remu, INT64_MIN, -1, INT64_MIN
  T_RR div, INT64_MIN, 1, INT64_MIN
  T_RR div, INT64_MIN, 2, 0xc000000000000000

  # ---- W forms of division
  T_RR divw, 20, 6, 3
  T_RR divw, -20, 6, -3
  T_RR divw, 0xffffffff00000014, 6, 3   # upper operand bits ignored
  T_RR divw, 0x80000000, -1, 0xffffffff80000000
  T_RR remw, 0x80000000, -1, 0
  T_RR divw, 0x1234, 0, -1
  T_RR divw, 0x1234, 0x500000000, -1    # low word of divisor is zero
  T_RR remw, 0x180000000, 0, 0xffffffff80000000
  T_RR remw, -7, 2, -1
  T_RR remw, 0x100000007, 0x100000002, 1
  T_RR divuw, 0xfffffffe, 2, 0x7fffffff
  T_RR divuw, 0x80000000, 1, 0xffffffff80000000
  T_RR divuw, 0x1234, 0, -1
  T_RR divuw, -1, 1, -1
  T_RR remuw, 0x80000001, 0x80000000, 1
  T_RR remuw, 0x80000001, 0, 0xffffffff80000001
  T_RR remuw, 0x17fffffff, 0x10, 15
  T_RR divuw, 0xffffffff, 0x10000, 0xffff

  # rd aliasing a source.
  li a0, 6
  li a1, 7
  mul a0, a0, a1
  CHECK_EQ a0, 42
  div a1, a0, a1
  CHECK_EQ a1, 6
  rem a0, a0, a0
  CHECK_EQ a0, 0

TEST_END
