/* devfs: /dev, a tmpfs of its own mounted there, holding the character devices (console, tty,
 * null, zero, full, random, urandom and the standard streams' names). */
#include "fs/fs.h"

static long con_read(char *buf, size_t n, bool nonblock)
{
	long r = console_read(buf, n, !nonblock);
	return r || !n ? r : -EAGAIN;
}
static long con_write(const char *buf, size_t n)
{
	console_write(buf, n);
	return (long)n;
}
static long null_read(char *buf, size_t n, bool nonblock)
{
	(void)buf, (void)n, (void)nonblock;
	return 0;
}
static long null_write(const char *buf, size_t n)
{
	(void)buf;
	return (long)n;
}
static long zero_read(char *buf, size_t n, bool nonblock)
{
	(void)nonblock;
	k_memset(buf, 0, n);
	return (long)n;
}
static long random_read(char *buf, size_t n, bool nonblock)
{
	(void)nonblock;
	random_bytes(buf, n);
	return (long)n;
}
static long full_write(const char *buf, size_t n)
{
	(void)buf, (void)n;
	return -ENOSPC;
}
static bool always(void)
{
	return true;
}

static const struct chardev dev_console = {con_read, con_write, console_readable, true};
static const struct chardev dev_null = {null_read, null_write, always, false};
static const struct chardev dev_zero = {zero_read, null_write, always, false};
static const struct chardev dev_full = {zero_read, full_write, always, false};
static const struct chardev dev_random = {random_read, null_write, always, false};

/* The names, in order, and their devices; the console's names other than tty are root's only. */
static const char names[] =
    "console\0tty\0stdin\0stdout\0stderr\0null\0zero\0full\0random\0urandom";
static const struct chardev *const devices[] = {
    &dev_console, &dev_console, &dev_console, &dev_console, &dev_console,
    &dev_null,    &dev_zero,    &dev_full,    &dev_random,  &dev_random};

/* Called by fs_init once the root exists; a tmpfs, so programs may add to /dev (/dev/shm). */
void devfs_init(void)
{
	struct super_block *sb = tmpfs_new(0755);
	struct inode *dir = fs_mkdir_p("/dev", 0755), *i;
	if (!dir || fs_mount(dir, sb) < 0)
		panic("devfs: cannot mount /dev");
	const char *name = names;
	for (size_t k = 0; k < ARRAY_SIZE(devices); k++, name += k_strlen(name) + 1)
		if (fs_create(sb->root, name, S_IFCHR | (k != 1 && k < 5 ? 0600 : 0666), &i) == 0)
			i->dev = devices[k];
}
