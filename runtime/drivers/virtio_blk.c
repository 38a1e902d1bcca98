/* virtio-blk: each disk is one request queue driven synchronously (the request is made
 * available, then the used ring is watched, the CPU halted between looks), which keeps a file
 * system's work inside one system call free of other threads without any lock.  A disk is
 * named by its serial (VIRTIO_BLK_T_GET_ID), which the host sets to the manifest device's name. */
#include "drivers/blkdev.h"
#include "drivers/virtio.h"
#include "kernel/sched.h"

#define BLK_F_RO    5
#define BLK_F_FLUSH 9
#define T_IN        0
#define T_OUT       1
#define T_FLUSH     4
#define T_GET_ID    8
#define ID_BYTES    20
#define SPIN_NS     20000   /* polled this long, for a quick answer */
#define HALT_NS     1000000 /* then halted, until the interrupt or this long at most */

struct req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct vblk {
	struct blkdev bd;
	struct virtio_dev *v;
	struct virtq q;
	struct req_hdr *hdr; /* one page: the header, then the status byte */
};

static struct vblk *disks[BLKDEV_MAX];
static int ndisks;
static bool probed;

/* One request of up to three descriptors (header, data, status).  The answer is polled for a
 * little, then waited for with the CPU halted (sched_halt_until), so that a slow request (a
 * flush is the host's fdatasync) leaves the host's CPU to QEMU's I/O rather than to a spinning
 * guest.  The halt ends at the device's interrupt; its deadline only covers a lost one. */
static int request(struct vblk *b, uint32_t type, uint64_t sector, void *buf, size_t n,
                   bool device_writes)
{
	volatile uint8_t *status = (uint8_t *)b->hdr + sizeof(struct req_hdr);
	*b->hdr = (struct req_hdr){type, 0, sector};
	*status = 0xff;
	uint16_t d = 0;
	b->q.desc[0] =
	    (struct vq_desc){(uint64_t)b->hdr, sizeof(struct req_hdr), VQ_DESC_F_NEXT, 1};
	if (n) {
		b->q.desc[1] =
		    (struct vq_desc){(uint64_t)buf, (uint32_t)n,
		                     VQ_DESC_F_NEXT | (device_writes ? VQ_DESC_F_WRITE : 0), 2};
		d = 1;
	}
	b->q.desc[d].next = (uint16_t)(d + 1);
	b->q.desc[d + 1] = (struct vq_desc){(uint64_t)status, 1, VQ_DESC_F_WRITE, 0};
	virtq_push(&b->q, 0);
	virtq_kick(b->v, &b->q);
	uint64_t spin_end = clock_monotonic_ns() + SPIN_NS;
	while (!virtq_next_used(&b->q)) {
		uint64_t now = clock_monotonic_ns();
		if (now < spin_end)
			cpu_relax();
		else
			sched_halt_until(now + HALT_NS);
	}
	return *status == 0 ? 0 : -EIO;
}

static int vblk_rw(struct blkdev *d, bool write, uint64_t sector, void *buf, size_t n)
{
	struct vblk *b = d->priv;
	if (write && d->readonly)
		return -EROFS;
	return request(b, write ? T_OUT : T_IN, sector, buf, n, !write);
}

static int vblk_flush(struct blkdev *d)
{
	struct vblk *b = d->priv;
	if (!(b->v->features >> BLK_F_FLUSH & 1))
		return 0;
	return request(b, T_FLUSH, 0, NULL, 0, false);
}

static void vblk_found(struct virtio_dev *v)
{
	if (ndisks == BLKDEV_MAX)
		return;
	struct vblk *b = kzalloc(sizeof(*b));
	b->v = v;
	v->priv = b;
	if (virtio_negotiate(v, 1ULL << BLK_F_RO | 1ULL << BLK_F_FLUSH) ||
	    virtio_queue_init(v, &b->q, 0) || !(b->hdr = (struct req_hdr *)pages_alloc(1))) {
		kprintf(UNIK_CONSOLE_PREFIX "virtio-blk: transport %d cannot be set up\n", v->slot);
		return;
	}
	/* The device interrupts at each answer: the handler (drivers/virtio.c) only acknowledges
	 * it, which ends the halt in request(). */
	if (virtio_start(v)) {
		kprintf(UNIK_CONSOLE_PREFIX "virtio-blk: no interrupt vector for transport %d\n",
		        v->slot);
		return;
	}
	uint64_t cap = 0;
	for (int i = 7; i >= 0; i--)
		cap = cap << 8 | virtio_config8(v, i);
	b->bd.sectors = cap;
	b->bd.readonly = v->features >> BLK_F_RO & 1;
	b->bd.rw = vblk_rw;
	b->bd.flush = vblk_flush;
	b->bd.priv = b;
	char *id = (char *)b->hdr + 64;
	k_memset(id, 0, ID_BYTES);
	if (request(b, T_GET_ID, 0, id, ID_BYTES, true) == 0)
		k_memcpy(b->bd.name, id, ID_BYTES);
	disks[ndisks++] = b;
}

struct blkdev *blkdev_find(const char *name)
{
	if (!probed) {
		probed = true;
		virtio_probe(VIRTIO_ID_BLOCK, vblk_found);
	}
	for (int i = 0; i < ndisks; i++)
		if (!k_strcmp(disks[i]->bd.name, name))
			return &disks[i]->bd;
	return NULL;
}
