# Privileged traps and returns: ecall from M/S/U (causes 11/9/8, tval 0),
# ebreak, illegal instructions (tval 0 or the instruction bits), xRET in the
# wrong mode, the mstatus stack on trap entry, mret/sret updates of
# MIE/MPIE/MPP, SIE/SPIE/SPP and MPRV, and xepc[0] being hardwired to 0.
#include "macros.h"

# Expect the last trap to be an illegal instruction whose tval, if non-zero,
# is the 32-bit instruction at `label`.
.macro CHECK_ILLEGAL_AT label
  CHECK_EQ s11, CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC \label
  beqz s10, .Lok\@
  la t6, \label
  lwu t6, 0(t6)
  CHECK_EQR s10, t6
.Lok\@:
  CLEAR_TRAP
.endm

TEST_BEGIN
  .option push
  .option norvc

  # ---- ecall from M
  CLEAR_TRAP
  li a7, 0
ecall_m:
  ecall
  CHECK_TRAP CAUSE_MACHINE_ECALL
  CHECK_EPC ecall_m
  CHECK_TVAL 0

  # ---- ecall from S
  ENTER_MODE PRV_S, 1f
1:
  li s10, 0x55
ecall_s:
  ecall
  RETURN_TO_M
  CHECK_TRAP CAUSE_SUPERVISOR_ECALL
  CHECK_EPC ecall_s
  CHECK_TVAL 0

  # ---- ecall from U
  ENTER_MODE PRV_U, 1f
1:
  li s10, 0x55
ecall_u:
  ecall
  RETURN_TO_M
  CHECK_TRAP CAUSE_USER_ECALL
  CHECK_EPC ecall_u
  CHECK_TVAL 0

  # ---- ebreak: tval is 0 or the pc
ebreak_m:
  ebreak
  CHECK_EQ s11, CAUSE_BREAKPOINT
  CHECK_EPC ebreak_m
  beqz s10, 1f
  CHECK_TVAL_ADDR ebreak_m
1:
  CLEAR_TRAP
  ENTER_MODE PRV_U, 1f
1:
ebreak_u:
  ebreak
  RETURN_TO_M
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC ebreak_u

  # ---- illegal instructions
illegal_ones:
  .word 0xffffffff
  CHECK_ILLEGAL_AT illegal_ones
illegal_ldu:
  .word 0x00007003          # LOAD with funct3 = 7: no such load on RV64
  CHECK_ILLEGAL_AT illegal_ldu
illegal_opimm32:
  .word 0x0000601b          # OP-IMM-32 with funct3 = 6: unassigned
  CHECK_ILLEGAL_AT illegal_opimm32
illegal_slli_rv32:
  .word 0x4000101b | (1 << 25)  # slliw with imm[5] set: reserved on RV64
  CHECK_ILLEGAL_AT illegal_slli_rv32
  # The all-zero parcel is a 16-bit illegal instruction.
  li a0, 0x1234
illegal_zero:
  .half 0x0000
  CHECK_EQ s11, CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC illegal_zero
  CHECK_TVAL 0
  CLEAR_TRAP
  # rd of an illegal instruction is not written.
  CHECK_EQ a0, 0x1234

  # ---- privileged instructions in the wrong mode
  ENTER_MODE PRV_U, 1f
1:
mret_u:
  mret
  RETURN_TO_M
  CHECK_ILLEGAL_AT mret_u
  ENTER_MODE PRV_U, 1f
1:
sret_u:
  sret
  RETURN_TO_M
  CHECK_ILLEGAL_AT sret_u
  ENTER_MODE PRV_U, 1f
1:
csr_u:
  csrr a0, sstatus
  RETURN_TO_M
  CHECK_ILLEGAL_AT csr_u
  ENTER_MODE PRV_S, 1f
1:
mret_s:
  mret
  RETURN_TO_M
  CHECK_ILLEGAL_AT mret_s
  ENTER_MODE PRV_S, 1f
1:
csr_s:
  csrr a0, mscratch
  RETURN_TO_M
  CHECK_ILLEGAL_AT csr_s

  # ---- trap entry stacks the interrupt enable and previous privilege
  la t0, capture_handler
  csrw mtvec, t0
  li t0, MSTATUS_MIE          # mie is 0, so no interrupt can be taken
  csrs mstatus, t0
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  ecall
  # In the handler: MIE cleared, MPIE = old MIE (1), MPP = M.
  CHECK_MASKED t5, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MSTATUS_MPP
  # After mret: MIE = MPIE = 1, MPIE = 1, MPP = U (least privileged mode).
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MIE | MSTATUS_MPIE
  li t0, MSTATUS_MIE
  csrc mstatus, t0

  # From S: MPP = S, MPIE = the MIE bit S was running with (set to 1 here
  # through MPIE before entering S; harmless since mie is 0).
  li t0, MSTATUS_MPIE
  csrs mstatus, t0
  ENTER_MODE PRV_S, 1f
1:
  ecall
  RETURN_TO_M
  la t0, trap_vector
  csrw mtvec, t0
  CHECK_MASKED t5, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MSTATUS_MPP_S
  CHECK_EQ t6, CAUSE_SUPERVISOR_ECALL
  # From U with MIE = 0 in U: MPP = U, MPIE = 0.
  la t0, capture_handler
  csrw mtvec, t0
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  ENTER_MODE PRV_U, 1f
1:
  ecall
  RETURN_TO_M
  la t0, trap_vector
  csrw mtvec, t0
  CHECK_MASKED t5, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, 0
  CHECK_EQ t6, CAUSE_USER_ECALL
  li t0, MSTATUS_MIE
  csrc mstatus, t0

  # ---- mret to M with MPIE = 0: MIE becomes 0, MPIE 1, MPP U.
  li t0, MSTATUS_MPIE | MSTATUS_MIE
  csrc mstatus, t0
  li t0, MSTATUS_MPP
  csrs mstatus, t0
  la t0, 1f
  csrw mepc, t0
  mret
1:
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE

#ifndef QEMU72_QUIRKS
  # ---- an xRET to a mode below M clears MPRV (priv 1.12; QEMU 7.2 keeps it)
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  ENTER_MODE PRV_S, 1f
1:
  RETURN_TO_M
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_MPRV, 0
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  ENTER_MODE PRV_U, 1f
1:
  RETURN_TO_M
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_MPRV, 0
  li t0, MSTATUS_MPRV | MSTATUS_SPP
  csrs mstatus, t0
  la t0, 1f
  csrw sepc, t0
  sret
1:
  RETURN_TO_M
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_MPRV, 0
#endif

  # mret to M keeps MPRV (MPP = M, so MPRV accesses act like M anyway).
  li t0, MSTATUS_MPP
  csrs mstatus, t0
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  la t0, 1f
  csrw mepc, t0
  mret
1:
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_MPRV, MSTATUS_MPRV
  li t0, MSTATUS_MPRV
  csrc mstatus, t0

  # ---- sret from M (legal): returns to SPP, SIE = SPIE, SPIE = 1, SPP = U
  li t0, MSTATUS_SPP | MSTATUS_SPIE
  csrs mstatus, t0
  li t0, MSTATUS_SIE
  csrc mstatus, t0
  la t0, sret_landing_s
  csrw sepc, t0
  sret
sret_landing_s:
  # Now in S: mstatus is not accessible but sstatus is.
  csrr a0, sstatus
  CLEAR_TRAP
  RETURN_TO_M
  CHECK_NO_TRAP
  CHECK_MASKED a0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SIE | MSTATUS_SPIE
  li t0, MSTATUS_SIE
  csrc mstatus, t0

  # ---- sret from S to U with SPIE = 0
  ENTER_MODE PRV_S, 1f
1:
  li t0, MSTATUS_SPIE | MSTATUS_SIE
  csrc sstatus, t0
  li t0, MSTATUS_SPP
  csrc sstatus, t0
  la t0, 2f
  csrw sepc, t0
  sret
2:
  # In U now: sstatus is inaccessible.
  CLEAR_TRAP
  csrr a0, sstatus
  RETURN_TO_M
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE

#ifndef QEMU72_QUIRKS
  # ---- xepc[0] is hardwired to zero with IALIGN = 16 (QEMU 7.2 keeps it)
  li t0, 0x80001235
  csrw mepc, t0
  csrr a0, mepc
  CHECK_EQ a0, 0x80001234
  csrw sepc, t0
  csrr a0, sepc
  CHECK_EQ a0, 0x80001234
#endif

  # ---- mcause/mtval/mscratch keep what M writes into them (they are WLRL /
  # WARL, but a legal cause and any tval value must stick).
  li t0, CAUSE_LOAD_PAGE_FAULT
  csrw mcause, t0
  csrr a0, mcause
  CHECK_EQ a0, CAUSE_LOAD_PAGE_FAULT
  li t0, 0x123456789abcdef0
  csrw mtval, t0
  csrr a0, mtval
  CHECK_EQ a0, 0x123456789abcdef0
  csrw stval, t0
  csrr a0, stval
  CHECK_EQ a0, 0x123456789abcdef0

  .option pop
TEST_END

  .text
  .balign 4
  .option push
  .option norvc
# Records mstatus (t5) and mcause (t6) as seen on trap entry, then steps
# over the 4-byte ecall and returns.  RETURN_TO_M requests go to the default
# handler untouched.
capture_handler:
  addi a7, a7, -SYS_TO_M
  bnez a7, 1f
  li a7, SYS_TO_M
  j trap_vector
1:
  addi a7, a7, SYS_TO_M
  csrr t5, mstatus
  csrr t6, mcause
  csrr t4, mepc
  addi t4, t4, 4
  csrw mepc, t4
  mret
  .option pop
