# RV64C: every compressed encoding, with immediates at the edges of their
# ranges (each is a separate bit-scatter in the encoding), the 2-byte link of
# c.jalr, c.ebreak's epc, 32-bit instructions at 2-byte-aligned addresses
# and straddling a page boundary, and the all-zero halfword being illegal.
#include "macros.h"

TEST_BEGIN
  .option push
  .option rvc

  la sp, c_stack + 1024       # c.*sp forms address off sp

  # ---- quadrant 0: c.addi4spn, c.lw/ld/sw/sd, c.fld/fsd
  c.addi4spn a0, sp, 4
  sub a0, a0, sp
  CHECK_EQ a0, 4
  c.addi4spn a1, sp, 1020
  sub a1, a1, sp
  CHECK_EQ a1, 1020
  c.addi4spn s0, sp, 520
  sub s0, s0, sp
  CHECK_EQ s0, 520

  la s1, c_data
  li a0, 0x80000000fedcba98
  c.sw a0, 124(s1)
  c.lw a2, 124(s1)
  CHECK_EQ a2, 0xfffffffffedcba98     # c.lw sign-extends
  c.sd a0, 248(s1)
  c.ld a3, 248(s1)
  CHECK_EQ a3, 0x80000000fedcba98
  li a4, 0x1234
  c.sw a4, 4(s1)
  c.sd a4, 8(s1)
  lw a5, 4(s1)
  CHECK_EQ a5, 0x1234
  ld a5, 8(s1)
  CHECK_EQ a5, 0x1234
  c.lw a5, 0(s1)
  CHECK_EQ a5, 0x5a5a5a5a

  li a0, 0x400921fb54442d18
  fmv.d.x f8, a0
  c.fsd f8, 248(s1)
  c.fld f9, 248(s1)
  fmv.x.d a1, f9
  CHECK_EQ a1, 0x400921fb54442d18
  ld a1, 248(s1)
  CHECK_EQ a1, 0x400921fb54442d18
  c.fsd f8, 16(s1)
  c.fld f15, 16(s1)
  fmv.x.d a2, f15
  CHECK_EQ a2, 0x400921fb54442d18

  # ---- quadrant 1: immediates and ALU
  c.nop
  li a0, 10
  c.addi a0, -32
  CHECK_EQ a0, -22
  c.addi a0, 31
  CHECK_EQ a0, 9
  li a0, 0x7fffffff
  c.addiw a0, 1
  CHECK_EQ a0, 0xffffffff80000000
  li a0, 0x1234567880000000
  c.addiw a0, 0               # sext.w
  CHECK_EQ a0, 0xffffffff80000000
  li a0, 5
  c.addiw a0, -32
  CHECK_EQ a0, -27
  c.li a1, -32
  CHECK_EQ a1, -32
  c.li a1, 31
  CHECK_EQ a1, 31
  mv t0, sp
  c.addi16sp sp, -512
  sub t1, t0, sp
  CHECK_EQ t1, 512
  c.addi16sp sp, 496
  c.addi16sp sp, 16
  CHECK_EQR sp, t0
  c.lui a2, 1
  CHECK_EQ a2, 0x1000
  c.lui a2, 0x1f
  CHECK_EQ a2, 0x1f000
  c.lui a2, 0xfffe0           # imm[17] set: sign-extended
  CHECK_EQ a2, 0xfffffffffffe0000
  c.lui a2, 0xfffff
  CHECK_EQ a2, -4096

  li a0, 0x8000000000000000
  mv a1, a0
  c.srli a0, 63
  CHECK_EQ a0, 1
  c.srai a1, 63
  CHECK_EQ a1, -1
  li a0, 0x8000000000000000
  c.srai a0, 32               # shamt[5] lives in a different bit
  CHECK_EQ a0, 0xffffffff80000000
  c.srli a0, 1
  CHECK_EQ a0, 0x7fffffffc0000000
  li a1, 0xff
  c.andi a1, -32              # sign-extended immediate
  CHECK_EQ a1, 0xe0
  li a1, -1
  c.andi a1, 31
  CHECK_EQ a1, 31
  li a1, 0x123
  c.andi a1, 0
  CHECK_EQ a1, 0

  li a0, 100
  li a1, 58
  c.sub a0, a1
  CHECK_EQ a0, 42
  li a0, 0xf0f0
  li a1, 0xff00
  c.xor a0, a1
  CHECK_EQ a0, 0x0ff0
  c.or a0, a1
  CHECK_EQ a0, 0xfff0
  c.and a0, a1
  CHECK_EQ a0, 0xff00
  li a0, 0x7fffffff
  li a1, 1
  c.addw a0, a1
  CHECK_EQ a0, 0xffffffff80000000
  li a0, 0x100000000
  li a1, 1
  c.subw a0, a1
  CHECK_EQ a0, -1
  li s0, 0x7fffffff00000005
  li s1, 0x0000000100000003
  c.subw s0, s1
  CHECK_EQ s0, 2

  # ---- quadrant 2: c.slli, c.mv, c.add, stack-pointer loads and stores
  li a0, 1
  c.slli a0, 63
  CHECK_EQ a0, 0x8000000000000000
  li a0, 3
  c.slli a0, 32
  CHECK_EQ a0, 0x300000000
  c.slli a0, 1
  CHECK_EQ a0, 0x600000000
  li t3, 77
  c.mv t4, t3
  CHECK_EQ t4, 77
  c.add t4, t3
  CHECK_EQ t4, 154

  li t0, 0xdeadbeefcafef00d
  c.sdsp t0, 504(sp)
  c.ldsp t1, 504(sp)
  CHECK_EQ t1, 0xdeadbeefcafef00d
  c.swsp t0, 252(sp)
  c.lwsp t2, 252(sp)
  CHECK_EQ t2, 0xffffffffcafef00d
  c.sdsp t0, 0(sp)
  c.lwsp t2, 4(sp)
  CHECK_EQ t2, 0xffffffffdeadbeef
  fmv.d.x f20, t0
  c.fsdsp f20, 496(sp)
  c.fldsp f21, 496(sp)
  fmv.x.d t1, f21
  CHECK_EQ t1, 0xdeadbeefcafef00d
  ld t1, 496(sp)
  CHECK_EQ t1, 0xdeadbeefcafef00d

  # ---- control transfer
  li a0, 0
  c.beqz a0, 1f
  li a0, 99
1:
  CHECK_EQ a0, 0
  li a0, 1
  c.beqz a0, 1f
  li a0, 2
1:
  CHECK_EQ a0, 2
  c.bnez a0, 1f
  li a0, 99
1:
  CHECK_EQ a0, 2
  li a0, 0
  c.bnez a0, 1f
  li a0, 3
1:
  CHECK_EQ a0, 3
  # c.beqz with an upper-bit-only value: the whole register is compared
  li a0, 0x100000000
  c.beqz a0, 1f
  j 2f
1:
  li a0, 99
2:
  CHECK_EQ a0, 0x100000000

  li a0, 0
  c.j 1f
  li a0, 99
1:
  CHECK_EQ a0, 0

  la t0, c_jr_target
  li a1, 0
  c.jr t0
  li a1, 99                   # skipped
c_jr_back:
  CHECK_EQ a1, 5

  la t0, c_jalr_target
  li a1, 0
c_jalr_site:
  c.jalr t0
c_jalr_link:
  CHECK_EQ a1, 6
  CHECK_ADDR t1, c_jalr_link  # link is pc + 2

  # A 32-bit instruction right after a 2-byte one sits at pc % 4 == 2.
  c.nop
  li a0, 0
  addi a0, a0, 0x123
  c.nop
  xori a0, a0, 0x7ff
  CHECK_EQ a0, 0x123 ^ 0x7ff

  # ---- c.ebreak: breakpoint exception with epc at the c.ebreak
  CLEAR_TRAP
c_ebreak_site:
  c.ebreak
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC c_ebreak_site
  beqz s10, 1f
  CHECK_TVAL_ADDR c_ebreak_site
1:

  # ---- the all-zero halfword is illegal; tval is 0 either way
c_illegal_site:
  .half 0x0000
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC c_illegal_site
  CHECK_TVAL 0

  # ---- a 32-bit instruction straddling a page boundary
  li a0, 0
  la t0, straddle_insn
  jalr t0
  CHECK_EQ a0, 0x2a5

  # The assembler really emitted the compressed form (spot check).
  la t0, c_jalr_site
  lhu t1, 0(t0)
  CHECK_EQ t1, 0x9282         # c.jalr t0
  .option pop
  j c_done

c_jr_target:
  li a1, 5
  j c_jr_back
c_jalr_target:
  li a1, 6
  mv t1, ra
  ret
c_done:
TEST_END

  .section .text.straddle, "ax", @progbits
  .balign 4096
  .skip 4094, 0
straddle_insn:
  .option push
  .option norvc
  addi a0, a0, 0x2a5          # bytes 4094..4097 of this page
  ret
  .option pop

  .data
  .align 4
c_data:
  .word 0x5a5a5a5a
  .skip 252
  .align 4
  .bss
  .align 4
c_stack:
  .skip 2048
