/* unik-pack: a small command line over images/disk, for tests, benches and people who want a
 * bootable disk from a kernel without the daemon. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images/disk/disk.h"
#include "util.h"

static const char usage[] =
    "usage: unik-pack --kernel K [--initrd I] [--cmdline STR] --format F -o OUT\n"
    "                 [--firmware hybrid|bios|uefi] [--grub-dir DIR]\n"
    "       unik-pack --check FILE [--format F]\n"
    "       unik-pack --dump-layout RAW\n"
    "       unik-pack --print-config bios|efi|iso [--cmdline STR] [--initrd I]\n"
    "\n"
    "Formats: raw (BIOS + UEFI disk), qcow2, vmdk, vhd (fixed, Azure-ready), iso (CD and\n"
    "hybrid disk, BIOS + UEFI), elf (the kernel alone).  See docs/images.md.\n";

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_FORMAT,
	OPT_FIRMWARE,
	OPT_GRUB_DIR,
	OPT_CHECK,
	OPT_DUMP,
	OPT_PRINT,
	OPT_HELP
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"kernel", required_argument, NULL, OPT_KERNEL},
	    {"initrd", required_argument, NULL, OPT_INITRD},
	    {"cmdline", required_argument, NULL, OPT_CMDLINE},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"output", required_argument, NULL, 'o'},
	    {"firmware", required_argument, NULL, OPT_FIRMWARE},
	    {"grub-dir", required_argument, NULL, OPT_GRUB_DIR},
	    {"check", required_argument, NULL, OPT_CHECK},
	    {"dump-layout", required_argument, NULL, OPT_DUMP},
	    {"print-config", required_argument, NULL, OPT_PRINT},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	struct unik_disk_spec spec = {.format = -1};
	const char *check = NULL, *dump = NULL, *print = NULL, *format = NULL;
	struct unik_error err = {0};
	int c;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL:
			spec.kernel = optarg;
			break;
		case OPT_INITRD:
			spec.initrd = optarg;
			break;
		case OPT_CMDLINE:
			spec.cmdline = optarg;
			break;
		case OPT_FORMAT:
			format = optarg;
			break;
		case 'o':
			spec.output = optarg;
			break;
		case OPT_FIRMWARE:
			if (strcmp(optarg, "hybrid") == 0) {
				spec.firmware = UNIK_DISK_FW_HYBRID;
			} else if (strcmp(optarg, "bios") == 0) {
				spec.firmware = UNIK_DISK_FW_BIOS;
			} else if (strcmp(optarg, "uefi") == 0) {
				spec.firmware = UNIK_DISK_FW_UEFI;
			} else {
				fprintf(stderr,
				        "unik-pack: --firmware: hybrid, bios or uefi, not `%s`\n",
				        optarg);
				return 2;
			}
			break;
		case OPT_GRUB_DIR:
			spec.grub_dir = optarg;
			break;
		case OPT_CHECK:
			check = optarg;
			break;
		case OPT_DUMP:
			dump = optarg;
			break;
		case OPT_PRINT:
			print = optarg;
			break;
		case 'h':
		case OPT_HELP:
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "unik-pack: unexpected argument `%s`\n%s", argv[optind], usage);
		return 2;
	}
	if (format) {
		spec.format = unik_disk_format_parse(format);
		if ((int)spec.format < 0) {
			fprintf(
			    stderr,
			    "unik-pack: unknown format `%s` (raw, qcow2, vmdk, vhd, iso or elf)\n",
			    format);
			return 2;
		}
	}

	if (print) {
		_cleanup_free_ char *text = NULL;
		if (unik_disk_grub_config(print, spec.cmdline, spec.initrd != NULL,
		                          "/unik-0123456789abcdef", &text, &err) < 0)
			goto fail;
		fputs(text, stdout);
		return 0;
	}
	if (dump) {
		_cleanup_free_ char *text = NULL;
		if (unik_disk_dump_layout(dump, &text, &err) < 0)
			goto fail;
		fputs(text, stdout);
		return 0;
	}
	if (check) {
		if (unik_disk_check(check, format ? (int)spec.format : -1, &err) < 0)
			goto fail;
		printf("%s: ok\n", check);
		return 0;
	}
	if (!spec.kernel || !spec.output || !format) {
		fprintf(stderr, "unik-pack: --kernel, --format and -o are needed\n%s", usage);
		return 2;
	}
	if (unik_disk_pack(&spec, &err) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "unik-pack: %s\n", err.msg);
	return 1;
}
