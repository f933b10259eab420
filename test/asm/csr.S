# CSR semantics: read/modify/write forms and their "no write" cases, CSR
# privilege (S/U touching higher-privilege CSRs), writes to read-only CSRs,
# the sstatus/sie views of mstatus/mie, misa/mstatus XLEN fields, satp WARL
# (unsupported modes leave it unchanged), mstatus.TVM/TW/TSR, counter
# access through mcounteren/scounteren, and the counters advancing.
#include "macros.h"

TEST_BEGIN
  .option push
  .option norvc

  # ---- csrrw / csrrs / csrrc and immediate forms
  li t0, 0x123456789abcdef0
  csrw mscratch, t0
  li t1, -1
  csrrw a0, mscratch, t1        # swap
  CHECK_EQ a0, 0x123456789abcdef0
  csrr a0, mscratch
  CHECK_EQ a0, -1
  li t1, 0xf0
  csrrc a0, mscratch, t1
  CHECK_EQ a0, -1
  csrr a0, mscratch
  CHECK_EQ a0, 0xffffffffffffff0f
  li t1, 0x30
  csrrs a0, mscratch, t1
  CHECK_EQ a0, 0xffffffffffffff0f
  csrr a0, mscratch
  CHECK_EQ a0, 0xffffffffffffff3f
  csrrwi a0, mscratch, 31       # zero-extended 5-bit immediate
  CHECK_EQ a0, 0xffffffffffffff3f
  csrr a0, mscratch
  CHECK_EQ a0, 31
  csrrci a0, mscratch, 0x11
  CHECK_EQ a0, 31
  csrrsi a0, mscratch, 4        # bit 2 is already set in 0xe: no change
  CHECK_EQ a0, 0xe
  csrr a0, mscratch
  CHECK_EQ a0, 0xe
  # rd == rs1: old value to rd, new value from the old rs1
  li a1, 0x77
  csrrw a1, mscratch, a1
  CHECK_EQ a1, 0xe
  csrr a0, mscratch
  CHECK_EQ a0, 0x77

  li t0, 0xfedcba9876543210
  csrw sscratch, t0
  csrr a0, sscratch
  CHECK_EQ a0, 0xfedcba9876543210

  # ---- read-only CSRs: reads are fine, any write attempt is illegal
  CLEAR_TRAP
  csrr a0, mhartid
  CHECK_EQ a0, 0
  csrr a0, mvendorid
  csrr a0, marchid
  csrr a0, mimpid
  csrrs a0, mhartid, x0
  csrrc a0, mhartid, x0
  csrrsi a0, mhartid, 0
  csrrci a0, mhartid, 0
  CHECK_NO_TRAP
  csrw mhartid, zero            # writes even though the value is zero
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
#ifndef QEMU72_QUIRKS
  # rs1 != x0 counts as a write even when the register holds 0 (QEMU 7.2
  # decides by the value instead).
  li t1, 0
  csrrs a0, mvendorid, t1
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  csrrc a0, mhartid, t1
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
#endif
  csrrsi a0, marchid, 1
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  csrrwi x0, mimpid, 0          # rd = x0 still writes
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  csrrci a0, cycle, 1
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  csrw instret, zero
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION

  # ---- privilege: S cannot touch M CSRs, U cannot touch S or M CSRs
  IN_MODE PRV_S, csrr a0, mstatus
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, csrw mscratch, zero
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, csrr a0, mepc
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, csrr a0, mhartid
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, csrr a0, medeleg
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, csrr a0, sscratch
  CHECK_NO_TRAP
  IN_MODE PRV_U, csrr a0, sscratch
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_U, csrr a0, sstatus
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_U, csrr a0, mstatus
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_U, csrr a0, satp
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  # A faulting CSR write from S leaves the CSR alone.
  li t0, 0x1234
  csrw mscratch, t0
  IN_MODE PRV_S, csrw mscratch, zero
  csrr a0, mscratch
  CHECK_EQ a0, 0x1234
  CLEAR_TRAP

  # ---- sstatus is a view of mstatus
  li t0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
  csrc mstatus, t0
  li t0, MSTATUS_SIE | MSTATUS_SUM
  csrs sstatus, t0
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_SIE | MSTATUS_SUM, MSTATUS_SIE | MSTATUS_SUM
  li t0, MSTATUS_MIE | MSTATUS_MPIE
  csrs mstatus, t0
  csrr a0, sstatus
  CHECK_MASKED a0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV, 0
  li t0, MSTATUS_MIE | MSTATUS_MPIE
  csrc mstatus, t0
  # Writing M-only bits through sstatus does nothing.
  li t0, MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM
  csrs sstatus, t0
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_MPRV | MSTATUS_TVM, 0
  li t0, MSTATUS_SIE | MSTATUS_SUM
  csrc sstatus, t0
  csrr a0, mstatus
  CHECK_MASKED a0, MSTATUS_SIE | MSTATUS_SUM, 0

  # ---- XLEN fields: misa.MXL, mstatus.SXL/UXL, sstatus.UXL all say 64
  csrr a0, misa
  srli a1, a0, 62
  CHECK_EQ a1, 2
  # I, M, A, F, D, C, S, U
  li t0, (1 << 8) | (1 << 12) | (1 << 0) | (1 << 5) | (1 << 3) | (1 << 2) | (1 << 18) | (1 << 20)
  and a1, a0, t0
  CHECK_EQR a1, t0
  csrr a0, mstatus
  srli a1, a0, 32
  andi a1, a1, 0xf
  CHECK_EQ a1, 0xa              # SXL = UXL = 2
  csrr a0, sstatus
  srli a1, a0, 32
  andi a1, a1, 0x3
  CHECK_EQ a1, 2
  # misa is WARL: writing back what it holds keeps it.
  csrr a0, misa
  csrw misa, a0
  csrr a1, misa
  CHECK_EQR a0, a1

  # ---- satp: an unsupported MODE makes the whole write have no effect
  la t0, satp_page
  srli t0, t0, 12
  li t1, SATP_MODE_SV39
  or t0, t0, t1
  csrw satp, t0
  csrr a0, satp
  CHECK_EQR a0, t0
  li t1, (1 << 60) | 0x1234     # mode 1 is reserved
  csrw satp, t1
  csrr a1, satp
  CHECK_EQR a1, t0
  li t1, (7 << 60) | 0x1234
  csrw satp, t1
  csrr a1, satp
  CHECK_EQR a1, t0
  li t1, (15 << 60)
  csrw satp, t1
  csrr a1, satp
  CHECK_EQR a1, t0
  la t0, satp_page
  srli t0, t0, 12
  li t1, SATP_MODE_SV48
  or t0, t0, t1
  csrw satp, t0
  csrr a0, satp
  CHECK_EQR a0, t0
  csrw satp, zero
  csrr a0, satp
  CHECK_EQ a0, 0
  sfence.vma

  # ---- mstatus.TVM: satp and sfence.vma illegal in S
  li t0, MSTATUS_TVM
  csrs mstatus, t0
  IN_MODE PRV_S, csrr a0, satp
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, csrw satp, zero
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, sfence.vma
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, sfence.vma a0, zero
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  # ... but M is unaffected
  csrr a0, satp
  sfence.vma
  CHECK_NO_TRAP
  li t0, MSTATUS_TVM
  csrc mstatus, t0
  IN_MODE PRV_S, csrr a0, satp
  CHECK_NO_TRAP
  IN_MODE PRV_S, sfence.vma
  CHECK_NO_TRAP
  IN_MODE PRV_U, sfence.vma
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION

  # ---- mstatus.TW: wfi in S is illegal.  (With TW = 0 it may sleep, so it
  # is only run where an interrupt is certainly pending: interrupts.S.)
  li t0, MSTATUS_TW
  csrs mstatus, t0
  IN_MODE PRV_S, wfi
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  li t0, MSTATUS_TW
  csrc mstatus, t0

  # ---- mstatus.TSR: sret in S is illegal
  li t0, MSTATUS_TSR
  csrs mstatus, t0
  IN_MODE PRV_S, sret
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  li t0, MSTATUS_TSR
  csrc mstatus, t0
  # (sret with TSR = 0 from S goes to U: covered in priv_trap.S)

  # ---- counter access: mcounteren gates S and U, scounteren gates U
  csrw mcounteren, zero
  csrw scounteren, zero
  IN_MODE PRV_S, rdcycle a0
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, rdinstret a0
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_U, rdcycle a0
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  li t0, 0x5                    # CY | IR
  csrw mcounteren, t0
  IN_MODE PRV_S, rdcycle a0
  CHECK_NO_TRAP
  IN_MODE PRV_S, rdinstret a0
  CHECK_NO_TRAP
  IN_MODE PRV_U, rdcycle a0     # scounteren still 0
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  li t0, 0x1
  csrw scounteren, t0
  IN_MODE PRV_U, rdcycle a0
  CHECK_NO_TRAP
  IN_MODE PRV_U, rdinstret a0   # IR not in scounteren
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  IN_MODE PRV_S, csrr a0, scounteren
  CHECK_NO_TRAP
  CHECK_EQ a0, 1
  # M always has access, whatever mcounteren says.
  csrw mcounteren, zero
  csrw scounteren, zero
  rdcycle a0
  rdinstret a0
  CHECK_NO_TRAP

  # ---- counters advance; instret counts retired instructions
  rdinstret a0
  nop
  nop
  nop
  nop
  rdinstret a1
  sub a2, a1, a0
  li t0, 5
  sltu a2, a2, t0
  CHECK_EQ a2, 0                # at least the 5 instructions in between
  rdcycle a0
  li t0, 100
2:
  addi t0, t0, -1
  bnez t0, 2b
  rdcycle a1
  CHECK_NER a1, a0
  # minstret / mcycle are writable from M and keep counting from there.
  li t0, 0x10000000000
  csrw minstret, t0
  rdinstret a0
  sub a0, a0, t0
  srli a1, a0, 32
  CHECK_EQ a1, 0                # within 2^32 of the written value, not below
  li t0, 0x20000000000
  csrw mcycle, t0
  rdcycle a0
  sub a0, a0, t0
  srli a1, a0, 32
  CHECK_EQ a1, 0

  .option pop
TEST_END

  .bss
  .balign 4096
satp_page:
  .skip 4096
