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
};

/* drivers/netdev.c: the registered devices. */
int netdev_register(struct netdev *d); /* sets index; -ENOSPC past NETDEV_MAX */
struct netdev *netdev_by_index(int index);
struct netdev *netdev_by_name(const char *name);
int netdev_count(void);

#endif
