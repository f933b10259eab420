#include "bm.h"
#include "htif.h"

void bm_putchar(int ch) { htif_putchar(ch); }

void bm_puts(const char *s) {
  while (*s) {
    htif_putchar(*s++);
  }
}

void bm_exit(int code) { htif_exit((uint64_t)(uint32_t)code); }

static int emit_padded(const char *s, int len, int width, int left, char pad) {
  int n = 0;
  if (!left) {
    for (; len + n < width; n++) {
      htif_putchar(pad);
    }
  }
  for (int i = 0; i < len; i++) {
    htif_putchar(s[i]);
  }
  n += len;
  for (; left && n < width; n++) {
    htif_putchar(' ');
  }
  return n;
}

int bm_vprintf(const char *fmt, va_list ap) {
  int total = 0;
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      htif_putchar(*fmt);
      total++;
      continue;
    }
    fmt++;
    int left = 0;
    char pad = ' ';
    for (;; fmt++) {
      if (*fmt == '-') {
        left = 1;
      } else if (*fmt == '0') {
        pad = '0';
      } else {
        break;
      }
    }
    int width = 0;
    if (*fmt == '*') {
      width = va_arg(ap, int);
      fmt++;
    } else {
      while (*fmt >= '0' && *fmt <= '9') {
        width = width * 10 + (*fmt++ - '0');
      }
    }
    int longs = 0;
    while (*fmt == 'l' || *fmt == 'z') {
      longs++;
      fmt++;
    }

    /* 20 digits hold any 64-bit value in decimal, plus a sign. */
    char buf[24];
    char *end = buf + sizeof buf;
    char *p = end;
    uint64_t u;
    int negative = 0;
    unsigned base = 10;
    const char *digits = "0123456789abcdef";

    switch (*fmt) {
    case 'd':
    case 'i': {
      int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
      negative = v < 0;
      /* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
      u = negative ? -(uint64_t)v : (uint64_t)v;
      break;
    }
    case 'u':
      u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
      break;
    case 'X':
      digits = "0123456789ABCDEF";
      /* fall through */
    case 'x':
      u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
      base = 16;
      break;
    case 'p':
      u = (uint64_t)(uintptr_t)va_arg(ap, void *);
      base = 16;
      htif_putchar('0');
      htif_putchar('x');
      total += 2;
      break;
    case 'c': {
      char c = (char)va_arg(ap, int);
      total += emit_padded(&c, 1, width, left, ' ');
      continue;
    }
    case 's': {
      const char *s = va_arg(ap, const char *);
      if (!s) {
        s = "(null)";
      }
      total += emit_padded(s, (int)strlen(s), width, left, ' ');
      continue;
    }
    case '%':
      htif_putchar('%');
      total++;
      continue;
    default:
      /* Unknown conversion: print it verbatim so the mistake is visible. */
      htif_putchar('%');
      total++;
      if (!*fmt) {
        return total;
      }
      htif_putchar(*fmt);
      total++;
      continue;
    }

    do {
      *--p = digits[u % base];
      u /= base;
    } while (u);
    if (negative) {
      if (pad == '0') {
        /* The sign goes before zero padding: -0042, not 00-42. */
        htif_putchar('-');
        total++;
        width--;
      } else {
        *--p = '-';
      }
    }
    total += emit_padded(p, (int)(end - p), width, left, left ? ' ' : pad);
  }
  return total;
}

int bm_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = bm_vprintf(fmt, ap);
  va_end(ap);
  return n;
}

void bm_trap(uint64_t mcause, uint64_t mepc, uint64_t mtval) {
  bm_printf("\n*** unexpected trap: mcause=%lx mepc=%lx mtval=%lx\n", mcause, mepc, mtval);
  bm_exit(BM_EXIT_TRAP);
}

/* Called by the REPORT_INSTRET variant of crt0 after main returns. */
void bm_report_instret(uint64_t n) { bm_printf("instret: %lu\n", n); }
