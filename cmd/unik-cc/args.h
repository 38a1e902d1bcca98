/* unik-cc's command line: its own --unik-* options taken out, gcc's passed on in order, and just
 * enough of gcc's syntax understood to tell a compile from a link. */
#ifndef UNIKCC_ARGS_H
#define UNIKCC_ARGS_H

#include <stdbool.h>

#include "lib/error.h"
#include "lib/util.h"

enum unikcc_mode {
	UNIKCC_PASS, /* compile only, preprocess only, or a query such as --version: gcc does it */
	UNIKCC_PARTIAL, /* a partial link (-r, -Wl,-r, ...): gcc does it with nothing added */
	UNIKCC_LINK,    /* build a unikernel */
};

/* Where a device application (--unik-app) runs: the table of docs/unik-cc.md, one entry per
 * target. */
enum unikcc_target {
	UNIKCC_TARGET_VIRTIO = 0, /* a kernel ELF on unik's runtime (unikrt-app.o, libunikapp.a) */
	UNIKCC_TARGET_UNIX,       /* a static Linux ELF for bin/unik-spt (libunikapp-unix.a) */
	UNIKCC_TARGET_HVT,        /* a kernel for unik-hvt (unikrt-hvt.o, hvt.ld) */
	UNIKCC_TARGETS
};
#define UNIKCC_TARGET_NAMES "virtio, unix, hvt"

struct unikcc_args {
	enum unikcc_mode mode;
	struct strv gcc_args;  /* the user's arguments minus unik-cc's own, in order */
	struct strv link_args; /* the same minus -o, which the link puts last */
	struct strv env;       /* --unik-env words */
	char *cmdline;         /* --unik-cmdline, or NULL */
	char *rootfs;          /* --unik-rootfs, or NULL */
	char *runtime_dir;     /* --unik-runtime-dir, or NULL */
	char *output;          /* from -o; NULL when not given */
	bool multiboot;
	/* --unik-app: a device application (docs/backends/mirage.md), linked with the device
	 * variant of the runtime and libunikapp.a; --unik-device implies it. */
	bool app;
	struct strv devices;       /* --unik-device words, "net:NAME" or "blk:NAME", in order */
	enum unikcc_target target; /* --unik-target (implies --unik-app); virtio by default */
	/* --unik-lwip: lwIP as a library over the application's net devices
	 * (include/unik/lwip-netif.h): its headers when compiling, liblwip-app.a when linking;
	 * implies --unik-app. */
	bool lwip;
	bool keep_temps;
	bool service;         /* --unik-service: an includeos service (service_start, no main) */
	bool verbose;         /* -v */
	bool help;            /* --help: print unik-cc's help and stop */
	bool version;         /* --version */
	bool cxx;             /* some input is C++ */
	bool no_start_files;  /* -nostartfiles or -nostdlib: no crt*.o */
	bool no_libc;         /* -nolibc, -nodefaultlibs or -nostdlib: no musl libc.a */
	bool no_default_libs; /* -nodefaultlibs or -nostdlib: no libc, and libgcc only for the
	                       * runtime's own needs */
	const char *partial;  /* the argument that made this a partial link, or NULL */
	const char
	    *unsupported; /* a gcc option unik-cc refuses to link with (-shared, -pie), or NULL */
	const char *response_file; /* the first @file argument, or NULL */
	int n_inputs;
};

/* Parses argv[1..argc) into *a, which the caller releases with unikcc_args_free (also after a
 * failure).  Fails with UNIK_E_INVALID on a bad --unik-* option. */
int unikcc_parse_args(int argc, char **argv, struct unikcc_args *a, struct unik_error *err);
void unikcc_args_free(struct unikcc_args *a);

/* "net:NAME" or "blk:NAME" for a --unik-device value (KIND:NAME, KIND net, blk or block), or
 * NULL when it is not one.  Caller frees. */
char *unikcc_device_word(const char *spec);

/* The target named name, or -1; the name of target t, or NULL. */
int unikcc_target_parse(const char *name);
const char *unikcc_target_name(enum unikcc_target t);

#endif
