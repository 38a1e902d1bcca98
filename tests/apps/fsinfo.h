/* What vol.c and share.c print for `statfs DIR`: statfs(2) and fstatfs(2) of DIR (which must
 * agree), then st_blocks of each regular file directly in DIR, sorted by name.  Lines:
 *     statfs type HEX bsize N blocks N bfree N bavail N files N ffree N namelen N ro 0|1
 *     blocks NAME N
 * Returns the number of failed calls (each printed as a FAIL line). */
#ifndef UNIK_TEST_FSINFO_H
#define UNIK_TEST_FSINFO_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static int fsinfo_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fsinfo(const char *dir)
{
	struct statfs a, b;
	int bad = 0, fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (statfs(dir, &a) < 0 || fd < 0 || fstatfs(fd, &b) < 0) {
		printf("FAIL statfs %s: %s\n", dir, strerror(errno));
		return 1;
	}
	close(fd);
	if (a.f_type != b.f_type || a.f_bsize != b.f_bsize || a.f_blocks != b.f_blocks ||
	    a.f_files != b.f_files || a.f_namelen != b.f_namelen) {
		printf("FAIL statfs and fstatfs of %s differ\n", dir);
		bad++;
	}
	printf("statfs type %lx bsize %ld blocks %llu bfree %llu bavail %llu files %llu ffree %llu "
	       "namelen %ld ro %d\n",
	       (unsigned long)a.f_type, (long)a.f_bsize, (unsigned long long)a.f_blocks,
	       (unsigned long long)a.f_bfree, (unsigned long long)a.f_bavail,
	       (unsigned long long)a.f_files, (unsigned long long)a.f_ffree, (long)a.f_namelen,
	       (a.f_flags & ST_RDONLY) ? 1 : 0);
	DIR *d = opendir(dir);
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 256)
		names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof(names[0]), fsinfo_cmp);
	for (size_t i = 0; i < n; i++) {
		char p[4096];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (lstat(p, &st) < 0) {
			printf("FAIL lstat %s: %s\n", p, strerror(errno));
			bad++;
		} else if (S_ISREG(st.st_mode)) {
			printf("blocks %s %lld\n", names[i], (long long)st.st_blocks);
		}
		free(names[i]);
	}
	return bad;
}

#endif
