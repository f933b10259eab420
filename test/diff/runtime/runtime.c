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
  /* bits 1:0 privilege mode (3 = M, 1 = S, 0 = U), bit 2 Sv39 translation, bit 3 SUM,
     bit 4 MXR */
  uint64_t flags;
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

#define SEQ_VM 4
#define SEQ_SUM 8
#define SEQ_MXR 16

/* Sv39 tables for S- and U-mode sequences. Code and data are identity-mapped by a gigapage
   (U = 0 for S-mode, U = 1 for U-mode). The window at VA 0x40000000 maps pairs of 4 KiB pages
   onto the two physical pages the scratch area straddles, each pair with its own permissions;
   megapages at 0x40200000 (misaligned: always faults), 0x40400000 (U = 1) and 0x40600000
   (U = 0) map the first 2 MiB of RAM. A/D are always preset: whether hardware sets them or
   faults is the implementation's choice. */
#define PTE_V 1u
#define PTE_R 2u
#define PTE_W 4u
#define PTE_X 8u
#define PTE_U 16u
#define PTE_A 64u
#define PTE_D 128u
#define WINDOW_PAIRS 10

static uint64_t root_s[512] __attribute__((aligned(4096)));
static uint64_t root_u[512] __attribute__((aligned(4096)));
static uint64_t l1_win[512] __attribute__((aligned(4096)));
/* Sequences may rewrite these (then sfence.vma); restored from l0_template before each one. */
uint64_t l0_win[512] __attribute__((aligned(4096)));
static uint64_t l0_template[2 * WINDOW_PAIRS];

static const uint64_t pair_flags[WINDOW_PAIRS] = {
    PTE_V | PTE_R | PTE_W | PTE_U,
    PTE_V | PTE_R | PTE_W,
    PTE_V | PTE_R | PTE_U,
    PTE_V | PTE_R,
    PTE_V | PTE_X | PTE_U,
    PTE_V | PTE_X,
    0, /* invalid */
    PTE_V | PTE_W | PTE_U, /* W without R: reserved */
    PTE_V | PTE_R | PTE_W | PTE_X | PTE_U,
    PTE_V | PTE_R | PTE_W | PTE_X,
};

static uint64_t pte(uint64_t pa, uint64_t flags) { return ((pa >> 12) << 10) | flags; }

static void setup_vm(void) {
  const uint64_t ad = PTE_A | PTE_D;
  const uint64_t ram = 0x80000000ull;
  root_s[1] = pte((uint64_t)l1_win, PTE_V);
  root_u[1] = pte((uint64_t)l1_win, PTE_V);
  root_s[2] = pte(ram, PTE_V | PTE_R | PTE_W | PTE_X | ad);
  root_u[2] = pte(ram, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | ad);
  l1_win[0] = pte((uint64_t)l0_win, PTE_V);
  l1_win[1] = pte(ram + 0x1000, PTE_V | PTE_R | PTE_W | PTE_U | ad);
  l1_win[2] = pte(ram, PTE_V | PTE_R | PTE_W | PTE_U | ad);
  l1_win[3] = pte(ram, PTE_V | PTE_R | PTE_W | ad);
  uint64_t p0 = (uint64_t)scratch & ~0xfffull;
  for (int k = 0; k < WINDOW_PAIRS; k++) {
    uint64_t f = pair_flags[k] ? pair_flags[k] | ad : 0;
    l0_template[2 * k] = pte(p0, f);
    l0_template[2 * k + 1] = pte(p0 + 0x1000, f);
  }
}

static void enter_vm(uint64_t flags) {
  for (int i = 0; i < 2 * WINDOW_PAIRS; i++) l0_win[i] = l0_template[i];
  uint64_t satp = 0;
  if (flags & SEQ_VM) satp = (8ull << 60) | ((uint64_t)((flags & 3) == 0 ? root_u : root_s) >> 12);
  const uint64_t sum_mxr = (1ull << 18) | (1ull << 19);
  uint64_t set = ((flags & SEQ_SUM) ? 1ull << 18 : 0) | ((flags & SEQ_MXR) ? 1ull << 19 : 0);
  __asm__ volatile("csrw satp, %0\n\tsfence.vma\n\tcsrc mstatus, %1\n\tcsrs mstatus, %2"
                   :
                   : "r"(satp), "r"(sum_mxr), "r"(set)
                   : "memory");
}


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
  setup_vm();
  for (uint64_t i = 0; i < seq_count; i++) {
    const struct seq_desc *d = &seq_table[i];
    for (int b = 0; b < SCRATCH_BYTES; b++) scratch[b] = d->mem[b];
    enter_vm(d->flags);
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
