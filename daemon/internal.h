/* The daemon's insides, shared by its files: the state kept in memory and in SQLite, the core
 * operations both REST dialects (v1 and the original UniK's) call, and the HTTP glue. */
#ifndef UNIK_DAEMON_INTERNAL_H
#define UNIK_DAEMON_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compilers/sandbox.h"
#include "core/model.h"
#include "core/store.h"
#include "error.h"
#include "providers/provider.h"
#include "util.h"

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
	json_t *provider_opts; /* provider name -> array of "key=value" (providers: in the file) */
};

int config_load(const char *path, struct daemon_config *c, struct unik_error *err);
void config_free(struct daemon_config *c);

struct daemon {
	char *home, *images_dir, *instances_dir, *builds_dir, *tmp_dir, *sock_path, *pid_path;
	struct daemon_config cfg;
	struct unik_store *store;
	pthread_mutex_t lock;   /* everything below, and the db */
	pthread_cond_t changed; /* any state change: builds, instances */
	struct unik_image **images;
	size_t nimages;
	struct unik_build **builds;
	size_t nbuilds;
	struct unik_instance **insts;
	size_t ninsts;
	int64_t seq;
	struct strv building; /* image names with a build queued or running */
	uint64_t inst_gen;    /* bumped on every change to an instance (caches key on it) */
	atomic_bool stopping;
};

extern struct daemon D;

/* ---- util (state.c) ---- */
/* Whether key is one of the NULL-ended keys; if not, err names it and lists the known ones
 * ("unknown build option \"x\" (known: name, base, ...)"). */
bool json_key_known(const char *key, const char *const *keys, const char *what,
                    struct unik_error *err);
void lock(void);
void unlock(void);
json_t *jstr_or_null(const char *s);
json_t *pairs_json(const struct strv *words);
void pairs_from_json(json_t *o, struct strv *out);

/* ---- state.c: SQLite and the in-memory model (callers hold the lock) ---- */
int state_open(struct unik_error *err);
void state_close(void);
int db_begin(void);
int db_commit(struct unik_error *err);
void db_rollback(void);
int db_put_image(const struct unik_image *im, struct unik_error *err);
int db_del_image(const char *id, struct unik_error *err);
int db_put_build(const struct unik_build *b, struct unik_error *err);
int db_put_instance(const struct unik_instance *in, struct unik_error *err);
int db_del_instance(const char *id, struct unik_error *err);
/* one statement in its own transaction */
int save_build(const struct unik_build *b, struct unik_error *err);
int save_instance(const struct unik_instance *in, struct unik_error *err);

json_t *image_json(const struct unik_image *im);
json_t *build_json(const struct unik_build *b);
json_t *instance_json(const struct unik_instance *in);

void add_image(struct unik_image *im);
void remove_image(struct unik_image *im); /* unlinks from the list, does not free */
void add_build(struct unik_build *b);
void add_instance(struct unik_instance *in);
void remove_instance(struct unik_instance *in);

struct unik_build *find_build(const char *id);
/* by exact id, exact name, then a unique prefix of either; NULL with NOTFOUND or (ambiguous)
 * EXISTS... STATE error */
struct unik_image *resolve_image(const char *ref, struct unik_error *err);
struct unik_instance *resolve_instance(const char *ref, struct unik_error *err);
struct unik_image *find_image_name(const char *name);
struct unik_instance *find_instance_name(const char *name);

/* ---- builds.c ---- */
int builds_recover(struct unik_error *err); /* fail interrupted builds; lock held */
int builds_start(struct unik_error *err);   /* the workers */
void builds_stop(void);
int build_opts_parse(json_t *o, struct unik_build_opts *bo, struct unik_error *err);
/* Takes the upload file (removed afterwards) or bo->git; on success *out is the new build's
 * JSON (201).  bo is taken over in both cases. */
int build_submit(struct unik_build_opts *bo, const char *upload_path, json_t **out,
                 struct unik_error *err);
/* Blocks until the build has ended (or the daemon stops); returns its state. */
enum unik_build_state build_wait(const char *id);
char *build_log_path(const char *id);
bool build_ended(const char *id);

/* ---- formats.c: an image's files in each format, made on demand ---- */
/* Records that im has a file in format name of size bytes (lock held). */
void image_set_format(struct unik_image *im, const char *name, uint64_t size);
/* Makes sure image ref has its file in format (packed now if it has none, or again when
 * force), and with check validates it (a damaged file is UNIK_E_STATE, saying what is wrong and
 * how to fix it).  Out parameters may be NULL: *fd a read-only descriptor of the file, *path its
 * path, *size its size, *out the image's JSON afterwards, *name the image's name.  Lock not
 * held. */
int image_format_get(const char *ref, const char *format, bool force, bool check, int *fd,
                     char **path, uint64_t *size, json_t **out, char **name,
                     struct unik_error *err);
/* Removes an image's directory, waiting for a pack under way in it (lock not held). */
int image_files_remove(const char *id, struct unik_error *err);

/* ---- instances.c ---- */
struct run_req {
	const char *name, *image, *args, *provider;
	struct strv env;           /* NAME=VALUE */
	struct strv provider_opts; /* key=value */
	int64_t memory_mb;
};
void run_req_free(struct run_req *rr);
/* Checks a "provider_opts" value: an object of short strings with lower-case keys. */
int provider_opts_check(json_t *v, struct unik_error *err);
/* The options p gets: daemon-config.yaml's for p, then req's (object or NULL), each key checked
 * against p->opt_keys.  out gets "key=value" words and is NULL-ended (out->v usable as
 * unik_run_spec.opts). */
int provider_opts_make(const struct unik_provider *p, const struct strv *req, struct strv *out,
                       struct unik_error *err);
/* Stages image id for p when p has stage(): makes p's format, then p->stage() with progress
 * lines through log(ctx, line).  0 at once for providers without stage. */
int image_stage(const char *image_id, const struct unik_provider *p, const struct strv *req_opts,
                void (*log)(void *ctx, const char *line), void *ctx, struct unik_error *err);
int instances_start(struct unik_error *err); /* adopt, then monitor */
void instances_stop(void);
int run_req_parse(json_t *o, struct run_req *rr, struct unik_error *err);
int inst_run(const struct run_req *rr, json_t **out, struct unik_error *err);
int inst_stop(const char *ref, json_t **out, struct unik_error *err);
int inst_start(const char *ref, json_t **out, struct unik_error *err);
int inst_delete(const char *ref, bool force, struct unik_error *err);
int inst_wait(const char *ref, bool (*gone)(void *), void *ctx, json_t **out,
              struct unik_error *err);
/* The console log's path and whether the instance has ended (for log streaming). */
int inst_log(const char *ref, char **path, char id[UNIK_ID_LEN + 1], struct unik_error *err);
bool inst_ended(const char *id);
int image_delete(const char *ref, bool force, struct unik_error *err);
/* The image's default guest command line, its args and env composed; *out is NULL when that is
 * empty (the kernel's baked defaults).  Lock held. */
int image_cmdline(const struct unik_image *im, char **out, struct unik_error *err);
json_t *providers_json(void);
json_t *compilers_json(void);

/* ---- http.c ---- */
int http_start(struct unik_error *err); /* binds the sockets */
int http_serve(struct unik_error *err); /* starts answering on them */
void http_stop(void);

#endif
