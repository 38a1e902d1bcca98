/* lwIP's platform header for unik: the compiler's freestanding headers for types and limits, the
 * kernel's console for diagnostics, and none of the hosted headers the runtime does not have
 * (stdio.h, stdlib.h, inttypes.h, ctype.h, unistd.h). */
#ifndef UNIK_LWIP_ARCH_CC_H
#define UNIK_LWIP_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>

#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H    1
#define LWIP_NO_UNISTD_H   1
/* GCC's limits.h wants the C library's beside it under -nostdinc; lwIP needs only these. */
#define LWIP_NO_LIMITS_H 1
#ifndef INT_MAX
#define INT_MAX __INT_MAX__
#endif
typedef long ssize_t;
#define SSIZE_MAX __LONG_MAX__

#define X8_F  "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "lu"

/* x86-64 */
#define BYTE_ORDER LITTLE_ENDIAN

/* The kernel's console and panic (kernel/lib.c); declared here so that lwIP's files need not
 * include the kernel's headers, whose names may clash with lwIP's. */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define LWIP_PLATFORM_DIAG(x)                                                                      \
	do {                                                                                       \
		kprintf x;                                                                         \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x)                                                                    \
	panic("lwIP: assertion \"%s\" failed in %s:%d", x, __FILE__, __LINE__)

/* memory and randomness for lwipopts.h (net/lwip/sys_arch.c) */
void *unik_lwip_malloc(size_t n);
void *unik_lwip_calloc(size_t count, size_t n);
void unik_lwip_free(void *p);
uint32_t unik_lwip_rand(void);

#endif
