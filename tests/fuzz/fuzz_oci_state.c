/* libFuzzer target: a container's state record as unik-oci reads it back (lib/oci_state.c);
 * what parses is dumped and parsed again, and its public state document built. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/oci_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_state s = {0}, again = {0};
	struct unik_error err;

	if (oci_state_parse((const char *)data, size, &s, &err) == 0) {
		char *text = oci_state_dump(&s);

		if (!text || oci_state_parse(text, strlen(text), &again, &err) < 0)
			abort(); /* what we write, we must read */
		json_decref(oci_state_public(&s, "running"));
		free(text);
	}
	oci_state_free(&s);
	oci_state_free(&again);
	return 0;
}
