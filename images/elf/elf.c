/* The `elf` image format: the kernel ELF itself, checked to be a unik kernel and copied. */
#include "images/format.h"

#include <stdlib.h>

#include "lib/guest_elf.h"
#include "lib/util.h"

/* The format's check is the guest ELF check: kernel.elf is the kernel itself (or a unix-target
 * device application, which unik-spt runs). */
static int elf_check(const char *path, struct unik_error *err)
{
	return unik_guest_elf_check_image(path, NULL, err);
}

static int copy_file(const char *from, const char *to, uint64_t *size, struct unik_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;

	if (unik_read_file(from, &buf, &len, err) < 0)
		return -1;
	if (unik_write_file_atomic(to, buf, len, 0644, err) < 0)
		return -1;
	*size = len;
	return 0;
}

static int elf_pack(const struct unik_artifacts *a, const char *out_path, uint64_t *size,
                    struct unik_error *err)
{
	if (elf_check(a->kernel, err) < 0)
		return -1;
	return copy_file(a->kernel, out_path, size, err);
}

const struct unik_image_format unik_image_format_elf = {
    .name = "elf",
    .description = "the kernel ELF, booted directly (QEMU -kernel, Xen PVH, Firecracker)",
    .file = "kernel.elf",
    .pack = elf_pack,
    .check = elf_check,
};
