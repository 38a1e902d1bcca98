/* lwIP's platform header for mirage applications (liblwip-app.a): the compiler's freestanding
 * headers for the types (lwIP's own files still include musl's, as unik-cc compiles them), and
 * diagnostics through the console (lwip-netif.c). */
#ifndef UNIK_APP_LWIP_ARCH_CC_H
#define UNIK_APP_LWIP_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>

#define BYTE_ORDER LITTLE_ENDIAN

void unik_lwip_app_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void unik_lwip_app_assert(const char *what, const char *file, int line);
uint32_t unik_lwip_app_rand(void);

#define LWIP_PLATFORM_DIAG(x)                                                                      \
	do {                                                                                       \
		unik_lwip_app_diag x;                                                              \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) unik_lwip_app_assert(x, __FILE__, __LINE__)

#endif
