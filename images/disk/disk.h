/* Bootable disk images of a unik kernel (raw, qcow2, vmdk, vhd, iso, elf), assembled from files
 * with GRUB's grub-mkimage, mtools, xorriso and qemu-img: no root, no loop devices, no mounts.
 * Layouts and boot paths are described in docs/images.md. */
#ifndef UNIK_IMAGES_DISK_H
#define UNIK_IMAGES_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

enum unik_disk_format {
	UNIK_DISK_RAW,
	UNIK_DISK_QCOW2,
	UNIK_DISK_VMDK,
	UNIK_DISK_VHD,
	UNIK_DISK_ISO,
	UNIK_DISK_ELF,
};

/* Which firmware a raw disk (and its conversions) boots under.  ISO images always carry both. */
enum unik_disk_firmware {
	UNIK_DISK_FW_HYBRID, /* BIOS (GRUB's boot.img + core.img) and UEFI (BOOTX64.EFI) */
	UNIK_DISK_FW_BIOS,   /* BIOS only: no EFI loader in the partition, a smaller disk */
	UNIK_DISK_FW_UEFI,   /* UEFI only: no boot code in the MBR */
};

struct unik_disk_spec {
	const char *kernel;  /* the kernel ELF (multiboot2 header required) */
	const char *initrd;  /* newc cpio for the root fs, or NULL */
	const char *cmdline; /* guest syntax (docs/guest-abi.md); NULL or "" = the baked defaults */
	enum unik_disk_format format;
	const char *output; /* written atomically: complete, or not at all */
	enum unik_disk_firmware firmware;
	const char *grub_dir; /* holds i386-pc/ and x86_64-efi/; NULL = /usr/lib/grub */
};

/* "raw", "qcow2", ... and back (also "vpc" for vhd).  NULL / -1 when unknown. */
const char *unik_disk_format_name(enum unik_disk_format f);
int unik_disk_format_parse(const char *name);
/* "raw, qcow2, vmdk, vhd, iso or elf": the names of the table above, for messages.  Static. */
const char *unik_disk_format_names(void);

/* Packs spec->kernel (and initrd, cmdline) into spec->output.  All work happens in a private
 * temporary directory that is removed afterwards, also on failure; a failed pack leaves no
 * output.  Fails with UNIK_E_INVALID on bad input (not a multiboot2 kernel, a command-line word
 * GRUB cannot pass), UNIK_E_UNSUPPORTED when a tool is missing (naming the Debian package). */
int unik_disk_pack(const struct unik_disk_spec *spec, struct unik_error *err);

/* Validates an image: format < 0 detects it from the contents.  raw: MBR signature, a sane
 * partition table within the file, a FAT that mtools reads and that holds a multiboot2
 * kernel.elf; qcow2/vmdk/vhd: qemu-img check (vhd: its footer), then the same raw checks on the
 * converted disk; iso: the volume size against the file, El Torito boot images, the kernel;
 * elf: a multiboot2 kernel.  The message says what is wrong ("truncated: ..."). */
int unik_disk_check(const char *path, int format, struct unik_error *err);

/* The format of an image from its first bytes and size (-1 when unknown). */
int unik_disk_detect(const char *path, struct unik_error *err);

/* ------------------------------------------------------------------------------------------- */
/* Pieces, exposed for tests and golden files */

/* The GRUB configuration embedded in each boot image.  which: "bios" (raw disk, core.img),
 * "efi" (raw disk, BOOTX64.EFI), "iso" (both boot images of an ISO; tag is the file the ISO's
 * GRUB searches for, e.g. "/unik-0123456789abcdef").  The command line becomes multiboot2
 * arguments quoted for GRUB's parser; words GRUB cannot hand on intact (empty, holding a tab or
 * newline, or both a space and a single quote) fail with UNIK_E_INVALID.  *out: caller frees. */
int unik_disk_grub_config(const char *which, const char *cmdline, bool initrd, const char *tag,
                          char **out, struct unik_error *err);

/* One word quoted for GRUB's parser ('...' with ' written as '\''); caller frees. */
char *unik_disk_grub_quote(const char *word);

/* A classic MBR partition entry. */
struct unik_mbr_part {
	bool bootable;
	uint8_t type;
	uint32_t start; /* LBA */
	uint32_t sectors;
};

/* Writes the 512-byte MBR: boot_code (440 bytes, or NULL for zeros), disk id, one partition,
 * the 0x55AA signature. */
void unik_mbr_encode(uint8_t mbr[512], const uint8_t *boot_code, uint32_t disk_id,
                     const struct unik_mbr_part *p);

/* Reads the four entries of an MBR; fails with UNIK_E_INVALID (saying why) when the signature
 * is missing, an entry's status byte is not 0 or 0x80, or entries overlap; *n is the number of
 * used entries, copied to parts in table order. */
int unik_mbr_decode(const uint8_t mbr[512], struct unik_mbr_part parts[4], int *n,
                    struct unik_error *err);

/* The raw disk's layout, decided before anything is written: partition start (LBA) and size,
 * total size in bytes, FAT size in KiB. */
struct unik_disk_layout {
	uint32_t part_start;
	uint32_t part_sectors;
	uint64_t total_bytes;
};

/* payload_bytes: the sum of the file sizes in the FAT; nfiles: how many. */
void unik_disk_plan(uint64_t payload_bytes, unsigned nfiles, struct unik_disk_layout *out);

/* A text dump of a raw disk's layout for golden files: the MBR's partitions and the files in
 * its FAT (sizes of kernel.elf, rootfs.cpio and BOOTX64.EFI are left out, as they follow the
 * build).  *out: caller frees. */
int unik_disk_dump_layout(const char *path, char **out, struct unik_error *err);

/* 0 when buf holds an x86-64 ELF with a valid multiboot2 header in its first 32 KiB (what GRUB
 * needs); else UNIK_E_INVALID naming what: used on name in messages. */
int unik_disk_check_kernel_mem(const void *buf, size_t len, const char *name,
                               struct unik_error *err);

#endif
