/*
 * A Dhrystone-like integer mix, in four parts that each stress something
 * the other benchmarks do not:
 *   - a bytecode interpreter (switch dispatch: indirect jumps through a
 *     jump table, hard to predict and hard for a JIT to chain statically);
 *   - a string hash table (byte loads, strcmp, memcpy, pointer chasing);
 *   - Euclid's gcd (64-bit remainder in a loop);
 *   - records processed through a table of function pointers (calls,
 *     returns and indirect calls, struct loads and stores).
 */
#include "bench.h"

/* Sizes of the four parts, about 0.9 s on QEMU 7.2 TCG here: short runs measure start-up, not code. */
#define COLLATZ_LIMIT 18000
#define WORDS 450000
#define GCD_N 693
#define RECORD_STEPS 1800000

/* ---- bytecode interpreter ---- */

enum { OP_LI, OP_ADD, OP_ADDI, OP_ANDI, OP_SHRI, OP_BEQZ, OP_BLT, OP_JMP, OP_HALT };

typedef struct {
  uint8_t op, a, b, c;
  int32_t imm; /* immediate or branch target */
} insn_t;

/* Sum of the Collatz stopping times of 1..limit-1, in bytecode. */
static const insn_t collatz[] = {
    /* 0 */ {OP_LI, 1, 0, 0, 1},      /* n = 1 */
    /* 1 */ {OP_LI, 5, 0, 0, 0},      /* limit, patched at run time */
    /* 2 */ {OP_LI, 6, 0, 0, 0},      /* total = 0 */
    /* 3 */ {OP_ADDI, 2, 1, 0, 0},    /* x = n */
    /* 4 */ {OP_ADDI, 3, 2, 0, -1},   /* loop: t = x - 1 */
    /* 5 */ {OP_BEQZ, 3, 0, 0, 15},   /* x == 1: done */
    /* 6 */ {OP_ADDI, 6, 6, 0, 1},    /* total++ */
    /* 7 */ {OP_ANDI, 4, 2, 0, 1},    /* odd? */
    /* 8 */ {OP_BEQZ, 4, 0, 0, 13},   /* even */
    /* 9 */ {OP_ADD, 3, 2, 2, 0},     /* x = 3x + 1 */
    /* 10 */ {OP_ADD, 2, 3, 2, 0},
    /* 11 */ {OP_ADDI, 2, 2, 0, 1},
    /* 12 */ {OP_JMP, 0, 0, 0, 4},
    /* 13 */ {OP_SHRI, 2, 2, 0, 1},   /* x = x / 2 */
    /* 14 */ {OP_JMP, 0, 0, 0, 4},
    /* 15 */ {OP_ADDI, 1, 1, 0, 1},   /* done: n++ */
    /* 16 */ {OP_BLT, 1, 5, 0, 3},    /* n < limit: next n */
    /* 17 */ {OP_HALT, 0, 0, 0, 0},
};

static insn_t program[sizeof collatz / sizeof collatz[0]];

static uint64_t run_bytecode(const insn_t *code, uint64_t *steps) {
  int64_t r[8] = {0};
  uint64_t n = 0;
  size_t pc = 0;
  for (;;) {
    const insn_t *i = &code[pc++];
    n++;
    switch (i->op) {
    case OP_LI:
      r[i->a] = i->imm;
      break;
    case OP_ADD:
      r[i->a] = r[i->b] + r[i->c];
      break;
    case OP_ADDI:
      r[i->a] = r[i->b] + i->imm;
      break;
    case OP_ANDI:
      r[i->a] = r[i->b] & i->imm;
      break;
    case OP_SHRI:
      r[i->a] = (int64_t)((uint64_t)r[i->b] >> i->imm);
      break;
    case OP_BEQZ:
      if (r[i->a] == 0) {
        pc = (size_t)i->imm;
      }
      break;
    case OP_BLT:
      if (r[i->a] < r[i->b]) {
        pc = (size_t)i->imm;
      }
      break;
    case OP_JMP:
      pc = (size_t)i->imm;
      break;
    case OP_HALT:
      *steps = n;
      return (uint64_t)r[6];
    }
  }
}

/* ---- string hash table ---- */

#define BUCKETS 4096
#define MAX_ENTRIES 65536

typedef struct entry {
  struct entry *next;
  uint32_t count;
  char word[12];
} entry_t;

static entry_t *buckets[BUCKETS];
static entry_t entries[MAX_ENTRIES];
static size_t n_entries;

/* FNV-1a, 32-bit. */
static uint32_t hash_word(const char *s) {
  uint32_t h = 2166136261u;
  while (*s) {
    h = (h ^ (uint8_t)*s++) * 16777619u;
  }
  return h;
}

static int count_word(const char *w) {
  uint32_t h = hash_word(w) & (BUCKETS - 1);
  for (entry_t *e = buckets[h]; e; e = e->next) {
    if (strcmp(e->word, w) == 0) {
      e->count++;
      return 0;
    }
  }
  if (n_entries == MAX_ENTRIES) {
    return -1;
  }
  entry_t *e = &entries[n_entries++];
  memcpy(e->word, w, strlen(w) + 1);
  e->count = 1;
  e->next = buckets[h];
  buckets[h] = e;
  return 0;
}

static uint64_t word_counts(void) {
  lcg_t g = {5};
  char w[12];
  for (int i = 0; i < WORDS; i++) {
    uint64_t r = lcg_next(&g);
    /* Short words over a small alphabet, so that many repeat. */
    int len = 2 + (int)(r >> 62);
    for (int k = 0; k < len; k++) {
      w[k] = (char)('a' + (r >> (8 * k + 8)) % 7);
    }
    w[len] = 0;
    if (count_word(w) < 0) {
      return 0;
    }
  }
  /* Independent of insertion order, unlike the table's layout. */
  uint64_t sum = 0;
  for (size_t i = 0; i < n_entries; i++) {
    sum += (uint64_t)hash_word(entries[i].word) * entries[i].count;
  }
  return sum ^ (uint64_t)n_entries << 48;
}

/* ---- gcd ---- */

static uint64_t gcd(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static uint64_t gcd_sum(void) {
  uint64_t sum = 0;
  for (uint64_t i = 1; i <= GCD_N; i++) {
    for (uint64_t j = 1; j <= GCD_N; j++) {
      sum += gcd(i * 1000003u, j * 999983u);
    }
  }
  return sum;
}

/* ---- records and function pointers ---- */

typedef struct record {
  struct record *next;
  int32_t kind;
  int32_t value;
  uint64_t acc;
  int8_t tag[8]; /* signed explicitly: plain char is unsigned on RISC-V, signed on x86 */
} record_t;

#define RECORDS 1024

static record_t records[RECORDS];

/* Unsigned arithmetic: signed overflow would be undefined behaviour. */
static uint64_t op_add(record_t *r, uint64_t x) { return r->acc + (uint64_t)(int64_t)r->value + x; }
static uint64_t op_xor(record_t *r, uint64_t x) { return (r->acc ^ x) + (uint64_t)(int64_t)r->tag[x & 7]; }
static uint64_t op_mul(record_t *r, uint64_t x) { return r->acc * 3 + (x >> 3) - (uint64_t)(int64_t)r->value; }
static uint64_t op_shift(record_t *r, uint64_t x) { return (r->acc << 1) ^ (r->acc >> 7) ^ x; }

typedef uint64_t (*op_fn)(record_t *, uint64_t);
static op_fn const ops[4] = {op_add, op_xor, op_mul, op_shift};

/* Not inlined: the calls and returns are part of what is measured. */
__attribute__((noinline)) static record_t *step(record_t *r, uint64_t x) {
  r->acc = ops[r->kind & 3](r, x);
  r->kind = (int32_t)((r->kind + (r->acc & 1) + 1) & 3);
  return r->next;
}

static uint64_t records_run(void) {
  lcg_t g = {6};
  for (int i = 0; i < RECORDS; i++) {
    uint64_t v = lcg_next(&g);
    records[i].kind = (int32_t)(v & 3);
    records[i].value = (int32_t)(v >> 40);
    records[i].acc = v >> 20;
    for (int k = 0; k < 8; k++) {
      records[i].tag[k] = (int8_t)(v >> (8 * k));
    }
    /* A scattered cycle through all records: 389 is coprime with 1024. */
    records[i].next = &records[(i * 389 + 1) % RECORDS];
  }
  record_t *r = &records[0];
  for (uint64_t x = 0; x < RECORD_STEPS; x++) {
    r = step(r, x);
  }
  uint64_t sum = 0;
  for (int i = 0; i < RECORDS; i++) {
    sum = sum * 31 + records[i].acc + (uint64_t)records[i].kind;
  }
  return sum;
}

int main(void) {
  int bad = 0;

  memcpy(program, collatz, sizeof program);
  program[1].imm = COLLATZ_LIMIT;
  uint64_t steps = 0;
  uint64_t total = run_bytecode(program, &steps);
  bm_printf("bytecode: %llu bytecodes executed\n", (unsigned long long)steps);
  bad |= bench_check_u64("collatz total", total, 0x18e55bu);

  bad |= bench_check_u64("word counts", word_counts(), 0x4c7509b826bcd711ull);
  bad |= bench_check_u64("gcd sum", gcd_sum(), 0x1f0255u);
  bad |= bench_check_u64("records", records_run(), 0x1548bbcec424b2cdull);

  return bad ? BM_EXIT_WRONG_RESULT : BM_EXIT_OK;
}
