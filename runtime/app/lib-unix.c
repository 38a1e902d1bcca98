/* The application's side of include/unik/devices-app.h for the unix target
 * (libunikapp-unix.a): the application is a Linux process that bin/unik-spt loaded, and each
 * call is a host system call on the descriptors unik-spt opened for it (include/unik/spt.h):
 * the console is write(1), a net device read/write on a tap, a block device pread/pwrite on a
 * file, the clocks clock_gettime, unik_yield ppoll.  unik-spt's seccomp filter allows those and
 * nothing more (cmd/unik-spt/rules.c).  Like lib.c it uses no C library header, and of musl
 * only exit() and getenv(). */
#include "app/shared.h"
#include "unik/devices-app.h"
#include "unik/spt.h"

/* musl's. */
char *getenv(const char *name);

#define POLLIN 1

static size_t len_of(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static bool same(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

struct device {
	char kind; /* 'n' net, 'b' blk */
	char name[16];
	int fd;
	uint8_t mac[6];
	size_t mtu;
	char config[64];
	uint64_t sectors;
	bool readonly;
};

static struct device devices[UNIK_SPT_MAX_DEV];
static unsigned ndevices;

/* The field at *s up to the next ':' (or the end of the word, when last) into out; false when
 * it does not fit. */
static bool field(const char **s, char *out, size_t size, bool last)
{
	size_t n = 0;
	const char *p = *s;

	while (*p && *p != ' ' && (last || *p != ':')) {
		if (n + 1 >= size)
			return false;
		out[n++] = *p++;
	}
	out[n] = '\0';
	if (!last) {
		if (*p != ':')
			return false;
		p++;
	}
	*s = p;
	return true;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One word of UNIK_SPT_ENV into d; false when it is not one. */
static bool parse_device(const char **s, struct device *d)
{
	char kind[4], num[24], mode[4];
	const char *p;
	long v;

	if (!field(s, kind, sizeof(kind), false) || !field(s, d->name, sizeof(d->name), false))
		return false;
	if (same(kind, "net")) {
		char mac[13];

		d->kind = 'n';
		if (!field(s, mac, sizeof(mac), false) || len_of(mac) != 12 ||
		    !field(s, num, sizeof(num), false) ||
		    !field(s, d->config, sizeof(d->config), true))
			return false;
		for (int i = 0; i < 6; i++) {
			int hi = hexval(mac[2 * i]), lo = hexval(mac[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return false;
			d->mac[i] = (uint8_t)(hi << 4 | lo);
		}
		p = num;
		if ((v = unikapp_number(&p, 65535)) < 68 || *p)
			return false;
		d->mtu = (size_t)v;
		return true;
	}
	if (same(kind, "blk")) {
		d->kind = 'b';
		if (!field(s, num, sizeof(num), false) || !field(s, mode, sizeof(mode), true))
			return false;
		d->sectors = 0;
		for (p = num; *p >= '0' && *p <= '9'; p++) {
			if (d->sectors > UINT64_MAX / 1024)
				return false;
			d->sectors = d->sectors * 10 + (uint64_t)(*p - '0');
		}
		if (p == num || *p || (!same(mode, "ro") && !same(mode, "rw")))
			return false;
		d->readonly = same(mode, "ro");
		return true;
	}
	return false;
}

static void console(const char *s)
{
	unikapp_console(s, len_of(s));
}

int main(int argc, char **argv)
{
	struct unik_app_info info = {argc, argv};
	const char *s = getenv(UNIK_SPT_ENV);

	while (s && *s) {
		struct device *d = &devices[ndevices];

		if (ndevices == UNIK_SPT_MAX_DEV || !parse_device(&s, d) || (*s && *s++ != ' ')) {
			console("unik: bad " UNIK_SPT_ENV
			        " (include/unik/spt.h): run the application "
			        "with unik-spt\n");
			return 1;
		}
		d->fd = UNIK_SPT_FD_BASE + (int)ndevices++;
	}
	return unik_app_main(&info);
}

void unik_exit(int status)
{
	exit(status);
}

void unik_console_write(const char *buf, size_t len)
{
	unikapp_console(buf, len);
}

static struct device *acquire(char kind, const char *name, unik_handle_t *h)
{
	for (unsigned i = 0; i < ndevices; i++)
		if (devices[i].kind == kind && same(devices[i].name, name)) {
			*h = i;
			return &devices[i];
		}
	return NULL;
}

static struct device *handle(unik_handle_t h, char kind)
{
	return h < ndevices && devices[h].kind == kind ? &devices[h] : NULL;
}

unik_result_t unik_net_info(const char *name, unik_handle_t *h, struct unik_net_info *info)
{
	struct device *d = acquire('n', name, h);

	if (!d)
		return UNIK_R_EINVAL;
	__builtin_memset(info, 0, sizeof(*info));
	__builtin_memcpy(info->mac, d->mac, 6);
	info->mtu = d->mtu;
	unikapp_parse_config(d->config, info);
	return UNIK_R_OK;
}

unik_result_t unik_net_write(unik_handle_t h, const uint8_t *buf, size_t size)
{
	struct device *d = handle(h, 'n');
	long n;

	if (!d || size < 14 || size > d->mtu + 14)
		return UNIK_R_EINVAL;
	do
		n = unikapp_call(UNIKAPP_SYS_WRITE, d->fd, (long)buf, (long)size, 0);
	while (n == -UNIKAPP_EINTR);
	return n == (long)size ? UNIK_R_OK : UNIK_R_EUNSPEC;
}

unik_result_t unik_net_read(unik_handle_t h, uint8_t *buf, size_t size, size_t *read_size)
{
	struct device *d = handle(h, 'n');
	long n;

	*read_size = 0;
	if (!d || size < d->mtu + 14)
		return UNIK_R_EINVAL;
	do
		n = unikapp_call(UNIKAPP_SYS_READ, d->fd, (long)buf, (long)size, 0);
	while (n == -UNIKAPP_EINTR);
	if (n < 0)
		return n == -UNIKAPP_EAGAIN ? UNIK_R_AGAIN : UNIK_R_EUNSPEC;
	*read_size = (size_t)n;
	return UNIK_R_OK;
}

unik_result_t unik_block_info(const char *name, unik_handle_t *h, struct unik_block_info *info)
{
	struct device *d = acquire('b', name, h);

	if (!d)
		return UNIK_R_EINVAL;
	info->capacity = d->sectors * UNIK_SECTOR_SIZE;
	info->block_size = UNIK_SECTOR_SIZE;
	info->readonly = d->readonly;
	return UNIK_R_OK;
}

/* count sectors at sector through pread or pwrite, whole. */
static unik_result_t transfer(unik_handle_t h, uint64_t sector, void *buf, size_t count, bool write)
{
	struct device *d = handle(h, 'b');
	size_t len, done = 0;

	if (!d || (write && d->readonly) || sector > d->sectors || count > d->sectors - sector ||
	    count > (size_t)-1 / UNIK_SECTOR_SIZE)
		return UNIK_R_EINVAL;
	len = count * UNIK_SECTOR_SIZE;
	while (done < len) {
		long off = (long)(sector * UNIK_SECTOR_SIZE + done);
		long n = unikapp_call(write ? UNIKAPP_SYS_PWRITE64 : UNIKAPP_SYS_PREAD64, d->fd,
		                      (long)((char *)buf + done), (long)(len - done), off);
		if (n == -UNIKAPP_EINTR)
			continue;
		if (n <= 0)
			return UNIK_R_EUNSPEC;
		done += (size_t)n;
	}
	return UNIK_R_OK;
}

unik_result_t unik_block_read(unik_handle_t h, uint64_t sector, void *buf, size_t count)
{
	return transfer(h, sector, buf, count, false);
}

unik_result_t unik_block_write(unik_handle_t h, uint64_t sector, const void *buf, size_t count)
{
	return transfer(h, sector, (void *)buf, count, true);
}

unik_time_t unik_clock_monotonic(void)
{
	return unikapp_clock(1);
}

unik_time_t unik_clock_wall(void)
{
	return unikapp_clock(0);
}

void unik_yield(unik_time_t deadline, unik_handle_set_t *ready)
{
	struct {
		int fd;
		short events, revents;
	} fds[UNIK_SPT_MAX_DEV];
	unik_handle_t which[UNIK_SPT_MAX_DEV];
	unik_handle_set_t set = 0;
	unik_time_t now = unik_clock_monotonic();
	struct {
		int64_t sec, nsec;
	} ts = {0, 0};
	unsigned n = 0;

	for (unsigned i = 0; i < ndevices; i++)
		if (devices[i].kind == 'n') {
			fds[n].fd = devices[i].fd;
			fds[n].events = POLLIN;
			fds[n].revents = 0;
			which[n++] = i;
		}
	if (deadline > now) {
		ts.sec = (int64_t)((deadline - now) / 1000000000u);
		ts.nsec = (int64_t)((deadline - now) % 1000000000u);
	}
	if (unikapp_call(UNIKAPP_SYS_PPOLL, (long)fds, n, (long)&ts, 0) > 0)
		for (unsigned i = 0; i < n; i++)
			if (fds[i].revents & POLLIN)
				set |= (unik_handle_set_t)1 << which[i];
	if (ready)
		*ready = set;
}
