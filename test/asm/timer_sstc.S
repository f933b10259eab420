# qemu-machine: virt (QEMU's spike machine has no rdtime: the time CSR and
# stimecmp are illegal there; the virt machine provides both, with the same
# CLINT layout, and the test exits through its sifive_test device.)
#
# The time CSR and Sstc: rdtime tracks CLINT mtime, mcounteren.TM and
# scounteren.TM gate it for S and U; stimecmp (0x14d) is illegal in S unless
# menvcfg.STCE and mcounteren.TM are both set, drives mip.STIP (read-only
# then) and raises supervisor timer interrupts that are delegated to S.
#include "macros.h"

# Run `insn` in privilege `mode` and come back; s11 = cause or -1.

#define WAIT_TICKS 20000000
#define SPIN_LIMIT 4000000

TEST_BEGIN
  .option push
  .option norvc

  # ---- rdtime follows mtime
  li t1, CLINT_MTIME
  ld a0, 0(t1)
  rdtime a1
  ld a2, 0(t1)
  sltu a3, a1, a0
  CHECK_EQ a3, 0
  sltu a3, a2, a1
  CHECK_EQ a3, 0
  li t0, 1000
1:
  addi t0, t0, -1
  bnez t0, 1b
  rdtime a3
  CHECK_NER a3, a1

  # ---- mcounteren.TM / scounteren.TM
  csrw mcounteren, zero
  csrw scounteren, zero
  IN_MODE PRV_S, rdtime a0
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  li t0, 2
  csrw mcounteren, t0
  IN_MODE PRV_S, rdtime a0
  CHECK_NO_TRAP
  IN_MODE PRV_U, rdtime a0
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  csrw scounteren, t0
  IN_MODE PRV_U, rdtime a0
  CHECK_NO_TRAP
  CHECK_NE a0, 0
  csrw time, zero               # read-only, even for M
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION

  # ---- stimecmp needs menvcfg.STCE (and mcounteren.TM) in S
  csrw CSR_MENVCFG, zero
  IN_MODE PRV_S, csrr a0, CSR_STIMECMP
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  li t0, MENVCFG_STCE
  csrs CSR_MENVCFG, t0
  csrr a0, CSR_MENVCFG
  srli a0, a0, 63
  CHECK_EQ a0, 1
  csrw mcounteren, zero
  IN_MODE PRV_S, csrr a0, CSR_STIMECMP
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  li t0, 2
  csrw mcounteren, t0
  li t1, -1
  IN_MODE PRV_S, csrw CSR_STIMECMP, t1
  CHECK_NO_TRAP
  csrr a0, CSR_STIMECMP
  CHECK_EQ a0, -1
  # U never has it.
  IN_MODE PRV_U, csrr a0, CSR_STIMECMP
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION

  # ---- stimecmp drives mip.STIP, which is then read-only
  csrr a0, mip
  CHECK_MASKED a0, MIP_STIP, 0
  li t0, MIP_STIP
  csrs mip, t0
  csrr a0, mip
  CHECK_MASKED a0, MIP_STIP, 0
  csrw CSR_STIMECMP, zero
  csrr a0, mip
  CHECK_MASKED a0, MIP_STIP, MIP_STIP
  li t0, MIP_STIP
  csrc mip, t0
  csrr a0, mip
  CHECK_MASKED a0, MIP_STIP, MIP_STIP
  li t0, -1
  csrw CSR_STIMECMP, t0
  csrr a0, mip
  CHECK_MASKED a0, MIP_STIP, 0

  # ---- a delegated supervisor timer interrupt, armed from S
  li t0, MIP_STIP
  csrw mideleg, t0
  csrw mie, t0
  la t0, s_timer_handler
  csrw stvec, t0
  li s0, 0
  ENTER_MODE PRV_S, 1f
1:
  rdtime a0
  addi a0, a0, 100
  csrw CSR_STIMECMP, a0
  csrsi sstatus, MSTATUS_SIE
  li a5, SPIN_LIMIT
  rdtime a2
  mv a6, a2
2:
  bnez s0, 3f
  rdtime a4
  bne a4, a6, 4f                # only iterations with a stalled clock count against SPIN_LIMIT
  addi a5, a5, -1
  beqz a5, 3f
4:
  mv a6, a4
  sub a4, a4, a2
  li a3, WAIT_TICKS
  bltu a4, a3, 2b
3:
  csrci sstatus, MSTATUS_SIE
  RETURN_TO_M
  CHECK_EQ s0, 1
  CHECK_EQ s1, INTERRUPT_BIT | IRQ_S_TIMER
  csrr a0, mip
  CHECK_MASKED a0, MIP_STIP, 0  # the handler pushed stimecmp out

  # Taken in U regardless of SIE.
  li s0, 0
  csrw CSR_STIMECMP, zero
  ENTER_MODE PRV_U, 1f
1:
  nop
  RETURN_TO_M
  CHECK_EQ s0, 1

  csrw mie, zero
  csrw mideleg, zero
  la t0, strap_vector
  csrw stvec, t0
  csrw CSR_MENVCFG, zero
  .option pop
TEST_END

  .text
  .option push
  .option norvc
  .balign 4
s_timer_handler:
  csrr s8, scause
  bgez s8, strap_vector
  li s0, 1
  csrr s1, scause
  li s8, -1
  csrw CSR_STIMECMP, s8
  sret
  .option pop
