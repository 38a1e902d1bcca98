/* Validating disk images (a truncated or corrupted file gets a message that says so, before
 * anything boots it) and dumping a raw disk's layout for golden files. */
#include "images/disk/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/disk/tools.h"
#include "lib/util.h"

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

int unik_disk_detect(const char *path, struct unik_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t head[512] = {0}, tail[512] = {0}, cd[5] = {0};
	uint64_t size = 0;

	if (fd < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		return -1;
	}
	if (disk_file_size(path, &size, err) < 0)
		return -1;
	if (size < 4) {
		unik_error_set(err, UNIK_E_INVALID, "`%s` is empty or truncated (%llu bytes)", path,
		               (unsigned long long)size);
		return -1;
	}
	(void)read_at(fd, head, size < 512 ? size : 512, 0);
	if (size >= 512)
		(void)read_at(fd, tail, 512, size - 512);
	if (size >= 0x8006)
		(void)read_at(fd, cd, 5, 0x8001);
	if (memcmp(head, "QFI\xfb", 4) == 0)
		return UNIK_DISK_QCOW2;
	if (memcmp(head, "KDMV", 4) == 0 || memcmp(head, "# Disk DescriptorFile", 21) == 0)
		return UNIK_DISK_VMDK;
	if (memcmp(head, "conectix", 8) == 0 || memcmp(tail, "conectix", 8) == 0)
		return UNIK_DISK_VHD;
	if (memcmp(cd, "CD001", 5) == 0)
		return UNIK_DISK_ISO;
	if (memcmp(head,
	           "\x7f"
	           "ELF",
	           4) == 0)
		return UNIK_DISK_ELF;
	if (size >= 512 && head[510] == 0x55 && head[511] == 0xaa)
		return UNIK_DISK_RAW;
	unik_error_set(err, UNIK_E_INVALID,
	               "`%s` is no image unik knows (not %s): corrupted or truncated?", path,
	               unik_disk_format_names());
	return -1;
}

static int fat_type_ok(uint8_t t)
{
	return t == 0xef || t == 0x01 || t == 0x04 || t == 0x06 || t == 0x0b || t == 0x0c ||
	       t == 0x0e;
}

/* The partition table of a raw disk, checked against the file's size. */
static int raw_table(const char *path, uint8_t mbr[512], struct unik_mbr_part *part, uint64_t *size,
                     struct unik_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct unik_mbr_part parts[4];
	int n = 0;

	if (fd < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		return -1;
	}
	if (disk_file_size(path, size, err) < 0)
		return -1;
	if (*size < 512 || read_at(fd, mbr, 512, 0) < 0) {
		unik_error_set(err, UNIK_E_INVALID, "truncated: %llu bytes, not even an MBR",
		               (unsigned long long)*size);
		return -1;
	}
	if (unik_mbr_decode(mbr, parts, &n, err) < 0)
		return -1;
	if (n == 0) {
		unik_error_set(err, UNIK_E_INVALID, "the MBR has no partition");
		return -1;
	}
	*part = parts[0];
	if (!fat_type_ok(part->type)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "partition 1 has type 0x%02x, not a FAT or EFI system partition",
		               part->type);
		return -1;
	}
	uint64_t end = ((uint64_t)part->start + part->sectors) * 512;
	if (end > *size) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "truncated: partition 1 ends at byte %llu but the file has %llu bytes",
		    (unsigned long long)end, (unsigned long long)*size);
		return -1;
	}
	return 0;
}

/* `mdir -/ -b` of the partition: one path per line ("::/EFI/BOOT/BOOTX64.EFI"). */
static int fat_list(const char *path, uint64_t offset, const char *tmp, char **out,
                    struct unik_error *err)
{
	_cleanup_free_ char *mdir = disk_tool("mdir", "mtools", err);
	_cleanup_free_ char *img = xasprintf("%s@@%llu", path, (unsigned long long)offset);
	_cleanup_free_ char *log = unik_path_join(tmp, "mdir.log");

	if (!mdir)
		return -1;
	const char *argv[] = {mdir, "-/", "-b", "-i", img, "::/", NULL};
	if (disk_run(argv, log, out, err) < 0) {
		unik_error_prefix(err, "the FAT file system is unreadable");
		return -1;
	}
	return 0;
}

/* mtools guesses its way past a damaged boot sector; say plainly that it is damaged. */
static int fat_boot_sector(const char *path, uint64_t off, struct unik_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t bs[512];
	unsigned bps;

	if (fd < 0 || read_at(fd, bs, sizeof(bs), off) < 0) {
		unik_error_set(err, UNIK_E_INVALID, "cannot read partition 1's first sector");
		return -1;
	}
	bps = bs[11] | bs[12] << 8;
	if (bs[510] != 0x55 || bs[511] != 0xaa || bps < 512 || bps > 4096 || (bps & (bps - 1)) ||
	    bs[13] == 0 || bs[16] == 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "partition 1 has no valid FAT boot sector: corrupted");
		return -1;
	}
	return 0;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static int check_kernel_file(const char *path, const char *name, struct unik_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (unik_read_file(path, &buf, &len, err) < 0)
		return -1;
	return unik_disk_check_kernel_mem(buf, len, name, err);
}

static int check_raw(const char *path, const char *tmp, struct unik_error *err)
{
	uint8_t mbr[512];
	struct unik_mbr_part part;
	uint64_t size = 0, off;
	_cleanup_free_ char *list = NULL, *mcopy = NULL, *img = NULL;
	_cleanup_free_ char *kernel = unik_path_join(tmp, "kernel.elf");
	_cleanup_free_ char *log = unik_path_join(tmp, "mcopy.log");
	bool boot_code = false;

	if (raw_table(path, mbr, &part, &size, err) < 0)
		return -1;
	for (int i = 0; i < 440; i++)
		boot_code |= mbr[i] != 0;
	if (!boot_code && part.type != 0xef) {
		unik_error_set(err, UNIK_E_INVALID,
		               "not bootable: no boot code in the MBR and no EFI system partition");
		return -1;
	}
	off = (uint64_t)part.start * 512;
	if (fat_boot_sector(path, off, err) < 0)
		return -1;
	if (fat_list(path, off, tmp, &list, err) < 0)
		return -1;
	if (!has_line(list, "::/kernel.elf")) {
		unik_error_set(err, UNIK_E_INVALID, "the FAT partition holds no /kernel.elf");
		return -1;
	}
	if (part.type == 0xef && !has_line(list, "::/EFI/BOOT/BOOTX64.EFI")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "the EFI system partition holds no /EFI/BOOT/BOOTX64.EFI");
		return -1;
	}
	mcopy = disk_tool("mcopy", "mtools", err);
	if (!mcopy)
		return -1;
	img = xasprintf("%s@@%llu", path, (unsigned long long)off);
	const char *argv[] = {mcopy, "-n", "-i", img, "::/kernel.elf", kernel, NULL};
	if (disk_run(argv, log, NULL, err) < 0) {
		unik_error_prefix(err, "read /kernel.elf from the FAT partition");
		return -1;
	}
	return check_kernel_file(kernel, "the disk's /kernel.elf", err);
}

/* qemu-img's own consistency check (qcow2, vmdk), then the raw checks on a converted copy. */
static int check_converted(const char *path, const char *fmt, bool qemu_check, const char *tmp,
                           struct unik_error *err)
{
	_cleanup_free_ char *qemu_img = disk_tool("qemu-img", "qemu-utils", err);
	_cleanup_free_ char *log = unik_path_join(tmp, "qemu-img.log");
	_cleanup_free_ char *raw = unik_path_join(tmp, "disk.raw");

	if (!qemu_img)
		return -1;
	if (qemu_check) {
		const char *argv[] = {qemu_img, "check", "-q", "-f", fmt, path, NULL};
		if (disk_run(argv, log, NULL, err) < 0) {
			unik_error_prefix(err, "qemu-img check");
			return -1;
		}
	}
	const char *argv[] = {qemu_img, "convert", "-q", "-f", fmt, "-O", "raw", path, raw, NULL};
	if (disk_run(argv, log, NULL, err) < 0) {
		unik_error_prefix(err, "read the %s image (truncated or corrupted?)", fmt);
		return -1;
	}
	if (check_raw(raw, tmp, err) < 0) {
		unik_error_prefix(err, "the disk inside");
		return -1;
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The VHD footer (qemu-img cannot check vpc): cookie, checksum, and for a fixed disk, that the
 * data before it is all there. */
static int check_vhd_footer(const char *path, struct unik_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t f[512];
	uint64_t size = 0, cur;
	uint32_t sum = 0;

	if (fd < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		return -1;
	}
	if (disk_file_size(path, &size, err) < 0)
		return -1;
	if (size < 512 || read_at(fd, f, 512, size - 512) < 0 || memcmp(f, "conectix", 8) != 0) {
		unik_error_set(err, UNIK_E_INVALID,
		               "no VHD footer (\"conectix\") in the last 512 bytes: truncated?");
		return -1;
	}
	for (int i = 0; i < 512; i++)
		if (i < 64 || i > 67)
			sum += f[i];
	if (~sum != be32(f + 64)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "the VHD footer's checksum is wrong: corrupted");
		return -1;
	}
	cur = (uint64_t)be32(f + 48) << 32 | be32(f + 52);
	if (be32(f + 60) == 2 && size != cur + 512) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "truncated: a fixed VHD of %llu bytes needs a file of %llu, not %llu",
		    (unsigned long long)cur, (unsigned long long)(cur + 512),
		    (unsigned long long)size);
		return -1;
	}
	return 0;
}

static int check_iso(const char *path, const char *tmp, struct unik_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *xorriso = disk_tool("xorriso", "xorriso", err);
	_cleanup_free_ char *log = unik_path_join(tmp, "xorriso.log");
	_cleanup_free_ char *kernel = unik_path_join(tmp, "kernel.elf");
	_cleanup_free_ char *report = NULL;
	uint8_t pvd[2048];
	uint64_t size = 0, blocks, bsize;

	if (!xorriso)
		return -1;
	if (fd < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		return -1;
	}
	if (disk_file_size(path, &size, err) < 0)
		return -1;
	if (read_at(fd, pvd, sizeof(pvd), 16 * 2048) < 0 || pvd[0] != 1 ||
	    memcmp(pvd + 1, "CD001", 5) != 0) {
		unik_error_set(err, UNIK_E_INVALID, "no ISO 9660 primary volume descriptor");
		return -1;
	}
	blocks =
	    pvd[80] | (uint32_t)pvd[81] << 8 | (uint32_t)pvd[82] << 16 | (uint32_t)pvd[83] << 24;
	bsize = pvd[128] | pvd[129] << 8;
	if (blocks * bsize > size) {
		unik_error_set(err, UNIK_E_INVALID,
		               "truncated: the ISO volume is %llu bytes but the file has %llu",
		               (unsigned long long)(blocks * bsize), (unsigned long long)size);
		return -1;
	}
	const char *argv[] = {xorriso, "-abort_on",         "FAILURE",     "-indev",
	                      path,    "-report_el_torito", "plain",       "-osirrox",
	                      "on",    "-extract",          "/kernel.elf", kernel,
	                      NULL};
	if (disk_run(argv, log, &report, err) < 0) {
		unik_error_prefix(err, "read the ISO");
		return -1;
	}
	if (!strstr(report, "El Torito boot img") || !strstr(report, " BIOS ") ||
	    !strstr(report, " UEFI ")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "the ISO lacks its El Torito BIOS and UEFI boot images");
		return -1;
	}
	return check_kernel_file(kernel, "the ISO's /kernel.elf", err);
}

static int do_check(const char *path, int format, const char *tmp, struct unik_error *err)
{
	switch (format) {
	case UNIK_DISK_RAW:
		return check_raw(path, tmp, err);
	case UNIK_DISK_QCOW2:
		return check_converted(path, "qcow2", true, tmp, err);
	case UNIK_DISK_VMDK:
		return check_converted(path, "vmdk", true, tmp, err);
	case UNIK_DISK_VHD:
		if (check_vhd_footer(path, err) < 0)
			return -1;
		return check_converted(path, "vpc", false, tmp, err);
	case UNIK_DISK_ISO:
		return check_iso(path, tmp, err);
	case UNIK_DISK_ELF:
		return check_kernel_file(path, path, err);
	}
	unik_error_set(err, UNIK_E_INVALID, "unknown image format %d", format);
	return -1;
}

int unik_disk_check(const char *path, int format, struct unik_error *err)
{
	struct unik_error ignore;
	char *tmp;
	int rc;

	if (format < 0) {
		format = unik_disk_detect(path, err);
		if (format < 0)
			return -1;
	} else if (!unik_disk_format_name(format)) {
		unik_error_set(err, UNIK_E_INVALID, "unknown image format %d", format);
		return -1;
	} else if (access(path, R_OK) < 0) {
		unik_error_sys(err, errno, "open `%s`", path);
		return -1;
	}
	tmp = unik_mkdtemp("unik-check", err);
	if (!tmp)
		return -1;
	rc = do_check(path, format, tmp, err);
	if (rc < 0)
		unik_error_prefix(err, "%s image `%s`", unik_disk_format_name(format), path);
	unik_rmtree(tmp, &ignore);
	free(tmp);
	return rc;
}

int unik_disk_dump_layout(const char *path, char **out, struct unik_error *err)
{
	uint8_t mbr[512];
	struct unik_mbr_part parts[4], part;
	uint64_t size = 0;
	int n = 0;
	_cleanup_free_ char *list = NULL, *tmp = NULL, *boot = NULL;
	size_t boot_len = 0;
	char *text = NULL;
	size_t len = 0;
	struct unik_error ignore;
	FILE *f;
	int rc = -1;

	if (raw_table(path, mbr, &part, &size, err) < 0 || unik_mbr_decode(mbr, parts, &n, err) < 0)
		return -1;
	tmp = unik_mkdtemp("unik-dump", err);
	if (!tmp)
		return -1;
	if (fat_list(path, (uint64_t)part.start * 512, tmp, &list, err) < 0)
		goto done;
	f = open_memstream(&text, &len);
	if (!f)
		goto done;
	bool code = false;
	for (int i = 0; i < 440; i++)
		code |= mbr[i] != 0;
	if (code && unik_read_file("/usr/lib/grub/i386-pc/boot.img", &boot, &boot_len, NULL) == 0 &&
	    boot_len == 512 && memcmp(boot, mbr, 440) == 0)
		fputs("boot code: GRUB boot.img\n", f);
	else
		fprintf(f, "boot code: %s\n", code ? "present" : "none");
	fprintf(f, "disk size: %llu\n", (unsigned long long)size);
	fprintf(f, "disk id: %02x%02x%02x%02x\n", mbr[443], mbr[442], mbr[441], mbr[440]);
	for (int i = 0; i < n; i++)
		fprintf(f, "partition %d: start %u, %u sectors, type 0x%02x%s\n", i + 1,
		        parts[i].start, parts[i].sectors, parts[i].type,
		        parts[i].bootable ? ", bootable" : "");
	fputs("files:\n", f);
	for (char *line = list, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (*line)
			fprintf(f, "  %s\n", line);
	}
	if (fclose(f) != 0) {
		free(text);
		goto done;
	}
	*out = text;
	rc = 0;
done:
	if (rc < 0 && err && err->code == UNIK_OK)
		unik_error_set(err, UNIK_E_NOMEM, "dump a disk layout: out of memory");
	unik_rmtree(tmp, &ignore);
	return rc;
}
