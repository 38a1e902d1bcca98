/* Virtio devices (drivers/virtio.c): the virtio-pci transport (modern, on pc and q35, MSI-X)
 * and the virtio-mmio one (version 2, and the legacy version 1 QEMU's microvm still makes by
 * default, its line routed through the IOAPIC), the device status handshake and feature
 * negotiation, and split virtqueues.  A device driver (virtio_net.c) owns the struct virtio_dev
 * it is handed and everything hung on it. */
#ifndef UNIK_RT_VIRTIO_H
#define UNIK_RT_VIRTIO_H

#include "kernel/kernel.h"

#ifndef ENODEV
#define ENODEV 19
#endif

#define VIRTIO_ID_NET   1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_9P    9

#define VIRTIO_F_VERSION_1 32

/* The split virtqueue's layout (virtio 1.x, 2.7). */
struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VQ_DESC_F_NEXT  1
#define VQ_DESC_F_WRITE 2

struct vq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq {
	uint16_t size; /* a power of two, at most VQ_SIZE_MAX */
	uint16_t index;
	uint16_t avail_idx; /* the next free slot of avail->ring, as the driver counts */
	uint16_t used_seen; /* how far the driver has read used->ring */
	struct vq_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[size] */
	volatile uint16_t *used;  /* flags, idx, then struct vq_used_elem ring[size] */
	uint64_t notify;          /* where the device is told of new buffers */
};
#define VQ_SIZE_MAX 64

struct virtio_dev {
	uint64_t base; /* the transport's registers (virtio-pci: the common ones), uncached */
	uint32_t device_id;
	int slot; /* which transport window, or the PCI device number on bus 0 */
	bool pci;
	uint64_t notify, devcfg; /* virtio-pci: the notification area, the device's own config */
	uint32_t notify_mul;
	int msix_cap;
	int vector;
	bool legacy;       /* a version 1 transport: virtio 0.9.5, no VERSION_1 */
	uint64_t features; /* what was negotiated */
	/* Called from the interrupt handler, in ring 0 with interrupts off, after the interrupt
	 * was acknowledged at the device. */
	void (*irq)(struct virtio_dev *v);
	void *priv;
};

/* Find the transports whose device is of type id and hand each, reset and acknowledged, to
 * found(), in transport order; returns how many were found. */
int virtio_probe(uint32_t id, void (*found)(struct virtio_dev *v));
/* The device's features in the first 64 bits; negotiate the ones in want that it has (plus
 * VERSION_1, which a version 2 transport requires).  -ENODEV when the device refuses them or lacks
 * VERSION_1. */
int virtio_negotiate(struct virtio_dev *v, uint64_t want);
/* Set queue idx up with up to VQ_SIZE_MAX entries.  -ENOMEM, or -ENODEV when it has none. */
int virtio_queue_init(struct virtio_dev *v, struct virtq *q, int idx);
/* Route the device's interrupt to v->irq, then set DRIVER_OK. */
int virtio_start(struct virtio_dev *v);
/* Byte i of the device-specific configuration space. */
uint8_t virtio_config8(struct virtio_dev *v, int i);
uint16_t virtio_config16(struct virtio_dev *v, int i);

/* Make descriptor head (already filled) available; then tell the device with virtq_kick. */
void virtq_push(struct virtq *q, uint16_t head);
void virtq_kick(struct virtio_dev *v, struct virtq *q);
/* The next used element, or NULL when the device has returned nothing more. */
struct vq_used_elem *virtq_next_used(struct virtq *q);

/* virtio_net.c: find the virtio-net devices and register them (drivers/netdev.h). */
void virtio_net_probe(void);

#endif
