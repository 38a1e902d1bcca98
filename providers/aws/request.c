/* Signed AWS requests over libcurl: signing each try afresh, retrying throttling and broken
 * connections with capped exponential backoff and full jitter, and turning AWS's XML error
 * bodies into unik errors that keep AWS's own code and message. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/rand.h>

#include "providers/aws/aws.h"
#include "lib/util.h"

#define AWS_TRIES         6
#define AWS_RETRY_BASE_MS 500
#define AWS_RETRY_CAP_MS  20000

void aws_response_free(struct aws_response *r)
{
	if (!r)
		return;
	free(r->body);
	aws_strv_free(r->headers);
	free(r->error_code);
	memset(r, 0, sizeof(*r));
}

const char *aws_response_header(const struct aws_response *r, const char *name)
{
	size_t n = strlen(name);

	for (char **h = r ? r->headers : NULL; h && *h; h++)
		if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
			return *h + n + 1 + ((*h)[n + 1] == ' ');
	return NULL;
}

struct sink {
	char *body;
	size_t len, cap;
	struct strv headers;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct sink *s = ctx;
	size_t n = size * nmemb;

	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->body = xrealloc(s->body, s->cap);
	}
	memcpy(s->body + s->len, data, n);
	s->len += n;
	s->body[s->len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct sink *s = ctx;
	size_t n = size * nmemb, name_len;
	const char *colon = memchr(data, ':', n);
	_cleanup_free_ char *line = NULL;
	char *v;

	/* A new status line (after "100 Continue" or a redirect) starts a new set. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		strv_free(&s->headers);
		return n;
	}
	if (!colon)
		return n;
	name_len = (size_t)(colon - data);
	line = xstrndup(data, n);
	for (size_t i = 0; i < name_len; i++)
		line[i] = (char)tolower((unsigned char)line[i]);
	line[name_len] = '\0';
	v = line + name_len + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	for (size_t e = strlen(v); e > 0 && isspace((unsigned char)v[e - 1]);)
		v[--e] = '\0';
	strv_pushf(&s->headers, "%s: %s", line, v);
	return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok;

static void curl_setup(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* The text of the first element called name anywhere in doc, or NULL. */
static char *xml_find(xmlNode *n, const char *name)
{
	for (; n; n = n->next) {
		char *r;

		if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)name) == 0) {
			xmlChar *t = xmlNodeGetContent(n);

			r = xstrdup(t ? (const char *)t : "");
			xmlFree(t);
			return r;
		}
		if ((r = xml_find(n->children, name)))
			return r;
	}
	return NULL;
}

/* Code and Message of an EC2 (<Response><Errors><Error>) or S3 (<Error>) error body. */
int aws_parse_error(const char *body, size_t len, char **code, char **message)
{
	xmlDoc *doc;
	xmlNode *root;

	*code = *message = NULL;
	if (!body || !len)
		return -1;
	doc = xmlReadMemory(body, (int)len, "error.xml", NULL,
	                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return -1;
	root = xmlDocGetRootElement(doc);
	*code = xml_find(root, "Code");
	*message = xml_find(root, "Message");
	xmlFreeDoc(doc);
	if (!*code) {
		free(*message);
		*message = NULL;
		return -1;
	}
	return 0;
}

static bool in(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static bool retriable(long status, const char *code)
{
	static const char *const throttles[] = {
	    "RequestLimitExceeded",
	    "Throttling",
	    "ThrottlingException",
	    "ThrottledException",
	    "RequestThrottled",
	    "SlowDown",
	    "TooManyRequestsException",
	    "ProvisionedThroughputExceededException",
	    "RequestThrottledException",
	    "EC2ThrottledException",
	    "InternalError",
	    "ServiceUnavailable",
	    "RequestTimeout",
	    "PriorRequestNotComplete",
	    NULL,
	};

	if (in(code, throttles))
		return true;
	return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static bool retriable_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static long env_long(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return def;
	return n;
}

/* Full jitter: a random time between 0 and min(cap, base * 2^try). */
static void backoff(int attempt)
{
	long base = env_long("UNIK_AWS_RETRY_BASE_MS", AWS_RETRY_BASE_MS, 0, 600000);
	long ceiling = base << (attempt < 16 ? attempt : 16);
	unsigned int r = 0;
	struct timespec ts;
	long ms;

	if (ceiling > AWS_RETRY_CAP_MS && base <= AWS_RETRY_CAP_MS)
		ceiling = AWS_RETRY_CAP_MS;
	if (ceiling <= 0)
		return;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (unsigned int)rand();
	ms = (long)(r % (unsigned long)(ceiling + 1));
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* "https://Host:443/x" -> Host header "host": lowercase, without a default port or a path. */
static int endpoint_host(const char *endpoint, char **host, struct unik_error *err)
{
	bool https = unik_str_has_prefix(endpoint, "https://");
	const char *h = strstr(endpoint, "://");
	size_t n;
	char *s;

	if (!h || !h[3]) {
		unik_error_set(err, UNIK_E_INVALID, "AWS endpoint \"%s\" is not a URL", endpoint);
		return -1;
	}
	h += 3;
	n = strcspn(h, "/?#");
	s = xstrndup(h, n);
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strchr(s, '@')) {
		free(s);
		unik_error_set(err, UNIK_E_INVALID, "AWS endpoint \"%s\": no user names in URLs",
		               endpoint);
		return -1;
	}
	n = strlen(s);
	if (https && unik_str_has_suffix(s, ":443"))
		s[n - 4] = '\0';
	else if (!https && unik_str_has_suffix(s, ":80"))
		s[n - 3] = '\0';
	*host = s;
	return 0;
}

static const char *service_label(const char *service)
{
	if (strcmp(service, "ec2") == 0)
		return "EC2";
	if (strcmp(service, "s3") == 0)
		return "S3";
	return service;
}

/* Turns a failed answer into err. */
static void answer_error(const struct aws_config *c, const struct aws_call *call, long status,
                         const char *code, const char *message, struct unik_error *err)
{
	static const char *const expired[] = {
	    "ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired", NULL,
	};
	static const char *const refused[] = {
	    "AuthFailure",
	    "InvalidClientTokenId",
	    "SignatureDoesNotMatch",
	    "InvalidAccessKeyId",
	    "AccessDenied",
	    "UnauthorizedOperation",
	    "InvalidToken",
	    "OptInRequired",
	    "Blocked",
	    "AccountProblem",
	    "AllAccessDisabled",
	    "RequestTimeTooSkewed",
	    NULL,
	};
	const char *label = service_label(call->service);
	const char *source = c->source ? c->source : "the configuration";
	int ucode;

	if (in(code, expired)) {
		unik_error_set(
		    err, UNIK_E_PERM,
		    "AWS %s: %s: %s: the AWS credentials from %s have expired: renew them "
		    "(aws sso login, or a new session token)",
		    label, code, message && *message ? message : "expired", source);
		return;
	}
	if (code && strcmp(code, "RequestTimeTooSkewed") == 0) {
		unik_error_set(err, UNIK_E_PERM, "AWS %s: %s: %s: this machine's clock is off",
		               label, code, message ? message : "");
		return;
	}
	if (code &&
	    (strcmp(code, "InvalidClientTokenId") == 0 || strcmp(code, "InvalidAccessKeyId") == 0 ||
	     strcmp(code, "AuthFailure") == 0 || strcmp(code, "SignatureDoesNotMatch") == 0)) {
		unik_error_set(
		    err, UNIK_E_PERM,
		    "AWS %s: %s: %s (the AWS credentials from %s were not accepted: check "
		    "the access key, secret and session token)",
		    label, code, message && *message ? message : "refused", source);
		return;
	}
	if (in(code, refused) || status == 401 || status == 403)
		ucode = UNIK_E_PERM;
	else if (status == 404 || (code && (unik_str_has_suffix(code, ".NotFound") ||
	                                    unik_str_has_prefix(code, "NoSuch") ||
	                                    unik_str_has_suffix(code, ".Unavailable"))))
		ucode = UNIK_E_NOTFOUND;
	else if (code && (unik_str_has_suffix(code, ".Duplicate") ||
	                  strcmp(code, "BucketAlreadyExists") == 0 ||
	                  strcmp(code, "BucketAlreadyOwnedByYou") == 0))
		ucode = UNIK_E_EXISTS;
	else if (status == 409 || (code && strcmp(code, "IncorrectState") == 0))
		ucode = UNIK_E_STATE;
	else if (status >= 400 && status < 500)
		ucode = UNIK_E_INVALID;
	else
		ucode = UNIK_E_IO;
	if (code && message && *message)
		unik_error_set(err, ucode, "AWS %s: %s: %s", label, code, message);
	else if (code)
		unik_error_set(err, ucode, "AWS %s: %s (HTTP %ld)", label, code, status);
	else
		unik_error_set(err, ucode, "AWS %s: HTTP %ld from %s %s%s", label, status,
		               call->method, call->endpoint, call->path);
}

/* AWS's code for an answer without an XML body (HEAD, or a proxy's page). */
static const char *status_code(long status)
{
	switch (status) {
	case 301:
		return "PermanentRedirect";
	case 400:
		return "BadRequest";
	case 403:
		return "Forbidden";
	case 404:
		return "NotFound";
	case 429:
		return "TooManyRequests";
	case 500:
		return "InternalError";
	case 503:
		return "ServiceUnavailable";
	default:
		return NULL;
	}
}

int aws_request(const struct aws_config *c, const struct aws_call *call, struct aws_response *resp,
                struct unik_error *err)
{
	_cleanup_free_ char *host = NULL, *url = NULL, *last_code = NULL, *last_msg = NULL;
	char payload_hash[65];
	const char *query = call->query ? call->query : "";
	const char *path = call->path && *call->path ? call->path : "/";
	bool has_ctype = false;
	struct sink sink = {0};
	long last_status = 0;
	CURLcode last_curl = CURLE_OK;
	char curl_msg[CURL_ERROR_SIZE] = "";
	int ret = -1;

	if (resp)
		memset(resp, 0, sizeof(*resp));
	pthread_once(&curl_once, curl_setup);
	if (!curl_ok) {
		unik_error_set(err, UNIK_E_INTERNAL, "AWS: cannot initialise libcurl");
		return -1;
	}
	if (endpoint_host(call->endpoint, &host, err) < 0)
		return -1;
	url = xasprintf("%s%s%s%s", call->endpoint, path, *query ? "?" : "", query);
	if (call->unsigned_payload)
		snprintf(payload_hash, sizeof(payload_hash), "UNSIGNED-PAYLOAD");
	else
		aws_sha256_hex(call->body ? call->body : "", call->body ? call->body_len : 0,
		               payload_hash);
	for (const char *const *h = call->headers; h && *h; h++)
		if (strncasecmp(*h, "content-type:", 13) == 0)
			has_ctype = true;

	for (int attempt = 0; attempt < AWS_TRIES; attempt++) {
		struct aws_sign_req sr = {
		    .method = call->method,
		    .host = host,
		    .path = path,
		    .query = query,
		    .headers = call->headers,
		    .payload_sha256 = payload_hash,
		    .service = call->service,
		    .region = c->region,
		    .when = time(NULL),
		};
		struct curl_slist *list = NULL;
		char **signed_hdrs = NULL;
		_cleanup_free_ char *code = NULL, *msg = NULL;
		CURL *easy;
		CURLcode rc;
		long status = 0;

		if (attempt)
			backoff(attempt - 1);
		if (aws_sigv4_sign(c, &sr, &signed_hdrs, err) < 0)
			goto out;
		free(sink.body);
		strv_free(&sink.headers);
		memset(&sink, 0, sizeof(sink));

		easy = curl_easy_init();
		if (!easy) {
			aws_strv_free(signed_hdrs);
			unik_error_set(err, UNIK_E_INTERNAL, "AWS: cannot set up a libcurl handle");
			goto out;
		}
		{
			_cleanup_free_ char *host_line = xasprintf("Host: %s", host);

			list = curl_slist_append(list, host_line);
		}
		for (const char *const *h = call->headers; h && *h; h++)
			list = curl_slist_append(list, *h);
		for (char **h = signed_hdrs; *h; h++)
			list = curl_slist_append(list, *h);
		/* No "Expect: 100-continue" round trip, and no form type on S3's XML bodies. */
		list = curl_slist_append(list, "Expect:");
		if (!has_ctype)
			list = curl_slist_append(list, "Content-Type:");
		aws_strv_free(signed_hdrs);

		curl_easy_setopt(easy, CURLOPT_URL, url);
		curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, call->method);
		if (strcmp(call->method, "HEAD") == 0) {
			curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
		} else if (call->body || strcmp(call->method, "PUT") == 0 ||
		           strcmp(call->method, "POST") == 0) {
			curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->body ? call->body : "");
			curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)(call->body ? call->body_len : 0));
		}
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
		curl_easy_setopt(easy, CURLOPT_USERAGENT, "unik/" UNIK_VERSION);
		curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(easy, CURLOPT_WRITEDATA, &sink);
		curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(easy, CURLOPT_HEADERDATA, &sink);
		curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_msg);
		curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L);
		/* Less than 1 KiB/s for a minute is a dead connection, whatever its size. */
		curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME,
		                 env_long("UNIK_AWS_LOW_SPEED_TIME", 60, 1, 3600));
		curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_msg[0] = '\0';
		rc = curl_easy_perform(easy);
		if (rc == CURLE_OK)
			curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(easy);
		curl_slist_free_all(list);

		last_curl = rc;
		if (rc != CURLE_OK) {
			if (retriable_curl(rc))
				continue;
			break;
		}
		last_status = status;
		if (status >= 200 && status < 300) {
			/* CompleteMultipartUpload and CopyObject can fail after their 200. */
			bool late_error = strcmp(call->service, "s3") == 0 && sink.body &&
			                  strstr(sink.body, "<Error>") &&
			                  aws_parse_error(sink.body, sink.len, &code, &msg) == 0;

			if (!late_error) {
				ret = 0;
				break;
			}
			if (!retriable(500, code)) {
				free(last_code);
				free(last_msg);
				last_code = unik_steal_ptr(&code);
				last_msg = unik_steal_ptr(&msg);
				last_status = 500;
				break;
			}
			free(last_code);
			free(last_msg);
			last_code = unik_steal_ptr(&code);
			last_msg = unik_steal_ptr(&msg);
			continue;
		}
		if (aws_parse_error(sink.body, sink.len, &code, &msg) < 0)
			code = status_code(status) ? xstrdup(status_code(status)) : NULL;
		free(last_code);
		free(last_msg);
		last_code = unik_steal_ptr(&code);
		last_msg = unik_steal_ptr(&msg);
		if (!retriable(status, last_code))
			break;
	}

	if (ret < 0) {
		if (last_curl != CURLE_OK)
			unik_error_set(err, UNIK_E_IO, "AWS %s: %s %s%s: %s",
			               service_label(call->service), call->method, call->endpoint,
			               path,
			               curl_msg[0] ? curl_msg : curl_easy_strerror(last_curl));
		else
			answer_error(c, call, last_status, last_code, last_msg, err);
	}
	if (resp) {
		resp->status = last_curl == CURLE_OK ? last_status : 0;
		resp->body = sink.body ? sink.body : xstrdup("");
		resp->body_len = sink.len;
		resp->headers = unik_steal_ptr(&sink.headers.v);
		if (!resp->headers)
			resp->headers = xcalloc(1, sizeof(char *));
		if (ret < 0 && last_code)
			resp->error_code = xstrdup(last_code);
		sink.body = NULL;
		sink.headers.n = sink.headers.cap = 0;
	}
out:
	free(sink.body);
	strv_free(&sink.headers);
	return ret;
}
