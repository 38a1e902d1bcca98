/* libFuzzer target: daemon-config.yaml as the daemon loads it (daemon/config.c).  config_load
 * takes a path, so the input is a memfd read through /proc/self/fd. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct daemon_config c;
	struct unik_error err;

	if (fd < 0) {
		fd = memfd_create("daemon-config.yaml", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	memset(&c, 0, sizeof(c));
	config_load(path, &c, &err);
	config_free(&c);
	return 0;
}
