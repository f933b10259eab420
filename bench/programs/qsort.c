/*
 * Quicksort of 500,000 64-bit keys, REPEATS times over fresh keys:
 * data-dependent branches that predict badly, unsigned 64-bit compares, and
 * swaps through memory.
 */
#include "bench.h"

#define N 500000
/* About 0.85 s on QEMU 7.2 TCG here: short runs measure start-up, not code. */
#define REPEATS 5

static uint64_t a[N];

static void insertion_sort(uint64_t *v, size_t n) {
  for (size_t i = 1; i < n; i++) {
    uint64_t x = v[i];
    size_t j = i;
    for (; j > 0 && v[j - 1] > x; j--) {
      v[j] = v[j - 1];
    }
    v[j] = x;
  }
}

static inline void swap(uint64_t *x, uint64_t *y) {
  uint64_t t = *x;
  *x = *y;
  *y = t;
}

static void quicksort(uint64_t *v, size_t n) {
  /* Recursing into the smaller part bounds the stack depth by log2(n). */
  while (n > 16) {
    size_t mid = n / 2;
    if (v[mid] < v[0]) {
      swap(&v[mid], &v[0]);
    }
    if (v[n - 1] < v[0]) {
      swap(&v[n - 1], &v[0]);
    }
    if (v[n - 1] < v[mid]) {
      swap(&v[n - 1], &v[mid]);
    }
    uint64_t pivot = v[mid];
    size_t i = 0;
    size_t j = n - 1;
    /* Hoare partition: afterwards v[0..j] <= pivot <= v[j+1..n-1]. */
    for (;;) {
      while (v[i] < pivot) {
        i++;
      }
      while (v[j] > pivot) {
        j--;
      }
      if (i >= j) {
        break;
      }
      swap(&v[i], &v[j]);
      i++;
      j--;
    }
    size_t left = j + 1;
    if (left < n - left) {
      quicksort(v, left);
      v += left;
      n -= left;
    } else {
      quicksort(v + left, n - left);
      n = left;
    }
  }
  insertion_sort(v, n);
}

int main(void) {
  int bad = 0;
  lcg_t g = {3};
  uint64_t sum = 0;
  size_t unsorted = 0;
  /* Each repeat sorts the next N values of the same LCG stream. */
  for (int rep = 0; rep < REPEATS; rep++) {
    for (size_t i = 0; i < N; i++) {
      a[i] = lcg_next(&g);
    }

    quicksort(a, N);

    for (size_t i = 0; i < N; i++) {
      if (i > 0 && a[i - 1] > a[i]) {
        unsorted++;
      }
      /* Position-weighted, so a sort that merely permutes wrongly is caught. */
      sum += a[i] * (i + 1);
    }
  }
  if (unsorted) {
    bm_printf("qsort: %lu elements out of order\n", (unsigned long)unsorted);
    bad = 1;
  }
  bad |= bench_check_u64("qsort checksum", sum, 0x76305f5b77f29ca5ull);
  return bad ? BM_EXIT_WRONG_RESULT : BM_EXIT_OK;
}
