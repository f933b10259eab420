/*
 * The program `npm start` runs: a short tour of what the emulated hart can
 * do (integer, multiply/divide, double precision, CSRs, console output),
 * finishing with exit status 0 through HTIF.
 */
#include "bm.h"
#include "sha256.h"

static int strchr_local(const char *s, int c) {
  for (; *s; s++) {
    if (*s == c) {
      return 1;
    }
  }
  return 0;
}

static uint64_t read_misa(void) {
  uint64_t v;
  __asm__ volatile("csrr %0, misa" : "=r"(v));
  return v;
}

/* misa's MXL field (bits 63:62) is 2 for RV64; bits 0..25 are extensions A..Z.
   Printed in the ISA manual's canonical order (imafdqc first), then the rest. */
static void print_isa(void) {
  static const char canonical[] = "iemafdqc";
  uint64_t misa = read_misa();
  unsigned mxl = (unsigned)(misa >> 62);
  bm_printf("  ISA (misa): rv%u", mxl == 1 ? 32 : mxl == 2 ? 64 : 128);
  for (const char *c = canonical; *c; c++) {
    if (misa & (1ull << (*c - 'a'))) {
      bm_putchar(*c);
    }
  }
  for (int i = 0; i < 26; i++) {
    if ((misa & (1ull << i)) && !strchr_local(canonical, 'a' + i)) {
      bm_putchar('a' + i);
    }
  }
  bm_printf("\n");
}

/* Prints x with a fixed number of decimals (no libc here, so no %f). */
static void print_fixed(double x, int decimals) {
  if (x < 0) {
    bm_putchar('-');
    x = -x;
  }
  uint64_t scale = 1;
  for (int i = 0; i < decimals; i++) {
    scale *= 10;
  }
  /* Split off the integer part first (exactly): scaling the whole value
     would spend mantissa bits on it and round the last decimal wrongly. */
  uint64_t whole = (uint64_t)x;
  uint64_t frac = (uint64_t)((x - (double)whole) * (double)scale + 0.5);
  if (frac >= scale) {
    whole++;
    frac -= scale;
  }
  bm_printf("%lu.%0*lu", (unsigned long)whole, decimals, (unsigned long)frac);
}

static double sqrt_d(double x) {
  double r;
  __asm__("fsqrt.d %0, %1" : "=f"(r) : "f"(x));
  return r;
}

/* arctan(1/n) by its Taylor series, for Machin's formula. */
static double arctan_inv(int n) {
  double x = 1.0 / n;
  double x2 = x * x;
  double term = x;
  double sum = 0;
  for (int k = 0; term > 1e-20; k++) {
    sum += (k & 1 ? -term : term) / (2 * k + 1);
    term *= x2;
  }
  return sum;
}

static void primes(void) {
  enum { LIMIT = 200 };
  static uint8_t composite[LIMIT];
  bm_printf("  primes below %d:", LIMIT);
  int col = 0;
  for (int n = 2; n < LIMIT; n++) {
    if (composite[n]) {
      continue;
    }
    for (int m = n * n; m < LIMIT; m += n) {
      composite[m] = 1;
    }
    if (col++ % 16 == 0) {
      bm_printf("\n   ");
    }
    bm_printf(" %3d", n);
  }
  bm_printf("\n");
}

static void fibonacci(void) {
  /* F(93) is the largest Fibonacci number that fits in 64 bits. */
  uint64_t a = 0, b = 1;
  for (int i = 0; i < 93; i++) {
    uint64_t t = a + b;
    a = b;
    b = t;
  }
  bm_printf("  F(93) = %lu (largest Fibonacci number in 64 bits)\n", (unsigned long)a);
  bm_printf("  F(93) / 12345 = %lu remainder %lu\n", (unsigned long)(a / 12345), (unsigned long)(a % 12345));
}

static void mandelbrot(void) {
  /* Escape time -> character, roughly logarithmic: most points escape
     within a few iterations, the interesting ones near the set take long. */
  static const struct {
    int below;
    char ch;
  } shades[] = {{2, ' '}, {3, '.'}, {4, ':'}, {6, '-'}, {9, '='}, {15, '+'}, {25, '*'}, {50, '#'}, {256, '%'}};
  const int width = 72, height = 23, max_iter = 256;
  for (int row = 0; row < height; row++) {
    bm_printf("  ");
    for (int col = 0; col < width; col++) {
      double cr = -2.2 + 3.0 * col / width;
      double ci = -1.2 + 2.4 * row / (height - 1);
      double zr = 0, zi = 0;
      int it = 0;
      while (it < max_iter && zr * zr + zi * zi <= 4.0) {
        double t = zr * zr - zi * zi + cr;
        zi = 2 * zr * zi + ci;
        zr = t;
        it++;
      }
      char ch = '@';
      for (size_t s = 0; s < sizeof shades / sizeof shades[0]; s++) {
        if (it < shades[s].below) {
          ch = shades[s].ch;
          break;
        }
      }
      bm_putchar(ch);
    }
    bm_printf("\n");
  }
}

static void digest(const char *msg) {
  uint8_t d[32];
  sha256(msg, strlen(msg), d);
  bm_printf("  sha256(\"%s\") =\n    ", msg);
  for (int i = 0; i < 32; i++) {
    bm_printf("%02x", d[i]);
  }
  bm_printf("\n");
}

int main(void) {
  bm_printf("Typervisor demo: RV64GC bare-metal program in machine mode\n");
  print_isa();
  bm_printf("\n");

  primes();
  fibonacci();
  bm_printf("\n");

  bm_printf("  pi (Machin's formula)  = ");
  print_fixed(16 * arctan_inv(5) - 4 * arctan_inv(239), 14);
  bm_printf("\n  sqrt(2) (fsqrt.d)      = ");
  print_fixed(sqrt_d(2.0), 14);
  bm_printf("\n\n");

  digest("Typervisor");
  bm_printf("\n  The Mandelbrot set, in double precision:\n");
  mandelbrot();

  bm_printf("\nTypervisor demo: done, exiting with status 0\n");
  return 0;
}
