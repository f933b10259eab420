/*
 * Host-Target Interface (HTIF): the tohost/fromhost mailbox understood by
 * Spike, QEMU's spike machine and `typervisor run-elf`.
 *
 * A request is one 64-bit word: device << 56 | command << 48 | payload.
 */
#ifndef HTIF_H
#define HTIF_H

#include <stdint.h>

#define HTIF_DEV_SYSTEM 0ull
#define HTIF_DEV_CONSOLE 1ull
#define HTIF_CONSOLE_CMD_PUTCHAR 1ull

#define HTIF_REQUEST(dev, cmd, payload) (((dev) << 56) | ((cmd) << 48) | (payload))

extern volatile uint64_t tohost;
extern volatile uint64_t fromhost;

void htif_putchar(int ch);
__attribute__((noreturn)) void htif_exit(uint64_t code);

#endif
