/* Running the external tools of images/disk, file helpers, and the one piece of FAT that mtools
 * does not do for us: fixed timestamps. */
#include "images/disk/tools.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/unik_spawn.h"
#include "lib/util.h"

char *disk_tool(const char *name, const char *package, struct unik_error *err)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *dirs =
	    xasprintf("%s:/usr/sbin:/sbin", path && *path ? path : "/usr/bin");
	char *save = NULL;

	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = unik_path_join(*d ? d : ".", name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	unik_error_set(err, UNIK_E_UNSUPPORTED, "%s not found: install the Debian package %s", name,
	               package);
	return NULL;
}

/* The last lines of a log, at most about 600 bytes, for a message. */
static const char *log_tail(const char *text)
{
	size_t len = strlen(text);
	const char *p;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (len <= 600)
		return text;
	p = text + len - 600;
	while (*p && *p != '\n')
		p++;
	return *p ? p + 1 : text + len - 600;
}

int disk_run(const char *const *argv, const char *log_path, char **out_text, struct unik_error *err)
{
	struct unik_spawn_opts opts = UNIK_SPAWN_OPTS_INIT;
	/* SOURCE_DATE_EPOCH makes xorriso derive its GPT GUIDs from the fixed date. */
	static const char *const env[] = {"MTOOLS_SKIP_CHECK=1", "LC_ALL=C",
	                                  "SOURCE_DATE_EPOCH=946684800", NULL};
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	int status = 0;

	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		unik_error_sys(err, errno, "create `%s`", log_path);
		return -1;
	}
	opts.stdin_fd = UNIK_SPAWN_DEVNULL;
	opts.stdout_fd = fd;
	opts.stderr_fd = fd;
	opts.env_add = env;
	if (unik_spawn(argv, &opts, &status, err) < 0)
		return -1;
	if (unik_read_file(log_path, &text, NULL, NULL) < 0)
		text = xstrdup("");
	if (status != 0) {
		unik_error_set(err, UNIK_E_IO, "%s failed (exit %d): %s", argv[0], status,
		               *text ? log_tail(text) : "(no output)");
		return -1;
	}
	if (out_text)
		*out_text = unik_steal_ptr(&text);
	return 0;
}

int disk_file_size(const char *path, uint64_t *size, struct unik_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		unik_error_sys(err, errno, "stat `%s`", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		unik_error_set(err, UNIK_E_INVALID, "`%s` is not a regular file", path);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int disk_copy_into(const char *src, int fd, uint64_t offset, struct unik_error *err)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	char buf[65536];
	ssize_t n;

	if (in < 0) {
		unik_error_sys(err, errno, "open `%s`", src);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			unik_error_sys(err, errno, "read `%s`", src);
			return -1;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(fd, buf + done, (size_t)(n - done), (off_t)offset);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				unik_error_sys(err, errno, "write a copy of `%s`", src);
				return -1;
			}
			done += w;
			offset += (uint64_t)w;
		}
	}
	return 0;
}

int disk_install(const char *src, const char *dest, struct unik_error *err)
{
	_cleanup_atomic_file_ struct unik_atomic_file f = {.fd = -1};

	if (chmod(src, 0644) < 0) {
		unik_error_sys(err, errno, "chmod `%s`", src);
		return -1;
	}
	if (rename(src, dest) == 0)
		return 0;
	if (errno != EXDEV) {
		unik_error_sys(err, errno, "rename `%s` to `%s`", src, dest);
		return -1;
	}
	if (unik_atomic_file_open(&f, dest, err) < 0 || disk_copy_into(src, f.fd, 0, err) < 0)
		return -1;
	return unik_atomic_file_commit(&f, dest, 0644, err);
}

/* ------------------------------------------------------------------------------------------- */
/* FAT timestamps */

#define DOS_DATE_2000 ((20u << 9) | (1u << 5) | 1u)

struct fat {
	int fd;
	uint64_t base;       /* byte offset of the file system in the image */
	uint32_t bps;        /* bytes per sector */
	uint32_t spc;        /* sectors per cluster */
	uint64_t data;       /* byte offset of cluster 2, from base */
	uint32_t clusters;   /* data clusters */
	int bits;            /* 12, 16 or 32 */
	uint8_t *table;      /* the first FAT */
	uint64_t table_size; /* bytes */
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The cluster after c, or 0 at the end of the chain (or on anything odd). */
static uint32_t fat_next(const struct fat *f, uint32_t c)
{
	uint32_t v;

	if (c < 2 || c >= f->clusters + 2)
		return 0;
	if (f->bits == 12) {
		uint64_t off = c + c / 2;
		if (off + 2 > f->table_size)
			return 0;
		v = le16(f->table + off);
		v = (c & 1) ? v >> 4 : v & 0xfff;
		return v >= 2 && v < 0xff8 ? v : 0;
	}
	if (f->bits == 16) {
		if ((uint64_t)c * 2 + 2 > f->table_size)
			return 0;
		v = le16(f->table + (uint64_t)c * 2);
		return v >= 2 && v < 0xfff8 ? v : 0;
	}
	if ((uint64_t)c * 4 + 4 > f->table_size)
		return 0;
	v = le32(f->table + (uint64_t)c * 4) & 0x0fffffff;
	return v >= 2 && v < 0x0ffffff8 ? v : 0;
}

static int fix_dir(struct fat *f, uint64_t off, uint64_t len, uint32_t cluster, int depth,
                   struct unik_error *err);

/* Fixes the entries in [off, off+len) of the file system; recurses into subdirectories. */
static int fix_entries(struct fat *f, uint64_t off, uint64_t len, int depth, struct unik_error *err)
{
	_cleanup_free_ uint8_t *buf = xmalloc(len);

	if (pread(f->fd, buf, len, (off_t)(f->base + off)) != (ssize_t)len) {
		unik_error_set(err, UNIK_E_IO, "FAT: cannot read a directory");
		return -1;
	}
	for (uint64_t i = 0; i + 32 <= len; i += 32) {
		uint8_t *e = buf + i;
		if (e[0] == 0)
			break;
		if (e[0] == 0xe5 || e[11] == 0x0f)
			continue;
		e[13] = 0;
		memset(e + 14, 0, 2);
		e[16] = DOS_DATE_2000 & 0xff;
		e[17] = DOS_DATE_2000 >> 8;
		e[18] = e[16];
		e[19] = e[17];
		memset(e + 22, 0, 2);
		e[24] = e[16];
		e[25] = e[17];
		if ((e[11] & 0x10) && e[0] != '.') {
			uint32_t c =
			    le16(e + 26) | (f->bits == 32 ? (uint32_t)le16(e + 20) << 16 : 0);
			if (fix_dir(f, 0, 0, c, depth + 1, err) < 0)
				return -1;
		}
	}
	if (pwrite(f->fd, buf, len, (off_t)(f->base + off)) != (ssize_t)len) {
		unik_error_sys(err, errno, "FAT: write a directory");
		return -1;
	}
	return 0;
}

/* A directory held in clusters from cluster on (or, for FAT12/16's root, at off/len). */
static int fix_dir(struct fat *f, uint64_t off, uint64_t len, uint32_t cluster, int depth,
                   struct unik_error *err)
{
	uint64_t csize = (uint64_t)f->bps * f->spc;

	if (depth > 16) {
		unik_error_set(err, UNIK_E_INVALID, "FAT: directories nested too deep");
		return -1;
	}
	if (len)
		return fix_entries(f, off, len, depth, err);
	for (uint32_t n = 0; cluster && n <= f->clusters; n++) {
		if (fix_entries(f, f->data + (uint64_t)(cluster - 2) * csize, csize, depth, err) <
		    0)
			return -1;
		cluster = fat_next(f, cluster);
	}
	return 0;
}

int disk_fat_fix_times(const char *path, uint64_t offset, struct unik_error *err)
{
	struct fat f = {.fd = -1, .base = offset};
	uint8_t bs[512];
	uint32_t reserved, nfats, root_entries, total, fat_sectors, root_bytes;
	int rc = -1;

	f.fd = open(path, O_RDWR | O_CLOEXEC);
	if (f.fd < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		return -1;
	}
	if (pread(f.fd, bs, sizeof(bs), (off_t)offset) != (ssize_t)sizeof(bs)) {
		unik_error_set(err, UNIK_E_INVALID, "FAT: no boot sector in `%s`", path);
		goto out;
	}
	f.bps = le16(bs + 11);
	f.spc = bs[13];
	reserved = le16(bs + 14);
	nfats = bs[16];
	root_entries = le16(bs + 17);
	total = le16(bs + 19) ? le16(bs + 19) : le32(bs + 32);
	fat_sectors = le16(bs + 22) ? le16(bs + 22) : le32(bs + 36);
	if (f.bps < 512 || f.bps > 4096 || (f.bps & (f.bps - 1)) || f.spc == 0 || nfats == 0 ||
	    fat_sectors == 0 || total == 0) {
		unik_error_set(err, UNIK_E_INVALID, "FAT: bad boot sector in `%s`", path);
		goto out;
	}
	root_bytes = root_entries * 32;
	uint64_t root_off = ((uint64_t)reserved + (uint64_t)nfats * fat_sectors) * f.bps;
	f.data = root_off + (root_bytes + f.bps - 1) / f.bps * f.bps;
	if (f.data / f.bps >= total) {
		unik_error_set(err, UNIK_E_INVALID, "FAT: bad geometry in `%s`", path);
		goto out;
	}
	f.clusters = (uint32_t)((total - f.data / f.bps) / f.spc);
	f.bits = f.clusters < 4085 ? 12 : f.clusters < 65525 ? 16 : 32;
	f.table_size = (uint64_t)fat_sectors * f.bps;
	f.table = xmalloc(f.table_size);
	if (pread(f.fd, f.table, f.table_size, (off_t)(offset + (uint64_t)reserved * f.bps)) !=
	    (ssize_t)f.table_size) {
		unik_error_set(err, UNIK_E_INVALID, "FAT: cannot read the table in `%s`", path);
		goto out;
	}
	if (f.bits == 32)
		rc = fix_dir(&f, 0, 0, le32(bs + 44), 0, err);
	else
		rc = fix_dir(&f, root_off, root_bytes, 0, 0, err);
out:
	free(f.table);
	close(f.fd);
	return rc;
}
