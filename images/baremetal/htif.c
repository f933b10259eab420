#include "htif.h"

/*
 * The host answers a console request by clearing tohost and writing a
 * non-zero word to fromhost (QEMU writes the request's device/command bits
 * and 0x100 | ch). Waiting for that before the next request keeps a second
 * character from overwriting a first one that the host has not yet seen;
 * clearing fromhost re-arms the handshake.
 */
void htif_putchar(int ch) {
  tohost = HTIF_REQUEST(HTIF_DEV_CONSOLE, HTIF_CONSOLE_CMD_PUTCHAR, (uint8_t)ch);
  while (fromhost == 0) {
  }
  fromhost = 0;
}

/* Device 0 with an odd payload ends the simulation; the status is payload >> 1. */
void htif_exit(uint64_t code) {
  for (;;) {
    tohost = (code << 1) | 1;
  }
}
