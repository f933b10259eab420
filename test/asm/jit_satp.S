# Two Sv39 address spaces (two root tables, ASIDs 1 and 2) map the same
# virtual page to two different physical pages of code, each a loop hot
# enough to be compiled.  S-mode switches satp between them many times and
# calls the same virtual address each time: the code run must always be the
# one the current address space maps (compiled code is found through the
# translation in force, never by virtual address alone).  Going to space A
# uses sfence.vma; going to space B relies on its distinct ASID alone (its
# tables never change, so no fence is needed).  A third round remaps space
# B's page to space A's code in place (a PTE store and sfence.vma), as an
# exec() into another program would.
#include "macros.h"

#define VA_CODE 0x40000000
#define ROUNDS 40
#define ITERATIONS 3000

#define RWXAD (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define RXA (PTE_V | PTE_R | PTE_X | PTE_A)

TEST_BEGIN
  .option push
  .option norvc

  la t0, page_tables
  la t1, page_tables_end
1:
  sd zero, 0(t0)
  addi t0, t0, 8
  bltu t0, t1, 1b

  # Both spaces: identity 1 GiB at 0x80000000 for this code and its data,
  # and VA_CODE (1 GiB slot 1) through their own level-1 and level-0 tables.
  la s0, root_a
  la s1, root_b
  li t1, 0x80000000
  PTE s0, 2, t1, RWXAD
  PTE s1, 2, t1, RWXAD
  la t1, l1_a
  PTE s0, 1, t1, PTE_V
  la t2, l0_a
  PTE t1, 0, t2, PTE_V
  la t3, code_a
  PTE t2, 0, t3, RXA
  la t1, l1_b
  PTE s1, 1, t1, PTE_V
  la t2, l0_b
  PTE t1, 0, t2, PTE_V
  la t3, code_b
  PTE t2, 0, t3, RXA

  li t1, SATP_MODE_SV39 | (1 << 44)
  srli t0, s0, 12
  or s0, t0, t1                 # satp of space A, ASID 1
  li t1, SATP_MODE_SV39 | (2 << 44)
  srli t0, s1, 12
  or s1, t0, t1                 # satp of space B, ASID 2
  csrw satp, s0
  sfence.vma

  ENTER_MODE PRV_S, 1f
1:
  CLEAR_TRAP
  li s2, ROUNDS
  li s3, 0                      # what space A's code returned, summed
  li s4, 0                      # same for space B
  li s5, VA_CODE
2:
  csrw satp, s0
  sfence.vma
  li a1, ITERATIONS
  jalr s5                       # code_a: a0 = ITERATIONS
  add s3, s3, a0
  csrw satp, s1                 # no fence: ASID 2 has its own translations
  li a1, ITERATIONS
  jalr s5                       # code_b: a0 = 3 * ITERATIONS
  add s4, s4, a0
  addi s2, s2, -1
  bnez s2, 2b
  CHECK_EQ s3, ROUNDS * ITERATIONS
  CHECK_EQ s4, 3 * ROUNDS * ITERATIONS
  CHECK_NO_TRAP

  # Space B's page now maps space A's code: same virtual page, same ASID.
  la t2, l0_b
  la t3, code_a
  PTE t2, 0, t3, RXA
  sfence.vma
  li s2, ROUNDS
  li s4, 0
3:
  li a1, ITERATIONS
  jalr s5
  add s4, s4, a0
  addi s2, s2, -1
  bnez s2, 3b
  CHECK_EQ s4, ROUNDS * ITERATIONS
  CHECK_NO_TRAP

  RETURN_TO_M
  csrw satp, zero
  sfence.vma
  .option pop
TEST_END

  .text
  .option push
  .option norvc
  .balign 4096
# Counts a1 down to zero; returns a0 = a1 (code_a) or 3 * a1 (code_b).
code_a:
  li a0, 0
1:
  addi a0, a0, 1
  addi a1, a1, -1
  bnez a1, 1b
  ret
  .balign 4096
code_b:
  li a0, 0
1:
  addi a0, a0, 3
  addi a1, a1, -1
  bnez a1, 1b
  ret
  .balign 4096
  .option pop

  .bss
  .balign 4096
page_tables:
root_a:
  .skip 4096
root_b:
  .skip 4096
l1_a:
  .skip 4096
l0_a:
  .skip 4096
l1_b:
  .skip 4096
l0_b:
  .skip 4096
page_tables_end:
