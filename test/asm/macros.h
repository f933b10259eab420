/*
 * Shared harness for the bare-metal assembly tests in this directory.
 *
 * Protocol (HTIF, as understood by Spike, QEMU -M spike and Typervisor's
 * run-elf): store 1 to `tohost` to pass, (n << 1) | 1 to report failure of
 * check n.  QEMU turns the value into its exit status (n & 0xff), so check
 * numbers that are multiples of 256 are never handed out.
 *
 * Register conventions (tests must not use these for their own data):
 *   gp  (x3)  TESTNUM - number of the check being performed
 *   s8  (x24) scratch for the macros and trap handlers (clobbered anytime)
 *   s9  (x25) xepc  of the last trap taken by a default handler
 *   s10 (x26) xtval of the last trap taken by a default handler
 *   s11 (x27) xcause of the last trap taken by a default handler,
 *             -1 after CLEAR_TRAP / a CHECK_TRAP (never a valid cause)
 *
 * Default trap handlers (installed in mtvec/stvec by TEST_BEGIN):
 *   - `ecall` with a7 == SYS_TO_M from any mode continues in M-mode right
 *     after the ecall, with mstatus.MIE = 0 (RETURN_TO_M).  The S handler
 *     forwards it to M (so ecall from S must not be delegated then).
 *   - If `trap_resume` holds a non-zero address, the M handler records the
 *     trap, clears trap_resume and continues there in M-mode with
 *     mstatus.MIE = 0 (SET_RESUME).
 *     Needed for faults whose epc cannot simply be stepped over (fetch faults).
 *   - Otherwise the trap is recorded and the trapping instruction is skipped
 *     (2 or 4 bytes, read from epc), resuming in the same mode.  The M handler
 *     reads epc as a physical address, so code that traps this way while
 *     paging is on must be identity-mapped.
 *   - Interrupts are never expected by the default handlers: they fail the
 *     current check.  Interrupt tests install their own handlers.
 *   - A trap taken while a default handler is running fails the current
 *     check, and `pass` fails unless reached from TEST_END, so control flow
 *     that goes astray cannot end in a pass.
 *
 * Every check gets a number from an assembly-time counter and a symbol
 * `check_<n>`, so `addr2line -e X.elf $(nm X.elf | grep -w check_<n>)` finds
 * the source line of a failed check (the test runner does this).
 *
 * Build-time switches (build.sh sets them for the QEMU variants only):
 *   QEMU72_QUIRKS      leave out the checks QEMU 7.2 is known to get wrong
 *                      (each such block is guarded and says why); the ISA
 *                      manual wins, so the emulator runs them all.
 *   EXIT_SIFIVE_TEST   report through QEMU -M virt's sifive_test device
 *                      instead of HTIF (for programs that need -M virt).
 */
#ifndef TYPERVISOR_ASM_MACROS_H
#define TYPERVISOR_ASM_MACROS_H

#define TESTNUM gp

/*
 * No linker relaxation: gp is TESTNUM, not a global pointer, and alignment
 * of trap vectors must not depend on relaxation.
 */
.option norelax

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

#define MSTATUS_SIE (1 << 1)
#define MSTATUS_MIE (1 << 3)
#define MSTATUS_SPIE (1 << 5)
#define MSTATUS_MPIE (1 << 7)
#define MSTATUS_SPP (1 << 8)
#define MSTATUS_MPP (3 << 11)
#define MSTATUS_MPP_S (1 << 11)
#define MSTATUS_FS (3 << 13)
#define MSTATUS_FS_INITIAL (1 << 13)
#define MSTATUS_FS_CLEAN (2 << 13)
#define MSTATUS_FS_DIRTY (3 << 13)
#define MSTATUS_MPRV (1 << 17)
#define MSTATUS_SUM (1 << 18)
#define MSTATUS_MXR (1 << 19)
#define MSTATUS_TVM (1 << 20)
#define MSTATUS_TW (1 << 21)
#define MSTATUS_TSR (1 << 22)
#define MSTATUS_SD (1 << 63)

#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS 1
#define CAUSE_ILLEGAL_INSTRUCTION 2
#define CAUSE_BREAKPOINT 3
#define CAUSE_MISALIGNED_LOAD 4
#define CAUSE_LOAD_ACCESS 5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS 7
#define CAUSE_USER_ECALL 8
#define CAUSE_SUPERVISOR_ECALL 9
#define CAUSE_MACHINE_ECALL 11
#define CAUSE_FETCH_PAGE_FAULT 12
#define CAUSE_LOAD_PAGE_FAULT 13
#define CAUSE_STORE_PAGE_FAULT 15

#define INTERRUPT_BIT (1 << 63)
#define IRQ_S_SOFT 1
#define IRQ_M_SOFT 3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT 9
#define IRQ_M_EXT 11

#define MIP_SSIP (1 << IRQ_S_SOFT)
#define MIP_MSIP (1 << IRQ_M_SOFT)
#define MIP_STIP (1 << IRQ_S_TIMER)
#define MIP_MTIP (1 << IRQ_M_TIMER)

#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)

#define SATP_MODE_SV39 (8 << 60)
#define SATP_MODE_SV48 (9 << 60)

/* --------------------------------------------------------- page tables */

/* Write a PTE mapping the physical address in register `pa` with `flags` into
   slot `idx` of the table whose address is in `table`.  Clobbers t0. */
.macro PTE table, idx, pa, flags
  srli t0, \pa, 12
  slli t0, t0, 10
  ori t0, t0, \flags
  sd t0, (\idx) * 8(\table)
.endm

/* Same with an absolute physical address.  Clobbers t0 and t1. */
.macro PTE_ABS table, idx, addr, flags
  li t1, \addr
  PTE \table, \idx, t1, \flags
.endm

/* A pointer to the next-level table whose address is in `next`. */
.macro PTE_PTR table, idx, next
  PTE \table, \idx, \next, PTE_V
.endm

#define CLINT_BASE 0x2000000
#define CLINT_MSIP (CLINT_BASE + 0x0)
#define CLINT_MTIMECMP (CLINT_BASE + 0x4000)
#define CLINT_MTIME (CLINT_BASE + 0xbff8)

#define CSR_STIMECMP 0x14d
#define CSR_MENVCFG 0x30a
#define MENVCFG_STCE (1 << 63)

/* TESTNUM value that `pass` insists on, so that stray control flow cannot pass. */
#define PASS_MAGIC 0x7a55

/* a7 value that turns an ecall into "continue in M-mode after the ecall". */
#define SYS_TO_M 1234

/* QEMU -M virt's exit device, used instead of HTIF with -DEXIT_SIFIVE_TEST. */
#define SIFIVE_TEST_BASE 0x100000

/* Physical addresses with no memory or device behind them (Spike/QEMU spike). */
#define UNMAPPED_PA 0x50000000

/* ------------------------------------------------------------------ checks */

.set __check, 0

.macro _check_sym n
check_\n\():
.endm

/* Advance to the next check number and load it into TESTNUM. */
.macro NEXT_CHECK
  .set __check, __check + 1
  .if (__check % 256) == 0
    .set __check, __check + 1
  .endif
  .altmacro
  _check_sym %__check
  .noaltmacro
  li TESTNUM, __check
.endm

/* Fail unless register `reg` equals the immediate `val`. */
.macro CHECK_EQ reg, val
  NEXT_CHECK
  li s8, \val
  beq \reg, s8, .Lck_ok\@
  j fail
.Lck_ok\@:
.endm

/* Fail unless register `reg` differs from the immediate `val`. */
.macro CHECK_NE reg, val
  NEXT_CHECK
  li s8, \val
  bne \reg, s8, .Lck_ok\@
  j fail
.Lck_ok\@:
.endm

/* Fail unless registers `a` and `b` are equal. */
.macro CHECK_EQR a, b
  NEXT_CHECK
  beq \a, \b, .Lck_ok\@
  j fail
.Lck_ok\@:
.endm

/* Fail unless registers `a` and `b` differ. */
.macro CHECK_NER a, b
  NEXT_CHECK
  bne \a, \b, .Lck_ok\@
  j fail
.Lck_ok\@:
.endm

/* Fail unless `reg` equals the address of `label`. */
.macro CHECK_ADDR reg, label
  NEXT_CHECK
  la s8, \label
  beq \reg, s8, .Lck_ok\@
  j fail
.Lck_ok\@:
.endm

/* Fail unless (reg & mask) == val (TESTNUM doubles as a temporary). */
.macro CHECK_MASKED reg, mask, val
  li TESTNUM, \val
  xor TESTNUM, \reg, TESTNUM
  li s8, \mask
  and s8, s8, TESTNUM
  NEXT_CHECK
  beqz s8, .Lck_ok\@
  j fail
.Lck_ok\@:
.endm

/* Forget the last recorded trap. */
.macro CLEAR_TRAP
  li s11, -1
.endm

/* Fail unless the last recorded trap had cause `cause`; then forget it. */
.macro CHECK_TRAP cause
  CHECK_EQ s11, \cause
  CLEAR_TRAP
.endm

/* Fail unless the last recorded trap had cause `c1` or `c2`; then forget it. */
.macro CHECK_TRAP2 c1, c2
  NEXT_CHECK
  li s8, \c1
  beq s11, s8, .Lck_ok\@
  li s8, \c2
  beq s11, s8, .Lck_ok\@
  j fail
.Lck_ok\@:
  CLEAR_TRAP
.endm

/* Fail if any trap was recorded since the last CLEAR_TRAP / CHECK_TRAP. */
.macro CHECK_NO_TRAP
  CHECK_EQ s11, -1
.endm

/* Fail unless the last trap's tval equals `val`. */
.macro CHECK_TVAL val
  CHECK_EQ s10, \val
.endm

/* Fail unless the last trap's tval equals the address of `label`. */
.macro CHECK_TVAL_ADDR label
  CHECK_ADDR s10, \label
.endm

/* Fail unless the last trap's epc equals the address of `label`. */
.macro CHECK_EPC label
  CHECK_ADDR s9, \label
.endm

/* --------------------------------------------------------- mode switching */

/* From M-mode: mret into privilege `mode` at `label`. */
.macro ENTER_MODE mode, label
  li s8, MSTATUS_MPP
  csrc mstatus, s8
  li s8, (\mode) << 11
  csrs mstatus, s8
  la s8, \label
  csrw mepc, s8
  mret
.endm

/* From M-mode: mret into privilege `mode` at the constant address `addr`. */
.macro ENTER_MODE_VA mode, addr
  li s8, MSTATUS_MPP
  csrc mstatus, s8
  li s8, (\mode) << 11
  csrs mstatus, s8
  li s8, \addr
  csrw mepc, s8
  mret
.endm

/* From any mode: continue in M-mode at the next instruction (a7 becomes 0). */
.macro RETURN_TO_M
  li a7, SYS_TO_M
  ecall
.endm

/* Runs `insn` in privilege `mode` and comes back to M-mode; s11 = the cause of a trap it raised, or
   -1. */
.macro IN_MODE mode, insn:vararg
  CLEAR_TRAP
  ENTER_MODE \mode, .Lin\@
.Lin\@:
  \insn
  RETURN_TO_M
.endm

/* Make the next trap taken by the default M handler continue at `label`. */
.macro SET_RESUME label
  la s8, \label
  la s9, trap_resume
  sd s8, 0(s9)
.endm

/* ----------------------------------------------------------- entry / exit */

.macro TEST_BEGIN
  .section .text.init, "ax", @progbits
  .globl _start
  .option push
  .option norvc
_start:
  /* Park every hart but hart 0 (the harness only ever starts one). */
  csrr t0, mhartid
1:
  bnez t0, 1b

  la t0, trap_vector
  csrw mtvec, t0
  csrw mie, zero
  csrw medeleg, zero
  csrw mideleg, zero
  csrw mip, zero
  li t0, MSTATUS_MIE | MSTATUS_SIE | MSTATUS_MPIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
  csrc mstatus, t0
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
  csrwi fcsr, 0
  /* Writing fcsr dirtied FS; start from Initial again. */
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
  csrw satp, zero
  la t0, strap_vector
  csrw stvec, t0

  /*
   * With at least one PMP entry implemented, S/U accesses that match no
   * entry fail, so open all of memory with entry 0. An implementation
   * without PMP CSRs traps here; the temporary mtvec just moves on.
   */
  la t0, .Lpmp_done
  csrw mtvec, t0
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f /* NAPOT | X | W | R */
  csrw pmpcfg0, t0
  .align 2
.Lpmp_done:
  la t0, trap_vector
  csrw mtvec, t0

  la sp, stack_top
  li TESTNUM, 0
  li s11, -1
  li s10, 0
  li s9, 0
  la t0, trap_resume
  sd zero, 0(t0)
  sd zero, 8(t0)    /* m_handler_busy */
  sd zero, 16(t0)   /* s_handler_busy */
  li t0, 0
  j test_body
  .option pop
  .text
test_body:
.endm

.macro TEST_END
  li TESTNUM, PASS_MAGIC
  j pass

  .text
  .balign 4
  .option push
  .option norvc

  .globl trap_vector
trap_vector:
  /*
   * A trap raised while a default handler runs (say, stepping over an
   * instruction whose epc cannot be read) means control flow is already
   * lost: fail at the current check rather than wander off.
   */
  la s8, m_handler_busy
  ld s8, 0(s8)
  bnez s8, fail
  la s8, m_handler_busy
  sd s8, 0(s8)
  /* ecall with a7 == SYS_TO_M (from U, S or M): continue in M-mode. */
  csrr s8, mcause
  addi s8, s8, -CAUSE_USER_ECALL
  beqz s8, .Lm_ecall
  addi s8, s8, -(CAUSE_SUPERVISOR_ECALL - CAUSE_USER_ECALL)
  beqz s8, .Lm_ecall
  addi s8, s8, -(CAUSE_MACHINE_ECALL - CAUSE_SUPERVISOR_ECALL)
  bnez s8, .Lm_record
.Lm_ecall:
  addi s8, a7, -SYS_TO_M
  bnez s8, .Lm_record
  /* Consume the request so that a later plain ecall is not mistaken for one. */
  li a7, 0
  csrr s8, mepc
  addi s8, s8, 4
  csrw mepc, s8
  li s8, MSTATUS_MPP
  csrs mstatus, s8
  /* Arrive in M with interrupts disabled, whatever MIE was before. */
  li s8, MSTATUS_MPIE
  csrc mstatus, s8
  j .Lm_return
.Lm_record:
  csrr s11, mcause
  csrr s10, mtval
  csrr s9, mepc
  bltz s11, fail
  la s8, trap_resume
  ld s8, 0(s8)
  beqz s8, .Lm_skip
  csrw mepc, s8
  la s8, trap_resume
  sd zero, 0(s8)
  li s8, MSTATUS_MPP
  csrs mstatus, s8
  li s8, MSTATUS_MPIE
  csrc mstatus, s8
  j .Lm_return
.Lm_skip:
  /* Step over the trapping instruction: 4 bytes if its low bits are 11. */
  lhu s8, 0(s9)
  andi s8, s8, 3
  xori s8, s8, 3
  seqz s8, s8
  slli s8, s8, 1
  addi s8, s8, 2
  add s8, s8, s9
  csrw mepc, s8
.Lm_return:
  la s8, m_handler_busy
  sd zero, 0(s8)
  mret

  .globl strap_vector
strap_vector:
  la s8, s_handler_busy
  ld s8, 0(s8)
  bnez s8, fail
  la s8, s_handler_busy
  sd s8, 0(s8)
  /* ecall from U with a7 == SYS_TO_M (delegated here): forward it to M. */
  csrr s8, scause
  addi s8, s8, -CAUSE_USER_ECALL
  bnez s8, .Ls_record
  addi s8, a7, -SYS_TO_M
  bnez s8, .Ls_record
  csrr s8, sepc
  addi s8, s8, 4
  csrw sepc, s8
  ecall
  /* Now in M-mode: resume after the original ecall. */
  la s8, s_handler_busy
  sd zero, 0(s8)
  csrr s8, sepc
  jr s8
.Ls_record:
  csrr s11, scause
  csrr s10, stval
  csrr s9, sepc
  bltz s11, fail
  lhu s8, 0(s9)
  andi s8, s8, 3
  xori s8, s8, 3
  seqz s8, s8
  slli s8, s8, 1
  addi s8, s8, 2
  add s8, s8, s9
  csrw sepc, s8
  la s8, s_handler_busy
  sd zero, 0(s8)
  sret
handlers_end:
  /* Nothing may fall through into pass. */
  j fail

  .globl pass
pass:
  li s8, PASS_MAGIC
  bne TESTNUM, s8, fail
  fence
#ifdef EXIT_SIFIVE_TEST
  li s8, 0x5555
  li s9, SIFIVE_TEST_BASE
  sw s8, 0(s9)
#else
  li s8, 1
  la s9, tohost
  sd s8, 0(s9)
#endif
1:
  j 1b

  .globl fail
fail:
  fence
  /* Check number 0 would read as a pass: report 1023 instead. */
  bnez TESTNUM, 1f
  li TESTNUM, 1023
1:
#ifdef EXIT_SIFIVE_TEST
  slli s8, TESTNUM, 16
  li s9, 0x3333
  or s8, s8, s9
  li s9, SIFIVE_TEST_BASE
  sw s8, 0(s9)
#else
  slli s8, TESTNUM, 1
  ori s8, s8, 1
  la s9, tohost
  sd s8, 0(s9)
#endif
2:
  j 2b
  .option pop

  .section .tohost, "aw", @progbits
  .align 6
  .globl tohost
  .type tohost, @object
  .size tohost, 8
tohost:
  .dword 0
  .align 6
  .globl fromhost
  .type fromhost, @object
  .size fromhost, 8
fromhost:
  .dword 0

  .data
  .align 3
  .globl trap_resume
trap_resume:
  .dword 0
m_handler_busy:
  .dword 0
s_handler_busy:
  .dword 0

  .bss
  .align 12
stack_bottom:
  .skip 4096
  .globl stack_top
stack_top:
.endm

#endif
