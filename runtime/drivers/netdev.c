/* The registered network devices, found on first use: a program that never asks for one
 * (never opens a socket) never probes, and a NIC it does not use costs it nothing. */
#include "drivers/netdev.h"

#include "drivers/virtio.h"

static struct netdev *devs[NETDEV_MAX];
static int ndevs;
static bool probed;

void (*netdev_tap)(struct netdev *d, const void *frame, size_t len);

/* The drivers look at the boot manifest (kernel/devices.h), which main.c reads after the init
 * levels have run: so the probe waits for the first question, from a system call. */
static void probe(void)
{
	if (probed)
		return;
	probed = true;
	virtio_net_probe();
}

int netdev_register(struct netdev *d)
{
	if (ndevs == NETDEV_MAX)
		return -ENOSPC;
	devs[ndevs++] = d;
	d->index = ndevs;
	return 0;
}

struct netdev *netdev_by_index(int index)
{
	probe();
	return index >= 1 && index <= ndevs ? devs[index - 1] : NULL;
}

struct netdev *netdev_by_name(const char *name)
{
	probe();
	for (int i = 0; i < ndevs; i++)
		if (!k_strcmp(devs[i]->name, name))
			return devs[i];
	return NULL;
}

int netdev_count(void)
{
	probe();
	return ndevs;
}

void netdev_input(struct netdev *d, const void *frame, size_t len)
{
	if (netdev_tap)
		netdev_tap(d, frame, len);
	if (d->rx)
		d->rx(d, frame, len);
}
