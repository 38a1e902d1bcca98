/* S3 for the aws provider: resumable multipart uploads of disk images (the upload's id and
 * finished parts are kept in a small JSON state file), bucket creation and deletes, written
 * from the S3 API reference. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "providers/aws/aws.h"
#include "lib/util.h"

#define MIB             (1024ULL * 1024)
#define S3_DEFAULT_PART (8 * MIB)
#define S3_MIN_PART     (5 * MIB)
#define S3_MAX_PART     (5 * 1024 * MIB)
#define S3_MAX_PARTS    10000

static bool dns_bucket(const char *b, bool https)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return false;
	for (const char *p = b; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      (*p == '.' && !https)))
			return false;
	return true;
}

void aws_s3_location(const struct aws_config *c, const char *bucket, const char *key,
                     char **endpoint, char **path)
{
	_cleanup_free_ char *k = aws_uri_encode(key ? key : "", true);
	bool https = unik_str_has_prefix(c->s3_endpoint, "https://");
	const char *rest = strstr(c->s3_endpoint, "://");

	/* Buckets with dots break TLS on virtual hosts, so they go path-style too. */
	if (!c->s3_path_style && rest && dns_bucket(bucket, https)) {
		*endpoint = xasprintf("%.*s://%s.%s", (int)(rest - c->s3_endpoint), c->s3_endpoint,
		                      bucket, rest + 3);
		*path = xasprintf("/%s", k);
	} else {
		_cleanup_free_ char *b = aws_uri_encode(bucket, false);

		*endpoint = xstrdup(c->s3_endpoint);
		*path = *k ? xasprintf("/%s/%s", b, k) : xasprintf("/%s", b);
	}
}

struct s3_req {
	const char *method;
	const char *key; /* "" for the bucket */
	const char *query;
	const char *const *headers;
	const void *body;
	size_t body_len;
};

static int s3_call(const struct aws_config *c, const char *bucket, const struct s3_req *r,
                   struct aws_response *resp, struct unik_error *err)
{
	_cleanup_free_ char *endpoint = NULL, *path = NULL;
	struct aws_call call = {
	    .service = "s3",
	    .method = r->method,
	    .query = r->query ? r->query : "",
	    .headers = r->headers,
	    .body = r->body,
	    .body_len = r->body_len,
	};

	aws_s3_location(c, bucket, r->key, &endpoint, &path);
	call.endpoint = endpoint;
	call.path = path;
	/* Over TLS the body's hash is not worth its CPU; Content-MD5 still guards the bytes. */
	call.unsigned_payload = r->body_len > 0 && unik_str_has_prefix(endpoint, "https://");
	return aws_request(c, &call, resp, err);
}

static bool resp_code_is(const struct aws_response *r, const char *code)
{
	return r->error_code && strcmp(r->error_code, code) == 0;
}

static int create_bucket(const struct aws_config *c, const char *bucket, struct unik_error *err)
{
	_cleanup_free_ char *body = NULL;
	struct aws_response resp = {0};
	struct s3_req r = {.method = "PUT", .key = ""};
	int ret;

	/* us-east-1 is S3's default location and refuses to be named. */
	if (strcmp(c->region, "us-east-1") != 0) {
		body = xasprintf("<CreateBucketConfiguration "
		                 "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		                 "<LocationConstraint>%s</LocationConstraint>"
		                 "</CreateBucketConfiguration>",
		                 c->region);
		r.body = body;
		r.body_len = strlen(body);
	}
	ret = s3_call(c, bucket, &r, &resp, err);
	if (ret < 0 && resp_code_is(&resp, "BucketAlreadyOwnedByYou")) {
		unik_error_clear(err);
		ret = 0;
	} else if (ret < 0 && resp_code_is(&resp, "BucketAlreadyExists")) {
		unik_error_prefix(err,
		                  "create bucket %s (the name belongs to another account: choose "
		                  "another bucket)",
		                  bucket);
	} else if (ret < 0) {
		unik_error_prefix(err, "create bucket %s", bucket);
	}
	aws_response_free(&resp);
	return ret;
}

int aws_s3_delete(const struct aws_config *c, const char *bucket, const char *key,
                  struct unik_error *err)
{
	struct aws_response resp = {0};
	struct s3_req r = {.method = "DELETE", .key = key};
	int ret = s3_call(c, bucket, &r, &resp, err);

	if (ret < 0 && (resp_code_is(&resp, "NoSuchKey") || resp_code_is(&resp, "NoSuchBucket"))) {
		unik_error_clear(err);
		ret = 0;
	} else if (ret < 0) {
		unik_error_prefix(err, "delete s3://%s/%s", bucket, key);
	}
	aws_response_free(&resp);
	return ret;
}

/* ---- XML answers ---- */

static xmlNode *xml_child(xmlNode *n, const char *name)
{
	for (n = n ? n->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)name) == 0)
			return n;
	return NULL;
}

static char *xml_text(xmlNode *n, const char *name)
{
	xmlNode *c = xml_child(n, name);
	xmlChar *t;
	char *r;

	if (!c)
		return NULL;
	t = xmlNodeGetContent(c);
	r = xstrdup(t ? (const char *)t : "");
	xmlFree(t);
	return r;
}

static xmlDoc *xml_parse(const struct aws_response *r)
{
	return xmlReadMemory(r->body, (int)r->body_len, "s3.xml", NULL,
	                     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static void xml_escape(struct strv *out, const char *s)
{
	_cleanup_free_ char *e = xmalloc(6 * strlen(s) + 1);
	char *p = e;

	for (; *s; s++) {
		const char *rep = *s == '&'   ? "&amp;"
		                  : *s == '<' ? "&lt;"
		                  : *s == '>' ? "&gt;"
		                              : NULL;

		if (rep) {
			memcpy(p, rep, strlen(rep));
			p += strlen(rep);
		} else {
			*p++ = *s;
		}
	}
	*p = '\0';
	strv_push(out, e);
}

/* ---- the upload's state file ---- */

struct upload {
	const char *bucket, *key, *file, *state_path;
	uint64_t size, part_size;
	int64_t mtime_sec, mtime_nsec;
	unsigned nparts;
	char *upload_id;
	char **etags; /* [nparts], NULL for parts not sent yet */
};

static void upload_forget_parts(struct upload *u)
{
	for (unsigned i = 0; i < u->nparts; i++) {
		free(u->etags[i]);
		u->etags[i] = NULL;
	}
	free(u->upload_id);
	u->upload_id = NULL;
}

static int state_save(const struct upload *u, struct unik_error *err)
{
	json_t *o = json_object(), *parts = json_object();
	char *text;
	int ret;

	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(o, "bucket", json_string(u->bucket));
	json_object_set_new(o, "key", json_string(u->key));
	json_object_set_new(o, "file", json_string(u->file));
	json_object_set_new(o, "size", json_integer((json_int_t)u->size));
	json_object_set_new(o, "mtime_sec", json_integer(u->mtime_sec));
	json_object_set_new(o, "mtime_nsec", json_integer(u->mtime_nsec));
	json_object_set_new(o, "part_size", json_integer((json_int_t)u->part_size));
	json_object_set_new(o, "upload_id", json_string(u->upload_id));
	for (unsigned i = 0; i < u->nparts; i++) {
		char n[16];

		if (!u->etags[i])
			continue;
		snprintf(n, sizeof(n), "%u", i + 1);
		json_object_set_new(parts, n, json_string(u->etags[i]));
	}
	json_object_set_new(o, "parts", parts);
	text = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(o);
	ret = unik_write_file_atomic(u->state_path, text, strlen(text), 0600, err);
	free(text);
	if (ret < 0)
		unik_error_prefix(err, "save the upload state");
	return ret;
}

/* Reads the state of an earlier try at this very upload; a state for another file, size,
 * modification time or part size is reported in *stale_id (to abort it) and otherwise
 * ignored. */
static void state_load(struct upload *u, char **stale_id)
{
	_cleanup_free_ char *text = NULL;
	json_t *o, *parts, *v;
	const char *name, *id;
	struct unik_error e = {0};

	*stale_id = NULL;
	if (unik_read_file(u->state_path, &text, NULL, &e) < 0)
		return;
	o = json_loads(text, 0, NULL);
	if (!o)
		return;
	id = json_string_value(json_object_get(o, "upload_id"));
	if (!id || !*id)
		goto out;
	if (json_integer_value(json_object_get(o, "version")) != 1 ||
	    !json_is_string(json_object_get(o, "bucket")) ||
	    !json_is_string(json_object_get(o, "key")) ||
	    strcmp(json_string_value(json_object_get(o, "bucket")), u->bucket) != 0 ||
	    strcmp(json_string_value(json_object_get(o, "key")), u->key) != 0) {
		/* Another object's upload: not ours to abort. */
		goto out;
	}
	if ((uint64_t)json_integer_value(json_object_get(o, "size")) != u->size ||
	    json_integer_value(json_object_get(o, "mtime_sec")) != u->mtime_sec ||
	    json_integer_value(json_object_get(o, "mtime_nsec")) != u->mtime_nsec ||
	    (uint64_t)json_integer_value(json_object_get(o, "part_size")) != u->part_size) {
		*stale_id = xstrdup(id);
		goto out;
	}
	u->upload_id = xstrdup(id);
	parts = json_object_get(o, "parts");
	json_object_foreach(parts, name, v)
	{
		char *end;
		unsigned long n = strtoul(name, &end, 10);

		if (*end || n < 1 || n > u->nparts || !json_is_string(v))
			continue;
		free(u->etags[n - 1]);
		u->etags[n - 1] = xstrdup(json_string_value(v));
	}
out:
	json_decref(o);
}

/* ---- the steps ---- */

static void abort_upload(const struct aws_config *c, const char *bucket, const char *key,
                         const char *upload_id)
{
	_cleanup_free_ char *id = aws_uri_encode(upload_id, false);
	_cleanup_free_ char *query = xasprintf("uploadId=%s", id);
	struct s3_req r = {.method = "DELETE", .key = key, .query = query};
	struct aws_response resp = {0};

	/* Best effort: S3's lifecycle rules reap what this misses. */
	s3_call(c, bucket, &r, &resp, NULL);
	aws_response_free(&resp);
}

static int create_upload(const struct aws_config *c, struct upload *u, struct unik_error *err)
{
	static const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
	struct s3_req r = {.method = "POST", .key = u->key, .query = "uploads", .headers = hdrs};
	struct aws_response resp = {0};
	xmlDoc *doc;
	int ret = s3_call(c, u->bucket, &r, &resp, err);

	if (ret < 0 && resp_code_is(&resp, "NoSuchBucket")) {
		aws_response_free(&resp);
		unik_error_clear(err);
		if (create_bucket(c, u->bucket, err) < 0)
			return -1;
		ret = s3_call(c, u->bucket, &r, &resp, err);
	}
	if (ret < 0) {
		unik_error_prefix(err, "start the upload of s3://%s/%s", u->bucket, u->key);
		aws_response_free(&resp);
		return -1;
	}
	doc = xml_parse(&resp);
	u->upload_id = doc ? xml_text(xmlDocGetRootElement(doc), "UploadId") : NULL;
	if (doc)
		xmlFreeDoc(doc);
	aws_response_free(&resp);
	if (!u->upload_id || !*u->upload_id) {
		unik_error_set(err, UNIK_E_IO,
		               "start the upload of s3://%s/%s: S3's answer has no UploadId",
		               u->bucket, u->key);
		return -1;
	}
	return 0;
}

/* Keeps only the parts S3 still has with the ETag we recorded.  A server without ListParts
 * (some emulators) leaves the state file as the only record.  -1 with *gone when S3 no longer
 * knows the upload. */
static int confirm_parts(const struct aws_config *c, struct upload *u, bool *gone,
                         struct unik_error *err)
{
	_cleanup_free_ char *id = aws_uri_encode(u->upload_id, false);
	bool *seen = xcalloc(u->nparts, sizeof(bool));
	unsigned long marker = 0;
	bool truncated = true;
	int ret = -1;

	*gone = false;
	while (truncated) {
		_cleanup_free_ char *query =
		    xasprintf("max-parts=1000&part-number-marker=%lu&uploadId=%s", marker, id);
		struct s3_req r = {.method = "GET", .key = u->key, .query = query};
		struct aws_response resp = {0};
		xmlDoc *doc;
		xmlNode *root;
		char *t;

		if (s3_call(c, u->bucket, &r, &resp, err) < 0) {
			if (resp_code_is(&resp, "NoSuchUpload")) {
				*gone = true;
			} else if (resp.status == 405 || resp.status == 501) {
				unik_error_clear(err);
				ret = 0;
			}
			aws_response_free(&resp);
			goto out;
		}
		doc = xml_parse(&resp);
		aws_response_free(&resp);
		root = doc ? xmlDocGetRootElement(doc) : NULL;
		if (!root) {
			if (doc)
				xmlFreeDoc(doc);
			unik_error_set(err, UNIK_E_IO, "list the parts of the upload: not XML");
			goto out;
		}
		for (xmlNode *p = root->children; p; p = p->next) {
			_cleanup_free_ char *num = NULL, *etag = NULL;
			unsigned long n;

			if (p->type != XML_ELEMENT_NODE ||
			    xmlStrcmp(p->name, (const xmlChar *)"Part"))
				continue;
			num = xml_text(p, "PartNumber");
			etag = xml_text(p, "ETag");
			n = num ? strtoul(num, NULL, 10) : 0;
			if (n >= 1 && n <= u->nparts && etag && u->etags[n - 1] &&
			    strcmp(etag, u->etags[n - 1]) == 0)
				seen[n - 1] = true;
		}
		t = xml_text(root, "IsTruncated");
		truncated = t && strcmp(t, "true") == 0;
		free(t);
		t = xml_text(root, "NextPartNumberMarker");
		marker = t ? strtoul(t, NULL, 10) : 0;
		free(t);
		xmlFreeDoc(doc);
		if (truncated && marker == 0)
			break;
	}
	for (unsigned i = 0; i < u->nparts; i++) {
		if (!seen[i]) {
			free(u->etags[i]);
			u->etags[i] = NULL;
		}
	}
	ret = 0;
out:
	free(seen);
	return ret;
}

static void base64_md5(const void *data, size_t len, char out[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, (int)n);
}

static int read_part(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : (errno = EIO, -1);
		got += (size_t)n;
	}
	return 0;
}

static char *human(uint64_t bytes)
{
	if (bytes < MIB)
		return xasprintf("%llu KiB", (unsigned long long)((bytes + 1023) / 1024));
	/* One decimal, dropped when it is 0: "5 MiB", "21.9 MiB". */
	if (bytes >= 100 * MIB || (bytes * 10 + MIB / 2) / MIB % 10 == 0)
		return xasprintf("%llu MiB", (unsigned long long)((bytes + MIB / 2) / MIB));
	return xasprintf("%.1f MiB", (double)bytes / (double)MIB);
}

static void say(void (*progress)(void *, const char *), void *ctx, const char *fmt, ...)
    UNIK_PRINTF(3, 4);
static void say(void (*progress)(void *, const char *), void *ctx, const char *fmt, ...)
{
	va_list ap;
	char line[512];

	if (!progress)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	progress(ctx, line);
}

/* A 4xx that no retry can cure (a bad part, a rejected list): the upload cannot be resumed.
 * Credentials, throttling, network trouble and 5xx leave it resumable. */
static bool fatal_answer(const struct aws_response *r, const struct unik_error *err)
{
	return r->status >= 400 && r->status < 500 && err->code != UNIK_E_PERM &&
	       !resp_code_is(r, "RequestTimeout") && !resp_code_is(r, "NoSuchUpload");
}

static uint64_t part_size_for(uint64_t size, struct unik_error *err)
{
	const char *v = getenv("UNIK_AWS_PART_SIZE");
	uint64_t ps = S3_DEFAULT_PART;

	if (v && *v) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (*end == 'M' || *end == 'm')
			n *= MIB, end++;
		if (errno || *end || n < S3_MIN_PART || n > S3_MAX_PART) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "UNIK_AWS_PART_SIZE=%s: a part is 5 MiB to 5 GiB (bytes, or NM)", v);
			return 0;
		}
		ps = n;
	}
	/* S3 takes at most 10,000 parts: grow them in whole MiB until the file fits. */
	if ((size + ps - 1) / ps > S3_MAX_PARTS)
		ps = ((size + S3_MAX_PARTS - 1) / S3_MAX_PARTS + MIB - 1) / MIB * MIB;
	if (ps > S3_MAX_PART) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%llu bytes is more than S3 takes in one object",
		               (unsigned long long)size);
		return 0;
	}
	return ps;
}

static int put_single(const struct aws_config *c, const char *bucket, const char *key, int fd,
                      uint64_t size, const char *base, void (*progress)(void *, const char *),
                      void *ctx, struct unik_error *err)
{
	_cleanup_free_ char *buf = xmalloc(size ? size : 1), *md5_hdr = NULL, *h = human(size);
	struct aws_response resp = {0};
	char md5[32];
	const char *hdrs[3] = {"Content-Type: application/octet-stream", NULL, NULL};
	struct s3_req r = {
	    .method = "PUT", .key = key, .headers = hdrs, .body = buf, .body_len = size};
	int ret;

	if (read_part(fd, buf, size, 0) < 0) {
		unik_error_sys(err, errno, "read %s", base);
		return -1;
	}
	base64_md5(buf, size, md5);
	md5_hdr = xasprintf("Content-MD5: %s", md5);
	hdrs[1] = md5_hdr;
	say(progress, ctx, "uploading %s: %s in one request", base, h);
	ret = s3_call(c, bucket, &r, &resp, err);
	if (ret < 0 && resp_code_is(&resp, "NoSuchBucket")) {
		aws_response_free(&resp);
		unik_error_clear(err);
		if (create_bucket(c, bucket, err) < 0)
			return -1;
		ret = s3_call(c, bucket, &r, &resp, err);
	}
	aws_response_free(&resp);
	if (ret < 0)
		unik_error_prefix(err, "upload %s to s3://%s/%s", base, bucket, key);
	return ret;
}

static long fail_after_parts(void)
{
	const char *v = getenv("UNIK_AWS_FAIL_AFTER_PARTS");

	return v && *v ? strtol(v, NULL, 10) : -1;
}

static int complete_upload(const struct aws_config *c, struct upload *u, struct aws_response *resp,
                           struct unik_error *err)
{
	_cleanup_strv_ struct strv xml = {0};
	_cleanup_free_ char *id = aws_uri_encode(u->upload_id, false);
	_cleanup_free_ char *query = xasprintf("uploadId=%s", id);
	static const char *const hdrs[] = {"Content-Type: application/xml", NULL};
	struct s3_req r = {.method = "POST", .key = u->key, .query = query, .headers = hdrs};
	size_t total = 1;
	char *body, *p;
	int ret;

	strv_push(&xml, "<CompleteMultipartUpload "
	                "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (unsigned i = 0; i < u->nparts; i++) {
		strv_pushf(&xml, "<Part><PartNumber>%u</PartNumber><ETag>", i + 1);
		xml_escape(&xml, u->etags[i]);
		strv_push(&xml, "</ETag></Part>");
	}
	strv_push(&xml, "</CompleteMultipartUpload>");
	for (size_t i = 0; i < xml.n; i++)
		total += strlen(xml.v[i]);
	body = p = xmalloc(total);
	for (size_t i = 0; i < xml.n; i++) {
		size_t n = strlen(xml.v[i]);

		memcpy(p, xml.v[i], n);
		p += n;
	}
	*p = '\0';
	r.body = body;
	r.body_len = strlen(body);
	ret = s3_call(c, u->bucket, &r, resp, err);
	free(body);
	return ret;
}

/* After a crash between CompleteMultipartUpload and removing the state file, S3 forgets the
 * upload: the object being there with the file's size means the work was done. */
static bool object_done(const struct aws_config *c, const struct upload *u)
{
	struct s3_req r = {.method = "HEAD", .key = u->key};
	struct aws_response resp = {0};
	const char *len;
	bool done = false;

	if (s3_call(c, u->bucket, &r, &resp, NULL) == 0) {
		len = aws_response_header(&resp, "content-length");
		done = len && strtoull(len, NULL, 10) == u->size;
	}
	aws_response_free(&resp);
	return done;
}

int aws_s3_upload(const struct aws_config *c, const char *bucket, const char *key, const char *file,
                  const char *state_path, void (*progress)(void *ctx, const char *line), void *ctx,
                  struct unik_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL, *stale = NULL;
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	struct upload u = {.bucket = bucket, .key = key, .file = file, .state_path = state_path};
	struct aws_response resp = {0};
	struct stat st;
	long fail_after = fail_after_parts(), sent = 0;
	bool gone = false, resumed = false, restarted = false;
	uint64_t done_bytes = 0;
	unsigned done_parts = 0;
	int ret = -1;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		unik_error_sys(err, errno, "upload %s: open", file);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		unik_error_set(err, UNIK_E_INVALID, "upload %s: not a regular file", file);
		return -1;
	}
	u.size = (uint64_t)st.st_size;
	u.mtime_sec = st.st_mtim.tv_sec;
	u.mtime_nsec = st.st_mtim.tv_nsec;
	u.part_size = part_size_for(u.size, err);
	if (!u.part_size)
		return -1;
	if (u.size <= u.part_size) {
		ret = put_single(c, bucket, key, fd, u.size, base, progress, ctx, err);
		if (ret == 0)
			unlink(state_path);
		return ret;
	}
	u.nparts = (unsigned)((u.size + u.part_size - 1) / u.part_size);
	u.etags = xcalloc(u.nparts, sizeof(char *));

start:
	state_load(&u, &stale);
	if (stale) {
		abort_upload(c, bucket, key, stale);
		free(stale);
		stale = NULL;
	}
	if (u.upload_id) {
		if (confirm_parts(c, &u, &gone, err) < 0) {
			if (!gone) {
				unik_error_prefix(err, "resume the upload of %s", base);
				goto out;
			}
			/* Aborted or expired on S3's side: start over. */
			unik_error_clear(err);
			upload_forget_parts(&u);
			unlink(state_path);
		} else {
			resumed = true;
		}
	}
	if (!u.upload_id) {
		if (create_upload(c, &u, err) < 0)
			goto out;
		if (state_save(&u, err) < 0)
			goto abort;
	}
	for (unsigned i = 0; i < u.nparts; i++) {
		if (u.etags[i]) {
			done_parts++;
			done_bytes += i + 1 < u.nparts ? u.part_size : u.size - i * u.part_size;
		}
	}
	if (resumed)
		say(progress, ctx, "resuming the upload of %s: %u of %u parts already sent", base,
		    done_parts, u.nparts);

	if (!buf)
		buf = xmalloc(u.part_size);
	for (unsigned i = 0; i < u.nparts; i++) {
		_cleanup_free_ char *id = NULL, *query = NULL, *md5_hdr = NULL;
		_cleanup_free_ char *h_done = NULL, *h_total = NULL;
		uint64_t off = (uint64_t)i * u.part_size;
		size_t len = (size_t)(i + 1 < u.nparts ? u.part_size : u.size - off);
		const char *hdrs[2] = {NULL, NULL};
		struct s3_req r = {
		    .method = "PUT", .key = key, .headers = hdrs, .body = buf, .body_len = len};
		const char *etag;
		struct stat now;
		char md5[32];

		if (u.etags[i])
			continue;
		if (fail_after >= 0 && sent >= fail_after) {
			unik_error_set(
			    err, UNIK_E_IO,
			    "upload %s: stopped after %ld parts (UNIK_AWS_FAIL_AFTER_PARTS)", base,
			    sent);
			goto out;
		}
		if (fstat(fd, &now) < 0 || (uint64_t)now.st_size != u.size ||
		    now.st_mtim.tv_sec != u.mtime_sec || now.st_mtim.tv_nsec != u.mtime_nsec) {
			unik_error_set(err, UNIK_E_STATE,
			               "upload %s: the file changed while it was sent", file);
			goto abort;
		}
		if (read_part(fd, buf, len, off) < 0) {
			unik_error_sys(err, errno, "upload %s: read part %u", file, i + 1);
			goto out;
		}
		base64_md5(buf, len, md5);
		md5_hdr = xasprintf("Content-MD5: %s", md5);
		hdrs[0] = md5_hdr;
		id = aws_uri_encode(u.upload_id, false);
		query = xasprintf("partNumber=%u&uploadId=%s", i + 1, id);
		r.query = query;
		if (s3_call(c, bucket, &r, &resp, err) < 0) {
			unik_error_prefix(err, "upload %s: part %u of %u", base, i + 1, u.nparts);
			if (resp_code_is(&resp, "NoSuchUpload") && !restarted) {
				/* Someone aborted it under us: one fresh start. */
				aws_response_free(&resp);
				unik_error_clear(err);
				upload_forget_parts(&u);
				unlink(state_path);
				restarted = true;
				done_parts = 0;
				done_bytes = 0;
				resumed = false;
				goto start;
			}
			if (fatal_answer(&resp, err))
				goto abort;
			goto out;
		}
		etag = aws_response_header(&resp, "etag");
		if (!etag || !*etag) {
			unik_error_set(err, UNIK_E_IO, "upload %s: S3 gave part %u no ETag", base,
			               i + 1);
			goto abort;
		}
		u.etags[i] = xstrdup(etag);
		aws_response_free(&resp);
		if (state_save(&u, err) < 0)
			goto out;
		sent++;
		done_parts++;
		done_bytes += len;
		h_done = human(done_bytes);
		h_total = human(u.size);
		say(progress, ctx, "uploading %s: part %u/%u, %s of %s", base, i + 1, u.nparts,
		    h_done, h_total);
	}

	if (complete_upload(c, &u, &resp, err) < 0) {
		if (resp_code_is(&resp, "NoSuchUpload") && object_done(c, &u)) {
			unik_error_clear(err);
		} else {
			unik_error_prefix(err, "upload %s: complete the upload", base);
			if (fatal_answer(&resp, err))
				goto abort;
			goto out;
		}
	}
	unlink(state_path);
	say(progress, ctx, "uploaded %s to s3://%s/%s", base, bucket, key);
	ret = 0;
	goto out;

abort:
	/* Nothing to resume from: free S3's parts and forget the state. */
	if (u.upload_id)
		abort_upload(c, bucket, key, u.upload_id);
	unlink(state_path);
out:
	aws_response_free(&resp);
	upload_forget_parts(&u);
	free(u.etags);
	return ret;
}
