# What a compiled tier must keep exact, on loops hot enough to be compiled
# (thousands of iterations; run-elf also runs every program with
# --jit-threshold 0, where everything is compiled before it first runs):
#   - a fault in the middle of a hot loop: mepc, mcause, mtval, and minstret
#     counting exactly the instructions that retired before it;
#   - a timer interrupt taken in an endless loop that never leaves its page
#     and touches no memory;
#   - an instruction of a hot loop patched by the loop itself (stores into
#     compiled code), and LR/SC and AMOs inside a hot loop.
#include "macros.h"

#define ITERATIONS 5000

TEST_BEGIN
  .option push
  .option norvc

  # ---- a load fault on the 3rd instruction of a hot loop
  # Calibration: the same fault with nothing before it, through the same
  # handler path, so that the handler's own instructions cancel out.
  li a1, UNMAPPED_PA
  SET_RESUME 5f
  csrr s1, minstret
  ld t3, 0(a1)
5:
  csrr s3, minstret
  sub s4, s3, s1
  CHECK_TRAP CAUSE_LOAD_ACCESS

  li s2, ITERATIONS
  la a0, data_word
  li a1, UNMAPPED_PA
  li t1, 0
  li t5, 0
  SET_RESUME 6f
  csrr s1, minstret
1:
  addi s2, s2, -1
  addi t1, t1, 1
fault_site:
  ld t3, 0(a0)                  # 3rd instruction: faults once a0 = UNMAPPED_PA
  add t5, t5, t3
  slti t4, s2, 2
  beqz t4, 1b
  mv a0, a1
  j 1b
6:
  csrr s3, minstret
  sub s5, s3, s1
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECK_EPC fault_site
  CHECK_TVAL UNMAPPED_PA
  CHECK_EQ s2, 0
  CHECK_EQ t1, ITERATIONS
  CHECK_EQ t5, (ITERATIONS - 1) * 3
#ifndef QEMU72_QUIRKS
  # QEMU's minstret counts host time, not instructions.
  sub s5, s5, s4
  CHECK_EQ s5, 6 * (ITERATIONS - 2) + 8 + 2
#endif

  # ---- a timer interrupt ends an endless loop
  la t0, timer_handler
  csrw mtvec, t0
  li t0, CLINT_MTIME
  ld t1, 0(t0)
  li t2, 20000                  # 2 ms at 10 MHz
  add t1, t1, t2
  li t0, CLINT_MTIMECMP
  sd t1, 0(t0)
  li t0, MIP_MTIP
  csrw mie, t0
  li s6, 0
  li s7, 0
  csrsi mstatus, MSTATUS_MIE
spin:
  addi s6, s6, 1
  j spin
escaped:
  la t0, trap_vector
  csrw mtvec, t0
  csrw mie, zero
  CHECK_EQ s7, INTERRUPT_BIT | IRQ_M_TIMER
  # Taken in the loop (how many iterations ran first depends on the host's speed).
  la t0, spin
  sub s5, s5, t0
  sltiu s5, s5, 8
  CHECK_EQ s5, 1

  # ---- a hot loop that patches its own instruction: after each store and
  # fence.i, the next iteration runs the new immediate
  li s2, 0
  li s3, 0
2:
  la t0, patched
  slli t2, s2, 20
  li t1, 0x00050513             # addi a0, a0, 0
  or t1, t1, t2
  sw t1, 0(t0)
  fence.i
  li a0, 0
patched:
  addi a0, a0, 1                # replaced before every execution
  CHECK_EQR a0, s2
  add s3, s3, a0
  addi s2, s2, 1
  li t0, 2047
  blt s2, t0, 2b
  CHECK_EQ s3, 2046 * 2047 / 2

  # ---- LR/SC and AMOs in a hot loop
  la a0, data_word
  sd zero, 0(a0)
  li s2, ITERATIONS
3:
  lr.d t0, (a0)
  addi t0, t0, 3
  sc.d t1, t0, (a0)
  bnez t1, 3b
  li t2, 1
  amoadd.d zero, t2, (a0)
  amoxor.d t3, zero, (a0)
  addi s2, s2, -1
  bnez s2, 3b
  ld t0, 0(a0)
  CHECK_EQ t0, ITERATIONS * 4
  li t2, 5
  amoswap.d t3, t2, (a0)
  CHECK_EQ t3, ITERATIONS * 4
  CHECK_EQ t2, 5
  ld t0, 0(a0)
  CHECK_EQ t0, 5

  # ---- an illegal instruction that compiled code hands to the interpreter's implementation
  # (sfence.vma in U-mode, on a page of its own): its tval holds its own bits
  CLEAR_TRAP
  ENTER_MODE PRV_U, far_sfence
far_back:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_TVAL 0x12000073

  .option pop
TEST_END

  .text
  .balign 4096
  .option push
  .option norvc
far_sfence:
  addi t0, zero, 1
  sfence.vma
  RETURN_TO_M
  j far_back
  .option pop

  .text
  .balign 4
timer_handler:
  csrr s7, mcause
  csrr s5, mepc
  li t0, CLINT_MTIMECMP
  li t1, -1
  sd t1, 0(t0)
  la t0, escaped
  csrw mepc, t0
  # Back in M-mode with interrupts off.
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  li t0, MSTATUS_MPP
  csrs mstatus, t0
  mret

  .data
  .balign 8
data_word:
  .dword 3
