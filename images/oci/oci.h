/* A unikernel as an OCI/Docker image for unik-oci: one layer holding the kernel and its root fs,
 * an image config carrying the defaults and unik's labels, and an OCI image manifest.  The same
 * blobs are written as a docker-archive tarball (`docker load`), as an OCI image layout
 * (`skopeo`, `umoci`) and pushed to registries (core/registry.c). */
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
	/* More labels (NULL for none): what a pull needs to make the same image again. */
	const char *image_args; /* the image's args in unik's syntax ("org.unik.args") */
	/* base: the compiler base that built it (rump, includeos, mirage), OCI_LABEL_BASE. */
	const char *base, *language, *compiler, *provider;
	const char *out; /* the tarball, written atomically (unik_oci_pack) */
};

/* Media types (the OCI image spec). */
#define UNIK_OCI_MT_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define UNIK_OCI_MT_INDEX       "application/vnd.oci.image.index.v1+json"
#define UNIK_OCI_MT_CONFIG      "application/vnd.oci.image.config.v1+json"
#define UNIK_OCI_MT_LAYER       "application/vnd.oci.image.layer.v1.tar"
#define UNIK_DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define UNIK_DOCKER_MT_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"

/* An image's blobs, made in memory (a kernel and a root fs are small).  Owned by the struct
 * (unik_oci_blobs_free).  Digests are "sha256:<hex>". */
struct unik_oci_blobs {
	char *tag; /* "<name>:latest" */
	char *layer, *config, *manifest;
	size_t layer_len, config_len, manifest_len;
	char layer_digest[72], config_digest[72], manifest_digest[72];
};

int unik_oci_blobs_make(const struct unik_oci_image_spec *spec, struct unik_oci_blobs *out,
                        struct unik_error *err);
void unik_oci_blobs_free(struct unik_oci_blobs *b);

/* "sha256:<hex>" of data into out (72 bytes). */
void unik_oci_digest(const void *data, size_t len, char out[72]);

/* A docker-archive tarball at out (atomically). */
int unik_oci_write_docker_archive(const struct unik_oci_blobs *b, const char *out,
                                  struct unik_error *err);
/* An OCI image layout (oci-layout, index.json, blobs/sha256/...) as a tar at out (atomically);
 * index.json names the manifest with the tag's "latest" as org.opencontainers.image.ref.name. */
int unik_oci_write_layout(const struct unik_oci_blobs *b, const char *out, struct unik_error *err);

/* The tag an image name becomes ("Hello" -> "hello:latest"); malloc'd, or NULL with err set
 * when the name cannot be a Docker repository name. */
char *unik_oci_tag(const char *name, struct unik_error *err);

/* unik_oci_blobs_make then unik_oci_write_docker_archive to spec->out. */
int unik_oci_pack(const struct unik_oci_image_spec *spec, struct unik_error *err);

#endif
