/* The runtime's side of the device application API (include/unik/devices-app.h): the calls of
 * app/appcall.h over the drivers, linked only into the device variant (unikrt-app.o), which has
 * no TCP/IP stack.  A device is acquired by its manifest name; from then on the frames its driver
 * receives queue here until the application reads them, and unik_yield sleeps on them. */
#include "app/appcall.h"
#include "drivers/netdev.h"
#include "kernel/devices.h"
#include "kernel/kernel.h"
#include "kernel/linux.h"
#include "kernel/mem.h"
#include "kernel/sched.h"
#include "sys/syscall.h"

#include "drivers/blkdev.h"

/* The virtio-blk driver (drivers/virtio_blk.c), linked into this variant where the runtime has
 * one: without it the symbol stays undefined and no block device is ever found. */
#pragma weak blkdev_find

#define HANDLES  16
#define QUEUE    64 /* frames a device holds before it drops; as a NIC's ring would */
#define NAME_MAX 16

struct rxframe {
	uint16_t len;
	uint8_t data[];
};

struct handle {
	int kind; /* APPCALL_KIND_*; 0: free */
	struct netdev *net;
	void *blk; /* struct blkdev */
	struct rxframe *q[QUEUE];
	int head, n;
};

static struct handle handles[HANDLES];
static struct waitq app_wait = {NULL, "unik_yield", true};

static struct handle *net_handle(struct netdev *d)
{
	for (int i = 0; i < HANDLES; i++)
		if (handles[i].kind == APPCALL_KIND_NET && handles[i].net == d)
			return &handles[i];
	return NULL;
}

/* The driver's receive callback, in kernel context: the frame is queued for net_read. */
static void app_rx(struct netdev *d, const void *frame, size_t len)
{
	struct handle *h = net_handle(d);
	struct rxframe *f;

	if (!h || h->n == QUEUE || !(f = kmalloc(sizeof(*f) + len)))
		return;
	f->len = (uint16_t)len;
	k_memcpy(f->data, frame, len);
	h->q[(h->head + h->n++) % QUEUE] = f;
	waitq_wake(&app_wait);
}

/* The value of the boot line's "unik.NAME=" word into out (empty when there is none).  The words
 * come first on the line, before the environment, and hold no quotes. */
static void net_config(const char *name, char *out, size_t max)
{
	const char *s = (const char *)(uintptr_t)boot_info.cmdline;
	const char *end = s + boot_info.cmdline_len;
	size_t nlen = k_strlen(name);

	out[0] = 0;
	while (s && s < end) {
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\n'))
			s++;
		const char *w = s;
		while (s < end && *s && *s != ' ' && *s != '\t' && *s != '\n')
			s++;
		size_t len = (size_t)(s - w);
		if (!len)
			break;
		if (len > 5 + nlen + 1 && !k_strncmp(w, "unik.", 5) &&
		    !k_strncmp(w + 5, name, nlen) && w[5 + nlen] == '=') {
			len -= 6 + nlen;
			if (len >= max)
				len = max - 1;
			k_memcpy(out, w + 6 + nlen, len);
			out[len] = 0;
			return;
		}
	}
}

/* Whether the manifest declares a device of kind named name. */
static bool declared(int kind, const char *name)
{
	for (int i = 0; i < boot_devices.n; i++)
		if ((int)boot_devices.d[i].kind == kind && !k_strcmp(boot_devices.d[i].name, name))
			return true;
	return false;
}

/* A free handle, or the one that has dev already. */
static int slot(int kind, void *dev)
{
	int idx = -1;

	for (int i = 0; i < HANDLES; i++) {
		if (handles[i].kind == kind && (handles[i].net == dev || handles[i].blk == dev))
			return i;
		if (!handles[i].kind && idx < 0)
			idx = i;
	}
	return idx;
}

static long acquire_blk(const char *name, struct appcall_info *uinfo)
{
	struct blkdev *d = blkdev_find ? blkdev_find(name) : NULL;
	struct appcall_info info;
	int idx;

	if (!d)
		return -ENOENT;
	if ((idx = slot(APPCALL_KIND_BLK, d)) < 0)
		return -ENOSPC;
	handles[idx].kind = APPCALL_KIND_BLK;
	handles[idx].blk = d;
	k_memset(&info, 0, sizeof(info));
	info.sectors = d->sectors;
	info.readonly = d->readonly;
	k_memcpy(uinfo, &info, sizeof(info));
	return idx;
}

static long acquire(int kind, const char *uname, struct appcall_info *uinfo)
{
	char name[NAME_MAX];
	struct appcall_info info;
	struct handle *h = NULL;
	int i;

	if (!user_range_ok(uname, 1) || !user_range_ok(uinfo, sizeof(*uinfo)))
		return -EFAULT;
	for (i = 0; i < NAME_MAX && user_range_ok(uname + i, 1) && uname[i]; i++)
		name[i] = uname[i];
	if (i == NAME_MAX || !user_range_ok(uname + i, 1))
		return -EINVAL;
	name[i] = 0;
	if (!declared(kind, name))
		return -ENOENT;
	k_memset(&info, 0, sizeof(info));
	if (kind == APPCALL_KIND_BLK)
		return acquire_blk(name, uinfo);
	if (kind != APPCALL_KIND_NET)
		return -EINVAL;
	struct netdev *d = netdev_by_name(name);
	if (!d)
		return -ENOENT;
	int idx = slot(APPCALL_KIND_NET, d);
	if (idx < 0)
		return -ENOSPC;
	h = &handles[idx];
	if (!h->kind) {
		h->kind = APPCALL_KIND_NET;
		h->net = d;
		d->rx = app_rx;
	}
	k_memcpy(info.mac, d->mac, 6);
	info.mtu = d->mtu ? d->mtu : 1500;
	net_config(name, info.config, sizeof(info.config));
	k_memcpy(uinfo, &info, sizeof(info));
	return idx;
}

static struct handle *get(long h, int kind)
{
	return h >= 0 && h < HANDLES && handles[h].kind == kind ? &handles[h] : NULL;
}

/* Frames the driver has but has not handed over yet are taken now: the driver's interrupt may be
 * off while the application polls. */
static void poll_all(void)
{
	for (int i = 0; i < HANDLES; i++)
		if (handles[i].kind == APPCALL_KIND_NET && handles[i].net->poll)
			handles[i].net->poll(handles[i].net);
}

static uint64_t ready_set(void)
{
	uint64_t set = 0;

	for (int i = 0; i < HANDLES; i++)
		if (handles[i].kind == APPCALL_KIND_NET && handles[i].n)
			set |= 1ull << i;
	return set;
}

SYSCALL(500)
{
	return acquire((int)a0, P(a1), P(a2));
}

SYSCALL(501)
{
	struct handle *h = get(a0, APPCALL_KIND_NET);
	uint8_t frame[NETDEV_FRAME_MAX];
	size_t len = (size_t)a2;

	if (!h)
		return -EINVAL;
	if (len < 14 || len > sizeof(frame))
		return -EINVAL;
	if (!user_range_ok(P(a1), len))
		return -EFAULT;
	k_memcpy(frame, P(a1), len);
	for (;;) {
		int r = h->net->tx(h->net, frame, len);
		if (r != -EAGAIN)
			return r;
		if (h->net->poll)
			h->net->poll(h->net);
		r = thread_wait(&h->net->tx_wait, clock_monotonic_ns() + 1000000);
		if (r == -EINTR)
			return r;
	}
}

SYSCALL(502)
{
	struct handle *h = get(a0, APPCALL_KIND_NET);

	if (!h)
		return -EINVAL;
	if (!h->n && h->net->poll)
		h->net->poll(h->net);
	if (!h->n)
		return -EAGAIN;
	struct rxframe *fr = h->q[h->head];
	if ((uint64_t)a2 < fr->len)
		return -EINVAL;
	if (!user_range_ok(P(a1), fr->len))
		return -EFAULT;
	k_memcpy(P(a1), fr->data, fr->len);
	long len = fr->len;
	h->head = (h->head + 1) % QUEUE;
	h->n--;
	kfree(fr);
	return len;
}

SYSCALL(503)
{
	uint64_t deadline = (uint64_t)a0;

	for (;;) {
		poll_all();
		uint64_t set = ready_set();
		if (set || clock_monotonic_ns() >= deadline)
			return (long)set;
		if (thread_wait(&app_wait, deadline) == -EINTR)
			return 0;
	}
}

/* Sectors through a bounce buffer: the driver wants identity-mapped memory, which the
 * application's stack and heap need not be. */
static long blk_rw(long hnum, bool write, uint64_t sector, void *ubuf, uint64_t count)
{
	struct handle *h = get(hnum, APPCALL_KIND_BLK);

	if (!h)
		return -EINVAL;
	struct blkdev *d = h->blk;
	enum { CHUNK = 8 };
	uint8_t *bounce;

	if (count > d->sectors || sector > d->sectors - count)
		return -EINVAL;
	if (!user_range_ok(ubuf, count * 512))
		return -EFAULT;
	if (write && d->readonly)
		return -EROFS;
	if (!(bounce = kmalloc(CHUNK * 512)))
		return -ENOMEM;
	long r = 0;
	for (uint64_t done = 0; done < count && !r;) {
		uint64_t n = count - done < CHUNK ? count - done : CHUNK;
		uint8_t *u = (uint8_t *)ubuf + done * 512;
		if (write)
			k_memcpy(bounce, u, n * 512);
		r = d->rw(d, write, sector + done, bounce, n * 512);
		if (!r && !write)
			k_memcpy(u, bounce, n * 512);
		done += n;
	}
	if (!r && write && d->flush)
		r = d->flush(d);
	kfree(bounce);
	return r ? -EIO : 0;
}

SYSCALL(504)
{
	return blk_rw(a0, false, (uint64_t)a1, P(a2), (uint64_t)a3);
}

SYSCALL(505)
{
	return blk_rw(a0, true, (uint64_t)a1, P(a2), (uint64_t)a3);
}
