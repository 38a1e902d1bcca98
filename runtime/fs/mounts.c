/* The INIT_MOUNTS step for volumes: each blk device of the boot manifest with a mount point
 * (`unik.dev.NAME=blk[,ro],at=/path`) is found by its serial and its ext2 file system mounted
 * there, the directory made if missing.  A volume that cannot be used is reported on the
 * console and left out; the program still runs. */
#include "drivers/blkdev.h"
#include "fs/ext2.h"
#include "kernel/devices.h"
#include "kernel/init.h"

static void mount_volumes(void)
{
	for (int k = 0; k < boot_devices.n; k++) {
		const struct rt_device *d = &boot_devices.d[k];
		if (d->kind != UNIK_DEV_BLK || !d->mount)
			continue;
		struct blkdev *dev = blkdev_find(d->name);
		if (!dev) {
			kprintf(UNIK_CONSOLE_PREFIX "%s: no virtio-blk disk with the serial %s\n",
			        d->name, d->name);
			continue;
		}
		struct super_block *sb = ext2_mount(dev, d->name, d->readonly || dev->readonly);
		if (!sb)
			continue;
		struct inode *dir = fs_mkdir_p(d->mount, 0755);
		if (!dir || fs_mount(dir, sb) < 0)
			kprintf(UNIK_CONSOLE_PREFIX "%s: cannot mount on %s\n", d->name, d->mount);
	}
}
UNIK_INIT(INIT_MOUNTS, mount_volumes);
