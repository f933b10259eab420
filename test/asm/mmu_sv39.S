# Sv39 translation with page tables built at run time: 4 KiB pages, 2 MiB
# and 1 GiB superpages, misaligned superpages and a non-leaf PTE at level 0
# (page faults), R/W/X permission faults (12/13/15, tval = the virtual
# address), W-without-R and reserved-bit encodings, V = 0, U pages and SUM
# (S can never execute from U pages), MXR, MPRV with MPP = S/U, hardware A/D
# updates, sfence.vma picking up a changed PTE, non-canonical addresses,
# a leaf pointing at nothing (access fault with the virtual address), a
# fetch fault on the second half of an instruction crossing into an unmapped
# page, remapped code after sfence.vma (also code remapping its own page),
# and a page fault delegated to S.
#include "macros.h"

#define VA_BASE 0x40000000
#define VA(i) (VA_BASE + (i) * 4096)
#define VA_2M (VA_BASE + 0x200000)
#define VA_2M_BAD (VA_BASE + 0x400000)
#define VA_1G 0xC0000000
#define VA_1G_BAD 0x100000000
#define VA_L0_NONLEAF 0x140000000

#define RWAD (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)

TEST_BEGIN
  .option push
  .option norvc

  # ---- zero the page tables (do not rely on the loader for .bss)
  la t0, page_tables
  la t1, page_tables_end
1:
  sd zero, 0(t0)
  addi t0, t0, 8
  bltu t0, t1, 1b

  la s0, pt_root
  la s1, pt_l1
  la s2, pt_l0
  la s3, pt_l1_b
  la s4, pt_l0_b
  la s5, data_page0
  la s6, data_page1
  la s7, code_page
  la a6, ad_page

  li t0, 0x0000d00d0000d00d
  sd t0, 0(s5)
  li t0, 0x1111222233334444
  sd t0, 0(s6)
  li t0, 0x5555666677778888
  sd t0, 0(a6)

  # root: identity 1 GiB for code/data at 0x80000000, tables below
  PTE_ABS s0, 2, 0x80000000, RWAD | PTE_X
  PTE_PTR s0, 1, s1
  PTE_ABS s0, 3, 0x80000000, RWAD          # 1 GiB superpage alias
  PTE_ABS s0, 4, 0x80200000, RWAD          # misaligned 1 GiB superpage
  PTE_PTR s0, 5, s3
  PTE_PTR s3, 0, s4
  PTE_PTR s4, 0, s4                        # non-leaf at level 0: page fault

  PTE_PTR s1, 0, s2
  PTE_ABS s1, 1, 0x80000000, RWAD          # 2 MiB superpage alias
  PTE_ABS s1, 2, 0x80001000, RWAD          # misaligned 2 MiB superpage

  PTE s2, 0, s5, RWAD
  PTE s2, 1, s6, PTE_V | PTE_R | PTE_A                 # read-only
  PTE s2, 2, s5, PTE_V | PTE_X | PTE_A                 # execute-only
  PTE s2, 3, s5, RWAD | PTE_U                          # user data
  PTE s2, 4, s7, PTE_V | PTE_R | PTE_X | PTE_A | PTE_U # user code
  PTE s2, 5, s5, PTE_V | PTE_W | PTE_A | PTE_D         # W without R: reserved
  PTE s2, 6, s5, RWAD & ~PTE_V                         # invalid
  PTE s2, 7, a6, PTE_V | PTE_R | PTE_W                 # A = D = 0
  PTE s2, 8, s5, RWAD                                  # remapped later
  PTE s2, 10, s7, PTE_V | PTE_R | PTE_X | PTE_A        # supervisor code
  PTE s2, 11, s5, PTE_V | PTE_R | PTE_X | PTE_A | PTE_U # user, no W
  PTE_ABS s2, 12, UNMAPPED_PA, RWAD                    # nothing behind it
  la t2, straddle_page
  PTE s2, 14, t2, PTE_V | PTE_R | PTE_X | PTE_A        # VA(15) stays unmapped
  PTE s2, 16, s7, PTE_V | PTE_R | PTE_X | PTE_A        # code, remapped later
  # The first half of `addi a0, a0, 1` in the last two bytes of the page.
  li t0, 4094
  add t0, t2, t0
  li t1, 0x0513                 # low half of 0x00150513: 32-bit (bits 1:0 = 11)
  sh t1, 0(t0)
  la t2, swap_page1
  PTE s2, 17, t2, PTE_V | PTE_R | PTE_X | PTE_A        # remaps itself
  # bit 54 is reserved for future standard use: page fault
  PTE s2, 9, s5, RWAD
  ld t0, 9 * 8(s2)
  li t1, 1 << 54
  or t0, t0, t1
  sd t0, 9 * 8(s2)

  srli t0, s0, 12
  li t1, SATP_MODE_SV39
  or t0, t0, t1
  csrw satp, t0
  sfence.vma

  # ================= S-mode from here (identity-mapped code) ==========
  ENTER_MODE PRV_S, 1f
1:
  CLEAR_TRAP

  # ---- plain 4 KiB mapping, both directions
  li a0, VA(0)
  ld a1, 0(a0)
  CHECK_EQ a1, 0x0000d00d0000d00d
  li t0, 0xabcdef
  sd t0, 8(a0)
  ld a1, 8(s5)                  # same physical page through the identity map
  CHECK_EQ a1, 0xabcdef
  CHECK_NO_TRAP

  # ---- read-only page
  li a0, VA(1)
  ld a1, 0(a0)
  CHECK_EQ a1, 0x1111222233334444
  sd zero, 16(a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECK_TVAL VA(1) + 16
  amoadd.d a1, zero, (a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT

  # ---- execute-only page: no loads unless MXR
  li a0, VA(2)
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL VA(2)
  li t0, MSTATUS_MXR
  csrs sstatus, t0
  ld a1, 0(a0)
  CHECK_NO_TRAP
  CHECK_EQ a1, 0x0000d00d0000d00d
  sd a1, 0(a0)                  # MXR does not make it writable
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  li t0, MSTATUS_MXR
  csrc sstatus, t0

  # ---- U pages: S needs SUM for data, and can never execute them
  li a0, VA(3)
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL VA(3)
  sd a1, 0(a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  li t0, MSTATUS_SUM
  csrs sstatus, t0
  ld a1, 0(a0)
  CHECK_NO_TRAP
  CHECK_EQ a1, 0x0000d00d0000d00d
  RETURN_TO_M
  SET_RESUME 2f
  ENTER_MODE_VA PRV_S, VA(4)       # S fetch from a U page, SUM = 1
2:
  CHECK_TRAP CAUSE_FETCH_PAGE_FAULT
  CHECK_TVAL VA(4)
  CHECK_EQ s9, VA(4)
  ENTER_MODE PRV_S, 1f
1:
  li t0, MSTATUS_SUM
  csrc sstatus, t0

  # ---- S executes from a supervisor page mapped elsewhere
  li a0, 0
  li t0, VA(10)
  jalr t0                       # code_page: li a0, 42; ret
  CHECK_EQ a0, 42
  # ... but not from a page without X
  RETURN_TO_M
  SET_RESUME 2f
  ENTER_MODE_VA PRV_S, VA(0)
2:
  CHECK_TRAP CAUSE_FETCH_PAGE_FAULT
  CHECK_TVAL VA(0)
  ENTER_MODE PRV_S, 1f
1:

  # ---- an instruction whose second half is on an unmapped page: epc is
  # the instruction, tval the address of the part that faulted
  RETURN_TO_M
  SET_RESUME 2f
  ENTER_MODE_VA PRV_S, VA(14) + 4094
2:
  CHECK_EQ s11, CAUSE_FETCH_PAGE_FAULT
  CHECK_TVAL VA(15)
  CHECK_EQ s9, VA(14) + 4094
  CLEAR_TRAP
  ENTER_MODE PRV_S, 1f
1:

  # ---- code reached through a remapped page runs the new code after
  # sfence.vma (no stale decoded instructions keyed by virtual address)
  li a0, 0
  li t0, VA(16)
  jalr t0
  CHECK_EQ a0, 42
  la t1, code_page2
  PTE s2, 16, t1, PTE_V | PTE_R | PTE_X | PTE_A
  sfence.vma
  li t0, VA(16)
  jalr t0
  CHECK_EQ a0, 43
  li t0, VA(16)
  jalr t0
  CHECK_EQ a0, 43

#ifndef QEMU72_QUIRKS
  # ---- code that remaps its own page: after its sfence.vma, the very next
  # fetch from the same virtual page comes from the new physical page.
  # (QEMU 7.2 keeps executing the already-translated block of the old page.)
  la t3, swap_page2
  srli t3, t3, 12
  slli t3, t3, 10
  ori t3, t3, PTE_V | PTE_R | PTE_X | PTE_A
  addi t4, s2, 17 * 8
  li a0, 0
  li t0, VA(17)
  jalr t0
  CHECK_EQ a0, 2
#endif

  # ---- reserved encodings and invalid entries
  li a0, VA(5)                  # W without R
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL VA(5)
  sd a1, 0(a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  li a0, VA(6)                  # V = 0
  ld a1, 8(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL VA(6) + 8
  li a0, VA(9)                  # reserved bit 54 set
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  li a0, VA(13)                 # empty slot
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  li a0, VA_L0_NONLEAF          # pointer PTE at level 0
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL VA_L0_NONLEAF

  # ---- superpages
  li a0, VA_2M
  la t1, data_page1
  li t2, 0x80000000
  sub t1, t1, t2
  add a0, a0, t1
  ld a1, 0(a0)
  CHECK_EQ a1, 0x1111222233334444
  li a0, VA_1G
  add a0, a0, t1
  ld a1, 0(a0)
  CHECK_EQ a1, 0x1111222233334444
  li t0, 0x77
  sd t0, 8(a0)                  # write through the 1 GiB alias
  ld a1, 8(s6)
  CHECK_EQ a1, 0x77
  li a0, VA_2M_BAD
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL VA_2M_BAD
  li a0, VA_1G_BAD + 0x1000
  sd a1, 0(a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECK_TVAL VA_1G_BAD + 0x1000
  CHECK_NO_TRAP

  # ---- non-canonical addresses (bits 63:39 must equal bit 38)
  li a0, 0x0000004000000000
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL 0x0000004000000000
  li a0, 0x8000000080000000     # would be the identity page if truncated
  sd a1, 0(a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECK_TVAL 0x8000000080000000
  li a0, 0xffffffc000000000     # canonical, but nothing mapped (root[256])
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL 0xffffffc000000000

  # ---- leaf pointing at nothing: access fault, tval = virtual address
  li a0, VA(12)
  ld a1, 0x10(a0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_TVAL VA(12) + 0x10
  sd a1, 0(a0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_TVAL VA(12)

  # ---- hardware A/D updates
  li a0, VA(7)
  ld a1, 0(a0)
  CHECK_NO_TRAP
  CHECK_EQ a1, 0x5555666677778888
  ld t1, 7 * 8(s2)              # read the PTE through the identity map
  andi t1, t1, PTE_A | PTE_D
  CHECK_EQ t1, PTE_A
  li t0, 0x99
  sd t0, 0(a0)
  CHECK_NO_TRAP
  ld t1, 7 * 8(s2)
  andi t1, t1, PTE_A | PTE_D
  CHECK_EQ t1, PTE_A | PTE_D
  ld a1, 0(a6)
  CHECK_EQ a1, 0x99

  # ---- sfence.vma makes a changed PTE visible
  li a0, VA(8)
  ld a1, 0(a0)
  CHECK_EQ a1, 0x0000d00d0000d00d
  PTE s2, 8, s6, RWAD           # now points to data_page1
  sfence.vma a0, zero
  ld a1, 0(a0)
  CHECK_EQ a1, 0x1111222233334444
  PTE s2, 8, s5, PTE_V | PTE_R | PTE_A    # back, read-only
  sfence.vma
  ld a1, 0(a0)
  CHECK_EQ a1, 0x0000d00d0000d00d
  sd a1, 0(a0)
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  # Invalidating the PTE and fencing: the next access faults.
  sd zero, 8 * 8(s2)
  sfence.vma a0
  ld a1, 0(a0)
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL VA(8)

  # ---- page faults delegated to S land in stvec with stval
  RETURN_TO_M
  li t0, 1 << CAUSE_LOAD_PAGE_FAULT
  csrw medeleg, t0
  csrw stval, zero
  ENTER_MODE PRV_S, 1f
1:
  li a0, VA(6)
deleg_pf:
  ld a1, 0x28(a0)
  csrr a2, scause
  csrr a3, stval
  RETURN_TO_M
  CHECK_EQ a2, CAUSE_LOAD_PAGE_FAULT
  CHECK_EQ a3, VA(6) + 0x28
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT  # recorded by the S handler
  CHECK_EPC deleg_pf
  csrw medeleg, zero

  # ================= U-mode ===========================================
  # U runs from VA(4) (user code page); the first fault ends its run.
  li s3, VA(3)                  # user data
  li s4, VA(0)                  # supervisor data
  SET_RESUME 2f
  li a1, 0
  li a2, 0
  ENTER_MODE_VA PRV_U, VA(4) + 0x100
2:
  CHECK_EQ a1, 0x0000d00d0000d00d
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL VA(0)
  CHECK_EQ a2, 0
  # U store to a U page without W
  SET_RESUME 2f
  li s3, VA(11)
  ENTER_MODE_VA PRV_U, VA(4) + 0x200
2:
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECK_TVAL VA(11)
  # U fetch from a non-U executable page
  SET_RESUME 2f
  ENTER_MODE_VA PRV_U, VA(10)
2:
  CHECK_TRAP CAUSE_FETCH_PAGE_FAULT
  CHECK_TVAL VA(10)

  # ================= M-mode with MPRV =================================
  # M ignores satp for its own accesses ...
  ld a1, 0(s5)
  CHECK_EQ a1, 0x0000d00d0000d00d
  # ... but MPRV = 1 translates loads/stores with MPP's privilege.
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPP_S | MSTATUS_MPRV
  csrs mstatus, t0
  li a0, VA(1)
  ld a1, 0(a0)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  CHECK_NO_TRAP
  CHECK_EQ a1, 0x1111222233334444
  # MPP = U: a supervisor page faults
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  li a0, VA(1)
  ld a1, 0(a0)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_TVAL VA(1)
  # ... and a user page works
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  li a0, VA(3)
  ld a1, 0(a0)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  CHECK_NO_TRAP
  CHECK_EQ a1, 0x0000d00d0000d00d

  csrw satp, zero
  sfence.vma
  .option pop
TEST_END

  .text
  .option push
  .option norvc
  .balign 4096
# Position-independent code, mapped at VA(4) (U) and VA(10) (S).
code_page:
  li a0, 42
  ret
  .org code_page + 0x100
u_entry:
  ld a1, 0(s3)                  # user data: fine
  ld a2, 0(s4)                  # supervisor data: page fault, run ends
  j fail
  .org code_page + 0x200
u_store:
  sd zero, 0(s3)
  j fail
  .balign 4096
code_page2:
  li a0, 43
  ret
  .balign 4096
# Both pages start with the same store + fence; only what follows differs.
swap_page1:
  sd t3, 0(t4)
  sfence.vma
  li a0, 1
  ret
  .balign 4096
swap_page2:
  sd t3, 0(t4)
  sfence.vma
  li a0, 2
  ret
  .balign 4096
  .option pop

  .data
  .balign 4096
data_page0:
  .skip 4096
data_page1:
  .skip 4096
ad_page:
  .skip 4096
straddle_page:
  .skip 4096

  .bss
  .balign 4096
page_tables:
pt_root:
  .skip 4096
pt_l1:
  .skip 4096
pt_l0:
  .skip 4096
pt_l1_b:
  .skip 4096
pt_l0_b:
  .skip 4096
page_tables_end:
