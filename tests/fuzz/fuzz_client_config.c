/* libFuzzer target: client-config.yaml as the CLI reads it (lib/client.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unik_error err;
	char *host = NULL;

	if (unik_client_config_parse((const char *)data, size, &host, &err) == 0 && host)
		(void)strlen(host); /* a NUL-terminated string when the parse succeeds */
	free(host);
	return 0;
}
