/* The source manifest: unik's Unikfile (YAML, docs/unikfile.md) or the original UniK's
 * manifest.yaml (binary_name only).  What a compiler and the daemon read about a source tree. */
#ifndef UNIK_MANIFEST_H
#define UNIK_MANIFEST_H

#include <stdint.h>

#include "lib/error.h"
#include "lib/util.h"

struct unik_manifest {
	char *file;         /* "Unikfile", "manifest.yaml" or NULL when there was none */
	char *name;         /* image name */
	char *base;         /* compiler base ("rump") */
	char *language;     /* "c" */
	char *args;         /* default guest arguments, guest command-line syntax */
	struct strv env;    /* default environment, "NAME=VALUE" in file order */
	uint64_t memory_mb; /* 0: not set */
	char *files;        /* directory (relative to the source) that becomes the root fs */
	char *binary;       /* the program the build produces */
	char *target;       /* `target:` of a backend with several ("virtio"), or NULL */
	/* `devices:` of a device application (the mirage backend): "net:NAME" or "blk:NAME" in
	 * file order, from [{net: NAME}, {block: NAME}] */
	struct strv devices;
};

/* Parses a Unikfile held in buf; fname names it in messages ("Unikfile").  Unknown keys,
 * mistyped values and bad names are UNIK_E_INVALID errors naming the line.  m is filled from
 * zero; release it with unik_manifest_free (also after a failure). */
int unik_manifest_parse(const char *buf, size_t len, const char *fname, struct unik_manifest *m,
                        struct unik_error *err);

/* Parses UniK's manifest.yaml: binary_name is read, other keys are ignored. */
int unik_manifest_parse_unik(const char *buf, size_t len, struct unik_manifest *m,
                             struct unik_error *err);

/* Reads src_dir/Unikfile, else src_dir/manifest.yaml, else leaves m empty (not an error). */
int unik_manifest_load(const char *src_dir, struct unik_manifest *m, struct unik_error *err);

void unik_manifest_free(struct unik_manifest *m);

/* "64", "64M", "64MiB", "1G" -> MiB; 0 and -1 on anything else. */
int unik_parse_memory(const char *s, uint64_t *mb);

#endif
