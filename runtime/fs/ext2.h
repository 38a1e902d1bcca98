/* ext2 on a block device (fs/ext2.c), and the boot-time mounting of the manifest's volumes
 * (fs/mounts.c). */
#ifndef UNIK_RT_EXT2_H
#define UNIK_RT_EXT2_H

#include "fs/fs.h"

struct blkdev;

/* The ext2 file system on dev, mounted nowhere yet; NULL, with a console line naming the volume
 * (name) and the fix, when it cannot be used.  A read-write mount marks the disk in use. */
struct super_block *ext2_mount(struct blkdev *dev, const char *name, bool readonly);

#endif
