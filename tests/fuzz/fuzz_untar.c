/* libFuzzer entry point: the upload validator (lib/untar) on any bytes, small limits. */
#include <stddef.h>
#include <stdint.h>

#include "lib/untar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unik_untar_limits lim = {.max_bytes = 1 << 20, .max_files = 100, .max_ratio = 200};
	struct unik_error err;

	unik_untar_check_mem(data, size, &lim, &err);
	return 0;
}
