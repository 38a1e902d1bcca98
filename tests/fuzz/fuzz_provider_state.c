/* libFuzzer target: the key=value provider.state records (lib/kv.c unik_kv_get, as kvm, xen
 * and aws read them), through the xen provider's reader on a real file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/xen/xen.h"
#include "lib/kv.h"
#include "lib/util.h"

static char *dir;

static void remove_dir(void)
{
	unik_rmtree(dir, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
	    "instance_id", "uri",  "domain",   "uuid", "connect_timeout",
	    "domid",       "name", "provider", "",     "="};
	static const size_t sizes[] = {1, 2, 16, 64, 256};
	_cleanup_free_ char *text = xstrndup((const char *)data, size);
	struct xen_state xs;
	struct unik_error err;

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char *out =
			    xmalloc(sizes[i]); /* exactly that size: ASan sees an overflow */

			if (unik_kv_get(text, keys[k], out, sizes[i]) && strlen(out) >= sizes[i])
				abort();
			free(out);
		}
	if (!dir) {
		dir = unik_mkdtemp("unik-fuzz-state", &err);
		if (!dir)
			abort();
		atexit(remove_dir);
	}
	if (unik_write_text_in(dir, XEN_STATE_FILE, text, &err) == 0)
		xen_state_read(dir, &xs, &err);
	return 0;
}
