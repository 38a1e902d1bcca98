/* libFuzzer entry point: config.json as unik-oci reads it (lib/oci_config.c), then the guest
 * command line and memory size derived from it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/oci_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_config cfg;
	struct unik_error err;
	char *cmdline = NULL;
	uint64_t mb;

	if (oci_config_parse((const char *)data, size, "/bundle", &cfg, &err) == 0) {
		if (oci_guest_cmdline(&cfg, &cmdline, &err) == 0)
			free(cmdline);
		oci_guest_memory_mb(&cfg, &mb, &err);
		oci_config_annotation(&cfg, OCI_ANNOTATION_KERNEL);
	}
	oci_config_free(&cfg);
	oci_elf_buf_is_unik(data, size);
	return 0;
}
