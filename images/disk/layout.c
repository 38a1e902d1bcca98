/* The pure parts of disk images: format names, GRUB's quoting and boot configuration, the MBR,
 * the size plan of a raw disk and the kernel check.  No files or processes here, so unit tests
 * cover all of it. */
#include "images/disk/disk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cmdline.h"
#include "lib/guest_elf.h"
#include "lib/util.h"

static const char *const format_names[] = {
    [UNIK_DISK_RAW] = "raw", [UNIK_DISK_QCOW2] = "qcow2", [UNIK_DISK_VMDK] = "vmdk",
    [UNIK_DISK_VHD] = "vhd", [UNIK_DISK_ISO] = "iso",     [UNIK_DISK_ELF] = "elf",
};

const char *unik_disk_format_name(enum unik_disk_format f)
{
	if ((unsigned)f >= sizeof(format_names) / sizeof(format_names[0]))
		return NULL;
	return format_names[f];
}

int unik_disk_format_parse(const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
		if (strcmp(name, format_names[i]) == 0)
			return (int)i;
	if (strcmp(name, "vpc") == 0)
		return UNIK_DISK_VHD;
	return -1;
}

static char names[96];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_init(void)
{
	size_t used = 0, n = sizeof(format_names) / sizeof(format_names[0]);

	for (size_t i = 0; i < n && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
		                         i == 0       ? ""
		                         : i + 1 == n ? " or "
		                                      : ", ",
		                         format_names[i]);
}

const char *unik_disk_format_names(void)
{
	pthread_once(&names_once, names_init);
	return names;
}

/* ------------------------------------------------------------------------------------------- */
/* GRUB configuration */

char *unik_disk_grub_quote(const char *word)
{
	size_t len = 3;
	char *out, *p;

	/* GRUB's parser reads '...' literally, like sh; a ' is closed, escaped and reopened. */
	for (const char *c = word; *c; c++)
		len += *c == '\'' ? 4 : 1;
	out = p = xmalloc(len);
	*p++ = '\'';
	for (const char *c = word; *c; c++) {
		if (*c == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *c;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return out;
}

/* GRUB's multiboot2 loader joins its arguments again (grub_create_loader_cmdline): a word with a
 * space goes in "...", and \ ' " get a backslash.  The guest reads that back as the same word,
 * except where its grammar differs or the word cannot survive (docs/images.md). */
static int check_word(const char *word, struct unik_error *err)
{
	if (word[0] == '\0') {
		unik_error_set(err, UNIK_E_INVALID,
		               "command line: an empty word cannot pass through GRUB's multiboot2 "
		               "loader (it drops it); bake it into the image with unik-cc "
		               "--unik-cmdline instead");
		return -1;
	}
	if (strpbrk(word, "\t\n\r")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "command line: the word `%s` holds a tab or newline, which GRUB's "
		               "multiboot2 loader passes unquoted (the guest would split it); use "
		               "spaces or bake it into the image with unik-cc --unik-cmdline",
		               word);
		return -1;
	}
	if (strchr(word, ' ') && strchr(word, '\'')) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "command line: the word `%s` holds both a space and a single quote; "
		    "GRUB's multiboot2 loader passes it as \"...\" with \\' inside, which "
		    "the guest reads as a backslash and a quote; bake it into the image "
		    "with unik-cc --unik-cmdline instead",
		    word);
		return -1;
	}
	return 0;
}

static void push_word(struct strv *line, const char *word)
{
	strv_push_take(line, unik_disk_grub_quote(word));
}

int unik_disk_grub_config(const char *which, const char *cmdline, bool initrd, const char *tag,
                          char **out, struct unik_error *err)
{
	struct unik_cmdline cl = {0};
	struct strv words = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc = -1;

	if (strcmp(which, "bios") != 0 && strcmp(which, "efi") != 0 && strcmp(which, "iso") != 0) {
		unik_error_set(err, UNIK_E_INVALID, "GRUB configuration: unknown kind `%s`", which);
		return -1;
	}
	if (strcmp(which, "iso") == 0 && (!tag || tag[0] != '/' || strpbrk(tag, " '\"\\$\t\n"))) {
		unik_error_set(err, UNIK_E_INVALID, "GRUB configuration: bad search tag `%s`",
		               tag ? tag : "(none)");
		return -1;
	}
	if (unik_cmdline_split(cmdline ? cmdline : "", &cl, err) < 0) {
		unik_error_prefix(err, "command line");
		goto out;
	}
	for (size_t i = 0; i < cl.env.n; i++) {
		if (check_word(cl.env.v[i], err) < 0)
			goto out;
		push_word(&words, cl.env.v[i]);
	}
	/* The split keeps a "--" it met as argv[0]; one is needed only where argv[0] would
	 * otherwise read as one more variable. */
	if (cl.argv.n > 0 && unik_env_word_valid(cl.argv.v[0]))
		push_word(&words, "--");
	for (size_t i = 0; i < cl.argv.n; i++) {
		if (check_word(cl.argv.v[i], err) < 0)
			goto out;
		push_word(&words, cl.argv.v[i]);
	}

	f = open_memstream(&text, &len);
	if (!f) {
		unik_error_set(err, UNIK_E_NOMEM, "GRUB configuration: out of memory");
		goto out;
	}
	/* multiboot2 asks for a video mode unless told text: on UEFI there is none, and GRUB
	 * would print "no suitable video mode found". */
	fputs("set gfxpayload=text\n", f);
	if (strcmp(which, "iso") == 0)
		fprintf(f, "search --no-floppy --file %s --set=root\n", tag);
	fputs("multiboot2 /kernel.elf", f);
	for (size_t i = 0; i < words.n; i++)
		fprintf(f, " %s", words.v[i]);
	fputc('\n', f);
	if (initrd)
		fputs("module2 /rootfs.cpio\n", f);
	fputs("boot\n", f);
	if (fclose(f) != 0) {
		free(text);
		unik_error_set(err, UNIK_E_NOMEM, "GRUB configuration: out of memory");
		goto out;
	}
	*out = text;
	rc = 0;
out:
	unik_cmdline_free(&cl);
	strv_free(&words);
	return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* MBR */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CHS with the usual 255 heads and 63 sectors; beyond cylinder 1023 the "use LBA" maximum. */
static void chs(uint8_t *p, uint32_t lba)
{
	uint32_t c = lba / (255 * 63), h = (lba / 63) % 255, s = lba % 63 + 1;

	if (c > 1023) {
		c = 1023;
		h = 254;
		s = 63;
	}
	p[0] = (uint8_t)h;
	p[1] = (uint8_t)(s | ((c >> 2) & 0xc0));
	p[2] = (uint8_t)(c & 0xff);
}

void unik_mbr_encode(uint8_t mbr[512], const uint8_t *boot_code, uint32_t disk_id,
                     const struct unik_mbr_part *p)
{
	uint8_t *e = mbr + 446;

	memset(mbr, 0, 512);
	if (boot_code)
		memcpy(mbr, boot_code, 440);
	put32(mbr + 440, disk_id);
	e[0] = p->bootable ? 0x80 : 0x00;
	chs(e + 1, p->start);
	e[4] = p->type;
	chs(e + 5, p->start + p->sectors - 1);
	put32(e + 8, p->start);
	put32(e + 12, p->sectors);
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
}

int unik_mbr_decode(const uint8_t mbr[512], struct unik_mbr_part parts[4], int *n,
                    struct unik_error *err)
{
	*n = 0;
	if (mbr[510] != 0x55 || mbr[511] != 0xaa) {
		unik_error_set(err, UNIK_E_INVALID,
		               "no MBR: the boot signature 55 aa is missing (found %02x %02x)",
		               mbr[510], mbr[511]);
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = mbr + 446 + 16 * i;
		struct unik_mbr_part p = {.bootable = e[0] == 0x80,
		                          .type = e[4],
		                          .start = get32(e + 8),
		                          .sectors = get32(e + 12)};

		if (e[0] != 0 && e[0] != 0x80) {
			unik_error_set(err, UNIK_E_INVALID,
			               "MBR partition %d: bad status byte 0x%02x (0x00 or 0x80 "
			               "expected)",
			               i + 1, e[0]);
			return -1;
		}
		if (p.type == 0)
			continue;
		if (p.sectors == 0 || p.start == 0) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "MBR partition %d: start %u, size %u sectors is not a partition", i + 1,
			    p.start, p.sectors);
			return -1;
		}
		for (int j = 0; j < *n; j++) {
			uint64_t a0 = parts[j].start, a1 = a0 + parts[j].sectors;
			uint64_t b0 = p.start, b1 = b0 + p.sectors;
			if (a0 < b1 && b0 < a1) {
				unik_error_set(err, UNIK_E_INVALID,
				               "MBR partition %d overlaps an earlier partition",
				               i + 1);
				return -1;
			}
		}
		parts[(*n)++] = p;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------- */
/* Size plan */

/* GRUB's core.img sits in sectors 1..511; the partition starts at 256 KiB, 4 KiB aligned. */
#define PART_START 512u
#define MIB        (1024u * 1024u)

void unik_disk_plan(uint64_t payload_bytes, unsigned nfiles, struct unik_disk_layout *out)
{
	/* Room for FAT's overhead: every file rounded up to a 4 KiB cluster, directories, the
	 * reserved sectors and two FATs (at most 1/256 of the data with 2 KiB clusters and 16-bit
	 * entries), and some slack. */
	uint64_t fat =
	    payload_bytes + (uint64_t)(nfiles + 4) * 4096 + payload_bytes / 128 + 64 * 1024;
	uint64_t total = (uint64_t)PART_START * 512 + fat;

	total = (total + MIB - 1) / MIB * MIB;
	out->part_start = PART_START;
	out->total_bytes = total;
	out->part_sectors = (uint32_t)(total / 512 - PART_START);
}

/* ------------------------------------------------------------------------------------------- */
/* Kernel */

int unik_disk_check_kernel_mem(const void *buf, size_t len, const char *name,
                               struct unik_error *err)
{
	struct unik_guest_elf g;

	if (unik_guest_elf_parse_mem(buf, len, name, &g, err) < 0)
		return -1;
	if (g.multiboot2)
		return 0;
	unik_error_set(err, UNIK_E_INVALID,
	               "%s has no multiboot2 header in its first 32 KiB, so GRUB cannot load it "
	               "(build it with unik-cc)",
	               name);
	return -1;
}
