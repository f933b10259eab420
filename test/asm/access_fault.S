# Physical addresses with nothing behind them: loads (cause 5), stores
# (cause 7) and fetches (cause 1) fault with tval = the address, from M and
# from U, rd is left alone, a jalr into the void still links; and page-table
# walks that touch such addresses raise access faults for the original
# access type.
#include "macros.h"

#define RWAD (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)

TEST_BEGIN
  .option push
  .option norvc

  CLEAR_TRAP
  li a0, UNMAPPED_PA
  li a1, 0x1234
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_TVAL UNMAPPED_PA
  CHECK_EQ a1, 0x1234
  lbu a1, 0x33(a0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_TVAL UNMAPPED_PA + 0x33
  lh a1, -2(a0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_TVAL UNMAPPED_PA - 2
  lwu a1, 4(a0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  sd a1, 8(a0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_TVAL UNMAPPED_PA + 8
  sb a1, 1(a0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_TVAL UNMAPPED_PA + 1
  # reading it back still faults (nothing was created by the store)
  ld a1, 8(a0)
  CHECK_TRAP CAUSE_LOAD_ACCESS

  li a0, 0
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_TVAL 0
  sw a1, 16(a0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_TVAL 16

  # Beyond the end of RAM's 2 GiB window.
  li a0, 0x100000000000
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_TVAL 0x100000000000

  # ---- instruction fetch from nothing; jalr still writes its link
  SET_RESUME 2f
  li t0, UNMAPPED_PA
  li ra, 0
jalr_void:
  jalr ra, 0(t0)
2:
  CHECK_TRAP CAUSE_FETCH_ACCESS
  CHECK_TVAL UNMAPPED_PA
  CHECK_EQ s9, UNMAPPED_PA
  CHECK_ADDR ra, jalr_void + 4
  SET_RESUME 2f
  li t0, 0
  jr t0
2:
  CHECK_TRAP CAUSE_FETCH_ACCESS
  CHECK_EQ s9, 0

  # ---- the same from U
  ENTER_MODE PRV_U, 1f
1:
  li a0, UNMAPPED_PA
  ld a1, 0x40(a0)
  RETURN_TO_M
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_TVAL UNMAPPED_PA + 0x40
  ENTER_MODE PRV_U, 1f
1:
  li a0, UNMAPPED_PA
  sh a1, 0x42(a0)
  RETURN_TO_M
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_TVAL UNMAPPED_PA + 0x42
  SET_RESUME 2f
  ENTER_MODE_VA PRV_U, UNMAPPED_PA + 0x100
2:
  CHECK_TRAP CAUSE_FETCH_ACCESS
  CHECK_TVAL UNMAPPED_PA + 0x100

#ifndef QEMU72_QUIRKS
  # ---- page-table walks into nothing: access fault of the original type,
  # tval = the virtual address.  (QEMU 7.2 raises page faults instead.)
  la t0, pt_root
  li t1, 512
3:
  sd zero, 0(t0)
  addi t0, t0, 8
  addi t1, t1, -1
  bnez t1, 3b
  la s0, pt_root
  li t1, 0x80000000
  srli t0, t1, 12
  slli t0, t0, 10
  ori t0, t0, RWAD | PTE_X
  sd t0, 2 * 8(s0)              # identity 1 GiB for code
  li t1, UNMAPPED_PA
  srli t0, t1, 12
  slli t0, t0, 10
  ori t0, t0, PTE_V
  sd t0, 1 * 8(s0)              # root[1]: next level lives in nothing
  srli t0, s0, 12
  li t1, SATP_MODE_SV39
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  ENTER_MODE PRV_S, 1f
1:
  li a0, 0x40000000
  ld a1, 8(a0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_TVAL 0x40000008
  sd a1, 16(a0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_TVAL 0x40000010
  RETURN_TO_M
  SET_RESUME 2f
  ENTER_MODE_VA PRV_S, 0x40000000
2:
  CHECK_TRAP CAUSE_FETCH_ACCESS
  CHECK_TVAL 0x40000000
  csrw satp, zero
  sfence.vma
#endif
  .option pop
TEST_END

  .bss
  .balign 4096
pt_root:
  .skip 4096
