/* A block device as the file systems see it: a driver (virtio-blk) fills one in for each disk
 * and registers it under the name the boot manifest gives it (the disk's serial); ext2 reads and
 * writes it in 512-byte sectors through rw and makes its writes durable with flush. */
#ifndef UNIK_RT_BLKDEV_H
#define UNIK_RT_BLKDEV_H

#include "kernel/kernel.h"

#define BLKDEV_MAX 8

struct blkdev {
	char name[21];    /* the serial the host gave the disk (the manifest's device name) */
	uint64_t sectors; /* its size in 512-byte sectors */
	bool readonly;    /* the device refuses writes (VIRTIO_BLK_F_RO) */
	/* Read or write n bytes (a multiple of 512) at sector; buf is in identity-mapped memory.
	 * 0 or -EIO.  Synchronous: the call returns when the device has answered. */
	int (*rw)(struct blkdev *d, bool write, uint64_t sector, void *buf, size_t n);
	/* Make every completed write durable (0 when the device has no cache to flush). */
	int (*flush)(struct blkdev *d);
	void *priv;
};

/* drivers/virtio_blk.c: the disk whose serial is name, probing the devices on the first call;
 * NULL when there is none. */
struct blkdev *blkdev_find(const char *name);

#endif
