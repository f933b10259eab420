/*
 * The 16550 UART under a host that takes no output: first it writes THR a million times without
 * looking at LSR (the hostile part), after which LSR must say the transmitter is busy; then it writes
 * POLITE_BYTES more ('b's and a newline), each after waiting for THRE, which must all reach the host once it reads again.
 * Exit codes: 0 pass, 20+ a failed check.
 */
#include "hostile.h"

#define UART 0x10000000UL
#define LSR 5
#define LSR_THRE 0x20
#define POLITE_BYTES 1000

int main(void) {
  for (int i = 0; i < 1000000; i++) mmio_write8(UART, 'a');
  if (mmio_read8(UART + LSR) & LSR_THRE) return 20;
  for (int i = 0; i < POLITE_BYTES; i++) {
    while (!(mmio_read8(UART + LSR) & LSR_THRE)) {
    }
    mmio_write8(UART, i + 1 < POLITE_BYTES ? 'b' : '\n');
  }
  return 0;
}
