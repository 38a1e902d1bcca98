/* The few C library functions lwIP calls, over the kernel's own (kernel/lib.c).  Only in the
 * network variant of the runtime (unikrt-net.o); every runtime symbol is made local when it is
 * linked (Makefile, rt_link), so these never meet musl's functions of the same names. */
#include "kernel/kernel.h"
#include "net/lwip_config.h"

#if UNIK_LWIP
#include "net/lwip/libc/stdlib.h"
#include "net/lwip/libc/string.h"

void *memcpy(void *d, const void *s, size_t n)
{
	return k_memcpy(d, s, n);
}

void *memmove(void *d, const void *s, size_t n)
{
	return k_memmove(d, s, n);
}

void *memset(void *d, int c, size_t n)
{
	return k_memset(d, c, n);
}

int memcmp(const void *a, const void *b, size_t n)
{
	return k_memcmp(a, b, n);
}

size_t strlen(const char *s)
{
	return k_strlen(s);
}

int strncmp(const char *a, const char *b, size_t n)
{
	return k_strncmp(a, b, n);
}

/* Decimal digits only, as netif_find ("net0") needs; no sign, no overflow check. */
int atoi(const char *s)
{
	int v = 0;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}
#endif
