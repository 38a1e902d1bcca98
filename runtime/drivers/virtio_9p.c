/* virtio-9p: one queue of requests, each two descriptors (the request, then room for the answer)
 * over two buffers of the size the client negotiates as msize.  The device answers requests in
 * any order, so only one is given to it at a time; threads queue on a wait queue for the channel,
 * and the one whose request is in flight sleeps until the device's interrupt. */
#include "drivers/virtio_9p.h"

#include "drivers/virtio.h"

#define P9_F_MOUNT_TAG 0
#define BUF_PAGES      128 /* 512 KiB each way */
#define CHAN_MAX       8

struct p9_chan {
	struct virtio_dev *v;
	struct virtq q;
	uint8_t *req, *resp;
	char tag[64];
	bool busy;
	struct waitq turn; /* threads waiting for the channel */
	struct waitq done; /* the thread whose request is with the device */
	uint64_t saved_mask;
};

static struct p9_chan *chans[CHAN_MAX];
static int nchans;
static bool probed;

static void p9_irq(struct virtio_dev *v)
{
	struct p9_chan *c = v->priv;
	waitq_wake(&c->done);
}

static void found(struct virtio_dev *v)
{
	if (nchans == CHAN_MAX)
		return;
	struct p9_chan *c = kzalloc(sizeof(*c));
	c->v = v;
	v->priv = c;
	v->irq = p9_irq;
	c->req = (uint8_t *)pages_alloc(BUF_PAGES);
	c->resp = (uint8_t *)pages_alloc(BUF_PAGES);
	if (virtio_negotiate(v, 1ULL << P9_F_MOUNT_TAG) || !(v->features & 1) ||
	    virtio_queue_init(v, &c->q, 0) || !c->req || !c->resp || virtio_start(v)) {
		kprintf(UNIK_CONSOLE_PREFIX "virtio-9p: transport %d cannot be set up\n", v->slot);
		return;
	}
	/* struct virtio_9p_config: the tag's length (16 bits), then the tag, not terminated. */
	uint16_t len = virtio_config16(v, 0);
	if (len >= sizeof(c->tag))
		len = sizeof(c->tag) - 1;
	for (int i = 0; i < len; i++)
		c->tag[i] = (char)virtio_config8(v, 2 + i);
	c->turn = (struct waitq){NULL, "a 9p share's channel", true};
	c->done = (struct waitq){NULL, "a 9p share's answer", true};
	c->q.desc[0] = (struct vq_desc){(uint64_t)c->req, 0, VQ_DESC_F_NEXT, 1};
	c->q.desc[1] =
	    (struct vq_desc){(uint64_t)c->resp, BUF_PAGES * PAGE_SIZE, VQ_DESC_F_WRITE, 0};
	chans[nchans++] = c;
}

struct p9_chan *virtio_9p_find(const char *tag)
{
	if (!probed) {
		probed = true;
		virtio_probe(VIRTIO_ID_9P, found);
	}
	for (int i = 0; i < nchans; i++)
		if (!k_strcmp(chans[i]->tag, tag))
			return chans[i];
	return NULL;
}

uint32_t virtio_9p_buf_size(struct p9_chan *c)
{
	(void)c;
	return BUF_PAGES * PAGE_SIZE;
}

uint8_t *p9_chan_begin(struct p9_chan *c)
{
	/* A pending signal would make every wait return at once: hold signals back until the
	 * answer is in, as Linux does in an uninterruptible sleep. */
	uint64_t mask = current->sigmask;
	current->sigmask = ~0ULL;
	while (c->busy)
		thread_wait(&c->turn, 0);
	c->busy = true;
	c->saved_mask = mask;
	return c->req;
}

const uint8_t *p9_chan_rpc(struct p9_chan *c, uint32_t len, uint32_t *rlen)
{
	c->q.desc[0].len = len;
	virtq_push(&c->q, 0);
	virtq_kick(c->v, &c->q);
	struct vq_used_elem *e;
	/* Interrupts are off in the kernel: the answer cannot slip in between the look and the
	 * wait.  The wait has a deadline too, growing from 20 us to 1 ms, so that an interrupt that
	 * does not come costs at most a millisecond: on microvm under KVM none came while the
	 * transports' IOAPIC entries were level-triggered (drivers/virtio.c makes them edge). */
	uint64_t step = 20000;
	while (!(e = virtq_next_used(&c->q))) {
		thread_wait(&c->done, clock_monotonic_ns() + step);
		step = MIN(step * 2, 1000000ULL);
	}
	*rlen = e->len;
	return c->resp;
}

void p9_chan_end(struct p9_chan *c)
{
	c->busy = false;
	current->sigmask = c->saved_mask;
	waitq_wake(&c->turn);
}
