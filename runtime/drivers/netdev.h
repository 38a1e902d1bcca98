/* A network device as the network code sees it: a driver (virtio-net) fills one in and registers
 * it; the stack (lwIP's netif glue, AF_PACKET sockets) sends frames through tx and is handed the
 * frames that arrive through rx.  Interfaces are numbered from 1 in registration order, which is
 * the order of the net devices in the boot manifest (kernel/devices.h). */
#ifndef UNIK_RT_NETDEV_H
#define UNIK_RT_NETDEV_H

#include "kernel/sched.h"

#define NETDEV_MAX       8
#define NETDEV_CSUM_TX   1u /* the device completes TCP/UDP checksums on send */
#define NETDEV_CSUM_RX   2u /* received frames' checksums were checked by the device */
#define NETDEV_FRAME_MAX 1514

#ifndef EMSGSIZE
#define EMSGSIZE 90
#endif

struct netdev {
	char name[16]; /* the manifest's name ("net0"), else "ethN" */
	int index;     /* 1, 2, ... (if_nametoindex) */
	uint8_t mac[6];
	uint16_t mtu;
	unsigned features; /* NETDEV_CSUM_* */
	bool link_up;
	/* Send one Ethernet frame (no FCS).  0, or -EAGAIN when the device's queue is full (the
	 * caller may wait on tx_wait), -EMSGSIZE when too long. */
	int (*tx)(struct netdev *d, const void *frame, size_t len);
	/* Woken when the device has room again after -EAGAIN. */
	struct waitq tx_wait;
	/* Set by the network code; the driver calls it for each frame that arrives, in kernel
	 * context (an interrupt handler or a poll), never re-entered. */
	void (*rx)(struct netdev *d, const void *frame, size_t len);
	void *stack; /* the network code's state for this device */
	void *priv;  /* the driver's */
	/* Hand over what has arrived and take back sent buffers now, without waiting for the
	 * interrupt; kernel context, not re-entered with rx.  NULL: the driver needs none. */
	void (*poll)(struct netdev *d);
};

/* drivers/netdev.c: the registered devices.  The first call of netdev_by_index, netdev_by_name
 * or netdev_count probes the drivers, which read the boot manifest: call them from system calls,
 * never from an init level (the manifest is read after those). */
int netdev_register(struct netdev *d); /* sets index; -ENOSPC past NETDEV_MAX */
struct netdev *netdev_by_index(int index);
struct netdev *netdev_by_name(const char *name);
int netdev_count(void);
/* netdev.c: what a driver calls for each frame that arrives (instead of d->rx itself): hands it
 * to netdev_tap when set, then to d->rx when set. */
void netdev_input(struct netdev *d, const void *frame, size_t len);
/* Sees every received frame before the stack does: net/packet.c sets it when a packet socket is
 * made, so that the driver layer does not reach up into the network code. */
extern void (*netdev_tap)(struct netdev *d, const void *frame, size_t len);

#endif
