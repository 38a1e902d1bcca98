/* The one check of a unik kernel ELF (guest ABI, include/unik/abi.h): an x86-64 ELF64 executable
 * whose headers and loaded segments lie inside the file, loaded at or above UNIK_LOAD_ADDR, with
 * the "unik" ABI note (its version 1..UNIK_ABI_VERSION) and Xen's PVH entry note.  Every host
 * part that asks "is this a unik kernel, and of which ABI version?" asks here. */
#ifndef UNIK_LIB_GUEST_ELF_H
#define UNIK_LIB_GUEST_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* What the headers of a kernel ELF say. */
struct unik_guest_elf {
	unsigned abi_version; /* the "unik" note's version; 0 when the file has no such note */
	unsigned devices;     /* UNIK_DEV_BIT()s of its UNIK_NOTE_DEVICES notes, ORed; 0: none */
	bool pvh;             /* carries Xen's PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) */
	uint64_t pvh_entry;   /* that note's 32-bit entry point */
	unsigned hvt_version; /* the UNIK_NOTE_HVT note's version: an hvt-target kernel; 0: none */
	bool multiboot2;      /* a multiboot2 header in the first 32 KiB (what GRUB loads) */
	uint64_t entry;       /* e_entry */
	uint64_t load_start;  /* lowest physical address of a PT_LOAD segment; 0 when none */
	uint64_t load_end;    /* end of the highest PT_LOAD segment in memory (.bss included) */
	/* A device application (UNIK_NOTE_APP_DEVICES, docs/backends/mirage.md): the devices it
	 * declares, in note order; words that are not KIND:NAME are left out. */
	bool app;
	unsigned napp_devices;
	struct unik_guest_elf_device {
		unsigned kind; /* UNIK_DEV_NET or UNIK_DEV_BLK */
		char name[16];
	} app_devices[16];
};

/* Reads len bytes at off into buf; false when they are not all there. */
typedef bool (*unik_guest_elf_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

/* Reads the headers of an ELF of size bytes through rd, and fills *out.  Fails with
 * UNIK_E_INVALID, naming `name`, when it is not an x86-64 ELF64 or when a header or a loaded
 * segment lies outside the file ("truncated: ...").  A file without the unik note parses
 * (abi_version 0): unik_guest_elf_verify says whether it is a kernel. */
int unik_guest_elf_parse(unik_guest_elf_read_fn rd, void *ctx, uint64_t size, const char *name,
                         struct unik_guest_elf *out, struct unik_error *err);
/* The same over a buffer holding the whole file. */
int unik_guest_elf_parse_mem(const void *buf, size_t len, const char *name,
                             struct unik_guest_elf *out, struct unik_error *err);

/* 0 when parsed headers describe a unik kernel this host can boot: the unik note with a version
 * in 1..UNIK_ABI_VERSION, the PVH note, segments loaded at or above UNIK_LOAD_ADDR.  Else
 * UNIK_E_INVALID saying what is missing, naming `name`. */
int unik_guest_elf_verify(const struct unik_guest_elf *g, const char *name, struct unik_error *err);

/* Parses and verifies the file at path; info (may be NULL) receives what it says. */
int unik_guest_elf_check(const char *path, struct unik_guest_elf *info, struct unik_error *err);
/* Parses the headers of the file at path into *info, without verifying them. */
int unik_guest_elf_read(const char *path, struct unik_guest_elf *info, struct unik_error *err);

/* The target a device application was built for (docs/backends/mirage.md): "virtio" for a unik
 * kernel (PVH), "hvt" for a kernel bin/unik-hvt runs (the hvt note, no PVH note), "unix" for a
 * static Linux executable that bin/unik-spt runs (the app note, no unik ABI, hvt or PVH note);
 * NULL when it is not a device application. */
const char *unik_guest_elf_app_target(const struct unik_guest_elf *g);

/* The provider that runs applications of a target that runs on its own monitor rather than as
 * a virtual machine's kernel ("unix": "spt", "hvt": "hvt"); NULL for any other target (NULL
 * included).  Such an image carries no boot line and is not a unik kernel. */
const char *unik_target_monitor_provider(const char *target);
/* The other way: the target a monitor's provider runs ("spt": "unix"), or NULL. */
const char *unik_monitor_provider_target(const char *provider);

/* What an image's kernel may be: a unik kernel (unik_guest_elf_check) or a device application
 * for a target that runs on its own monitor (unix, hvt).  info (may be NULL) receives what it says.
 */
int unik_guest_elf_check_image(const char *path, struct unik_guest_elf *info,
                               struct unik_error *err);

/* The guest ABI version (1..UNIK_ABI_VERSION) of the unik kernel at path, or -1 with err set
 * when it is not one.  A v1 image knows no device manifest: callers refuse devices for it. */
int unik_guest_elf_abi_version(const char *path, struct unik_error *err);

/* Whether the ELF's symbol table defines a global (or weak) symbol named in names (NULL
 * ended): 1 or 0, or -1 with err set when the file cannot be read.  unik-cc asks it whether a
 * program uses sockets, to link the runtime's network code only then.  A file that is not ELF64,
 * or has no symbol table, defines nothing. */
int unik_elf_defines_any(const char *path, const char *const *names, struct unik_error *err);
int unik_elf_defines_any_mem(const void *buf, size_t len, const char *const *names);

#endif
