/* Seeding the root file system: newc cpio archives (the one embedded at link time, then any
 * given as initrd modules), and the /etc files a Linux root has. */
#include "fs/fs.h"

/* What getpwuid(0), getgrgid(0) and name lookups of localhost expect to find, as a Linux root
 * file system has them: added after the archives, only where the image has no file of that
 * name (its own, or even a symbolic link, wins unchanged). */
static const char *const etc_defaults[][2] = {
    {"passwd", "root:x:0:0:root:/root:/bin/sh\n"},
    {"group", "root:x:0:\n"},
    {"hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
};

void fs_add_etc_defaults(void)
{
	struct inode *etc, *i;
	if (fs_lookup(fs_root_ino, "/etc", LOOKUP_FOLLOW, &etc) < 0 &&
	    fs_create(fs_root_ino, "etc", S_IFDIR | 0755, &etc) < 0)
		return;
	if (!S_ISDIR(etc->mode))
		return;
	for (size_t k = 0; k < ARRAY_SIZE(etc_defaults); k++)
		if (fs_create(etc, etc_defaults[k][0], S_IFREG | 0644, &i) == 0)
			tmpfs_borrow(i, etc_defaults[k][1], k_strlen(etc_defaults[k][1]));
	if (!fs_dir_find(fs_root_ino, "root"))
		fs_create(fs_root_ino, "root", S_IFDIR | 0700, NULL);
}
UNIK_INIT(INIT_ETC, fs_add_etc_defaults);

static uint64_t hex8(const char *p, bool *ok)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			*ok = false;
	}
	return v;
}

int fs_load_cpio(const void *data, size_t len, bool borrow, const char *what)
{
	const char *base = data;
	size_t off = 0;
	int files = 0;
	while (off + 110 <= len) {
		const char *h = base + off;
		if (k_memcmp(h, "070701", 6) && k_memcmp(h, "070702", 6))
			panic("%s: not a newc cpio archive (bad header at offset %lu)", what, off);
		bool ok = true;
		uint32_t mode = (uint32_t)hex8(h + 14, &ok);
		int64_t mtime = (int64_t)hex8(h + 46, &ok);
		uint64_t fsize = hex8(h + 54, &ok);
		uint64_t nsize = hex8(h + 94, &ok);
		if (!ok || nsize == 0)
			panic("%s: corrupt cpio header at offset %lu", what, off);
		size_t name_off = off + 110;
		size_t data_off = (name_off + nsize + 3) & ~(size_t)3;
		size_t next = (data_off + fsize + 3) & ~(size_t)3;
		if (name_off + nsize > len || data_off + fsize > len || next < off)
			panic("%s: truncated cpio archive (entry at offset %lu)", what, off);
		const char *name = base + name_off;
		if (name[nsize - 1] != 0)
			panic("%s: corrupt cpio name at offset %lu", what, off);
		if (!k_strcmp(name, "TRAILER!!!"))
			return files;
		off = next;
		while (name[0] == '.' && name[1] == '/')
			name += 2;
		while (name[0] == '/')
			name++;
		if (!name[0] || !k_strcmp(name, "."))
			continue;
		/* Split into directory and last name; create directories on the way. */
		char *path = k_strdup(name);
		char *slash = NULL;
		for (char *p = path; *p; p++)
			if (*p == '/')
				slash = p;
		struct inode *dir = fs_root_ino;
		const char *leaf = path;
		if (slash) {
			*slash = 0;
			dir = fs_mkdir_p(path, 0755);
			leaf = slash + 1;
		}
		if (!dir || !leaf[0] || !k_strcmp(leaf, "..") || !k_strcmp(leaf, ".")) {
			kfree(path);
			continue;
		}
		struct inode *old = fs_dir_find(dir, leaf);
		struct inode *i = NULL;
		if (S_ISDIR(mode)) {
			if (old && S_ISDIR(old->mode)) {
				i = old;
			} else {
				if (old)
					fs_unlink(dir, leaf, false);
				fs_create(dir, leaf, mode, &i);
			}
		} else if (S_ISREG(mode) || S_ISLNK(mode)) {
			if (old)
				fs_unlink(dir, leaf, S_ISDIR(old->mode));
			if (fs_create(dir, leaf, mode, &i) == 0) {
				if (borrow && S_ISREG(mode))
					tmpfs_borrow(i, base + data_off, fsize);
				else if (fsize)
					fs_write(i, base + data_off, fsize, 0);
			}
			files++;
		}
		if (i) {
			i->mode = mode;
			i->atime = i->mtime = i->ctime = mtime * 1000000000LL;
		}
		kfree(path);
	}
	panic("%s: cpio archive has no trailer (truncated?)", what);
}
