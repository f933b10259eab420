# Sv48 translation: the four-level walk down to 4 KiB pages, 2 MiB, 1 GiB
# and 512 GiB superpages (aligned and misaligned), addresses that are only
# canonical in Sv48 (bit 39..47 in use, and the upper half via root[256]),
# non-canonical addresses, permission checks and A/D updates on a 512 GiB
# leaf, and switching satp between Sv48 and Sv39 roots.
#include "macros.h"

#define RWAD (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define TERA 0x8000000000          /* 512 GiB */

TEST_BEGIN
  .option push
  .option norvc

  la t0, page_tables
  la t1, page_tables_end
1:
  sd zero, 0(t0)
  addi t0, t0, 8
  bltu t0, t1, 1b

  la s0, pt_root
  la s1, pt_l2
  la s2, pt_l1
  la s3, pt_l0
  la s5, data_page0
  li t0, 0x4848484848484848
  sd t0, 0(s5)
  # offset of data_page0 inside the 0x80000000 region
  li t1, 0x80000000
  sub s6, s5, t1

  PTE_PTR s0, 0, s1
  PTE_ABS s0, 1, 0, RWAD                   # 512 GiB at VA 512G -> PA 0
  PTE_ABS s0, 2, 0x40000000, RWAD          # misaligned 512 GiB page
  PTE_ABS s0, 3, 0, PTE_V | PTE_R          # read-only, A = 0
  li a3, 256 * 8
  add a3, s0, a3
  PTE_ABS a3, 0, 0, RWAD                   # root[256], upper half: VA 0xffff8000_00000000
  PTE_ABS s1, 2, 0x80000000, RWAD | PTE_X  # identity 1 GiB for code/data
  PTE_ABS s1, 3, 0x80000000, RWAD          # 1 GiB alias at VA 0xc0000000
  PTE_ABS s1, 4, 0x80200000, RWAD          # misaligned 1 GiB page
  PTE_PTR s1, 1, s2
  PTE_PTR s2, 0, s3
  PTE_ABS s2, 1, 0x80000000, RWAD          # 2 MiB alias at VA 0x40200000
  PTE_ABS s2, 2, 0x80100000, RWAD          # misaligned 2 MiB page
  PTE s3, 0, s5, RWAD                      # 4 KiB at VA 0x40000000
  PTE s3, 1, s5, PTE_V | PTE_R | PTE_A

  srli t0, s0, 12
  li t1, SATP_MODE_SV48
  or t0, t0, t1
  csrw satp, t0
  csrr t1, satp
  CHECK_EQR t0, t1
  sfence.vma

  ENTER_MODE PRV_S, 1f
1:
  CLEAR_TRAP
  # ---- 4 KiB through four levels
  li a0, 0x40000000
  ld a1, 0(a0)
  CHECK_EQ a1, 0x4848484848484848
  li a0, 0x40001000
  sd a1, 0(a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECK_TVAL 0x40001000

  # ---- 2 MiB, 1 GiB, 512 GiB
  li a0, 0x40200000
  add a0, a0, s6
  ld a1, 0(a0)
  CHECK_EQ a1, 0x4848484848484848
  li a0, 0xc0000000
  add a0, a0, s6
  ld a1, 0(a0)
  CHECK_EQ a1, 0x4848484848484848
  li a0, TERA + 0x80000000      # canonical only with Sv48 (bit 39 set)
  add a0, a0, s6
  ld a1, 0(a0)
  CHECK_EQ a1, 0x4848484848484848
  li t0, 0x1234
  sd t0, 8(a0)
  ld a1, 8(s5)
  CHECK_EQ a1, 0x1234
  li a0, 0xffff800080000000     # upper half, sign-extended from bit 47
  add a0, a0, s6
  ld a1, 8(a0)
  CHECK_EQ a1, 0x1234
  CHECK_NO_TRAP

  # ---- misaligned superpages at every level
  li a0, 0x40400000
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL 0x40400000
  li a0, 0x100000000
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL 0x100000000
  li a0, 2 * TERA
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL 2 * TERA

  # ---- 512 GiB leaf: read-only, A set by hardware on access
  li a0, 3 * TERA + 0x80000000
  add a0, a0, s6
  ld a1, 0(a0)
  CHECK_NO_TRAP
  CHECK_EQ a1, 0x4848484848484848
  ld t1, 3 * 8(s0)
  andi t1, t1, PTE_A | PTE_D
  CHECK_EQ t1, PTE_A
  sd a1, 0(a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECK_EQR s10, a0
  ld t1, 3 * 8(s0)
  andi t1, t1, PTE_D            # a faulting store does not set D
  CHECK_EQ t1, 0

  # ---- non-canonical: bits 63:48 must equal bit 47
  li a0, 0x0000800000000000
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL 0x0000800000000000
  li a0, 0x0001000080000000
  sd a1, 0(a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECK_TVAL 0x0001000080000000
  li a0, 0xfffe000080000000
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  RETURN_TO_M
  SET_RESUME 2f
  ENTER_MODE_VA PRV_S, 0x0000800080000000
2:
  CHECK_TRAP CAUSE_FETCH_PAGE_FAULT
  CHECK_TVAL 0x0000800080000000

  # ---- the same address space as Sv39: the 512 GiB alias is gone
  la t0, pt_sv39_root
  li t1, 512
3:
  sd zero, 0(t0)
  addi t0, t0, 8
  addi t1, t1, -1
  bnez t1, 3b
  la t2, pt_sv39_root
  PTE_ABS t2, 2, 0x80000000, RWAD | PTE_X
  srli t0, t2, 12
  li t1, SATP_MODE_SV39
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  ENTER_MODE PRV_S, 1f
1:
  li a0, TERA + 0x80000000      # non-canonical for Sv39
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL TERA + 0x80000000
  ld a1, 0(s5)                  # identity still fine
  CHECK_NO_TRAP
  CHECK_EQ a1, 0x4848484848484848
  RETURN_TO_M

  csrw satp, zero
  sfence.vma
  .option pop
TEST_END

  .data
  .balign 4096
data_page0:
  .skip 4096

  .bss
  .balign 4096
page_tables:
pt_root:
  .skip 4096
pt_l2:
  .skip 4096
pt_l1:
  .skip 4096
pt_l0:
  .skip 4096
page_tables_end:
pt_sv39_root:
  .skip 4096
