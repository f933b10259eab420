/*
 * Floods the SBI debug console: 32 writes of the whole of RAM (the amplification attack), each of which
 * must take at most the console's bounded buffer, then writes until exactly TARGET bytes went out, so
 * that the host can check that every byte the SBI said it took reached stdout and nothing else did.
 * Needs --mem 64M. Exit codes: 0 pass, 10+ a failed check.
 */
#include "hostile.h"

#define RAM_SIZE (64UL << 20)
#define OUTPUT_LIMIT (256UL << 10)
#define TARGET (16UL << 20)
#define SBI_ERR_INVALID_ADDRESS (-5)

int main(void) {
  u64 total = 0;
  for (int i = 0; i < 32; i++) {
    struct sbiret r = sbi_call(EXT_DBCN, 0, RAM_SIZE, RAM_BASE, 0);
    if (r.error != 0) return 10;
    if ((u64)r.value > OUTPUT_LIMIT) return 11;
    total += (u64)r.value;
  }
  if (total > TARGET) return 12;
  while (total < TARGET) {
    u64 left = TARGET - total;
    struct sbiret r = sbi_call(EXT_DBCN, 0, left < RAM_SIZE ? left : RAM_SIZE, RAM_BASE, 0);
    if (r.error != 0 || (u64)r.value > left) return 13;
    total += (u64)r.value;
  }
  /* Ranges that leave RAM, wrap around or name a 64-bit address are refused, not clamped. */
  if (sbi_call(EXT_DBCN, 0, 16, RAM_BASE + RAM_SIZE - 8, 0).error != SBI_ERR_INVALID_ADDRESS) return 14;
  if (sbi_call(EXT_DBCN, 0, 1UL << 63, RAM_BASE, 0).error != SBI_ERR_INVALID_ADDRESS) return 15;
  if (sbi_call(EXT_DBCN, 0, 16, RAM_BASE, 1).error != SBI_ERR_INVALID_ADDRESS) return 16;
  if (sbi_call(EXT_DBCN, 0, ~0UL, ~0UL, ~0UL).error != SBI_ERR_INVALID_ADDRESS) return 17;
  /* A read into a buffer the size of RAM returns what input there is (none): not a host-sized copy. */
  struct sbiret r = sbi_call(EXT_DBCN, 1, RAM_SIZE / 2, RAM_BASE + RAM_SIZE / 2, 0);
  if (r.error != 0 || r.value != 0) return 18;
  return 0;
}
