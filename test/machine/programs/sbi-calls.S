# An S-mode "kernel" that exercises the built-in SBI the way Linux does: probing extensions, reading
# the spec version, printing through DBCN and the legacy console, programming the timer, and powering
# off through SRST. A failed check n powers off through the SiFive test device with exit code n.
# Loaded by `typervisor run --kernel sbi-calls.elf` (so it also exercises the ELF kernel loader).

  .equ TEST_DEVICE, 0x100000
  .equ EXT_BASE, 0x10
  .equ EXT_TIME, 0x54494D45
  .equ EXT_DBCN, 0x4442434E
  .equ EXT_SRST, 0x53525354
  .equ EXT_HSM, 0x48534D
  .equ MESSAGE_LEN, 23     # "built-in SBI says hello"

  .macro SBI ext, fn
  li a7, \ext
  li a6, \fn
  ecall
  .endm

  .macro EXPECT reg, value, check
  li t0, \value
  li t6, \check
  bne \reg, t0, fail
  .endm

  .section .text
  .globl _start
_start:
  # Entered in S-mode with a0 = hart id and a1 = the devicetree address.
  EXPECT a0, 0, 1
  lwu t1, 0(a1)           # the devicetree magic is big-endian: bytes d0 0d fe ed
  li t2, 0xedfe0dd0
  li t6, 2
  bne t1, t2, fail

  SBI EXT_BASE, 0         # sbi_get_spec_version: 2.0
  EXPECT a0, 0, 3
  EXPECT a1, 0x2000000, 4
  li a0, EXT_DBCN
  SBI EXT_BASE, 3         # sbi_probe_extension(DBCN)
  EXPECT a1, 1, 5
  li a0, 0x12345678
  SBI EXT_BASE, 3         # an extension that does not exist
  EXPECT a1, 0, 6
  li a0, 0x0BADF00D
  SBI 0x0BADF00D, 0       # calling it: SBI_ERR_NOT_SUPPORTED
  EXPECT a0, -2, 7

  la a1, message          # DBCN console write of a whole buffer
  li a0, MESSAGE_LEN
  li a2, 0
  SBI EXT_DBCN, 0
  EXPECT a0, 0, 8
  EXPECT a1, MESSAGE_LEN, 9
  li a0, '!'              # legacy console putchar
  SBI 0x01, 0
  li a0, '\n'
  SBI EXT_DBCN, 2         # DBCN write_byte

  li a0, 0                # HSM status of hart 0: started
  SBI EXT_HSM, 2
  EXPECT a0, 0, 10
  EXPECT a1, 0, 11
  li a0, 1                # hart 1 does not exist
  SBI EXT_HSM, 2
  EXPECT a0, -3, 12

  # Timer: program the next event 1 ms ahead and wait for the supervisor timer interrupt.
  la t0, trap
  csrw stvec, t0
  rdtime a0
  li t0, 10000
  add a0, a0, t0
  SBI EXT_TIME, 0
  EXPECT a0, 0, 13
  li t0, 1 << 5           # STIE
  csrs sie, t0
  csrsi sstatus, 2        # SIE
  li s1, 0
1:
  wfi
  beqz s1, 1b

  li a0, 0                # shutdown
  li a1, 0
  SBI EXT_SRST, 0
  li t6, 14               # SRST must not return
fail:
  li t0, TEST_DEVICE
  slli t6, t6, 16
  li t1, 0x3333
  or t6, t6, t1
  sw t6, 0(t0)
2: j 2b

  .align 2
trap:
  csrr t0, scause
  li t1, (1 << 63) | 5    # supervisor timer interrupt
  li t6, 15
  bne t0, t1, fail
  li a0, -1               # push the timer far out, which also clears the pending interrupt
  SBI EXT_TIME, 0
  li s1, 1
  sret

  .section .rodata
message:
  .ascii "built-in SBI says hello"
