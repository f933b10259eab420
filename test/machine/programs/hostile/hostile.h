/* What the hostile S-mode programs share: SBI calls and MMIO accessors. Freestanding, no libc. */
#ifndef HOSTILE_H
#define HOSTILE_H

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define RAM_BASE 0x80000000UL
#define EXT_DBCN 0x4442434EUL
#define EXT_SRST 0x53525354UL

struct sbiret {
  long error;
  long value;
};

static inline struct sbiret sbi_call(u64 ext, u64 fn, u64 a0, u64 a1, u64 a2) {
  register u64 r0 asm("a0") = a0;
  register u64 r1 asm("a1") = a1;
  register u64 r2 asm("a2") = a2;
  register u64 r6 asm("a6") = fn;
  register u64 r7 asm("a7") = ext;
  asm volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r2), "r"(r6), "r"(r7) : "memory");
  struct sbiret ret = {(long)r0, (long)r1};
  return ret;
}

static inline void mmio_write8(u64 addr, u8 value) { *(volatile u8 *)addr = value; }
static inline u8 mmio_read8(u64 addr) { return *(volatile u8 *)addr; }
static inline void mmio_write32(u64 addr, u32 value) { *(volatile u32 *)addr = value; }
static inline u32 mmio_read32(u64 addr) { return *(volatile u32 *)addr; }

#endif
