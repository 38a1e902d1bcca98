/* libFuzzer entry point: the Unikfile parser (lib/yamlx + compilers/manifest) on any bytes. */
#include <stddef.h>
#include <stdint.h>

#include "compilers/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unik_manifest m;
	struct unik_error err;

	unik_manifest_parse((const char *)data, size, "Unikfile", &m, &err);
	unik_manifest_free(&m);
	unik_manifest_parse_unik((const char *)data, size, &m, &err);
	unik_manifest_free(&m);
	return 0;
}
