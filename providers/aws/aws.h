/* The AWS layer of the aws provider: configuration and credentials, SigV4 signing, signed
 * requests over libcurl with retries and AWS's errors, S3 and the EC2 Query API.  Written
 * against the public API references; no SDK. */
#ifndef UNIK_PROVIDER_AWS_H
#define UNIK_PROVIDER_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/error.h"

/* ---- configuration (creds.c) ---- */

struct aws_config {
	char *access_key_id;
	char *secret_access_key;
	char *session_token; /* NULL when none */
	char *region;        /* "us-east-1" */
	char *profile;       /* the profile read, "default" unless chosen */
	char *source;        /* where the keys came from, for messages: "environment",
	                        "/root/.aws/credentials [prod]" */
	char *ec2_endpoint;  /* "https://ec2.us-east-1.amazonaws.com", or the override */
	char *s3_endpoint;   /* "https://s3.us-east-1.amazonaws.com", or the override */
	bool s3_path_style;  /* path-style addressing (always with an endpoint override) */
};

/* The standard chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, then
 * ~/.aws/credentials and ~/.aws/config ("[profile NAME]") for AWS_PROFILE or opts' profile=
 * (a profile named in opts skips the environment's keys, as the AWS SDKs do); the files are
 * AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE when set.
 * Region: opts region=, AWS_REGION, AWS_DEFAULT_REGION, the profile's region, "us-east-1".
 * Endpoints: opts endpoint_url= (all services), s3_endpoint_url=, ec2_endpoint_url=,
 * AWS_ENDPOINT_URL_S3/_EC2, AWS_ENDPOINT_URL, the profile's endpoint_url.  s3_path_style=
 * (opts) or the profile's "s3 =\n  addressing_style = path" forces path-style addressing.
 * opts is a NULL-ended "key=value" list (or NULL); keys it does not know are ignored, so the
 * provider can pass all of its options.  No credentials anywhere is UNIK_E_PERM with a message
 * that names every place looked at.  Free with aws_config_free. */
int aws_config_load(const char *const *opts, struct aws_config *c, struct unik_error *err);
void aws_config_free(struct aws_config *c);

/* ---- SigV4 (sigv4.c) ---- */

/* One request to sign.  Header names may be in any case; the signer lowercases, sorts and
 * trims as SigV4 says.  query is the raw query string as sent ("a=b&c=d", already
 * percent-encoded by aws_uri_encode) or "". */
struct aws_sign_req {
	const char *method;
	const char *host; /* as in the Host header: "s3.amazonaws.com" or "127.0.0.1:4568" */
	const char *path; /* the encoded path, "/" at least */
	const char *query;
	const char *const *headers; /* "Name: value" lines, NULL-ended; no Host, no X-Amz-Date */
	const char *payload_sha256; /* hex, or "UNSIGNED-PAYLOAD" */
	const char *service;        /* "ec2", "s3" */
	const char *region;
	time_t when; /* the signing time (UTC) */
};

/* Fills out with the headers to add, NULL-ended "Name: value" lines the caller frees with
 * strv-style free: X-Amz-Date, [X-Amz-Security-Token], [X-Amz-Content-Sha256 for s3],
 * Authorization. */
int aws_sigv4_sign(const struct aws_config *c, const struct aws_sign_req *r, char ***out,
                   struct unik_error *err);
/* aws_sigv4_sign that also hands back the canonical request and the string to sign (either
 * pointer may be NULL; the caller frees them), for tests and debugging. */
int aws_sigv4_sign_debug(const struct aws_config *c, const struct aws_sign_req *r, char ***out,
                         char **canonical_request, char **string_to_sign, struct unik_error *err);
/* Frees a NULL-ended vector of strings such as aws_sigv4_sign's out. */
void aws_strv_free(char **v);
/* RFC 3986 encoding as SigV4 wants (unreserved kept; '/' kept when keep_slash). */
char *aws_uri_encode(const char *s, bool keep_slash);
/* Lowercase hex SHA-256 of data into hex[65]. */
void aws_sha256_hex(const void *data, size_t len, char hex[65]);

/* ---- signed requests (request.c) ---- */

struct aws_response {
	long status;
	char *body; /* NUL-terminated */
	size_t body_len;
	char **headers;   /* "name: value" lines, lowercase names, NULL-ended */
	char *error_code; /* AWS's error code ("NoSuchBucket") when the call failed, else NULL */
};
void aws_response_free(struct aws_response *r);
/* AWS's error Code and Message from an EC2 (<Response><Errors><Error>) or S3 (<Error>) body;
 * -1 when there is none.  The caller frees both. */
int aws_parse_error(const char *body, size_t len, char **code, char **message);
/* The value of header name (any case) in r, or NULL; points into r. */
const char *aws_response_header(const struct aws_response *r, const char *name);

struct aws_call {
	const char *service; /* "ec2", "s3" */
	const char *method;
	const char *endpoint; /* "https://host[:port]" */
	const char *path;     /* encoded, "/" at least */
	const char *query;    /* encoded, or "" */
	const char *const *headers;
	const void *body;
	size_t body_len;
	bool unsigned_payload; /* sign "UNSIGNED-PAYLOAD" instead of the body's hash */
};

/* Signs and sends, retrying throttling (RequestLimitExceeded, Throttling, SlowDown, 503) and
 * connection errors with exponential backoff and jitter (6 tries; the base delay, 500 ms, can be
 * set with UNIK_AWS_RETRY_BASE_MS).  A non-2xx answer becomes an error carrying AWS's own code
 * and message: "AWS EC2: InvalidAMIID.NotFound: The image id '[ami-1]' does not exist";
 * expired credentials (ExpiredToken, RequestExpired, ExpiredTokenException) get UNIK_E_PERM and
 * a hint to renew them; 404-style codes get UNIK_E_NOTFOUND, other 4xx UNIK_E_INVALID (or
 * UNIK_E_PERM for refusals), 5xx UNIK_E_IO.  resp may be NULL; when given, it holds the last
 * answer on failure too (with error_code set), and the caller frees it either way.
 * The Host header is derived from the endpoint and must not be among headers. */
int aws_request(const struct aws_config *c, const struct aws_call *call, struct aws_response *resp,
                struct unik_error *err);

/* ---- S3 (s3.c) ---- */

/* Uploads file to s3://bucket/key by multipart upload (8 MiB parts, or larger to stay within
 * 10,000 parts; UNIK_AWS_PART_SIZE=BYTES or =NM sets them, 5 MiB at least); a file of one part
 * goes in one PUT.  Resumable: the upload id, part size, file size and mtime and the ETags of
 * finished parts are kept in state_path (JSON, written after each part), and a second call
 * after an interruption sends only the missing parts (checked with ListParts where the server
 * has it); a changed file starts over.  A refusal no retry can cure (a 4xx other than
 * credentials) aborts the multipart upload and removes state_path; expired credentials,
 * throttling and network trouble keep it for the next call.  state_path is removed on
 * success.  progress (may be NULL) gets lines like "uploading disk.raw: part 3/8, 24 MiB of
 * 60 MiB".  Creates the bucket when missing (with a LocationConstraint outside us-east-1).
 * For tests, UNIK_AWS_FAIL_AFTER_PARTS=N fails the call after N parts. */
int aws_s3_upload(const struct aws_config *c, const char *bucket, const char *key, const char *file,
                  const char *state_path, void (*progress)(void *ctx, const char *line), void *ctx,
                  struct unik_error *err);
/* Deletes s3://bucket/key; a key or bucket that does not exist is not an error. */
int aws_s3_delete(const struct aws_config *c, const char *bucket, const char *key,
                  struct unik_error *err);
/* The endpoint ("https://bucket.s3.us-east-1.amazonaws.com" or, path-style,
 * "http://127.0.0.1:4568") and the encoded path ("/key" or "/bucket/key") of an object; key may
 * be "" for the bucket itself.  Caller frees both. */
void aws_s3_location(const struct aws_config *c, const char *bucket, const char *key,
                     char **endpoint, char **path);

/* ---- EC2 Query API (ec2.c) ---- */

/* Calls Action with params ("Name=value" pairs, unencoded, NULL-ended) as a POST form,
 * Version=2016-11-15, and returns the response body (XML) in resp. */
int aws_ec2_call(const struct aws_config *c, const char *action, const char *const *params,
                 struct aws_response *resp, struct unik_error *err);

#endif
