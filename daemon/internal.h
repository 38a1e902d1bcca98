/* The REST door's insides, shared by its files: daemon-config.yaml, the door's state (the core it
 * serves, its sockets), the request parsers and the JSON forms of the core's records. */
#ifndef UNIK_DAEMON_INTERNAL_H
#define UNIK_DAEMON_INTERNAL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "core/meta.h"
#include "core/model.h"
#include "lib/error.h"
#include "lib/util.h"

/* daemon-config.yaml (config.c) */
struct daemon_config {
	struct strv listen; /* "ADDR:PORT" */
	char *token;
	char *default_provider;
	int64_t max_parallel;
	int64_t max_upload_mb;
	int64_t max_files;
	/* Builds (compilers/sandbox.h): build_sandbox, build.uid, .gid, .timeout_s, .memory_mb,
	 * .max_log_mb, .max_output_mb, .allow_local_git. */
	bool build_sandbox_none;
	int64_t build_uid, build_gid;
	struct unik_sandbox_limits build_limits;
	bool allow_local_git;
	struct unik_core_provider_opts *provider_opts; /* "providers:" in the file */
	size_t nprovider_opts;
};

int config_load(const char *path, struct daemon_config *c, struct unik_error *err);
void config_free(struct daemon_config *c);
/* The core's configuration from the file's (pointing into c, which must outlive its use). */
void config_core(const struct daemon_config *c, const char *home, struct unik_core_config *out);

struct daemon {
	char *home, *tmp_dir, *sock_path, *pid_path;
	struct daemon_config cfg;
	struct unik_core *core;
	atomic_bool stopping;
	bool sock_passed; /* sock_path came from the service manager (LISTEN_FDS), which owns it */
};

extern struct daemon D;

/* ---- json.c: the records as the API shows them, and request helpers ---- */
json_t *jstr_or_null(const char *s);
/* NAME=VALUE words from an object of strings the caller checked. */
void pairs_from_json(json_t *o, struct strv *out);
json_t *image_json(const struct unik_image *im);
json_t *build_json(const struct unik_build *b);
json_t *instance_json(const struct unik_instance *in);
json_t *network_json(const struct unik_network *n);
json_t *volume_json(const struct unik_volume *v);
/* Every image's or instance's JSON, read under the core's read lock. */
json_t *images_json(void);
json_t *instances_json(void);
/* The JSON of the image or instance ref names (id, name or unique prefix), or NULL with err. */
json_t *image_json_ref(const char *ref, struct unik_error *err);
json_t *instance_json_ref(const char *ref, struct unik_error *err);
json_t *providers_json(void);
json_t *compilers_json(void);

/* ---- requests.c: REST bodies into the core's typed requests ---- */
/* Build options; bo is cleared first and, on failure, freed. */
int build_opts_parse(json_t *o, struct unik_build_opts *bo, struct unik_error *err);
/* A run request; rr is cleared first (free it with unik_run_request_free in every case). */
int run_req_parse(json_t *o, struct unik_run_request *rr, struct unik_error *err);
/* Checks a "provider_opts" value: an object of short strings with lower-case keys. */
int provider_opts_check(json_t *v, struct unik_error *err);
int env_object_check(json_t *env, const char *what, struct unik_error *err);

/* ---- http.c ---- */
int http_start(struct unik_error *err); /* binds the sockets */
int http_serve(struct unik_error *err); /* starts answering on them */
void http_stop(void);
/* The addresses it listens on: unix socket paths and TCP ADDR:PORT, in order. */
void http_addresses(struct strv *out);

#endif
