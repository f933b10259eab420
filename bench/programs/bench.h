/*
 * Helpers shared by the CPU benchmarks. Every benchmark generates its input
 * with the same LCG so that the data (and hence the work done) is fixed,
 * prints its result, and exits with BM_EXIT_WRONG_RESULT when the result
 * differs from the value obtained by running the same source natively
 * (-DBM_HOST) and cross-checked with an independent implementation.
 */
#ifndef BENCH_H
#define BENCH_H

#include "bm.h"

/* Knuth's MMIX LCG; the high bits are the well-mixed ones. */
typedef struct {
  uint64_t x;
} lcg_t;

static inline uint64_t lcg_next(lcg_t *g) {
  g->x = g->x * 6364136223846793005ull + 1442695040888963407ull;
  return g->x;
}

static inline int bench_check_u64(const char *what, uint64_t got, uint64_t want) {
  if (got == want) {
    bm_printf("%s: %016llx ok\n", what, (unsigned long long)got);
    return 0;
  }
  bm_printf("%s: %016llx WRONG, expected %016llx\n", what, (unsigned long long)got,
            (unsigned long long)want);
  return 1;
}

static inline int bench_check_hex(const char *what, const uint8_t *got, size_t n, const char *want) {
  static const char hex[] = "0123456789abcdef";
  char buf[129];
  for (size_t i = 0; i < n && i < 64; i++) {
    buf[2 * i] = hex[got[i] >> 4];
    buf[2 * i + 1] = hex[got[i] & 15];
  }
  buf[2 * (n < 64 ? n : 64)] = 0;
  if (strcmp(buf, want) == 0) {
    bm_printf("%s: %s ok\n", what, buf);
    return 0;
  }
  bm_printf("%s: %s WRONG, expected %s\n", what, buf, want);
  return 1;
}

#endif
