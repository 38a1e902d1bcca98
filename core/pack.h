/* Packing a kernel into a bootable image without the daemon: what `unik-pack` (and benches and
 * tests) call.  A thin layer over the packers of images/ (images/disk/disk.h), so the doors in
 * cmd/ never reach into images/ themselves.  Formats, layouts and boot paths: docs/images.md. */
#ifndef UNIK_CORE_PACK_H
#define UNIK_CORE_PACK_H

#include <stdbool.h>

#include "lib/error.h"

/* Which firmware a raw disk (and its conversions) boots under.  ISO images carry both. */
enum unik_pack_firmware {
	UNIK_PACK_FW_HYBRID, /* BIOS and UEFI */
	UNIK_PACK_FW_BIOS,   /* BIOS only: a smaller disk */
	UNIK_PACK_FW_UEFI,   /* UEFI only: no boot code in the MBR */
};

struct unik_pack_options {
	enum unik_pack_firmware firmware;
	const char *grub_dir; /* holds i386-pc/ and x86_64-efi/; NULL = /usr/lib/grub */
};

/* Whether name is a format unik_core_pack makes ("raw", "qcow2", "vmdk", "vhd" or "vpc", "iso",
 * "elf"). */
bool unik_core_pack_format_known(const char *name);

/* "raw, qcow2, vmdk, vhd, iso or elf": the formats, from the packer's table, for messages.
 * Static storage. */
const char *unik_core_pack_format_names(void);

/* Packs kernel (a unik kernel ELF), with initrd (newc cpio, or NULL) and cmdline (guest syntax,
 * NULL or "" for the kernel's baked defaults), into out in format (unik_core_pack_format_known),
 * atomically: out is complete or absent.  o may be NULL (hybrid firmware, GRUB from
 * /usr/lib/grub). */
int unik_core_pack(const char *kernel, const char *initrd, const char *cmdline, const char *format,
                   const char *out, const struct unik_pack_options *o, struct unik_error *err);

/* Checks an image; format NULL detects it from the contents.  UNIK_E_INVALID says what is
 * wrong ("truncated: ..."). */
int unik_core_pack_check(const char *path, const char *format, struct unik_error *err);

/* A text dump of a raw disk's layout (partitions, files in its FAT).  *out: caller frees. */
int unik_core_pack_dump_layout(const char *path, char **out, struct unik_error *err);

/* The GRUB configuration a pack embeds: which is "bios", "efi" or "iso".  *out: caller frees. */
int unik_core_pack_grub_config(const char *which, const char *cmdline, bool initrd, char **out,
                               struct unik_error *err);

#endif
