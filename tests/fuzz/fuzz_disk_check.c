/* libFuzzer target: the disk-image checks (images/disk/check.c, layout.c): format detection,
 * the MBR and partition table, the VHD footer, the ISO volume descriptor and the multiboot2
 * kernel check, on a memfd.  The steps that run mtools, qemu-img or xorriso are cut off by an
 * empty PATH: the tools are not what is fuzzed, and a fork per input would be too slow. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "images/disk/disk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("PATH", "/nonexistent", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct unik_mbr_part parts[4];
	struct unik_error err;
	uint8_t mbr[512] = {0};
	int n;

	if (fd < 0) {
		fd = memfd_create("disk.img", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	memcpy(mbr, data, size < sizeof(mbr) ? size : sizeof(mbr));
	unik_mbr_decode(mbr, parts, &n, &err);
	unik_disk_check_kernel_mem(data, size, "kernel.elf", &err);
	/* Detects the format and runs its checks, up to the first external tool. */
	unik_disk_check(path, -1, &err);
	return 0;
}
