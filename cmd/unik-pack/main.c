/* unik-pack: a small command line over the core's packer (core/pack.h), for tests, benches and
 * people who want a bootable disk from a kernel without the daemon. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pack.h"
#include "lib/util.h"

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
	struct unik_pack_options po = {.firmware = UNIK_PACK_FW_HYBRID};
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL, *output = NULL;
	const char *check = NULL, *dump = NULL, *print = NULL, *format = NULL;
	struct unik_error err = {0};
	int c;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL:
			kernel = optarg;
			break;
		case OPT_INITRD:
			initrd = optarg;
			break;
		case OPT_CMDLINE:
			cmdline = optarg;
			break;
		case OPT_FORMAT:
			format = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_FIRMWARE:
			if (strcmp(optarg, "hybrid") == 0) {
				po.firmware = UNIK_PACK_FW_HYBRID;
			} else if (strcmp(optarg, "bios") == 0) {
				po.firmware = UNIK_PACK_FW_BIOS;
			} else if (strcmp(optarg, "uefi") == 0) {
				po.firmware = UNIK_PACK_FW_UEFI;
			} else {
				fprintf(stderr,
				        "unik-pack: --firmware: hybrid, bios or uefi, not `%s`\n",
				        optarg);
				return 2;
			}
			break;
		case OPT_GRUB_DIR:
			po.grub_dir = optarg;
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
	if (format && !unik_core_pack_format_known(format)) {
		fprintf(stderr, "unik-pack: unknown format `%s` (%s)\n", format,
		        unik_core_pack_format_names());
		return 2;
	}

	if (print) {
		_cleanup_free_ char *text = NULL;
		if (unik_core_pack_grub_config(print, cmdline, initrd != NULL, &text, &err) < 0)
			goto fail;
		fputs(text, stdout);
		return 0;
	}
	if (dump) {
		_cleanup_free_ char *text = NULL;
		if (unik_core_pack_dump_layout(dump, &text, &err) < 0)
			goto fail;
		fputs(text, stdout);
		return 0;
	}
	if (check) {
		if (unik_core_pack_check(check, format, &err) < 0)
			goto fail;
		printf("%s: ok\n", check);
		return 0;
	}
	if (!kernel || !output || !format) {
		fprintf(stderr, "unik-pack: --kernel, --format and -o are needed\n%s", usage);
		return 2;
	}
	if (unik_core_pack(kernel, initrd, cmdline, format, output, &po, &err) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "unik-pack: %s\n", err.msg);
	return 1;
}
