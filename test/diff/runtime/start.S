/* Fixed part of every differential-test ELF: reset entry, the harness that enters and leaves
   a generated sequence with every register under the sequence's control, and the M-mode trap
   handler that logs traps and resumes after the faulting instruction. */

#define TRAP_MAX 32
#define TRAP_ENTRY_BYTES 32
/* trap_log layout (dwords): count, base, end, abort mcause+1, abort offset, pad x3, entries of
   {mcause, mtval, offset, instruction} */
#define TL_COUNT 0
#define TL_BASE 8
#define TL_END 16
#define TL_ABORT 24
#define TL_ABORT_OFF 32
#define TL_ENTRIES 64

  .option norelax
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  lla sp, _stack_top
  lla t0, trap_handler
  csrw mtvec, t0
  csrwi mie, 0
  /* FS = dirty so the FPU is usable in every mode. */
  li t0, 3 << 13
  csrs mstatus, t0
  /* S- and U-mode sequences: one PMP region granting everything, bare translation, every
     trap to M, and no counters (reading them is not deterministic, so it must trap). */
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0
  csrw medeleg, zero
  csrw mideleg, zero
  csrw mcounteren, zero
  csrw scounteren, zero
  call main
1:
  j 1b

  .text
  /* run_seq(const struct seq_desc *d): d->entry, d->init, d->mem, d->end, d->flags. Loads the
     whole register file from d->init and "returns" into the sequence with mret, in the
     privilege mode in d->flags, so that no register has to be sacrificed as a jump target. The sequence ends
     with an ecall just before d->end, which the trap handler turns into a jump to seq_exit. */
  .globl run_seq
  .align 2
run_seq:
  lla t0, host_ctx
  sd ra, 0(t0)
  sd sp, 8(t0)
  sd gp, 16(t0)
  sd tp, 24(t0)
  sd s0, 32(t0)
  sd s1, 40(t0)
  sd s2, 48(t0)
  sd s3, 56(t0)
  sd s4, 64(t0)
  sd s5, 72(t0)
  sd s6, 80(t0)
  sd s7, 88(t0)
  sd s8, 96(t0)
  sd s9, 104(t0)
  sd s10, 112(t0)
  sd s11, 120(t0)

  ld t1, 0(a0)
  csrw mepc, t1
  lla t2, trap_log
  sd zero, TL_COUNT(t2)
  sd t1, TL_BASE(t2)
  ld t3, 24(a0)
  sd t3, TL_END(t2)
  sd zero, TL_ABORT(t2)
  sd zero, TL_ABORT_OFF(t2)
  lla t3, handler_save
  csrw mscratch, t3
  li t3, (3 << 11) | (1 << 7)
  csrc mstatus, t3
  ld t3, 32(a0)
  andi t3, t3, 3
  slli t3, t3, 11
  csrs mstatus, t3
  /* A reservation left by an earlier sequence must not let this one's first SC succeed. */
  lla t3, resv_dummy
  sc.d zero, zero, (t3)

  ld x31, 8(a0)
  ld t3, 64*8(x31)
  fscsr t3
  fld f0, 32*8(x31)
  fld f1, 33*8(x31)
  fld f2, 34*8(x31)
  fld f3, 35*8(x31)
  fld f4, 36*8(x31)
  fld f5, 37*8(x31)
  fld f6, 38*8(x31)
  fld f7, 39*8(x31)
  fld f8, 40*8(x31)
  fld f9, 41*8(x31)
  fld f10, 42*8(x31)
  fld f11, 43*8(x31)
  fld f12, 44*8(x31)
  fld f13, 45*8(x31)
  fld f14, 46*8(x31)
  fld f15, 47*8(x31)
  fld f16, 48*8(x31)
  fld f17, 49*8(x31)
  fld f18, 50*8(x31)
  fld f19, 51*8(x31)
  fld f20, 52*8(x31)
  fld f21, 53*8(x31)
  fld f22, 54*8(x31)
  fld f23, 55*8(x31)
  fld f24, 56*8(x31)
  fld f25, 57*8(x31)
  fld f26, 58*8(x31)
  fld f27, 59*8(x31)
  fld f28, 60*8(x31)
  fld f29, 61*8(x31)
  fld f30, 62*8(x31)
  fld f31, 63*8(x31)
  ld x1, 1*8(x31)
  ld x2, 2*8(x31)
  ld x3, 3*8(x31)
  ld x4, 4*8(x31)
  ld x5, 5*8(x31)
  ld x6, 6*8(x31)
  ld x7, 7*8(x31)
  ld x8, 8*8(x31)
  ld x9, 9*8(x31)
  ld x10, 10*8(x31)
  ld x11, 11*8(x31)
  ld x12, 12*8(x31)
  ld x13, 13*8(x31)
  ld x14, 14*8(x31)
  ld x15, 15*8(x31)
  ld x16, 16*8(x31)
  ld x17, 17*8(x31)
  ld x18, 18*8(x31)
  ld x19, 19*8(x31)
  ld x20, 20*8(x31)
  ld x21, 21*8(x31)
  ld x22, 22*8(x31)
  ld x23, 23*8(x31)
  ld x24, 24*8(x31)
  ld x25, 25*8(x31)
  ld x26, 26*8(x31)
  ld x27, 27*8(x31)
  ld x28, 28*8(x31)
  ld x29, 29*8(x31)
  ld x30, 30*8(x31)
  ld x31, 31*8(x31)
  mret

  /* Reached in M-mode from the trap handler. mscratch is borrowed to free one register;
     run_seq sets it again before the next sequence. */
  .globl seq_exit
  .align 2
seq_exit:
  csrw mscratch, x31
  lla x31, reg_dump
  sd x1, 1*8(x31)
  sd x2, 2*8(x31)
  sd x3, 3*8(x31)
  sd x4, 4*8(x31)
  sd x5, 5*8(x31)
  sd x6, 6*8(x31)
  sd x7, 7*8(x31)
  sd x8, 8*8(x31)
  sd x9, 9*8(x31)
  sd x10, 10*8(x31)
  sd x11, 11*8(x31)
  sd x12, 12*8(x31)
  sd x13, 13*8(x31)
  sd x14, 14*8(x31)
  sd x15, 15*8(x31)
  sd x16, 16*8(x31)
  sd x17, 17*8(x31)
  sd x18, 18*8(x31)
  sd x19, 19*8(x31)
  sd x20, 20*8(x31)
  sd x21, 21*8(x31)
  sd x22, 22*8(x31)
  sd x23, 23*8(x31)
  sd x24, 24*8(x31)
  sd x25, 25*8(x31)
  sd x26, 26*8(x31)
  sd x27, 27*8(x31)
  sd x28, 28*8(x31)
  sd x29, 29*8(x31)
  sd x30, 30*8(x31)
  csrr x1, mscratch
  sd x1, 31*8(x31)
  fsd f0, 32*8(x31)
  fsd f1, 33*8(x31)
  fsd f2, 34*8(x31)
  fsd f3, 35*8(x31)
  fsd f4, 36*8(x31)
  fsd f5, 37*8(x31)
  fsd f6, 38*8(x31)
  fsd f7, 39*8(x31)
  fsd f8, 40*8(x31)
  fsd f9, 41*8(x31)
  fsd f10, 42*8(x31)
  fsd f11, 43*8(x31)
  fsd f12, 44*8(x31)
  fsd f13, 45*8(x31)
  fsd f14, 46*8(x31)
  fsd f15, 47*8(x31)
  fsd f16, 48*8(x31)
  fsd f17, 49*8(x31)
  fsd f18, 50*8(x31)
  fsd f19, 51*8(x31)
  fsd f20, 52*8(x31)
  fsd f21, 53*8(x31)
  fsd f22, 54*8(x31)
  fsd f23, 55*8(x31)
  fsd f24, 56*8(x31)
  fsd f25, 57*8(x31)
  fsd f26, 58*8(x31)
  fsd f27, 59*8(x31)
  fsd f28, 60*8(x31)
  fsd f29, 61*8(x31)
  fsd f30, 62*8(x31)
  fsd f31, 63*8(x31)
  frcsr x1
  sd x1, 64*8(x31)
  /* Leave the FPU in a known state for the C printer. */
  fscsr zero

  lla t0, host_ctx
  ld ra, 0(t0)
  ld sp, 8(t0)
  ld gp, 16(t0)
  ld tp, 24(t0)
  ld s0, 32(t0)
  ld s1, 40(t0)
  ld s2, 48(t0)
  ld s3, 56(t0)
  ld s4, 64(t0)
  ld s5, 72(t0)
  ld s6, 80(t0)
  ld s7, 88(t0)
  ld s8, 96(t0)
  ld s9, 104(t0)
  ld s10, 112(t0)
  ld s11, 120(t0)
  ret

  /* Logs mcause, mtval and the offset of the faulting instruction from the sequence start,
     then resumes after it (2 or 4 bytes, from the low bits of its first halfword). A trap
     outside the sequence cannot be resumed safely: it aborts the sequence instead. Only t0-t3
     are used, saved on a private stack reached through mscratch. */
  .align 6
trap_handler:
  csrrw sp, mscratch, sp
  sd t0, 0(sp)
  sd t1, 8(sp)
  sd t2, 16(sp)
  sd t3, 24(sp)
  lla t0, trap_log
  csrr t3, mepc
  ld t2, TL_BASE(t0)
  bltu t3, t2, 3f
  ld t2, TL_END(t0)
  bgeu t3, t2, 3f
  /* The ecall that closes the sequence (causes 8, 9, 11 for U, S, M) is its exit. */
  addi t2, t2, -4
  bne t3, t2, 4f
  csrr t2, mcause
  addi t2, t2, -8
  li t1, 3
  bleu t2, t1, 5f
4:
  ld t1, TL_COUNT(t0)
  addi t2, t1, 1
  sd t2, TL_COUNT(t0)
  li t2, TRAP_MAX
  bgeu t1, t2, 1f
  slli t1, t1, 5
  add t1, t1, t0
  csrr t2, mcause
  sd t2, TL_ENTRIES+0(t1)
  csrr t2, mtval
  sd t2, TL_ENTRIES+8(t1)
  ld t2, TL_BASE(t0)
  sub t2, t3, t2
  sd t2, TL_ENTRIES+16(t1)
  /* The instruction itself, so the host can tell e.g. an AMO from a load. */
  lhu t2, 0(t3)
  sh t2, TL_ENTRIES+24(t1)
  sh zero, TL_ENTRIES+26(t1)
  andi t2, t2, 3
  addi t2, t2, -3
  bnez t2, 1f
  lhu t2, 2(t3)
  sh t2, TL_ENTRIES+26(t1)
1:
  lhu t2, 0(t3)
  andi t2, t2, 3
  addi t3, t3, 2
  li t1, 3
  bne t2, t1, 2f
  addi t3, t3, 2
2:
  csrw mepc, t3
  ld t0, 0(sp)
  ld t1, 8(sp)
  ld t2, 16(sp)
  ld t3, 24(sp)
  csrrw sp, mscratch, sp
  mret
3:
  csrr t2, mcause
  addi t2, t2, 1
  sd t2, TL_ABORT(t0)
  ld t2, TL_BASE(t0)
  sub t2, t3, t2
  sd t2, TL_ABORT_OFF(t0)
5:
  /* Leave the sequence: continue at seq_exit, in M-mode. */
  li t2, 3 << 11
  csrs mstatus, t2
  lla t3, seq_exit
  csrw mepc, t3
  ld t0, 0(sp)
  ld t1, 8(sp)
  ld t2, 16(sp)
  ld t3, 24(sp)
  csrrw sp, mscratch, sp
  mret

  .bss
  .align 6
  .globl trap_log, reg_dump, scratch, resv_dummy
trap_log:
  .space TL_ENTRIES + TRAP_MAX * TRAP_ENTRY_BYTES
reg_dump:
  .space 65 * 8
host_ctx:
  .space 16 * 8
  .align 6
resv_dummy:
  .space 64
  .space 256
handler_save:
  .space 64
  /* The scratch area straddles a page boundary (128 bytes on each side), so that misaligned
     accesses in its middle cross pages. */
  .balign 4096
  .skip 4096 - 128
scratch:
  .space 256
