# Physical memory protection: NAPOT and TOR regions denying S/U loads,
# stores and fetches (access faults 5/7/1 with tval = address), M being
# unaffected by unlocked entries, the lowest-numbered matching entry
# winning, MPRV making M's loads subject to U's permissions, and locked
# entries binding M and ignoring further writes.
#include "macros.h"

#define PMP_R 0x01
#define PMP_W 0x02
#define PMP_X 0x04
#define PMP_TOR 0x08
#define PMP_NAPOT 0x18
#define PMP_L 0x80

# pmpaddr value for a naturally aligned 4 KiB NAPOT region at `reg`.
.macro NAPOT_4K dst, reg
  srli \dst, \reg, 2
  ori \dst, \dst, 0x1ff
.endm

# Set pmpcfg0 to `cfg` and resynchronise address translation with it.
.macro SET_PMPCFG0 cfg
  li t0, \cfg
  csrw pmpcfg0, t0
  sfence.vma
.endm

TEST_BEGIN
  .option push
  .option norvc

  la s0, pmp_page
  la s1, pmp_code_page
  li t0, -1
  csrw pmpaddr1, t0             # entry 1: everything (NAPOT)
  NAPOT_4K t0, s0
  csrw pmpaddr0, t0             # entry 0: pmp_page

  # ---- entry 0 grants nothing
  SET_PMPCFG0 (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 8) | PMP_NAPOT)
  csrr a0, pmpcfg0
  CHECK_EQ a0, (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 8) | PMP_NAPOT)
  IN_MODE PRV_U, ld a0, 8(s0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  addi t1, s0, 8
  CHECK_EQR s10, t1
  IN_MODE PRV_U, sd a0, 16(s0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  addi t1, s0, 16
  CHECK_EQR s10, t1
  IN_MODE PRV_S, lw a0, 4(s0)
  CHECK_TRAP CAUSE_LOAD_ACCESS
  addi t1, s0, 4
  CHECK_EQR s10, t1
#ifndef QEMU72_QUIRKS
  # An AMO faults as a store (QEMU 7.2 reports a load access fault).
  IN_MODE PRV_S, amoadd.d a0, a0, (s0)
  CHECK_TRAP CAUSE_STORE_ACCESS
#endif
  # The next page is not covered.
  li t1, 4096
  add s2, s0, t1
  IN_MODE PRV_U, ld a0, 0(s2)
  CHECK_NO_TRAP
  IN_MODE PRV_U, ld a0, -8(s0)
  CHECK_NO_TRAP
  # M is not subject to unlocked entries.
  li t0, 0x1122334455667788
  sd t0, 0(s0)
  ld a0, 0(s0)
  CHECK_EQ a0, 0x1122334455667788
  CHECK_NO_TRAP

  # ---- MPRV with MPP = U: M's loads and stores are checked as U's
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  ld a0, 0(s0)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_EQR s10, s0

  # ---- read-only entry
  SET_PMPCFG0 (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 8) | PMP_NAPOT | PMP_R)
  IN_MODE PRV_U, ld a0, 0(s0)
  CHECK_NO_TRAP
  CHECK_EQ a0, 0x1122334455667788
  IN_MODE PRV_U, sb a0, 7(s0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  addi t1, s0, 7
  CHECK_EQR s10, t1
  ld a0, 0(s0)
  CHECK_EQ a0, 0x1122334455667788

  # ---- execute permission: fetch access fault, then success with X
  NAPOT_4K t0, s1
  csrw pmpaddr0, t0
  SET_PMPCFG0 (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 8) | PMP_NAPOT | PMP_R)
  SET_RESUME 1f
  li a0, 0
  ENTER_MODE PRV_U, pmp_code_page
1:
  CHECK_TRAP CAUSE_FETCH_ACCESS
  CHECK_ADDR s10, pmp_code_page
  CHECK_ADDR s9, pmp_code_page
  CHECK_EQ a0, 0
  la t0, trap_resume
  sd zero, 0(t0)
  SET_PMPCFG0 (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 8) | PMP_NAPOT | PMP_X)
  CLEAR_TRAP
  ENTER_MODE PRV_U, pmp_code_page
pmp_code_back:
  CHECK_NO_TRAP
  CHECK_EQ a0, 42
  # The code page is readable by U only with R, even though it executes.
  IN_MODE PRV_U, lw a0, 0(s1)
  CHECK_TRAP CAUSE_LOAD_ACCESS

  # ---- the lowest-numbered matching entry decides
  NAPOT_4K t0, s0
  csrw pmpaddr0, t0
  csrw pmpaddr1, t0
  li t0, -1
  csrw pmpaddr2, t0
  SET_PMPCFG0 (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 16) | (PMP_NAPOT << 8) | PMP_NAPOT | PMP_R | PMP_W)
  IN_MODE PRV_U, sd a0, 8(s0)
  CHECK_NO_TRAP
  SET_PMPCFG0 (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 16) | ((PMP_NAPOT | PMP_R | PMP_W) << 8) | PMP_NAPOT)
  IN_MODE PRV_U, sd a0, 8(s0)
  CHECK_TRAP CAUSE_STORE_ACCESS

  # ---- TOR: entry 1 covers [pmpaddr0, pmpaddr1) read-only
  srli t0, s0, 2
  csrw pmpaddr0, t0
  srli t0, s2, 2
  csrw pmpaddr1, t0
  SET_PMPCFG0 (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 16) | ((PMP_TOR | PMP_R) << 8))
  IN_MODE PRV_U, sd a0, 0(s0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  li t1, 4088
  add t1, s0, t1
  IN_MODE PRV_U, sd a0, 0(t1)   # last dword inside
  CHECK_TRAP CAUSE_STORE_ACCESS
  IN_MODE PRV_U, sd a0, 0(s2)   # top is exclusive
  CHECK_NO_TRAP
  IN_MODE PRV_U, sd a0, -8(s0)
  CHECK_NO_TRAP
  IN_MODE PRV_U, ld a0, 0(s0)
  CHECK_NO_TRAP

  # ---- locked entry: applies to M too, and ignores later writes
  NAPOT_4K t0, s0
  csrw pmpaddr0, t0
  li t0, -1
  csrw pmpaddr1, t0
  SET_PMPCFG0 (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 8) | PMP_L | PMP_NAPOT | PMP_R)
  ld a0, 0(s0)
  CHECK_NO_TRAP
  li t2, 0x5a
  sd t2, 0(s0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECK_EQR s10, s0
  ld a0, 0(s0)
  CHECK_NE a0, 0x5a
  # Writes to a locked entry's cfg and address are ignored.
  SET_PMPCFG0 (((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 8) | PMP_NAPOT | PMP_R | PMP_W)
  csrr a0, pmpcfg0
  andi a0, a0, 0xff
  CHECK_EQ a0, PMP_L | PMP_NAPOT | PMP_R
  csrr a1, pmpaddr0
  li t0, -1
  csrw pmpaddr0, t0
  sfence.vma
  csrr a2, pmpaddr0
  CHECK_EQR a1, a2
  sd t2, 0(s0)
  CHECK_TRAP CAUSE_STORE_ACCESS
  # Entry 1 is still writable.
  csrr a0, pmpcfg0
  srli a0, a0, 8
  andi a0, a0, 0xff
  CHECK_EQ a0, PMP_NAPOT | PMP_R | PMP_W | PMP_X

  .option pop
TEST_END

  .text
  .option push
  .option norvc
  .balign 4096
pmp_code_page:
  li a0, 42
  RETURN_TO_M
  j pmp_code_back
  .balign 4096
  .option pop

  .data
  .balign 4096
pmp_page:
  .skip 4096
  .skip 4096                    # the page after it, outside the regions
