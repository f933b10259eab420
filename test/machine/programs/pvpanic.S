# An S-mode "kernel" that reports a panic through the board's pvpanic-mmio register as Linux's
# pvpanic driver does: it reads the supported events, checks that accesses wider than the 16-bit
# register fault, reports CRASH_LOADED, then PANICKED (twice: the host must hear of it once), and
# powers off through SRST. A failed check n powers off through the SiFive test device with code n.
# Run in-process by test/machine/pvpanic.test.ts, which watches the board's panic callback.

  .equ TEST_DEVICE, 0x100000
  .equ PVPANIC, 0x4000000
  .equ EXT_SRST, 0x53525354
  .equ LOAD_ACCESS_FAULT, 5
  .equ STORE_ACCESS_FAULT, 7

  .macro EXPECT reg, value, check
  li t0, \value
  li t6, \check
  bne \reg, t0, fail
  .endm

  .section .text
  .option norvc             # every instruction is 4 bytes, so the trap handler can step over one
  .globl _start
_start:
  la t0, trap
  csrw stvec, t0
  li s0, PVPANIC
  li s1, 0                  # scause of the last trap, 0 if none

  lbu t1, 0(s0)             # supported events: PANICKED (1) | CRASH_LOADED (2)
  EXPECT t1, 3, 1
  EXPECT s1, 0, 2
  lhu t1, 0(s0)             # the whole 16-bit register: byte 1 is reserved and reads 0
  EXPECT t1, 3, 3
  lbu t1, 1(s0)
  EXPECT t1, 0, 4

  lw t1, 0(s0)              # wider than the register: a load access fault
  EXPECT s1, LOAD_ACCESS_FAULT, 5
  li s1, 0
  li t1, 1
  sw t1, 0(s0)              # a store access fault, and no panic reported
  EXPECT s1, STORE_ACCESS_FAULT, 6
  li s1, 0
  sb t1, 2(s0)              # past the register
  EXPECT s1, STORE_ACCESS_FAULT, 7
  li s1, 0

  li t1, 0xfc               # bits the device does not know: ignored
  sb t1, 0(s0)
  li t1, 2                  # CRASH_LOADED: a crash kernel took over
  sb t1, 0(s0)
  li t1, 1                  # PANICKED, twice
  sb t1, 0(s0)
  sb t1, 0(s0)
  EXPECT s1, 0, 8

  li a0, 0                  # shutdown
  li a1, 0
  li a7, EXT_SRST
  li a6, 0
  ecall
  li t6, 9                  # SRST must not return
fail:
  li t0, TEST_DEVICE
  slli t6, t6, 16
  li t1, 0x3333
  or t6, t6, t1
  sw t6, 0(t0)
2: j 2b

  .align 2
trap:                       # an access fault: note its cause and skip the faulting instruction
  csrr s1, scause
  csrr t0, sepc
  addi t0, t0, 4
  csrw sepc, t0
  sret
