# Trap delegation: medeleg sends exceptions from S/U to stvec with scause,
# sepc, stval and sstatus.SPP/SPIE set, never delegates traps taken in M,
# and cannot delegate ecall from M; mideleg sends S-level interrupts to S,
# where they are taken in U regardless of SIE, in S only with SIE, and never
# while in M; sie/sip expose only delegated interrupts.
#
# Here the M handler records into t4 (mcause), t5 (mtval), t6 (mepc) and
# the default S handler into s11/s10/s9, so each check also tells which
# mode took the trap.
#include "macros.h"

#define EXC(c) (1 << (c))

TEST_BEGIN
  .option push
  .option norvc

  la t0, m_handler
  csrw mtvec, t0
  li t4, -1

#ifndef QEMU72_QUIRKS
  # ---- medeleg[11] is read-only zero: ecall from M cannot be delegated
  # (QEMU 7.2 lets it be set).
  li t0, -1
  csrw medeleg, t0
  csrr a0, medeleg
  CHECK_MASKED a0, EXC(CAUSE_MACHINE_ECALL), 0
#endif
  li t0, EXC(CAUSE_USER_ECALL) | EXC(CAUSE_ILLEGAL_INSTRUCTION) | EXC(CAUSE_BREAKPOINT) | EXC(CAUSE_LOAD_ACCESS)
  csrw medeleg, t0
  csrr a0, medeleg
  CHECK_EQR a0, t0

  # ---- ecall from U goes to S
  CLEAR_TRAP
  li t0, MSTATUS_SIE            # SIE = 1 while in U: must end up in SPIE
  csrs mstatus, t0
  li t0, MSTATUS_SPP | MSTATUS_SPIE
  csrc mstatus, t0
  ENTER_MODE PRV_U, 1f
1:
  li a7, 0
deleg_ecall_u:
  ecall
  RETURN_TO_M
  CHECK_EQ t4, -1               # M saw nothing but the RETURN_TO_M request
  CHECK_TRAP CAUSE_USER_ECALL
  CHECK_EPC deleg_ecall_u
  CHECK_TVAL 0
  # scause/sepc got the RETURN_TO_M ecall after the first one; sstatus shows
  # the state of the last S trap (also from U).
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPIE
  li t0, MSTATUS_SIE | MSTATUS_SPIE
  csrc mstatus, t0

  # ---- illegal instruction in U goes to S with stval = bits or 0
  ENTER_MODE PRV_U, 1f
1:
deleg_illegal_u:
  csrr a0, mstatus
  RETURN_TO_M
  CHECK_EQ t4, -1
  CHECK_EQ s11, CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC deleg_illegal_u
  beqz s10, 2f
  la a1, deleg_illegal_u
  lwu a1, 0(a1)
  CHECK_EQR s10, a1
2:
  CLEAR_TRAP

  # ---- breakpoint in S goes to S, SPP = S
  ENTER_MODE PRV_S, 1f
1:
deleg_ebreak_s:
  ebreak
  RETURN_TO_M
  CHECK_EQ t4, -1
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC deleg_ebreak_s

  # ---- delegated load access fault from S: stval = address
  ENTER_MODE PRV_S, 1f
1:
  li a1, UNMAPPED_PA
deleg_load_s:
  ld a0, 8(a1)
  RETURN_TO_M
  CHECK_EQ t4, -1
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_EPC deleg_load_s
  CHECK_TVAL UNMAPPED_PA + 8

  # ---- a non-delegated exception from S still goes to M
  ENTER_MODE PRV_S, 1f
1:
  li a1, UNMAPPED_PA
  sd a0, 0(a1)                  # store access fault: bit 7 not delegated
  RETURN_TO_M
  CHECK_EQ t4, CAUSE_STORE_ACCESS
  CHECK_EQ t5, UNMAPPED_PA
  CHECK_NO_TRAP
  li t4, -1

  # ---- exceptions raised in M are never delegated
  la t0, stvec_must_not_run
  csrw stvec, t0
m_illegal:
  .word 0xffffffff
  CHECK_EQ t4, CAUSE_ILLEGAL_INSTRUCTION
  CHECK_ADDR t6, m_illegal
  li t4, -1
  ebreak
  CHECK_EQ t4, CAUSE_BREAKPOINT
  li t4, -1
  li a1, UNMAPPED_PA
  ld a0, 0(a1)
  CHECK_EQ t4, CAUSE_LOAD_ACCESS
  li t4, -1
  la t0, strap_vector
  csrw stvec, t0
  CHECK_NO_TRAP

  # ---- ecall from S delegated: handled by S itself (SPP = S).  The default
  # S handler would forward RETURN_TO_M as an ecall from S and loop, so a
  # private handler is used.
  li t0, EXC(CAUSE_SUPERVISOR_ECALL)
  csrw medeleg, t0
  la t0, s_ecall_handler
  csrw stvec, t0
  la t0, trap_vector
  csrw mtvec, t0
  SET_RESUME 2f
  li t3, 0
  ENTER_MODE PRV_S, 1f
1:
  li a7, 0
  ecall
  # Back in S (the S handler skipped the ecall).  An illegal instruction is
  # not delegated now: the default M handler resumes at 2f in M.
  csrw medeleg, zero
  j fail
2:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EQ t3, CAUSE_SUPERVISOR_ECALL
  CHECK_MASKED a5, MSTATUS_SPP, MSTATUS_SPP   # trapped from S
  csrw medeleg, zero
  la t0, strap_vector
  csrw stvec, t0
  la t0, m_handler
  csrw mtvec, t0

  # ---- sie / sip only show delegated interrupts
  csrw mideleg, zero
  li t0, -1
  csrw sie, t0
  csrr a0, sie
  CHECK_EQ a0, 0
  csrr a0, mie
  CHECK_MASKED a0, MIP_SSIP | MIP_STIP, 0
  li t0, MIP_SSIP
  csrs mip, t0
  csrr a0, sip
  CHECK_EQ a0, 0
  csrr a0, mip
  CHECK_MASKED a0, MIP_SSIP, MIP_SSIP
  csrc mip, t0

  li t0, MIP_SSIP | MIP_STIP
  csrw mideleg, t0
  csrr a0, mideleg
  CHECK_MASKED a0, MIP_SSIP | MIP_STIP, MIP_SSIP | MIP_STIP
  li t0, MIP_SSIP
  csrw sie, t0
  csrr a0, mie
  CHECK_MASKED a0, MIP_SSIP | MIP_MSIP | MIP_MTIP, MIP_SSIP
  csrr a0, sie
  CHECK_EQ a0, MIP_SSIP

  # ---- delegated SSI: pending and enabled, but never taken while in M
  la t0, s_irq_handler
  csrw stvec, t0
  li s11, -1
  li t0, MSTATUS_MIE | MSTATUS_SIE
  csrs mstatus, t0
  li t0, MIP_SSIP
  csrs mip, t0
  nop
  nop
  CHECK_EQ s11, -1
  CHECK_EQ t4, -1
  li t0, MSTATUS_MIE | MSTATUS_SIE
  csrc mstatus, t0

  # In U it is taken at once, even with sstatus.SIE = 0.
  li s0, 0
  ENTER_MODE PRV_U, 1f
1:
irq_u_first:
  li s0, 1
  RETURN_TO_M
  CHECK_EQ s11, INTERRUPT_BIT | IRQ_S_SOFT
  CHECK_ADDR s9, irq_u_first    # sepc = the instruction not yet executed
  CHECK_EQ s0, 1
  CHECK_EQ t4, -1
  csrr a0, mip
  CHECK_MASKED a0, MIP_SSIP, 0  # the handler cleared it through sip

  # In S with SIE = 0 it stays pending; setting SIE takes it right away.
  li s11, -1
  li t0, MIP_SSIP
  csrs mip, t0
  ENTER_MODE PRV_S, 1f
1:
  nop
  nop
  mv s1, s11                    # still -1: not taken
  csrsi sstatus, MSTATUS_SIE
irq_s_after_sie:
  li s0, 2
  csrci sstatus, MSTATUS_SIE
  RETURN_TO_M
  CHECK_EQ s1, -1
  CHECK_EQ s11, INTERRUPT_BIT | IRQ_S_SOFT
  CHECK_ADDR s9, irq_s_after_sie
  CHECK_EQ s0, 2

  # Not delegated: the same interrupt goes to M, taken in M when MIE = 1.
  csrw mideleg, zero
  li t0, MIP_SSIP
  csrs mie, t0
  csrs mip, t0
  li s11, -1
  li t4, -1
  csrsi mstatus, MSTATUS_MIE
  nop
  csrci mstatus, MSTATUS_MIE
  CHECK_EQ t4, INTERRUPT_BIT | IRQ_S_SOFT
  CHECK_EQ s11, -1
  csrw mie, zero

  la t0, strap_vector
  csrw stvec, t0
  la t0, trap_vector
  csrw mtvec, t0
  .option pop
TEST_END

  .text
  .balign 4
  .option push
  .option norvc
# M handler: RETURN_TO_M requests go to the default handler; interrupts
# record mcause in t4 and clear the (software) source; exceptions record
# t4/t5/t6 and step over the instruction (all 4-byte here).
m_handler:
  csrr t3, mcause
  bltz t3, 3f
  addi t3, a7, -SYS_TO_M
  bnez t3, 1f
  j trap_vector
1:
  csrr t4, mcause
  csrr t5, mtval
  csrr t6, mepc
  addi t3, t6, 4
  csrw mepc, t3
  mret
3:
  mv t4, t3
  li t3, MIP_SSIP
  csrc mip, t3
  mret

  .balign 4
# Delegated ecall from S: record scause in t3 and sstatus in a5, step over,
# stay in S.
s_ecall_handler:
  csrr t3, scause
  csrr a5, sstatus
  csrr a6, sepc
  addi a6, a6, 4
  csrw sepc, a6
  sret

  .balign 4
# Delegated interrupts: record like the default handler, clear SSIP, return.
s_irq_handler:
  csrr s8, scause
  bgez s8, strap_vector_tail
  csrr s11, scause
  csrr s9, sepc
  csrci sip, MIP_SSIP
  sret
strap_vector_tail:
  j strap_vector

  .balign 4
stvec_must_not_run:
  j fail
  .option pop
