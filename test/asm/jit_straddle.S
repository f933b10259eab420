# A hot loop whose 4-byte instruction crosses a page end (`addi a0, a0, 1`
# at offset 0xffe: its upper half is the first halfword of the next page).
# Compiled code must run it as the interpreter does, reading its upper half
# from whatever the next virtual page maps now:
#   - identity-mapped, in M-mode;
#   - under Sv39, with the next page then remapped (PTE store, sfence.vma) to
#     a copy whose first halfword makes it `addi a0, a0, 3`;
#   - with the next page then unmapped: a fetch page fault whose epc is the
#     instruction and whose tval is the start of the page that faulted.
#include "macros.h"

#define ITERATIONS 5000
#define VA_A 0x40000000
#define VA_B (VA_A + 4096)
#define VA_LOOP (VA_A + 4096 - 12)
#define RWXAD (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define RXA (PTE_V | PTE_R | PTE_X | PTE_A)
# Upper halfword of `addi a0, a0, 3` (0x00350513).
#define ADDI_A0_3_HIGH 0x0035

TEST_BEGIN
  .option push
  .option norvc

  # ---- M-mode, physical addresses
  li a0, 0
  li a1, ITERATIONS
  call loop_start
  CHECK_EQ a0, ITERATIONS
  CHECK_EQ a1, 0

  # ---- page_b2: page_b1's first 10 bytes, with the upper half of `addi a0, a0, 3`
  la t1, page_b1
  la t2, page_b2
  li t0, ADDI_A0_3_HIGH
  sh t0, 0(t2)
  lhu t0, 2(t1)
  sh t0, 2(t2)
  lhu t0, 4(t1)
  sh t0, 4(t2)
  lhu t0, 6(t1)
  sh t0, 6(t2)
  lhu t0, 8(t1)
  sh t0, 8(t2)
  fence.i

  # ---- Sv39: identity 1 GiB for this code, VA_A -> page_a, VA_B -> page_b1
  la t0, page_tables
  la t1, page_tables_end
1:
  sd zero, 0(t0)
  addi t0, t0, 8
  bltu t0, t1, 1b
  la s0, root
  la s1, l1
  la s2, l0
  li t1, 0x80000000
  PTE s0, 2, t1, RWXAD
  PTE s0, 1, s1, PTE_V
  PTE s1, 0, s2, PTE_V
  la t1, page_a
  PTE s2, 0, t1, RXA
  la t1, page_b1
  PTE s2, 1, t1, RXA
  srli t0, s0, 12
  li t1, SATP_MODE_SV39
  or t0, t0, t1
  csrw satp, t0
  sfence.vma

  ENTER_MODE PRV_S, 1f
1:
  CLEAR_TRAP
  li s3, VA_LOOP
  li a0, 0
  li a1, ITERATIONS
  jalr s3
  CHECK_EQ a0, ITERATIONS

  # The next page now maps the copy: the same instruction bytes in page_a,
  # another upper half.
  la t1, page_b2
  PTE s2, 1, t1, RXA
  sfence.vma
  li a0, 0
  li a1, ITERATIONS
  jalr s3
  CHECK_EQ a0, 3 * ITERATIONS
  CHECK_NO_TRAP

  # And back: the first form again.
  la t1, page_b1
  PTE s2, 1, t1, RXA
  sfence.vma
  li a0, 0
  li a1, ITERATIONS
  jalr s3
  CHECK_EQ a0, ITERATIONS
  CHECK_NO_TRAP

  # The next page unmapped: the first run of the instruction faults.
  sd zero, 8(s2)
  sfence.vma
  li a0, 0
  li a1, ITERATIONS
  RETURN_TO_M
  SET_RESUME 2f
  ENTER_MODE PRV_S, 1f
1:
  jalr s3
  j fail
2:
  CHECK_TRAP CAUSE_FETCH_PAGE_FAULT
  CHECK_EQ s9, VA_A + 4094
  CHECK_TVAL VA_B
  CHECK_EQ a0, 0
  CHECK_EQ a1, ITERATIONS - 1

  csrw satp, zero
  sfence.vma
  .option pop
TEST_END

  .text
  .balign 4096
page_a:
  .equ page_b1, page_a + 4096
  .skip 4096 - 12
# page_a + 0xff4: counts a1 down, adding to a0 through the page-crossing addi.
loop_start:
  .option push
  .option norvc
  addi a1, a1, -1
  .option rvc
  c.nop
  c.nop
  c.nop
  .option norvc
  addi a0, a0, 1
  # page_b1 + 2 from here on
  bnez a1, loop_start
  ret
  .option pop
  .balign 4096
page_b2:
  .skip 4096

  .bss
  .balign 4096
page_tables:
root:
  .skip 4096
l1:
  .skip 4096
l0:
  .skip 4096
page_tables_end:
