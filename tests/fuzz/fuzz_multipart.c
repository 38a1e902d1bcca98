/* libFuzzer entry point: multipart/form-data uploads as the daemon parses them, through
 * libmicrohttpd's post processor (run in-process on a socketpair) into http_form.c, which
 * streams the file part to a temporary file and keeps the other parts, with limits.  The input
 * is the body; its first line, when it starts with "--", also gives the boundary. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/http_form.h"
#include "lib/util.h"

static char mp_tmp_dir[] = "/tmp/unik-fuzz-multipart-XXXXXX";
static struct MHD_Daemon *mp_mhd;

struct mp_req {
	struct http_form f;
	struct MHD_PostProcessor *pp;
	bool started;
};

static enum MHD_Result mp_handler(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct mp_req *z = *con_cls;
	static const char ok[] = "ok";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (!z) {
		z = xcalloc(1, sizeof(*z));
		http_form_init(&z->f, mp_tmp_dir, 1u << 20);
		z->pp = MHD_create_post_processor(c, 64 * 1024, http_form_part, &z->f);
		*con_cls = z;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (z->pp && !z->f.status &&
		    MHD_post_process(z->pp, upload_data, *upload_data_size) != MHD_YES)
			z->f.status = 400;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (z->pp)
		MHD_destroy_post_processor(z->pp);
	z->pp = NULL;
	/* What the routes rely on: the upload file exists while its path is given, and the form
	 * holds strings only. */
	if (z->f.got_file && !z->f.status) {
		struct stat st;
		if (!z->f.upload_path || stat(z->f.upload_path, &st) < 0 ||
		    (uint64_t)st.st_size > z->f.max_upload)
			abort();
	}
	{
		const char *k;
		json_t *v;
		json_object_foreach(z->f.form, k, v) if (!json_is_string(v)) abort();
	}
	resp = MHD_create_response_from_buffer(2, (void *)ok, MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, z->f.status ? (unsigned)z->f.status : 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void mp_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct mp_req *z = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!z)
		return;
	if (z->pp)
		MHD_destroy_post_processor(z->pp);
	http_form_free(&z->f);
	free(z);
	*con_cls = NULL;
}

/* One server for the whole run, driven by MHD_run() from this thread. */
static void mp_init_once(void)
{
	if (mp_mhd)
		return;
	if (!mkdtemp(mp_tmp_dir))
		abort();
	mp_mhd = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, mp_handler, NULL,
	                          MHD_OPTION_NOTIFY_COMPLETED, mp_completed, NULL, MHD_OPTION_END);
	if (!mp_mhd)
		abort();
}

int unik_fuzz_multipart(const uint8_t *data, size_t size);
int unik_fuzz_multipart(const uint8_t *data, size_t size)
{
	char boundary[72] = "xyz";
	int sv[2];
	char *head;
	size_t hl, off = 0;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	mp_init_once();
	if (size > 2 && data[0] == '-' && data[1] == '-') {
		size_t i = 2;
		while (i < size && i - 2 < sizeof(boundary) - 1 && data[i] != '\r' &&
		       data[i] != '\n' && data[i] != ';' && data[i] != ',' && data[i] >= 0x21 &&
		       data[i] < 0x7f)
			i++;
		if (i > 2) {
			memcpy(boundary, data + 2, i - 2);
			boundary[i - 2] = '\0';
		}
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	head = xasprintf("POST /v1/builds HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	                 "Content-Type: multipart/form-data; boundary=%s\r\n"
	                 "Content-Length: %zu\r\n\r\n",
	                 boundary, size);
	hl = strlen(head);
	if (MHD_add_connection(mp_mhd, sv[0], (const struct sockaddr *)&addr, sizeof(addr)) !=
	    MHD_YES)
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	/* Write the request as the server reads it, run the server, read its answer to the end. */
	for (int rounds = 0; rounds < 100000; rounds++) {
		char buf[4096];
		ssize_t n;

		while (off < hl + size) {
			const void *p =
			    off < hl ? (const void *)(head + off) : (const void *)(data + off - hl);
			size_t left = off < hl ? hl - off : hl + size - off;
			n = send(sv[1], p, left, MSG_NOSIGNAL);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		MHD_run(mp_mhd);
		n = recv(sv[1], buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			break;
	}
	close(sv[1]);
	MHD_run(mp_mhd);
	free(head);
	return 0;
}

#ifndef UNIK_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return unik_fuzz_multipart(data, size);
}
#endif
