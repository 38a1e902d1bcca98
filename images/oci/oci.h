/* The `oci` image format: a docker-archive tarball (what `docker save` writes and `docker load`
 * and `podman load` read) whose single layer holds the kernel and its root fs, for unik-oci. */
#ifndef UNIK_IMAGES_OCI_H
#define UNIK_IMAGES_OCI_H

#include <stdint.h>
#include "lib/error.h"

struct unik_oci_image_spec {
	const char *kernel;      /* the kernel ELF */
	const char *rootfs;      /* newc cpio for the guest's root fs, or NULL */
	const char *name;        /* image name: the tag is "<name, lower-cased>:latest" */
	const char *const *args; /* default arguments after argv[0] (the image's Cmd), NULL-ended */
	const char *const *env;  /* default "K=V" environment, NULL-ended, or NULL */
	const char *cmdline;     /* the default guest command line, for the label; may be NULL */
	uint64_t memory_mb;      /* default guest memory for the label; 0 for none */
	const char *base;        /* the compiler base that built it (rump, includeos, mirage), for
	                          * the org.unik.base label; NULL: unknown, no label */
	const char *out;         /* the tarball, written atomically */
};

/* The tag an image name becomes ("Hello" -> "hello:latest"); malloc'd, or NULL with err set
 * when the name cannot be a Docker repository name. */
char *unik_oci_tag(const char *name, struct unik_error *err);

int unik_oci_pack(const struct unik_oci_image_spec *spec, struct unik_error *err);

#endif
