/*
 * The bare-metal runtime's interface: console output, exit, and the few
 * libc functions that GCC may call on its own (memcpy, memset, ...).
 *
 * Compiled with -DBM_HOST the same program builds natively against the
 * host's libc, which is how the benchmarks' expected results were obtained
 * independently of any RISC-V emulator.
 */
#ifndef BM_H
#define BM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef BM_HOST
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define bm_putchar putchar
#define bm_printf printf
#define bm_exit exit
#else

/* Supports %d %i %u %x %X %c %s %p %% with flags '-' and '0', a width
   (digits or '*') and the length modifiers l, ll and z. */
int bm_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int bm_vprintf(const char *fmt, va_list ap);
void bm_putchar(int ch);
void bm_puts(const char *s);
__attribute__((noreturn)) void bm_exit(int code);

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif

/* Exit statuses shared by all images. */
#define BM_EXIT_OK 0
#define BM_EXIT_WRONG_RESULT 1
#define BM_EXIT_TRAP 3

#endif
