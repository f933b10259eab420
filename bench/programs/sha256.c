/*
 * SHA-256 over 20 MiB: 32-bit rotates, adds and logic ops with long
 * dependency chains, and the message schedule's loads and stores.
 */
#include "sha256.h"

#include "bench.h"

#define BUF_BYTES (1u << 20)
/* Enough passes for about 0.8 s on QEMU 7.2 TCG here: short runs measure start-up, not code. */
#define PASSES 20

static uint64_t buf[BUF_BYTES / 8];

int main(void) {
  int bad = 0;
  uint8_t d[32];

  /* Test vectors from the NIST examples for FIPS 180. */
  sha256("abc", 3, d);
  bad |= bench_check_hex("sha256(\"abc\")", d, 32,
                         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sha256(two_blocks, strlen(two_blocks), d);
  bad |= bench_check_hex("sha256(448 bits)", d, 32,
                         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

  lcg_t g = {2};
  for (size_t i = 0; i < BUF_BYTES / 8; i++) {
    buf[i] = lcg_next(&g);
  }

  /* The digest of the buffer repeated PASSES times, fed in uneven pieces so
     that the partial-block path is exercised as well. */
  sha256_ctx ctx;
  sha256_init(&ctx);
  const uint8_t *p = (const uint8_t *)buf;
  for (int pass = 0; pass < PASSES; pass++) {
    size_t off = 0;
    size_t piece = 1000;
    while (off < BUF_BYTES) {
      size_t n = BUF_BYTES - off < piece ? BUF_BYTES - off : piece;
      sha256_update(&ctx, p + off, n);
      off += n;
      piece = piece * 3 % 65537 + 1;
    }
  }
  sha256_final(&ctx, d);
  bad |= bench_check_hex("sha256(data)", d, 32,
                         "417685e528de126be4967b444ccc24512a1a0e263dee249401c5112bfe6e2c26");

  return bad ? BM_EXIT_WRONG_RESULT : BM_EXIT_OK;
}
