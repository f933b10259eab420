# Start-up for the hostile S-mode programs: entered by the built-in SBI with a0 = hart id and
# a1 = devicetree, it sets up a stack and calls main(hartid, dtb). main's return value powers the
# board off through the SiFive test device: 0 passes, n fails with exit code n.
  .equ TEST_DEVICE, 0x100000
  .section .text.start, "ax"
  .globl _start
_start:
  la sp, stack_top
  call main
  li t0, TEST_DEVICE
  beqz a0, 1f
  slli a0, a0, 16
  li t1, 0x3333
  or a0, a0, t1
  sw a0, 0(t0)
  j .
1:
  li t1, 0x5555
  sw t1, 0(t0)
  j .

  .bss
  .balign 16
  .space 65536
stack_top:
