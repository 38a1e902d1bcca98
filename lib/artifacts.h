/* What a build produced, as the compiler contract returns it (compilers/compiler.h) and the image
 * formats and the image store take it (images/format.h, images/store.h).  It lives in lib/ because
 * both compilers/ and images/ use it and neither may include the other. */
#ifndef UNIK_LIB_ARTIFACTS_H
#define UNIK_LIB_ARTIFACTS_H

#include <stdint.h>

#include "lib/devices.h"

/* The boot path a kernel is built for. */
enum unik_platform {
	UNIK_PLATFORM_PVH = 0, /* "pvh": an ELF entered through Xen's PVH note (QEMU -kernel,
	                          Xen PVH, Firecracker, Cloud Hypervisor) or multiboot2 (GRUB on
	                          a disk); what rump and unik-cc make */
	UNIK_PLATFORM_XEN,     /* "xen": a Xen PV guest */
	UNIK_PLATFORM_SPT,     /* "spt": a seccomp-confined host process (unik-spt) */
	UNIK_PLATFORM_HVT,     /* "hvt": unik's own KVM monitor, entered in 64-bit mode */
	UNIK_PLATFORMS
};

/* "pvh", ...; NULL out of range. */
const char *unik_platform_name(enum unik_platform p);
/* The platform named name; -1 if none. */
int unik_platform_parse(const char *name);

/* Strings are owned by whoever filled the struct: a compiler's build() fills them with malloc'd
 * copies, released with unik_artifacts_free; a packer's caller may point them at its own. */
struct unik_artifacts {
	const char *kernel; /* the kernel ELF */
	const char *rootfs; /* newc cpio of the root fs, or NULL */
	/* The default guest command line (guest syntax, docs/guest-abi.md: the environment's
	 * NAME=VALUE words, then the arguments), or NULL for the kernel's baked defaults.  Disk
	 * formats bake it into their boot configuration; `elf` ignores it (given at boot). */
	const char *cmdline;
	/* Metadata: */
	const char *name;     /* the image's name (the `oci` format tags with it), or NULL */
	uint64_t memory_mb;   /* default guest memory, 0 if none (recorded by `oci`) */
	const char *base;     /* the compiler base that built it ("rump"), or NULL */
	const char *language; /* "c", or NULL */
	const char *compiler; /* the compiler's name, or NULL */
	enum unik_platform platform;
	/* The device kinds the kernel requires, a mask of UNIK_DEVICE_BIT(kind) (lib/devices.h):
	 * a run without them is refused.  0 for kernels that need none (rump). */
	unsigned devices;
};

/* Frees the strings of a that a compiler's build() filled, and zeroes it. */
void unik_artifacts_free(struct unik_artifacts *a);
#define _cleanup_artifacts_ __attribute__((cleanup(unik_artifacts_free)))

#endif
