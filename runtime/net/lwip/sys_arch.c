/* lwIP's system layer for NO_SYS: the time, randomness and memory it asks the platform for. */
#include "kernel/kernel.h"
#include "net/lwip_config.h"

#if UNIK_LWIP
#include "lwip/sys.h"

/* Milliseconds that wrap at 2^32, as lwIP's timers expect. */
u32_t sys_now(void)
{
	return (u32_t)(clock_monotonic_ns() / 1000000);
}

uint32_t unik_lwip_rand(void)
{
	uint32_t r;
	random_bytes(&r, sizeof(r));
	return r;
}

void *unik_lwip_malloc(size_t n)
{
	return kmalloc(n);
}

void *unik_lwip_calloc(size_t count, size_t n)
{
	if (n && count > (size_t)-1 / n)
		return NULL;
	void *p = kmalloc(count * n);
	if (p)
		k_memset(p, 0, count * n);
	return p;
}

void unik_lwip_free(void *p)
{
	kfree(p);
}
#endif
