/*
 * A bare-metal program for the virt board, started in M-mode with `firmware: none`: it prints a
 * banner on the 16550 UART, then a line every second, sleeping in wfi in between so that an idle
 * VM costs the host next to nothing. (images/demo/demo.elf talks HTIF, the Spike board's console,
 * which the virt board does not have, so it would run there without a word.)
 */
  .equ UART, 0x10000000       /* 16550: THR at +0, LSR at +5 (bit 5: THR empty) */
  .equ MTIME, 0x0200bff8      /* CLINT */
  .equ MTIMECMP, 0x02004000   /* CLINT, hart 0 */
  .equ TICKS_PER_SECOND, 10000000 /* the virt board's timebase-frequency */

  .section .text.init, "ax"
  .globl _start
_start:
  csrr t0, mhartid
  bnez t0, park
  la sp, stack_top
  li s0, UART
  la a0, banner
  call puts
  li s1, MTIME
  li s2, MTIMECMP
  li s3, TICKS_PER_SECOND
  li s4, 0
  /* MTIE in mie only: wfi wakes on a pending enabled interrupt even while mstatus.MIE is clear,
     so the program needs no trap handler. */
  li t0, 0x80
  csrw mie, t0
  ld t1, 0(s1)
  add t1, t1, s3
  sd t1, 0(s2)
loop:
  wfi
  ld t1, 0(s1)
  ld t2, 0(s2)
  bltu t1, t2, loop
  add t2, t2, s3
  sd t2, 0(s2)
  addi s4, s4, 1
  la a0, tick
  call puts
  mv a0, s4
  call putdec
  la a0, newline
  call puts
  j loop

park:
  wfi
  j park

/* putc(a0): waits for the transmitter, then writes one byte. Clobbers t0. */
putc:
  lbu t0, 5(s0)
  andi t0, t0, 0x20
  beqz t0, putc
  sb a0, 0(s0)
  ret

/* puts(a0): a NUL-terminated string. */
puts:
  addi sp, sp, -16
  sd ra, 8(sp)
  sd s5, 0(sp)
  mv s5, a0
1:
  lbu a0, 0(s5)
  beqz a0, 2f
  call putc
  addi s5, s5, 1
  j 1b
2:
  ld s5, 0(sp)
  ld ra, 8(sp)
  addi sp, sp, 16
  ret

/* putdec(a0): an unsigned number in decimal. */
putdec:
  addi sp, sp, -48
  sd ra, 40(sp)
  sd s5, 32(sp)
  addi s5, sp, 24
  li t1, 10
  mv t2, s5
1:
  remu t3, a0, t1
  addi t3, t3, '0'
  addi t2, t2, -1
  sb t3, 0(t2)
  divu a0, a0, t1
  bnez a0, 1b
2:
  lbu a0, 0(t2)
  call putc
  addi t2, t2, 1
  bltu t2, s5, 2b
  ld s5, 32(sp)
  ld ra, 40(sp)
  addi sp, sp, 48
  ret

  .section .rodata
banner:
  .asciz "\r\nbare-metal ticker on the virt board: one line a second\r\n"
tick:
  .asciz "tick "
newline:
  .asciz "\r\n"

  .section .bss
  .balign 16
  .space 4096
stack_top:
