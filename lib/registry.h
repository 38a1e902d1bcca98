/* A client of the OCI distribution API (registries: `docker-registry`, Docker Hub, GHCR, ...)
 * over libcurl: references, token and basic auth, blobs (HEAD, chunked upload, checked download)
 * and manifests.  It knows nothing of unik's images (core/registry.c does).
 *
 * Ownership: strings a function returns through out pointers are the caller's (free). */
#ifndef UNIK_LIB_REGISTRY_H
#define UNIK_LIB_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* "[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]".  REGISTRY is the first component when it has a
 * '.' or a ':' or is "localhost"; without one it is Docker Hub ("docker.io", whose one-word
 * repositories are "library/..."). */
struct unik_registry_ref {
	char *registry;   /* "127.0.0.1:5000", "docker.io" */
	char *repository; /* "team/hello" */
	char *tag;        /* "latest" when neither tag nor digest was given; NULL with a digest */
	char *digest;     /* "sha256:..." or NULL */
};

int unik_registry_ref_parse(const char *text, struct unik_registry_ref *out,
                            struct unik_error *err);
void unik_registry_ref_free(struct unik_registry_ref *r);
/* "REGISTRY/REPOSITORY:TAG" (or "@DIGEST"), as the user would write it again. */
char *unik_registry_ref_string(const struct unik_registry_ref *r);
/* The tag or the digest: what goes after /manifests/. */
const char *unik_registry_ref_reference(const struct unik_registry_ref *r);

/* How to reach a registry.  Strings are the caller's and must outlive the session. */
struct unik_registry_opts {
	const char *username, *password; /* NULL: anonymous */
	/* Plain HTTP, or HTTPS without checking the certificate: a local registry.  Without it,
	 * HTTPS with the system's certificate authorities. */
	bool insecure;
	const char *ca_file; /* more trusted certificates (PEM), or NULL */
	size_t chunk_size;   /* bytes per PATCH of an upload; 0: 4 MiB */
};

struct unik_registry;

/* Opens a session with ref's repository: finds the scheme (with insecure, HTTPS then HTTP) by
 * asking GET /v2/.  Nothing is authenticated until a request needs it. */
int unik_registry_open(const struct unik_registry_ref *ref, const struct unik_registry_opts *opts,
                       struct unik_registry **out, struct unik_error *err);
void unik_registry_close(struct unik_registry *r);

/* done bytes of total of what ("sha256:1234abcd") went through. */
typedef void (*unik_registry_progress_fn)(void *ctx, const char *what, uint64_t done,
                                          uint64_t total);

/* Whether the repository has the blob (HEAD). */
int unik_registry_blob_exists(struct unik_registry *r, const char *digest, bool *exists,
                              struct unik_error *err);
/* Uploads a blob: POST for a session, PATCH in chunks, PUT ?digest= to finish. */
int unik_registry_blob_put(struct unik_registry *r, const char *digest, const void *data,
                           size_t len, unik_registry_progress_fn progress, void *ctx,
                           struct unik_error *err);
/* Downloads a blob (at most max bytes) and checks its sha256 against digest: a mismatch is
 * UNIK_E_INVALID naming both digests, and *data is not set. */
int unik_registry_blob_get(struct unik_registry *r, const char *digest, uint64_t max,
                           unik_registry_progress_fn progress, void *ctx, char **data, size_t *len,
                           struct unik_error *err);

/* PUTs a manifest under reference (a tag or its digest). */
int unik_registry_manifest_put(struct unik_registry *r, const char *reference,
                               const char *media_type, const void *data, size_t len,
                               struct unik_error *err);
/* GETs a manifest or an index by tag or digest, accepting the OCI and Docker v2 media types.
 * Its sha256 is checked against a digest reference, and against the registry's
 * Docker-Content-Digest when it sends one.  *digest is "sha256:..." of what came. */
int unik_registry_manifest_get(struct unik_registry *r, const char *reference, char **data,
                               size_t *len, char **media_type, char **digest,
                               struct unik_error *err);

/* Decodes base64 "user:password" (a Docker config.json's "auth"). */
int unik_registry_decode_auth(const char *b64, char **user, char **password,
                              struct unik_error *err);

#endif
