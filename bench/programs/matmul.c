/*
 * Double-precision matrix multiply C = A * B, N x N, i-k-j loop order: a
 * tight loop of FP loads, fused multiply-adds and stores.
 *
 * The entries are small multiples of 1/8, so every product and partial sum
 * is exact in binary64: the result does not depend on whether the compiler
 * fuses a*b+c into one fmadd, and the host and guest must agree bit for bit.
 */
#include "bench.h"

/* About 0.8 s on QEMU 7.2 TCG here; |C| <= 4N keeps every sum exact. */
#define N 250

static double A[N][N];
static double B[N][N];
static double C[N][N];

/* Newton's iteration converges to the correctly rounded root only to within
   an ulp; the fsqrt.d instruction is exact, and that is what we want to test. */
static inline double sqrt_d(double x) {
#ifdef BM_HOST
  return __builtin_sqrt(x);
#else
  double r;
  __asm__("fsqrt.d %0, %1" : "=f"(r) : "f"(x));
  return r;
#endif
}

int main(void) {
  int bad = 0;
  lcg_t g = {4};
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < N; j++) {
      A[i][j] = (double)((int)(lcg_next(&g) >> 59) - 16) * 0.125;
      B[i][j] = (double)((int)(lcg_next(&g) >> 59) - 16) * 0.125;
    }
  }

  for (int i = 0; i < N; i++) {
    for (int k = 0; k < N; k++) {
      double aik = A[i][k];
      for (int j = 0; j < N; j++) {
        C[i][j] += aik * B[k][j];
      }
    }
  }

  /* Entries are multiples of 1/64; scaled by 64 they are exact integers. */
  int64_t weighted = 0;
  double sumsq = 0;
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < N; j++) {
      weighted += (int64_t)(C[i][j] * 64.0) * (i * N + j + 1);
      sumsq += C[i][j] * C[i][j];
    }
  }
  double norm = sqrt_d(sumsq);
  union {
    double d;
    uint64_t u;
  } bits = {norm};
  bad |= bench_check_u64("matmul weighted sum", (uint64_t)weighted, 0x1f15e5c382ull);
  bad |= bench_check_u64("matmul frobenius norm bits", bits.u, 0x40b4a7f143ee59f2ull);
  return bad ? BM_EXIT_WRONG_RESULT : BM_EXIT_OK;
}
