/* Printer for the differential test: after each generated sequence, writes its final register
   file, fcsr, trap log and scratch memory as text on the HTIF console. Both emulators run the
   same ELF, so any difference in this text is a difference in execution. */
#include <stdint.h>

#define SCRATCH_BYTES 256
#define TRAP_MAX 32

struct seq_desc {
  const void *entry;
  const uint64_t *init;
  const uint8_t *mem;
  const void *end;
};

volatile uint64_t tohost __attribute__((section(".tohost"), aligned(64)));
volatile uint64_t fromhost __attribute__((section(".tohost"), aligned(64)));

extern const struct seq_desc seq_table[];
extern const uint64_t seq_count;
/* Non-zero: print the scratch area byte by byte instead of a checksum (used when replaying). */
extern const uint64_t seq_print_mem;
extern volatile uint64_t trap_log[];
extern volatile uint64_t reg_dump[];
extern volatile uint8_t scratch[];
void run_seq(const struct seq_desc *d);

static void put(char c) {
  tohost = (1ull << 56) | (1ull << 48) | (uint8_t)c;
  while (fromhost == 0) {
  }
  fromhost = 0;
}

static void puts_(const char *s) {
  while (*s) put(*s++);
}

static void hex(uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; i--) put("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

static void dec(uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) put(buf[--n]);
}

int main(void) {
  for (uint64_t i = 0; i < seq_count; i++) {
    const struct seq_desc *d = &seq_table[i];
    for (int b = 0; b < SCRATCH_BYTES; b++) scratch[b] = d->mem[b];
    run_seq(d);

    put('@');
    dec(i);
    put(' ');
    hex((uint64_t)d->entry, 16);
    puts_("\nx");
    for (int r = 1; r < 32; r++) {
      put(' ');
      hex(reg_dump[r], 16);
    }
    puts_("\nf");
    for (int r = 0; r < 32; r++) {
      put(' ');
      hex(reg_dump[32 + r], 16);
    }
    puts_("\nc ");
    hex(reg_dump[64], 8);
    if (seq_print_mem) {
      puts_("\nm ");
      for (int b = 0; b < SCRATCH_BYTES; b++) hex(scratch[b], 2);
    } else {
      /* FNV-1a over the scratch area. */
      uint64_t h = 0xcbf29ce484222325ull;
      for (int b = 0; b < SCRATCH_BYTES; b++) {
        h ^= scratch[b];
        h *= 0x100000001b3ull;
      }
      puts_("\nm ");
      hex(h, 16);
    }
    uint64_t n = trap_log[0];
    puts_("\nt ");
    dec(n);
    for (uint64_t t = 0; t < n && t < TRAP_MAX; t++) {
      put(' ');
      hex(trap_log[8 + 4 * t], 16);
      put('/');
      hex(trap_log[8 + 4 * t + 1], 16);
      put('/');
      hex(trap_log[8 + 4 * t + 2], 4);
      put('/');
      hex(trap_log[8 + 4 * t + 3], 8);
    }
    if (trap_log[3]) {
      puts_(" abort ");
      hex(trap_log[3] - 1, 16);
      put('/');
      hex(trap_log[4], 16);
    }
    put('\n');
  }
  puts_("end ");
  dec(seq_count);
  put('\n');
  tohost = 1;
  for (;;) {
  }
}
