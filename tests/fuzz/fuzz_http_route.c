/* libFuzzer entry point: the HTTP door's request-target parsing (percent-decoding, path
 * segments, query arguments), route matching, Content-Length and --listen address parsing.
 * The first byte picks the method; the rest is the raw target. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon/http.h"
#include "daemon/http_parse.h"
#include "lib/util.h"

int unik_fuzz_http_route(const uint8_t *data, size_t size);
int unik_fuzz_http_route(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "DELETE", "PUT"};
	struct http_target t;
	struct unik_error err;
	struct sockaddr_storage ss;
	unsigned sl;
	bool loopback, mismatch;
	uint64_t n;
	char *raw;
	int st;

	if (size == 0)
		return 0;
	raw = xmalloc(size);
	memcpy(raw, data + 1, size - 1);
	raw[size - 1] = '\0';
	st = http_target_parse(raw, size - 1, &t, &err);
	if (st == 0) {
		const struct route *rt =
		    http_route_match(daemon_routes, methods[data[0] & 3], &t, &mismatch);

		if (t.nseg > MAX_SEGS || t.nseg < -1 || t.nq > HTTP_MAX_QUERY)
			abort();
		for (int i = 0; i < t.nseg; i++)
			for (const char *p = t.segs[i]; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f || !*t.segs[i])
					abort();
		for (int i = 0; i < t.nq; i++)
			if (http_target_query(&t, t.qkey[i]) == NULL)
				abort();
		/* A route found is one of the table's, for this method. */
		if (rt && strcmp(rt->method, methods[data[0] & 3]) != 0)
			abort();
		http_target_free(&t);
	} else if (st != 400 && st != 414) {
		abort();
	}
	/* The same bytes as a Content-Length and as a --listen address. */
	raw[strnlen(raw, size - 1)] = '\0';
	if (http_content_length(raw, &n) == 0 && strspn(raw, "0123456789") != strlen(raw))
		abort();
	if (http_listen_parse(raw, &ss, &sl, &loopback, &err) == 0 && sl == 0)
		abort();
	free(raw);
	return 0;
}

#ifndef UNIK_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return unik_fuzz_http_route(data, size);
}
#endif
