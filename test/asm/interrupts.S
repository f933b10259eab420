# Interrupts: CLINT msip/mtimecmp driving mip.MSIP/MTIP, taking software
# and timer interrupts in M (direct and vectored mtvec), the fixed priority
# order MEI > MSI > MTI > SEI > SSI > STI, M interrupts preempting U/S even
# with MIE = 0, masking by mie, wfi returning on a pending enabled interrupt,
# and delegated S interrupts through a vectored stvec.
#
# The M interrupt handler appends mcause to a log (s6 = write pointer) and
# clears the source; t3/t4 are its scratch registers, s5 the vector slot.
#include "macros.h"

#define MIP_SEIP (1 << IRQ_S_EXT)
/*
 * Give up waiting for an interrupt after 2 s of mtime at 10 MHz, or after
 * SPIN_LIMIT iterations in which mtime did not move (a stalled clock must
 * end the wait well inside the runner's instruction budget).  QEMU can take
 * tens of milliseconds to deliver a timer interrupt on a loaded host, so
 * neither a short time limit nor an iteration count alone is enough.
 */
#define WAIT_TICKS 20000000
#define SPIN_LIMIT 4000000

# Wait until the log holds `n` entries (clobbers a2-a6).
.macro WAIT_LOG n
  li a5, SPIN_LIMIT
  li a3, CLINT_MTIME
  ld a2, 0(a3)
  mv a6, a2
.Lw\@:
  sub a4, s6, s7
  li a3, (\n) * 8
  beq a4, a3, .Ld\@
  li a3, CLINT_MTIME
  ld a4, 0(a3)
  bne a4, a6, .Lm\@
  addi a5, a5, -1
  beqz a5, .Lt\@
.Lm\@:
  mv a6, a4
  sub a4, a4, a2
  li a3, WAIT_TICKS
  bltu a4, a3, .Lw\@
.Lt\@:
  NEXT_CHECK                    # timed out: fail with a check number of its own
  j fail
.Ld\@:
.endm

.macro RESET_LOG
  la s7, irq_log
  mv s6, s7
.endm

# Log entry `i` must be `val`.
.macro CHECK_LOG i, val
  ld a0, (\i) * 8(s7)
  CHECK_EQ a0, \val
.endm

TEST_BEGIN
  .option push
  .option norvc

  li t0, -1
  li t1, CLINT_MTIMECMP
  sd t0, 0(t1)
  li t1, CLINT_MSIP
  sw zero, 0(t1)
  RESET_LOG
  la t0, m_handler
  csrw mtvec, t0

  # ---- mtime advances
  li t1, CLINT_MTIME
  ld a0, 0(t1)
  li t0, 1000
1:
  addi t0, t0, -1
  bnez t0, 1b
  ld a1, 0(t1)
  sltu a2, a0, a1
  CHECK_EQ a2, 1

  # ---- CLINT msip drives mip.MSIP; mip.MSIP/MTIP are read-only in mip
  li t1, CLINT_MSIP
  li t0, 1
  sw t0, 0(t1)
  csrr a0, mip
  CHECK_MASKED a0, MIP_MSIP, MIP_MSIP
  li t0, MIP_MSIP
  csrc mip, t0
  csrr a0, mip
  CHECK_MASKED a0, MIP_MSIP, MIP_MSIP
  lw a0, 0(t1)
  CHECK_EQ a0, 1
  sw zero, 0(t1)
  csrr a0, mip
  CHECK_MASKED a0, MIP_MSIP, 0
  li t0, MIP_MSIP | MIP_MTIP
  csrs mip, t0
  csrr a0, mip
  CHECK_MASKED a0, MIP_MSIP | MIP_MTIP, 0

  # ---- mtimecmp <= mtime sets MTIP, a later value clears it
  li t1, CLINT_MTIMECMP
  sd zero, 0(t1)
  csrr a0, mip
  CHECK_MASKED a0, MIP_MTIP, MIP_MTIP
  li t0, -1
  sd t0, 0(t1)
  csrr a0, mip
  CHECK_MASKED a0, MIP_MTIP, 0
  # 32-bit halves are accessible too.
  li t0, 0x12345678
  sw t0, 0(t1)
  ld a0, 0(t1)
  CHECK_EQ a0, 0xffffffff12345678
  li t0, -1
  sd t0, 0(t1)

  # ---- software interrupt, direct mode
  li t0, MIP_MSIP
  csrw mie, t0
  li t1, CLINT_MSIP
  li t0, 1
  sw t0, 0(t1)
  csrsi mstatus, MSTATUS_MIE
msi_next:
  nop
  csrci mstatus, MSTATUS_MIE
  WAIT_LOG 1
  CHECK_LOG 0, INTERRUPT_BIT | IRQ_M_SOFT
  CHECK_ADDR t5, msi_next       # mepc = first instruction not executed

  # ---- masked by mie: nothing happens
  RESET_LOG
  csrw mie, zero
  li t0, 1
  sw t0, 0(t1)
  csrsi mstatus, MSTATUS_MIE
  nop
  nop
  csrci mstatus, MSTATUS_MIE
  sub a0, s6, s7
  CHECK_EQ a0, 0

  # ---- wfi returns once an enabled interrupt is pending, even with MIE = 0
  li t0, MIP_MSIP
  csrw mie, t0
  wfi
  sub a0, s6, s7
  CHECK_EQ a0, 0
  # ... and the interrupt is taken as soon as MIE is set.
  csrsi mstatus, MSTATUS_MIE
  nop
  csrci mstatus, MSTATUS_MIE
  WAIT_LOG 1

  # ---- timer interrupt
  RESET_LOG
  li t0, MIP_MTIP
  csrw mie, t0
  li t1, CLINT_MTIME
  ld a0, 0(t1)
  addi a0, a0, 200
  li t1, CLINT_MTIMECMP
  sd a0, 0(t1)
  csrsi mstatus, MSTATUS_MIE
  WAIT_LOG 1
  csrci mstatus, MSTATUS_MIE
  CHECK_LOG 0, INTERRUPT_BIT | IRQ_M_TIMER
  # the handler pushed mtimecmp out again
  csrr a0, mip
  CHECK_MASKED a0, MIP_MTIP, 0

  # ---- priority: all six pending at once (MEI cannot be raised here)
  RESET_LOG
  csrw mideleg, zero
  li t1, CLINT_MSIP
  li t0, 1
  sw t0, 0(t1)
  li t1, CLINT_MTIMECMP
  sd zero, 0(t1)
  li t0, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrs mip, t0
  li t0, MIP_MSIP | MIP_MTIP | MIP_SSIP | MIP_STIP | MIP_SEIP
  csrw mie, t0
  csrsi mstatus, MSTATUS_MIE
  WAIT_LOG 5
  csrci mstatus, MSTATUS_MIE
#ifndef QEMU72_QUIRKS
  # (QEMU 7.2 without AIA takes the lowest-numbered interrupt first.)
  CHECK_LOG 0, INTERRUPT_BIT | IRQ_M_SOFT
  CHECK_LOG 1, INTERRUPT_BIT | IRQ_M_TIMER
  CHECK_LOG 2, INTERRUPT_BIT | IRQ_S_EXT
  CHECK_LOG 3, INTERRUPT_BIT | IRQ_S_SOFT
  CHECK_LOG 4, INTERRUPT_BIT | IRQ_S_TIMER
#endif

  # ---- M interrupts preempt U regardless of mstatus.MIE
  RESET_LOG
  li t0, MIP_MSIP
  csrw mie, t0
  li t1, CLINT_MSIP
  li t0, 1
  sw t0, 0(t1)
  li t0, MSTATUS_MPIE
  csrc mstatus, t0              # MIE will be 0 in U
  ENTER_MODE PRV_U, 1f
1:
irq_in_u:
  nop
  RETURN_TO_M
  WAIT_LOG 1
  CHECK_LOG 0, INTERRUPT_BIT | IRQ_M_SOFT
  CHECK_ADDR t5, irq_in_u
  CHECK_EQ t6, PRV_U << 11      # mstatus.MPP seen by the handler

  # Same from S.
  RESET_LOG
  li t0, 1
  sw t0, 0(t1)
  ENTER_MODE PRV_S, 1f
1:
irq_in_s:
  nop
  RETURN_TO_M
  WAIT_LOG 1
  CHECK_ADDR t5, irq_in_s
  CHECK_EQ t6, PRV_S << 11

  # ---- vectored mtvec: interrupts at base + 4 * cause, exceptions at base
  RESET_LOG
  la t0, m_vectors
  ori t0, t0, 1
  csrw mtvec, t0
  csrr a0, mtvec
  CHECK_EQR a0, t0
  li t0, MIP_MSIP | MIP_MTIP
  csrw mie, t0
  li t0, 1
  sw t0, 0(t1)
  csrsi mstatus, MSTATUS_MIE
  WAIT_LOG 1
  csrci mstatus, MSTATUS_MIE
  CHECK_LOG 0, INTERRUPT_BIT | IRQ_M_SOFT
  CHECK_EQ s5, 3                # vector slot that ran
  li t1, CLINT_MTIMECMP
  sd zero, 0(t1)
  csrsi mstatus, MSTATUS_MIE
  WAIT_LOG 2
  csrci mstatus, MSTATUS_MIE
  CHECK_LOG 1, INTERRUPT_BIT | IRQ_M_TIMER
  CHECK_EQ s5, 7
  li s5, -1
  CLEAR_TRAP
  ecall                         # exceptions use the base address
  CHECK_TRAP CAUSE_MACHINE_ECALL
  CHECK_EQ s5, -1
  csrw mie, zero
  la t0, m_handler
  csrw mtvec, t0

  # ---- delegated S interrupts through a vectored stvec
  li t0, MIP_SSIP | MIP_STIP
  csrw mideleg, t0
  csrw sie, t0
  la t0, s_vectors
  ori t0, t0, 1
  csrw stvec, t0
  li s0, -1
  li t0, MIP_STIP
  csrs mip, t0
  ENTER_MODE PRV_U, 1f
1:
  nop
  RETURN_TO_M
  CHECK_EQ s0, 5                # STI went to stvec + 20
  CHECK_EQ s1, INTERRUPT_BIT | IRQ_S_TIMER
  li t0, MIP_STIP
  csrc mip, t0
  li s0, -1
  li t0, MIP_SSIP
  csrs mip, t0
  csrs sie, t0
  ENTER_MODE PRV_U, 1f
1:
  nop
  RETURN_TO_M
  CHECK_EQ s0, 1                # SSI went to stvec + 4
  CHECK_EQ s1, INTERRUPT_BIT | IRQ_S_SOFT
  csrr a0, mip
  CHECK_MASKED a0, MIP_SSIP, 0

  csrw mie, zero
  csrw mideleg, zero
  la t0, strap_vector
  csrw stvec, t0
  la t0, trap_vector
  csrw mtvec, t0
  .option pop
TEST_END

  .text
  .option push
  .option norvc
  .balign 4
# Interrupts: log mcause, remember mepc (t5) and MPP (t6), clear the source.
# Exceptions go to the default handler.
m_handler:
  csrr t3, mcause
  bgez t3, trap_vector
m_irq:
  csrr t3, mcause
  sd t3, 0(s6)
  addi s6, s6, 8
  csrr t5, mepc
  csrr t6, mstatus
  li t4, MSTATUS_MPP
  and t6, t6, t4
  andi t3, t3, 0x3f
  li t4, IRQ_M_SOFT
  bne t3, t4, 1f
  li t4, CLINT_MSIP
  sw zero, 0(t4)
  mret
1:
  li t4, IRQ_M_TIMER
  bne t3, t4, 2f
  li t4, CLINT_MTIMECMP
  li t3, -1
  sd t3, 0(t4)
  mret
2:
  li t4, 1
  sll t3, t4, t3
  csrc mip, t3                  # SSIP / STIP / SEIP
  mret

  .balign 64
m_vectors:
  j trap_vector                 # 0: exceptions
  .rept 2
  j fail
  .endr
  j m_vec3                      # 3: machine software
  .rept 3
  j fail
  .endr
  j m_vec7                      # 7: machine timer
  .rept 8
  j fail
  .endr
m_vec3:
  li s5, 3
  j m_irq
m_vec7:
  li s5, 7
  j m_irq

  .balign 64
s_vectors:
  j strap_vector                # 0: exceptions (and RETURN_TO_M)
  j s_vec1                      # 1: supervisor software
  .rept 3
  j fail
  .endr
  j s_vec5                      # 5: supervisor timer
  .rept 10
  j fail
  .endr
s_vec1:
  li s0, 1
  csrr s1, scause
  csrci sip, MIP_SSIP
  sret
s_vec5:
  li s0, 5
  csrr s1, scause
  li s8, MIP_STIP               # S cannot clear STIP: mask it instead
  csrc sie, s8
  sret
  .option pop

  .bss
  .balign 8
irq_log:
  .skip 16 * 8
