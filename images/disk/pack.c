/* Packing a kernel into a disk image: the hybrid BIOS/UEFI raw disk assembled from GRUB's
 * boot.img and core.img plus a FAT partition made with mkfs.fat and mtools, its qemu-img
 * conversions, and a hybrid ISO made with xorriso.  docs/images.md has the layouts. */
#include "images/disk/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "images/disk/tools.h"
#include "lib/util.h"

#define DEFAULT_GRUB_DIR "/usr/lib/grub"
#define CORE_MAX_SECTORS 511u        /* sectors 1..511, before the partition at 256 KiB */
#define DISK_ID          0x6b696e75u /* "unik" */
#define FIXED_MTIME      946684800   /* 2000-01-01, the time every packed file carries */

struct pack {
	const struct unik_disk_spec *spec;
	const char *grub_dir;
	char *tmp;     /* private temporary directory */
	uint64_t hash; /* FNV-1a of the inputs: FAT volume id, ISO search tag */
	char *mkimage; /* tool paths */
	char *mkfs_fat;
	char *mcopy;
};

static char *tmp_path(const struct pack *p, const char *name)
{
	return unik_path_join(p->tmp, name);
}

static void fnv(uint64_t *h, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		*h = (*h ^ b[i]) * 1099511628211ull;
}

static int read_inputs(struct pack *p, struct unik_error *err)
{
	const struct unik_disk_spec *s = p->spec;
	_cleanup_free_ char *kernel = NULL, *initrd = NULL;
	size_t klen = 0, ilen = 0;

	if (unik_read_file(s->kernel, &kernel, &klen, err) < 0) {
		unik_error_prefix(err, "kernel");
		return -1;
	}
	if (unik_disk_check_kernel_mem(kernel, klen, s->kernel, err) < 0)
		return -1;
	p->hash = 1469598103934665603ull;
	fnv(&p->hash, kernel, klen);
	if (s->initrd) {
		if (unik_read_file(s->initrd, &initrd, &ilen, err) < 0) {
			unik_error_prefix(err, "initrd");
			return -1;
		}
		if (ilen < 6 || memcmp(initrd, "070701", 6) != 0) {
			unik_error_set(err, UNIK_E_INVALID, "initrd %s is not a newc cpio archive",
			               s->initrd);
			return -1;
		}
		fnv(&p->hash, initrd, ilen);
	}
	if (s->cmdline)
		fnv(&p->hash, s->cmdline, strlen(s->cmdline) + 1);
	return 0;
}

static int write_text(const struct pack *p, const char *name, const char *text,
                      struct unik_error *err)
{
	_cleanup_free_ char *path = tmp_path(p, name);

	return unik_write_file_atomic(path, text, strlen(text), 0644, err);
}

/* grub-mkimage for one platform with the configuration at cfg embedded. */
static int mkimage(const struct pack *p, const char *platform, const char *out_format,
                   const char *prefix, const char *cfg, const char *out, const char *const *mods,
                   struct unik_error *err)
{
	_cleanup_strv_ struct strv argv = {0};
	_cleanup_free_ char *dir = unik_path_join(p->grub_dir, platform);
	_cleanup_free_ char *log = tmp_path(p, "grub-mkimage.log");
	_cleanup_free_ char *modinfo = unik_path_join(dir, "moddep.lst");

	if (access(modinfo, R_OK) < 0) {
		unik_error_set(
		    err, UNIK_E_UNSUPPORTED,
		    "GRUB's %s modules are missing (%s): install the Debian package %s", platform,
		    dir, strcmp(platform, "i386-pc") == 0 ? "grub-pc-bin" : "grub-efi-amd64-bin");
		return -1;
	}
	strv_push(&argv, p->mkimage);
	strv_push(&argv, "-d");
	strv_push(&argv, dir);
	strv_push(&argv, "-O");
	strv_push(&argv, out_format);
	strv_push(&argv, "-p");
	strv_push(&argv, prefix);
	strv_push(&argv, "-c");
	strv_push(&argv, cfg);
	strv_push(&argv, "-o");
	strv_push(&argv, out);
	for (size_t i = 0; mods[i]; i++)
		strv_push(&argv, mods[i]);
	return disk_run((const char *const *)strv_argv(&argv), log, NULL, err);
}

/* Copies src to the staging tree as name with the fixed modification time. */
static int stage(const char *src, const char *dir, const char *name, struct unik_error *err)
{
	_cleanup_free_ char *dst = unik_path_join(dir, name);
	_cleanup_close_ int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	struct timespec ts[2] = {{.tv_sec = FIXED_MTIME}, {.tv_sec = FIXED_MTIME}};

	if (fd < 0) {
		unik_error_sys(err, errno, "create `%s`", dst);
		return -1;
	}
	if (disk_copy_into(src, fd, 0, err) < 0)
		return -1;
	if (futimens(fd, ts) < 0) {
		unik_error_sys(err, errno, "set the time of `%s`", dst);
		return -1;
	}
	return 0;
}

/* A FAT file system in image (created here, size_kib) holding the staged tree. */
static int make_fat(const struct pack *p, const char *image, uint64_t size_kib, const char *label,
                    const char *staging, const char *const *top, struct unik_error *err)
{
	_cleanup_free_ char *log = tmp_path(p, "fat.log");
	_cleanup_free_ char *volid = xasprintf("%08x", (unsigned)(p->hash ^ (p->hash >> 32)));
	_cleanup_free_ char *kib = xasprintf("%llu", (unsigned long long)size_kib);
	_cleanup_strv_ struct strv cp = {0};
	const char *mkfs[] = {p->mkfs_fat, "-C",  "-i",  volid, "--invariant",
	                      "-n",        label, image, kib,   NULL};

	if (disk_run(mkfs, log, NULL, err) < 0)
		return -1;
	strv_push(&cp, p->mcopy);
	strv_push(&cp, "-s");
	strv_push(&cp, "-m");
	strv_push(&cp, "-i");
	strv_push(&cp, image);
	for (size_t i = 0; top[i]; i++)
		strv_push_take(&cp, unik_path_join(staging, top[i]));
	strv_push(&cp, "::/");
	if (disk_run((const char *const *)strv_argv(&cp), log, NULL, err) < 0)
		return -1;
	return disk_fat_fix_times(image, 0, err);
}

static int make_dir(const char *path, struct unik_error *err)
{
	if (mkdir(path, 0755) < 0) {
		unik_error_sys(err, errno, "create `%s`", path);
		return -1;
	}
	return 0;
}

/* The raw disk at out (in the temporary directory). */
static int pack_raw(struct pack *p, const char *out, struct unik_error *err)
{
	const struct unik_disk_spec *s = p->spec;
	bool bios = s->firmware != UNIK_DISK_FW_UEFI, efi = s->firmware != UNIK_DISK_FW_BIOS;
	_cleanup_free_ char *cfg = NULL, *cfg_path = tmp_path(p, "early.cfg");
	_cleanup_free_ char *core = tmp_path(p, "core.img"), *efi_img = tmp_path(p, "bootx64.efi");
	_cleanup_free_ char *staging = tmp_path(p, "fat"), *part = tmp_path(p, "part.img");
	_cleanup_free_ char *boot_img = NULL, *boot_path = NULL;
	_cleanup_close_ int fd = -1;
	static const char *const bios_mods[] = {"biosdisk", "part_msdos", "fat", "multiboot2",
	                                        NULL};
	static const char *const efi_mods[] = {"part_msdos", "fat", "multiboot2", NULL};
	const char *top[4] = {NULL};
	size_t ntop = 0;
	uint64_t payload = 0, sz = 0, core_size = 0;
	unsigned nfiles = 0;
	struct unik_disk_layout lay;
	uint8_t mbr[512];
	size_t boot_len = 0;

	/* BIOS and UEFI GRUB read the same configuration: the FAT partition is their root. */
	if (unik_disk_grub_config(bios ? "bios" : "efi", s->cmdline, s->initrd != NULL, NULL, &cfg,
	                          err) < 0)
		return -1;
	if (write_text(p, "early.cfg", cfg, err) < 0 || make_dir(staging, err) < 0)
		return -1;

	if (bios) {
		boot_path = unik_path_join(p->grub_dir, "i386-pc/boot.img");
		/* "(,msdos1)" is the first partition of whichever disk the BIOS booted. */
		if (mkimage(p, "i386-pc", "i386-pc", "(,msdos1)/", cfg_path, core, bios_mods, err) <
		    0)
			return -1;
		if (disk_file_size(core, &core_size, err) < 0)
			return -1;
		if (core_size > CORE_MAX_SECTORS * 512ull) {
			unik_error_set(
			    err, UNIK_E_INTERNAL,
			    "GRUB's core.img is %llu bytes, more than the %u sectors before "
			    "the partition",
			    (unsigned long long)core_size, CORE_MAX_SECTORS);
			return -1;
		}
		if (unik_read_file(boot_path, &boot_img, &boot_len, err) < 0) {
			unik_error_prefix(err, "GRUB's boot sector (install grub-pc-bin)");
			return -1;
		}
		if (boot_len != 512) {
			unik_error_set(err, UNIK_E_INVALID, "%s is not a 512-byte boot sector",
			               boot_path);
			return -1;
		}
	}
	if (efi) {
		_cleanup_free_ char *d1 = unik_path_join(staging, "EFI");
		_cleanup_free_ char *d2 = unik_path_join(d1, "BOOT");
		/* No device in the prefix: GRUB takes the partition it was loaded from. */
		if (mkimage(p, "x86_64-efi", "x86_64-efi", "/EFI/BOOT", cfg_path, efi_img, efi_mods,
		            err) < 0)
			return -1;
		if (make_dir(d1, err) < 0 || make_dir(d2, err) < 0 ||
		    stage(efi_img, d2, "BOOTX64.EFI", err) < 0 ||
		    disk_file_size(efi_img, &sz, err) < 0)
			return -1;
		payload += sz;
		nfiles += 3;
		top[ntop++] = "EFI";
	}
	if (stage(s->kernel, staging, "kernel.elf", err) < 0 ||
	    disk_file_size(s->kernel, &sz, err) < 0)
		return -1;
	payload += sz;
	nfiles++;
	top[ntop++] = "kernel.elf";
	if (s->initrd) {
		if (stage(s->initrd, staging, "rootfs.cpio", err) < 0 ||
		    disk_file_size(s->initrd, &sz, err) < 0)
			return -1;
		payload += sz;
		nfiles++;
		top[ntop++] = "rootfs.cpio";
	}

	unik_disk_plan(payload, nfiles, &lay);
	if (make_fat(p, part, lay.part_sectors / 2, "UNIK", staging, top, err) < 0)
		return -1;

	struct unik_mbr_part mp = {.bootable = true,
	                           .type = efi ? 0xef : 0x0c,
	                           .start = lay.part_start,
	                           .sectors = lay.part_sectors};
	unik_mbr_encode(mbr, bios ? (const uint8_t *)boot_img : NULL, DISK_ID, &mp);
	fd = open(out, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		unik_error_sys(err, errno, "create `%s`", out);
		return -1;
	}
	if (ftruncate(fd, (off_t)lay.total_bytes) < 0 || pwrite(fd, mbr, 512, 0) != 512) {
		unik_error_sys(err, errno, "write `%s`", out);
		return -1;
	}
	if (bios && disk_copy_into(core, fd, 512, err) < 0)
		return -1;
	if (disk_copy_into(part, fd, (uint64_t)lay.part_start * 512, err) < 0)
		return -1;
	if (fsync(fd) < 0) {
		unik_error_sys(err, errno, "sync `%s`", out);
		return -1;
	}
	return 0;
}

static int convert(struct pack *p, const char *raw, const char *out, struct unik_error *err)
{
	_cleanup_free_ char *qemu_img = disk_tool("qemu-img", "qemu-utils", err);
	_cleanup_free_ char *log = tmp_path(p, "qemu-img.log");
	const char *fmt = NULL, *opts = NULL;

	if (!qemu_img)
		return -1;
	switch (p->spec->format) {
	case UNIK_DISK_QCOW2:
		fmt = "qcow2";
		opts = "compat=1.1";
		break;
	case UNIK_DISK_VMDK:
		/* One sparse file with an IDE adapter: VMware Workstation/Fusion and QEMU open it
		 * as is; ESXi imports it with vmkfstools (docs/images.md). */
		fmt = "vmdk";
		opts = "subformat=monolithicSparse,adapter_type=ide";
		break;
	case UNIK_DISK_VHD:
		/* Fixed VHD of exactly the raw size (a whole number of MiB), as Azure wants. */
		fmt = "vpc";
		opts = "subformat=fixed,force_size=on";
		break;
	default:
		unik_error_set(err, UNIK_E_INTERNAL, "convert: not a conversion format");
		return -1;
	}
	const char *argv[] = {qemu_img, "convert", "-q", "-f", "raw", "-O",
	                      fmt,      "-o",      opts, raw,  out,   NULL};
	return disk_run(argv, log, NULL, err);
}

/* Escapes = and \ in a path for xorriso's -graft-points. */
static char *graft_escape(const char *path)
{
	char *out = xmalloc(2 * strlen(path) + 1), *o = out;

	for (const char *c = path; *c; c++) {
		if (*c == '=' || *c == '\\')
			*o++ = '\\';
		*o++ = *c;
	}
	*o = '\0';
	return out;
}

static int pack_iso(struct pack *p, const char *out, struct unik_error *err)
{
	const struct unik_disk_spec *s = p->spec;
	_cleanup_free_ char *xorriso = disk_tool("xorriso", "xorriso", err);
	_cleanup_free_ char *tag = xasprintf("/unik-%016llx", (unsigned long long)p->hash);
	_cleanup_free_ char *cfg = NULL, *cfg_path = tmp_path(p, "iso.cfg");
	_cleanup_free_ char *eltorito = tmp_path(p, "eltorito.img");
	_cleanup_free_ char *efi_img = tmp_path(p, "bootx64.efi");
	_cleanup_free_ char *efi_fat = tmp_path(p, "efi.img"), *staging = tmp_path(p, "efi");
	_cleanup_free_ char *d1 = NULL, *d2 = NULL, *tagfile = tmp_path(p, "tag");
	_cleanup_free_ char *hybrid = unik_path_join(p->grub_dir, "i386-pc/boot_hybrid.img");
	_cleanup_free_ char *log = tmp_path(p, "xorriso.log");
	_cleanup_free_ char *date = NULL, *kpath = NULL, *ipath = NULL;
	_cleanup_strv_ struct strv argv = {0};
	static const char *const bios_mods[] = {"biosdisk", "iso9660", "multiboot2", "search",
	                                        NULL};
	static const char *const efi_mods[] = {"iso9660",    "part_msdos", "part_gpt", "fat",
	                                       "multiboot2", "search",     NULL};
	static const char *const top[] = {"EFI", NULL};
	uint64_t efi_size = 0;
	struct tm tm;
	time_t fixed = FIXED_MTIME;

	if (!xorriso)
		return -1;
	/* Both GRUBs look for a file only this ISO has: the device they were started from is not
	 * always the one holding the kernel (an El Torito image, a GPT partition). */
	if (unik_disk_grub_config("iso", s->cmdline, s->initrd != NULL, tag, &cfg, err) < 0 ||
	    write_text(p, "iso.cfg", cfg, err) < 0 || write_text(p, "tag", "unik\n", err) < 0)
		return -1;
	if (mkimage(p, "i386-pc", "i386-pc-eltorito", "/boot/grub", cfg_path, eltorito, bios_mods,
	            err) < 0 ||
	    mkimage(p, "x86_64-efi", "x86_64-efi", "/boot/grub", cfg_path, efi_img, efi_mods, err) <
	        0)
		return -1;
	d1 = unik_path_join(staging, "EFI");
	d2 = unik_path_join(d1, "BOOT");
	if (make_dir(staging, err) < 0 || make_dir(d1, err) < 0 || make_dir(d2, err) < 0 ||
	    stage(efi_img, d2, "BOOTX64.EFI", err) < 0 ||
	    disk_file_size(efi_img, &efi_size, err) < 0)
		return -1;
	if (make_fat(p, efi_fat, (efi_size + 1023) / 1024 + 64, "UNIKEFI", staging, top, err) < 0)
		return -1;
	if (access(hybrid, R_OK) < 0) {
		unik_error_set(err, UNIK_E_UNSUPPORTED, "%s is missing: install grub-pc-bin",
		               hybrid);
		return -1;
	}

	gmtime_r(&fixed, &tm);
	date = xasprintf("%04d%02d%02d%02d%02d%02d00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	                 tm.tm_hour, tm.tm_min, tm.tm_sec);
	strv_push(&argv, xorriso);
	strv_push(&argv, "-as");
	strv_push(&argv, "mkisofs");
	strv_push(&argv, "-quiet");
	strv_push(&argv, "-graft-points");
	strv_push(&argv, "-R");
	strv_push(&argv, "-V");
	strv_push(&argv, "UNIK");
	strv_pushf(&argv, "--modification-date=%s", date);
	strv_push(&argv, "--set_all_file_dates");
	strv_push(&argv, date);
	strv_push(&argv, "-b");
	strv_push(&argv, "boot/grub/eltorito.img");
	strv_push(&argv, "-no-emul-boot");
	strv_push(&argv, "-boot-load-size");
	strv_push(&argv, "4");
	strv_push(&argv, "-boot-info-table");
	strv_push(&argv, "--grub2-boot-info");
	strv_push(&argv, "--grub2-mbr");
	strv_push(&argv, hybrid);
	strv_push(&argv, "--efi-boot");
	strv_push(&argv, "boot/grub/efi.img");
	strv_push(&argv, "-efi-boot-part");
	strv_push(&argv, "--efi-boot-image");
	strv_push(&argv, "--protective-msdos-label");
	strv_push(&argv, "-o");
	strv_push(&argv, out);
	kpath = graft_escape(s->kernel);
	strv_pushf(&argv, "/kernel.elf=%s", kpath);
	if (s->initrd) {
		ipath = graft_escape(s->initrd);
		strv_pushf(&argv, "/rootfs.cpio=%s", ipath);
	}
	strv_pushf(&argv, "%s=%s", tag, tagfile);
	strv_pushf(&argv, "/boot/grub/eltorito.img=%s", eltorito);
	strv_pushf(&argv, "/boot/grub/efi.img=%s", efi_fat);
	return disk_run((const char *const *)strv_argv(&argv), log, NULL, err);
}

static int pack_elf(const struct pack *p, const char *out, struct unik_error *err)
{
	const struct unik_disk_spec *s = p->spec;
	_cleanup_close_ int fd = -1;

	if (s->initrd || (s->cmdline && *s->cmdline)) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "the elf format is the kernel alone: it carries neither an initrd nor "
		    "a command line (give them at boot, or bake them in with unik-cc)");
		return -1;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (fd < 0) {
		unik_error_sys(err, errno, "create `%s`", out);
		return -1;
	}
	return disk_copy_into(s->kernel, fd, 0, err);
}

static int tools(struct pack *p, struct unik_error *err)
{
	p->mkimage = disk_tool("grub-mkimage", "grub-common", err);
	if (!p->mkimage)
		return -1;
	p->mkfs_fat = disk_tool("mkfs.fat", "dosfstools", err);
	if (!p->mkfs_fat)
		return -1;
	p->mcopy = disk_tool("mcopy", "mtools", err);
	if (!p->mcopy)
		return -1;
	return 0;
}

static int do_pack(struct pack *p, struct unik_error *err)
{
	const struct unik_disk_spec *s = p->spec;
	_cleanup_free_ char *raw = tmp_path(p, "disk.raw"), *out = NULL;

	if (read_inputs(p, err) < 0)
		return -1;
	out = tmp_path(p, "out");
	switch (s->format) {
	case UNIK_DISK_ELF:
		if (pack_elf(p, out, err) < 0)
			return -1;
		if (chmod(out, 0755) < 0 || rename(out, raw) < 0) {
			unik_error_sys(err, errno, "finish `%s`", out);
			return -1;
		}
		break;
	case UNIK_DISK_RAW:
		if (tools(p, err) < 0 || pack_raw(p, raw, err) < 0)
			return -1;
		break;
	case UNIK_DISK_QCOW2:
	case UNIK_DISK_VMDK:
	case UNIK_DISK_VHD: {
		_cleanup_free_ char *conv = tmp_path(p, "converted");
		if (tools(p, err) < 0 || pack_raw(p, raw, err) < 0 ||
		    convert(p, raw, conv, err) < 0)
			return -1;
		if (rename(conv, raw) < 0) {
			unik_error_sys(err, errno, "rename `%s`", conv);
			return -1;
		}
		break;
	}
	case UNIK_DISK_ISO:
		if (tools(p, err) < 0 || pack_iso(p, raw, err) < 0)
			return -1;
		break;
	default:
		unik_error_set(err, UNIK_E_INVALID, "unknown image format %d", (int)s->format);
		return -1;
	}
	if (disk_install(raw, s->output, err) < 0)
		return -1;
	if (s->format == UNIK_DISK_ELF && chmod(s->output, 0755) < 0) {
		unik_error_sys(err, errno, "chmod `%s`", s->output);
		return -1;
	}
	return 0;
}

int unik_disk_pack(const struct unik_disk_spec *spec, struct unik_error *err)
{
	struct pack p = {.spec = spec};
	struct unik_error ignore;
	int rc;

	if (!spec->kernel || !spec->output || !unik_disk_format_name(spec->format)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "pack a disk: kernel, output and format are needed");
		return -1;
	}
	p.grub_dir = spec->grub_dir ? spec->grub_dir : DEFAULT_GRUB_DIR;
	p.tmp = unik_mkdtemp("unik-disk", err);
	if (!p.tmp)
		return -1;
	rc = do_pack(&p, err);
	if (rc < 0)
		unik_error_prefix(err, "pack %s image `%s`", unik_disk_format_name(spec->format),
		                  spec->output);
	unik_rmtree(p.tmp, &ignore);
	free(p.tmp);
	free(p.mkimage);
	free(p.mkfs_fat);
	free(p.mcopy);
	return rc;
}
