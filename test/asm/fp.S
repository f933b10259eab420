# F and D extensions, a few of each instruction class (exhaustive IEEE
# checks live elsewhere): arithmetic and its exception flags, rounding modes
# (static and dynamic), conversions with saturation, moves, min/max and
# compare NaN rules, fclass, fused multiply-add single rounding, NaN-boxing
# of single values in 64-bit registers, the fcsr/frm/fflags CSRs, illegal
# rounding modes, and mstatus.FS (Off makes FP illegal, writes make it Dirty).
#include "macros.h"

#define S_ONE 0x3f800000
#define S_TWO 0x40000000
#define S_THREE 0x40400000
#define S_QNAN 0x7fc00000
#define S_SNAN 0x7f800001
#define D_ONE 0x3ff0000000000000
#define D_TWO 0x4000000000000000
#define D_QNAN 0x7ff8000000000000
#define D_SNAN 0x7ff0000000000001

#define FF_NX 0x01
#define FF_UF 0x02
#define FF_OF 0x04
#define FF_DZ 0x08
#define FF_NV 0x10

#define RM_RNE 0
#define RM_RTZ 1
#define RM_RDN 2
#define RM_RUP 3
#define RM_RMM 4

.macro LOAD_S freg, bits
  li t0, \bits
  fmv.w.x \freg, t0
.endm

.macro LOAD_D freg, bits
  li t0, \bits
  fmv.d.x \freg, t0
.endm

# A single result must be NaN-boxed: upper 32 bits all ones.
.macro CHECK_S freg, bits
  fmv.x.d t0, \freg
  CHECK_EQ t0, (0xffffffff00000000 | (\bits))
.endm

.macro CHECK_D freg, bits
  fmv.x.d t0, \freg
  CHECK_EQ t0, \bits
.endm

# Read and clear the accrued exception flags, then compare.
.macro CHECK_FLAGS val
  csrrw t0, fflags, zero
  CHECK_EQ t0, \val
.endm

TEST_BEGIN

  # FS starts Initial (set by TEST_BEGIN).
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_FS, MSTATUS_FS_INITIAL

  # ---- basic arithmetic
  LOAD_S f1, S_ONE
  LOAD_S f2, S_TWO
  fadd.s f3, f1, f2
  CHECK_S f3, S_THREE
  CHECK_FLAGS 0

  # Writing an f register makes FS Dirty, and SD summarises it.
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_FS, MSTATUS_FS_DIRTY
  srli a0, a0, 63
  CHECK_EQ a0, 1

  fsub.s f4, f1, f2
  CHECK_S f4, 0xbf800000
  fmul.s f4, f2, f3
  CHECK_S f4, 0x40c00000
  fdiv.s f4, f1, f3              # 1/3 is inexact
  CHECK_S f4, 0x3eaaaaab
  CHECK_FLAGS FF_NX
  LOAD_S f5, 0x40800000          # 4.0
  fsqrt.s f6, f5
  CHECK_S f6, S_TWO
  CHECK_FLAGS 0

  LOAD_D f1, D_ONE
  LOAD_D f2, 0x3ff8000000000000  # 1.5
  fmul.d f3, f2, f2
  CHECK_D f3, 0x4002000000000000 # 2.25
  fadd.d f3, f1, f2
  CHECK_D f3, 0x4004000000000000 # 2.5
  fdiv.d f3, f1, f2
  CHECK_D f3, 0x3fe5555555555555 # 2/3, rounded to nearest even
  CHECK_FLAGS FF_NX
  LOAD_D f4, 0x4010000000000000
  fsqrt.d f5, f4
  CHECK_D f5, D_TWO
  CHECK_FLAGS 0

  # ---- exception flags
  LOAD_D f0, 0
  fdiv.d f3, f1, f0              # 1/0 = +inf, divide by zero
  CHECK_D f3, 0x7ff0000000000000
  CHECK_FLAGS FF_DZ
  LOAD_D f4, 0xbff0000000000000
  fsqrt.d f3, f4                 # sqrt(-1): invalid, canonical NaN
  CHECK_D f3, D_QNAN
  CHECK_FLAGS FF_NV
  LOAD_S f4, 0x7f7fffff          # FLT_MAX
  LOAD_S f5, S_TWO
  fmul.s f3, f4, f5
  CHECK_S f3, 0x7f800000
  CHECK_FLAGS (FF_OF | FF_NX)
  LOAD_S f4, 0x00800000          # FLT_MIN (smallest normal)
  LOAD_S f5, 0x3e800000          # 0.25
  fmul.s f3, f4, f5              # exact subnormal result: no underflow flag
  CHECK_S f3, 0x00200000
  CHECK_FLAGS 0
  LOAD_S f5, 0x33800000          # 2^-24: result far below subnormal range
  fmul.s f3, f4, f5
  CHECK_S f3, 0
  CHECK_FLAGS (FF_UF | FF_NX)
  # Flags accrue until cleared.
  fdiv.d f3, f1, f0
  fdiv.s f3, f1, f5
  fsqrt.d f3, f4
  csrr a0, fflags
  CHECK_EQ a0, FF_DZ
  LOAD_D f4, 0xbff0000000000000
  fsqrt.d f3, f4
  CHECK_FLAGS (FF_DZ | FF_NV)

  # ---- rounding: static rm field
  LOAD_S f1, 0x40200000          # 2.5
  LOAD_S f2, 0xc0200000          # -2.5
  fcvt.w.s a0, f1, rne
  CHECK_EQ a0, 2
  fcvt.w.s a0, f1, rtz
  CHECK_EQ a0, 2
  fcvt.w.s a0, f1, rdn
  CHECK_EQ a0, 2
  fcvt.w.s a0, f1, rup
  CHECK_EQ a0, 3
  fcvt.w.s a0, f1, rmm
  CHECK_EQ a0, 3
  fcvt.w.s a0, f2, rne
  CHECK_EQ a0, -2
  fcvt.w.s a0, f2, rtz
  CHECK_EQ a0, -2
  fcvt.w.s a0, f2, rdn
  CHECK_EQ a0, -3
  fcvt.w.s a0, f2, rup
  CHECK_EQ a0, -2
  fcvt.w.s a0, f2, rmm
  CHECK_EQ a0, -3
  CHECK_FLAGS FF_NX

  # ---- rounding: dynamic, from frm
  fsrmi RM_RUP
  fcvt.w.s a0, f1, dyn
  CHECK_EQ a0, 3
  fsrmi RM_RDN
  fcvt.w.s a0, f2, dyn
  CHECK_EQ a0, -3
  LOAD_S f3, S_ONE
  LOAD_S f4, S_THREE
  fdiv.s f5, f3, f4, dyn         # 1/3 rounded down
  CHECK_S f5, 0x3eaaaaaa
  fsrmi RM_RUP
  fdiv.s f5, f3, f4, dyn
  CHECK_S f5, 0x3eaaaaab
  fsrmi RM_RNE
  CHECK_FLAGS FF_NX

  # ---- conversions
  LOAD_S f1, 0xbf800000          # -1.0
  fcvt.w.s a0, f1, rtz
  CHECK_EQ a0, -1                # sign-extended to 64 bits
  fcvt.wu.s a0, f1, rtz          # out of range: 0, invalid
  CHECK_EQ a0, 0
  CHECK_FLAGS FF_NV
  LOAD_S f1, S_QNAN
  fcvt.w.s a0, f1, rtz           # NaN converts to the largest integer
  CHECK_EQ a0, 0x7fffffff
  CHECK_FLAGS FF_NV
  LOAD_D f1, 0x43e0000000000000  # 2^63
  fcvt.l.d a0, f1, rtz
  CHECK_EQ a0, 0x7fffffffffffffff
  CHECK_FLAGS FF_NV
  fcvt.lu.d a0, f1, rtz
  CHECK_EQ a0, 0x8000000000000000
  CHECK_FLAGS 0
  LOAD_D f1, 0xc3e0000000000000  # -2^63 fits exactly
  fcvt.l.d a0, f1, rtz
  CHECK_EQ a0, 0x8000000000000000
  CHECK_FLAGS 0
  LOAD_D f1, 0x41e0000000000000  # 2^31: wu fits, w saturates
  fcvt.wu.d a0, f1, rtz
  CHECK_EQ a0, 0xffffffff80000000   # 32-bit result is sign-extended
  fcvt.w.d a0, f1, rtz
  CHECK_EQ a0, 0x7fffffff
  CHECK_FLAGS FF_NV
  li a0, 0x80000000
  fcvt.s.w f1, a0                # only the low 32 bits, signed: -2^31
  CHECK_S f1, 0xcf000000
  li a0, -1
  fcvt.s.wu f1, a0               # 2^32 - 1 rounds to 2^32
  CHECK_S f1, 0x4f800000
  CHECK_FLAGS FF_NX
  li a0, -3
  fcvt.d.l f1, a0
  CHECK_D f1, 0xc008000000000000
  fcvt.d.lu f1, a0
  CHECK_D f1, 0x43f0000000000000
  CHECK_FLAGS FF_NX
  LOAD_D f1, 0x3ff8000000000000
  fcvt.s.d f2, f1
  CHECK_S f2, 0x3fc00000
  fcvt.d.s f3, f2
  CHECK_D f3, 0x3ff8000000000000
  LOAD_D f1, 0x3ff0000010000000  # 1 + 2^-24 exactly halfway between floats
  fcvt.s.d f2, f1, rne
  CHECK_S f2, S_ONE
  fcvt.s.d f2, f1, rup
  CHECK_S f2, 0x3f800001
  CHECK_FLAGS FF_NX
  LOAD_S f1, S_SNAN
  fcvt.d.s f2, f1                # signalling NaN: canonical NaN, invalid
  CHECK_D f2, D_QNAN
  CHECK_FLAGS FF_NV

  # ---- moves: fmv.x.w sign-extends, fmv.w.x NaN-boxes
  li a0, 0x12345678bf800000
  fmv.w.x f1, a0
  CHECK_S f1, 0xbf800000
  fmv.x.w a1, f1
  CHECK_EQ a1, 0xffffffffbf800000
  li a0, 0x8000000000000001
  fmv.d.x f1, a0
  fmv.x.d a1, f1
  CHECK_EQ a1, 0x8000000000000001
  CHECK_FLAGS 0

  # ---- NaN-boxing: a single operand whose upper half is not all ones is
  # treated as the canonical NaN by arithmetic, but moved raw by fmv/fsw.
  li a0, 0x000000003f800000
  fmv.d.x f1, a0
  LOAD_S f2, S_ONE
  fadd.s f3, f1, f2
  CHECK_S f3, S_QNAN
  CHECK_FLAGS 0
  fclass.s a1, f1
  CHECK_EQ a1, 0x200             # quiet NaN
  fsgnj.s f3, f1, f2
  CHECK_S f3, S_QNAN
  fmv.x.w a1, f1
  CHECK_EQ a1, 0x3f800000
  la a2, fp_mem
  fsw f1, 0(a2)
  lwu a1, 0(a2)
  CHECK_EQ a1, 0x3f800000
  # flw boxes the loaded value.
  li a1, 0x40490fdb
  sw a1, 0(a2)
  li a1, 0x1122334455667788
  sw a1, 4(a2)
  flw f4, 0(a2)
  CHECK_S f4, 0x40490fdb
  fld f5, 0(a2)
  fsd f5, 8(a2)
  ld a1, 8(a2)
  CHECK_EQ a1, 0x5566778840490fdb

  # ---- sign injection
  LOAD_D f1, 0x3ff0000000000000
  LOAD_D f2, 0x8000000000000000
  fsgnj.d f3, f1, f2
  CHECK_D f3, 0xbff0000000000000
  fsgnjn.d f3, f1, f2
  CHECK_D f3, 0x3ff0000000000000
  fsgnjx.d f3, f3, f2
  CHECK_D f3, 0xbff0000000000000
  fneg.d f4, f3
  CHECK_D f4, 0x3ff0000000000000
  LOAD_S f1, 0xc0000000
  fabs.s f2, f1
  CHECK_S f2, S_TWO
  LOAD_D f1, D_SNAN
  fneg.d f2, f1                  # sign injection never signals
  CHECK_D f2, (D_SNAN | 0x8000000000000000)
  CHECK_FLAGS 0

  # ---- min/max NaN and signed-zero rules
  LOAD_S f1, S_QNAN
  LOAD_S f2, S_ONE
  fmin.s f3, f1, f2
  CHECK_S f3, S_ONE
  fmax.s f3, f2, f1
  CHECK_S f3, S_ONE
  CHECK_FLAGS 0
  LOAD_S f1, S_SNAN
  fmin.s f3, f1, f2
  CHECK_S f3, S_ONE
  CHECK_FLAGS FF_NV
  LOAD_S f2, 0x7fc12345          # both NaN: canonical NaN
  fmax.s f3, f1, f2
  CHECK_S f3, S_QNAN
  CHECK_FLAGS FF_NV
  LOAD_D f1, 0x8000000000000000
  LOAD_D f2, 0
  fmin.d f3, f1, f2
  CHECK_D f3, 0x8000000000000000
  fmax.d f3, f1, f2
  CHECK_D f3, 0
  fmin.d f3, f2, f1
  CHECK_D f3, 0x8000000000000000
  CHECK_FLAGS 0

  # ---- compares: feq is quiet, flt/fle signal on any NaN
  LOAD_D f1, D_QNAN
  LOAD_D f2, D_ONE
  feq.d a0, f1, f2
  CHECK_EQ a0, 0
  CHECK_FLAGS 0
  flt.d a0, f1, f2
  CHECK_EQ a0, 0
  CHECK_FLAGS FF_NV
  fle.d a0, f2, f1
  CHECK_EQ a0, 0
  CHECK_FLAGS FF_NV
  LOAD_D f1, D_SNAN
  feq.d a0, f1, f1
  CHECK_EQ a0, 0
  CHECK_FLAGS FF_NV
  LOAD_D f1, 0x8000000000000000
  LOAD_D f2, 0
  feq.d a0, f1, f2               # -0 == +0
  CHECK_EQ a0, 1
  flt.d a0, f1, f2
  CHECK_EQ a0, 0
  fle.d a0, f1, f2
  CHECK_EQ a0, 1
  LOAD_S f1, 0xbf800000
  LOAD_S f2, S_ONE
  flt.s a0, f1, f2
  CHECK_EQ a0, 1
  CHECK_FLAGS 0

  # ---- fclass
  LOAD_D f1, 0xfff0000000000000
  fclass.d a0, f1
  CHECK_EQ a0, 0x001             # -inf
  LOAD_D f1, 0xbff0000000000000
  fclass.d a0, f1
  CHECK_EQ a0, 0x002             # negative normal
  LOAD_D f1, 0x800fffffffffffff
  fclass.d a0, f1
  CHECK_EQ a0, 0x004             # negative subnormal
  LOAD_D f1, 0x8000000000000000
  fclass.d a0, f1
  CHECK_EQ a0, 0x008             # -0
  LOAD_D f1, 0
  fclass.d a0, f1
  CHECK_EQ a0, 0x010             # +0
  LOAD_D f1, 1
  fclass.d a0, f1
  CHECK_EQ a0, 0x020             # positive subnormal
  LOAD_D f1, D_ONE
  fclass.d a0, f1
  CHECK_EQ a0, 0x040
  LOAD_D f1, 0x7ff0000000000000
  fclass.d a0, f1
  CHECK_EQ a0, 0x080             # +inf
  LOAD_D f1, D_SNAN
  fclass.d a0, f1
  CHECK_EQ a0, 0x100
  LOAD_D f1, D_QNAN
  fclass.d a0, f1
  CHECK_EQ a0, 0x200
  LOAD_S f1, 0xff800000
  fclass.s a0, f1
  CHECK_EQ a0, 0x001
  LOAD_S f1, S_SNAN
  fclass.s a0, f1
  CHECK_EQ a0, 0x100
  CHECK_FLAGS 0

  # ---- fused multiply-add: one rounding
  LOAD_S f1, S_TWO
  LOAD_S f2, S_THREE
  LOAD_S f3, S_ONE
  fmadd.s f4, f1, f2, f3
  CHECK_S f4, 0x40e00000         # 7
  fmsub.s f4, f1, f2, f3
  CHECK_S f4, 0x40a00000         # 5
  fnmsub.s f4, f1, f2, f3
  CHECK_S f4, 0xc0a00000         # -(2*3) + 1 = -5
  fnmadd.s f4, f1, f2, f3
  CHECK_S f4, 0xc0e00000         # -(2*3) - 1 = -7
  # (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 only without intermediate rounding.
  LOAD_D f1, 0x3ff0000000400000
  LOAD_D f2, 0x3fefffffff800000
  LOAD_D f3, 0xbff0000000000000
  fmadd.d f4, f1, f2, f3
  CHECK_D f4, 0xbc30000000000000
  CHECK_FLAGS 0
  # inf * 0 + qNaN raises invalid (the ISA says so even with a quiet NaN addend).
  LOAD_D f1, 0x7ff0000000000000
  LOAD_D f2, 0
  LOAD_D f3, D_QNAN
  fmadd.d f4, f1, f2, f3
  CHECK_D f4, D_QNAN
  CHECK_FLAGS FF_NV

  # ---- fcsr / frm / fflags
  li a0, 0xff
  csrw fcsr, a0
  csrr a1, fcsr
  CHECK_EQ a1, 0xff
  csrr a1, frm
  CHECK_EQ a1, 7
  csrr a1, fflags
  CHECK_EQ a1, 0x1f
  li a0, 0xfffff
  csrw fcsr, a0                  # bits above 7 are not writable
  csrr a1, fcsr
  CHECK_EQ a1, 0xff
  csrwi fflags, 0x5
  csrr a1, fcsr
  CHECK_EQ a1, 0xe5
  csrwi frm, 2
  csrr a1, fcsr
  CHECK_EQ a1, 0x45
  frflags a1
  CHECK_EQ a1, 5
  fsflagsi a1, 0x1a              # swaps: returns the old value
  CHECK_EQ a1, 5
  frcsr a1
  CHECK_EQ a1, 0x5a
  fsrm a1, x0
  CHECK_EQ a1, 2
  csrwi fcsr, 0

  # An invalid frm makes dynamic-rounding instructions illegal ...
  CLEAR_TRAP
  LOAD_S f1, S_ONE
  .irp rm, 5, 6, 7
    csrwi frm, \rm
    fadd.s f2, f1, f1, dyn
    CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  .endr
  # ... but not instructions with a static rounding mode.
  fadd.s f2, f1, f1, rne
  CHECK_NO_TRAP
  CHECK_S f2, S_TWO
  csrwi frm, 0
  # rm = 5 or 6 in the instruction itself is reserved: illegal.
  .option push
  .option norvc
  .word 0x00108153 | (5 << 12)   # fadd.s f2, f1, f1 with rm=5
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  .word 0x00108153 | (6 << 12)
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  .word 0x00108153 | (0 << 12)   # rm = RNE: fine
  CHECK_NO_TRAP
  .option pop
  CHECK_FLAGS 0

  # ---- mstatus.FS = Off: every FP instruction and FP CSR access is illegal
  li a0, MSTATUS_FS
  csrc mstatus, a0
  csrr a1, mstatus
  CHECK_MASKED a1, MSTATUS_FS, 0
  .option push
  .option norvc
  CLEAR_TRAP
fs_off_fadd:
  fadd.d f1, f2, f3
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  # tval is 0 or the instruction bits.
  beqz s10, 1f
  la t1, fs_off_fadd
  lwu t1, 0(t1)
  CHECK_EQR s10, t1
1:
  li a0, 7
  fmv.x.d a0, f1
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EQ a0, 7
  fmv.d.x f1, a0
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  la a2, fp_mem
  flw f1, 0(a2)
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  fsd f1, 0(a2)
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  csrr a0, fcsr
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  csrwi fflags, 1
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  csrr a0, frm
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  fcvt.d.l f1, a0
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  .option push
  .option rvc
  la s0, fp_mem
  c.fld f8, 0(s0)
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  c.fsdsp f8, 0(sp)
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  .option pop
  .option pop
  # SD is clear with FS (and XS) off.
  csrr a1, mstatus
  srli a1, a1, 63
  CHECK_EQ a1, 0

  # FS = Clean: FP works and a write makes it Dirty again.
  li a0, MSTATUS_FS_CLEAN
  csrs mstatus, a0
  LOAD_D f1, D_ONE
  CHECK_NO_TRAP
  csrr a1, mstatus
  CHECK_MASKED a1, MSTATUS_FS, MSTATUS_FS_DIRTY

TEST_END

  .data
  .align 4
fp_mem:
  .dword 0, 0
