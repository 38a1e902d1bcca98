/* The `xl` image format: an xl.cfg (xl.cfg(5)) that boots an image as a Xen PVH guest with
 * `xl create`, written and read back with Xen's own config parser (libxlutil).  The xen
 * provider (providers/xen/) builds the same guest through libxl from the same description. */
#ifndef UNIK_IMAGE_XL_H
#define UNIK_IMAGE_XL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define UNIK_XL_DEFAULT_MEMORY_MB 64 /* the daemon's default when an image names none */

/* A PVH guest as both xl.cfg and libxl_domain_config describe it.  Strings are the caller's. */
struct unik_xl_guest {
	const char *name;    /* the domain name */
	const char *kernel;  /* absolute path of the kernel ELF */
	const char *ramdisk; /* absolute path of the root fs cpio, or NULL */
	const char *cmdline; /* the guest command line; "" (or NULL) for the kernel's defaults */
	uint64_t memory_mb;  /* > 0; memory and maxmem */
	unsigned vcpus;      /* > 0 */
	/* Actions in xl.cfg's spelling: "destroy", "preserve" or "coredump-destroy"; NULL means
	 * "destroy". */
	const char *on_poweroff;
	const char *on_reboot;
	const char *on_crash;
	const char *disk; /* one disk in xl-disk-configuration(5) syntax, or NULL */
	/* kernel and ramdisk are plain file names beside the config (an export, `unik export
	 * --format xl`), not absolute paths: xl opens them from the directory it runs in. */
	bool relative;
};

/* What an xl.cfg says, as libxlutil read it.  Owned by the struct (unik_xl_parsed_free). */
struct unik_xl_parsed {
	char *type, *name, *kernel, *ramdisk, *cmdline; /* NULL when absent */
	char *on_poweroff, *on_reboot, *on_crash;
	char *disk; /* the first entry of `disk = [...]`, NULL when absent */
	int n_disks;
	long memory, maxmem, vcpus, maxvcpus; /* -1 when absent */
};

/* s as an xl.cfg string literal: double quotes, with `"`, `\` and the C control escapes (\n, \t,
 * ...) escaped and other bytes as they are (libxlutil's \xHH is broken).  Caller frees. */
char *unik_xl_quote(const char *s);

/* True for the actions unik writes and the provider carries out. */
int unik_xl_action_valid(const char *action);

/* The xl.cfg text for g.  Fails with UNIK_E_INVALID on a missing name or kernel, a relative
 * path, zero memory or vcpus, or an unknown action.  *out is the caller's. */
int unik_xl_cfg_text(const struct unik_xl_guest *g, char **out, struct unik_error *err);

/* Parses xl.cfg text with libxlutil (what = the file's name for messages).  UNIK_E_INVALID
 * carries libxlutil's own message on a syntax error. */
int unik_xl_cfg_parse(const char *text, size_t len, const char *what, struct unik_xl_parsed *out,
                      struct unik_error *err);
void unik_xl_parsed_free(struct unik_xl_parsed *p);

#endif
