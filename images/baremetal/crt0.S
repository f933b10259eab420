/*
 * Start-up code for bare-metal images run with `-bios none` on QEMU's spike
 * machine or with `typervisor run-elf`: we are in M-mode at the ELF entry,
 * with nothing initialised.
 *
 * Built twice: normally, and with -DREPORT_INSTRET for the instruction
 * counting variant of the benchmarks, which reads minstret around main and
 * reports the difference (meaningful on QEMU only with -icount shift=0).
 */

#define MSTATUS_FS_INITIAL (1 << 13)

  .section .text.init, "ax", @progbits
  .globl _start
_start:
#ifdef REPORT_INSTRET
  csrr s0, minstret
#endif
  /* Several harts may start here (e.g. -smp 2); only hart 0 runs the program. */
  csrr t0, mhartid
  bnez t0, park

.option push
.option norelax
  /* Without norelax the assembler would relax this into gp-relative form,
     using gp before it is set. */
  la gp, __global_pointer$
.option pop
  la sp, __stack_top

  la t0, trap_entry
  csrw mtvec, t0

  /* FP instructions trap while mstatus.FS is Off, and GCC uses FP registers
     even in integer code (e.g. for spills at -O2). */
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
  csrwi fcsr, 0

  /* QEMU zeroes RAM but a loader need not; .bss is 16-byte aligned and sized. */
  la t0, __bss_start
  la t1, __bss_end
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  sd zero, 8(t0)
  addi t0, t0, 16
  j 1b
2:
  li a0, 0
  li a1, 0
  call main

#ifdef REPORT_INSTRET
  csrr s1, minstret
  mv s2, a0
  sub a0, s1, s0
  call bm_report_instret
  mv a0, s2
#endif
  tail bm_exit

park:
  wfi
  j park

  /* mtvec in direct mode needs 4-byte alignment (C code is only 2-aligned). */
  .align 2
trap_entry:
  /* Any trap is a bug in a program that never enables interrupts: report it
     and exit. The stack may be bad, so start from a fresh one. */
  la sp, __stack_top
  csrr a0, mcause
  csrr a1, mepc
  csrr a2, mtval
  call bm_trap
1:
  j 1b

/*
 * The HTIF mailbox (see htif.c). Defined here rather than in C so that the
 * order and offsets are fixed: tohost at the start of the page, fromhost
 * 64 bytes later, as in the RISC-V ISA tests.
 */
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
