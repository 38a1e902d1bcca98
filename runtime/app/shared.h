/* What the two application libraries share (lib.c for the virtio target, lib-unix.c for unix):
 * the raw system call, the mapping of its result to unik_result_t, the console loop, and the
 * parsing of a net device's configuration, "IP/PREFIX[,gw=IP][,dns=IP]" (docs/guest-abi.md), into
 * unik_net_info.  Static functions: each library gets its own copy, with no symbol to clash with
 * the application's.  Neither library includes the C library's headers; both need of musl only
 * exit() (and lib-unix.c getenv()). */
#ifndef UNIK_RT_APP_SHARED_H
#define UNIK_RT_APP_SHARED_H

#include "unik/devices-app.h"

#define UNIKAPP_EAGAIN 11
#define UNIKAPP_EINTR  4
#define UNIKAPP_EIO    5

/* musl's: it flushes stdio, which an application may have used to format. */
__attribute__((noreturn)) void exit(int status);

/* A system call with the raw result (-errno on failure): musl's syscall() would set errno and
 * return -1. */
static inline long unikapp_call(long nr, long a0, long a1, long a2, long a3)
{
	long r;
	register long r10 __asm__("r10") = a3;

	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10)
	                 : "rcx", "r11", "memory");
	return r;
}

static inline unik_result_t unikapp_result(long r)
{
	return r >= 0                 ? UNIK_R_OK
	       : r == -UNIKAPP_EAGAIN ? UNIK_R_AGAIN
	       : r == -UNIKAPP_EIO    ? UNIK_R_EUNSPEC
	                              : UNIK_R_EINVAL;
}

#define UNIKAPP_SYS_READ          0
#define UNIKAPP_SYS_WRITE         1
#define UNIKAPP_SYS_PREAD64       17
#define UNIKAPP_SYS_PWRITE64      18
#define UNIKAPP_SYS_CLOCK_GETTIME 228
#define UNIKAPP_SYS_PPOLL         271

/* write(1) until all is written or it fails. */
static inline void unikapp_console(const char *buf, size_t len)
{
	while (len) {
		long n = unikapp_call(UNIKAPP_SYS_WRITE, 1, (long)buf, (long)len, 0);
		if (n == -UNIKAPP_EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Nanoseconds of clock id (0 realtime, 1 monotonic). */
static inline unik_time_t unikapp_clock(long id)
{
	struct {
		int64_t sec, nsec;
	} ts = {0, 0};

	unikapp_call(UNIKAPP_SYS_CLOCK_GETTIME, id, (long)&ts, 0, 0);
	return (unik_time_t)ts.sec * 1000000000u + (unik_time_t)ts.nsec;
}

/* A decimal number at *s, at most max; s moves past it.  -1 when there is none. */
static inline long unikapp_number(const char **s, long max)
{
	long v = 0;
	const char *p = *s;

	while (*p >= '0' && *p <= '9' && v <= max)
		v = v * 10 + (*p++ - '0');
	if (p == *s || v > max)
		return -1;
	*s = p;
	return v;
}

/* "a.b.c.d" at *s into *out (network byte order); s moves past it. */
static inline int unikapp_parse_ip(const char **s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		long b = unikapp_number(s, 255);
		if (b < 0 || (i < 3 && *(*s)++ != '.'))
			return -1;
		v = v << 8 | (uint32_t)b;
	}
	*out = __builtin_bswap32(v);
	return 0;
}

/* "IP/PREFIX[,gw=IP][,dns=IP]" into info; anything else leaves has_ip false. */
static inline void unikapp_parse_config(const char *s, struct unik_net_info *info)
{
	uint32_t ip;

	if (!*s || unikapp_parse_ip(&s, &ip) < 0 || *s++ != '/')
		return;
	long prefix = unikapp_number(&s, 32);
	if (prefix < 0)
		return;
	info->has_ip = true;
	info->ip = ip;
	info->prefix = (int)prefix;
	info->netmask = __builtin_bswap32(prefix ? ~0u << (32 - prefix) : 0);
	while (*s == ',') {
		s++;
		if (s[0] == 'g' && s[1] == 'w' && s[2] == '=') {
			s += 3;
			if (unikapp_parse_ip(&s, &info->gateway) < 0)
				return;
		} else {
			while (*s && *s != ',')
				s++;
		}
	}
}

#endif
