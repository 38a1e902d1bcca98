/* Builds: a request is checked and its source unpacked (or cloned) before it is acknowledged;
 * then a worker runs the compiler, logging to builds/<id>/build.log, and stores the image. */
#include "daemon/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdline.h"
#include "compilers/compiler.h"
#include "guest_abi.h"
#include "images/format.h"
#include "images/store.h"
#include "names.h"
#include "untar.h"
#include "utf8.h"

static pthread_t *workers;
static size_t nworkers;
static struct build **queue;
static size_t nqueue;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;

char *build_log_path(const char *id)
{
	return xasprintf("%s/%s/build.log", D.builds_dir, id);
}

void build_opts_free(struct build_opts *bo)
{
	free(bo->name);
	free(bo->base);
	free(bo->language);
	free(bo->provider);
	free(bo->args);
	free(bo->git);
	json_decref(bo->env);
	json_decref(bo->provider_opts);
	strv_free(&bo->formats);
	memset(bo, 0, sizeof(*bo));
}

static int opt_str(json_t *v, const char *key, char **out, struct unik_error *err)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		unik_error_set(err, UNIK_E_INVALID, "option \"%s\" must be a string", key);
		return -1;
	}
	if (json_string_length(v) > 4096 || strlen(json_string_value(v)) != json_string_length(v)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "option \"%s\" is not valid: longer than 4096 bytes or holds a NUL",
		               key);
		return -1;
	}
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* "formats": ["raw", "qcow2"]: known names; elf, which every image has, and repeats are
 * dropped. */
static int opt_formats(json_t *v, struct strv *out, struct unik_error *err)
{
	json_t *e;
	size_t i;

	if (!json_is_array(v)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "option \"formats\" must be an array of format names (%s)",
		               unik_image_format_names());
		return -1;
	}
	json_array_foreach(v, i, e)
	{
		const char *name = json_string_value(e);
		bool seen = false;

		if (!name) {
			unik_error_set(err, UNIK_E_INVALID,
			               "option \"formats\": item %zu is not a string", i);
			return -1;
		}
		if (!unik_image_format_find(name)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "option \"formats\": unknown format \"%.*s\" (known: %s)",
			               UNIK_UTF8_CUT(name, 60), unik_image_format_names());
			return -1;
		}
		for (size_t j = 0; j < out->n && !seen; j++)
			seen = strcmp(out->v[j], name) == 0;
		if (!seen && strcmp(name, "elf") != 0)
			strv_push(out, name);
	}
	return 0;
}

int env_object_check(json_t *env, const char *what, struct unik_error *err);
int env_object_check(json_t *env, const char *what, struct unik_error *err)
{
	const char *k;
	json_t *v;

	if (!json_is_object(env)) {
		unik_error_set(err, UNIK_E_INVALID, "%s must be an object of strings", what);
		return -1;
	}
	json_object_foreach(env, k, v)
	{
		if (!unik_env_name_valid(k, strlen(k))) {
			unik_error_set(err, UNIK_E_INVALID,
			               "%s: \"%.*s\" is not a valid environment variable name",
			               what, UNIK_UTF8_CUT(k, 60));
			return -1;
		}
		if (!json_is_string(v) || json_string_length(v) > 4096 ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			unik_error_set(err, UNIK_E_INVALID, "%s: the value of %s must be a string",
			               what, k);
			return -1;
		}
	}
	return 0;
}

int build_opts_parse(json_t *o, struct build_opts *bo, struct unik_error *err)
{
	static const char *const keys[] = {"name",      "base",    "language",      "provider",
	                                   "args",      "env",     "force",         "git",
	                                   "memory_mb", "formats", "provider_opts", NULL};
	const char *k;
	json_t *v;

	memset(bo, 0, sizeof(*bo));
	if (!json_is_object(o)) {
		unik_error_set(err, UNIK_E_INVALID, "the build options must be a JSON object");
		return -1;
	}
	json_object_foreach(o, k, v)
	{
		if (!json_key_known(k, keys, "build option", err))
			goto fail;
		if ((strcmp(k, "name") == 0 && opt_str(v, k, &bo->name, err) < 0) ||
		    (strcmp(k, "base") == 0 && opt_str(v, k, &bo->base, err) < 0) ||
		    (strcmp(k, "language") == 0 && opt_str(v, k, &bo->language, err) < 0) ||
		    (strcmp(k, "provider") == 0 && opt_str(v, k, &bo->provider, err) < 0) ||
		    (strcmp(k, "args") == 0 && opt_str(v, k, &bo->args, err) < 0) ||
		    (strcmp(k, "git") == 0 && opt_str(v, k, &bo->git, err) < 0))
			goto fail;
		if (strcmp(k, "env") == 0 && !json_is_null(v)) {
			if (env_object_check(v, "option \"env\"", err) < 0)
				goto fail;
			bo->env = json_incref(v);
		}
		if (strcmp(k, "provider_opts") == 0 && !json_is_null(v)) {
			if (provider_opts_check(v, err) < 0)
				goto fail;
			bo->provider_opts = json_incref(v);
		}
		if (strcmp(k, "formats") == 0 && !json_is_null(v) &&
		    opt_formats(v, &bo->formats, err) < 0)
			goto fail;
		if (strcmp(k, "force") == 0) {
			if (!json_is_boolean(v)) {
				unik_error_set(err, UNIK_E_INVALID,
				               "option \"force\" must be true or false");
				goto fail;
			}
			bo->force = json_is_true(v);
		}
		if (strcmp(k, "memory_mb") == 0 && !json_is_null(v)) {
			if (!json_is_integer(v) ||
			    json_integer_value(v) < unik_guest_min_memory_mb() ||
			    json_integer_value(v) > 1024 * 1024) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "option \"memory_mb\" must be a whole number of MiB "
				    "(%d to 1048576: a unik guest needs at least %d MiB)",
				    unik_guest_min_memory_mb(), unik_guest_min_memory_mb());
				goto fail;
			}
			bo->memory_mb = json_integer_value(v);
		}
	}
	if (bo->name && unik_name_check("image name", bo->name, err) < 0)
		goto fail;
	if (bo->args) {
		struct unik_cmdline c = {0};
		int r = unik_cmdline_split(bo->args, &c, err);

		unik_cmdline_free(&c);
		if (r < 0) {
			unik_error_prefix(err, "option \"args\"");
			goto fail;
		}
	}
	return 0;
fail:
	build_opts_free(bo);
	return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* git */

static int git_fail(const char *what, struct unik_error *err)
{
	const git_error *e = git_error_last();

	unik_error_set(err, UNIK_E_INVALID, "%s: %s", what, e && e->message ? e->message : "error");
	return -1;
}

/* Whether a "git" source names a repository on the network: https://, http://, git://, ssh://
 * (also git+ssh://, ssh+git://) or scp-like [user@]host:path.  Anything else (a path, file://,
 * another transport) reads the daemon's own disk and needs build.allow_local_git. */
static bool git_url_is_remote(const char *url)
{
	static const char *const schemes[] = {"https://",   "http://",    "git://", "ssh://",
	                                      "git+ssh://", "ssh+git://", NULL};
	const char *colon, *slash;

	for (size_t i = 0; schemes[i]; i++)
		if (!strncmp(url, schemes[i], strlen(schemes[i])))
			return url[strlen(schemes[i])] != '\0' && url[strlen(schemes[i])] != '/';
	if (strstr(url, "://"))
		return false;
	/* scp-like: a colon before any slash, after a host name of at least two characters
	 * (git reads "c:/x" as a path). */
	colon = strchr(url, ':');
	slash = strchr(url, '/');
	if (!colon || (slash && slash < colon) || colon - url < 2 || !colon[1] || colon[1] == ':')
		return false; /* "transport::address" is git's remote-helper syntax */
	for (const char *c = url; c < colon; c++)
		if (!(isalnum((unsigned char)*c) || strchr("@._-[]", *c)))
			return false;
	return true;
}

static int git_fetch_source(const char *spec, const char *dest, struct unik_error *err)
{
	_cleanup_free_ char *url = xstrdup(spec);
	char *hash = strrchr(url, '#');
	const char *ref = NULL;
	git_repository *repo = NULL;
	git_object *obj = NULL;
	git_clone_options co;
	int rc = -1;

	git_clone_options_init(&co, GIT_CLONE_OPTIONS_VERSION);

	if (hash) {
		*hash = '\0';
		ref = hash + 1;
		if (!*ref)
			ref = NULL;
	}
	if (!*url || url[0] == '-') {
		unik_error_set(err, UNIK_E_INVALID, "option \"git\": an empty or bad URL");
		return -1;
	}
	if (!D.cfg.allow_local_git && !git_url_is_remote(url)) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "option \"git\": \"%.200s\" is not a network URL (https://, http://, "
		    "git://, ssh:// or host:path); repositories on the daemon's host are "
		    "refused unless daemon-config.yaml sets build: {allow_local_git: true}",
		    url);
		return -1;
	}
	if (ref && (ref[0] == '-' || strlen(ref) > 200)) {
		unik_error_set(err, UNIK_E_INVALID, "option \"git\": bad ref \"%.*s\"",
		               UNIK_UTF8_CUT(ref, 60));
		return -1;
	}
	if (git_clone(&repo, url, dest, &co) < 0) {
		_cleanup_free_ char *what = xasprintf("git clone %.*s", UNIK_UTF8_CUT(url, 200));
		git_fail(what, err);
		goto out;
	}
	if (ref) {
		_cleanup_free_ char *remote = xasprintf("origin/%s", ref);

		if (git_revparse_single(&obj, repo, remote) < 0 &&
		    git_revparse_single(&obj, repo, ref) < 0) {
			unik_error_set(err, UNIK_E_INVALID,
			               "git %.*s: no branch, tag or commit \"%s\"",
			               UNIK_UTF8_CUT(url, 200), ref);
			goto out;
		}
		git_object *commit = NULL;
		if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0) {
			git_fail("git: ref is not a commit", err);
			goto out;
		}
		git_object_free(obj);
		obj = commit;
		git_checkout_options opts;
		git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
		opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
		if (git_checkout_tree(repo, obj, &opts) < 0 ||
		    git_repository_set_head_detached(repo, git_object_id(obj)) < 0) {
			git_fail("git checkout", err);
			goto out;
		}
	}
	rc = 0;
out:
	git_object_free(obj);
	git_repository_free(repo);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */

static void blog(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void blog(int fd, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)unik_write_all(fd, buf, (size_t)n);
}

static void building_remove(const char *name)
{
	for (size_t i = 0; i < D.building.n; i++)
		if (strcmp(D.building.v[i], name) == 0) {
			free(D.building.v[i]);
			memmove(&D.building.v[i], &D.building.v[i + 1],
			        (D.building.n - i) * sizeof(char *));
			D.building.n--;
			return;
		}
}

static bool building_has(const char *name)
{
	for (size_t i = 0; i < D.building.n; i++)
		if (strcmp(D.building.v[i], name) == 0)
			return true;
	return false;
}

int build_submit(struct build_opts *bo, const char *upload_path, json_t **out,
                 struct unik_error *err)
{
	struct unik_manifest *m = xcalloc(1, sizeof(*m));
	struct build *b = NULL;
	char id[ID_LEN + 1];
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ char *src = NULL;
	_cleanup_free_ char *logp = NULL;
	const struct unik_compiler *comp;
	const char *name;
	int fd;

	new_id(id);
	dir = unik_path_join(D.builds_dir, id);
	src = unik_path_join(dir, "src");
	if (!upload_path && !bo->git) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "no source: send a multipart part \"source\" (a gzip tar) or a \"git\" "
		    "URL");
		goto fail_early;
	}
	if (upload_path && bo->git) {
		unik_error_set(err, UNIK_E_INVALID,
		               "give either a \"source\" upload or \"git\", not both");
		goto fail_early;
	}
	if (mkdir(dir, 0700) < 0 || mkdir(src, 0700) < 0) {
		unik_error_sys(err, errno, "create %s", src);
		goto fail;
	}
	if (upload_path) {
		struct unik_untar_limits lim = UNIK_UNTAR_LIMITS_DEFAULT;

		lim.max_bytes = (uint64_t)D.cfg.max_upload_mb << 20;
		lim.max_files = (uint64_t)D.cfg.max_files;
		if (unik_untar(upload_path, src, &lim, NULL, err) < 0)
			goto fail;
	} else {
		unik_rmtree(src, NULL);
		if (git_fetch_source(bo->git, src, err) < 0)
			goto fail;
	}
	if (unik_manifest_load(src, m, err) < 0)
		goto fail;
	name = bo->name ? bo->name : m->name;
	if (!name) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "the image needs a name: give option \"name\" or \"name:\" in a Unikfile");
		goto fail;
	}
	comp = unik_compiler_find(bo->base ? bo->base : m->base,
	                          bo->language ? bo->language : m->language, err);
	if (!comp)
		goto fail;
	if (!bo->provider)
		bo->provider = xstrdup(D.cfg.default_provider ? D.cfg.default_provider
		                                              : unik_provider_default());
	if (!unik_provider_find(bo->provider)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "unknown provider \"%.*s\" (see unik providers)",
		               UNIK_UTF8_CUT(bo->provider, 60));
		goto fail;
	} else {
		_cleanup_strv_ struct strv check = {0};

		if (provider_opts_make(unik_provider_find(bo->provider), bo->provider_opts, &check,
		                       err) < 0)
			goto fail;
	}
	if (!bo->name)
		bo->name = xstrdup(name);
	if (!bo->base)
		bo->base = xstrdup(comp->base);
	if (!bo->language)
		bo->language = xstrdup(m->language ? m->language : comp->languages[0]);

	logp = build_log_path(id);
	fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		unik_error_sys(err, errno, "create %s", logp);
		goto fail;
	}
	blog(fd, "unik: build %s of image %s (compiler %s, language %s, provider %s)", id, bo->name,
	     comp->name, bo->language, bo->provider);
	if (m->file)
		blog(fd, "unik: read %s", m->file);
	close(fd);

	b = xcalloc(1, sizeof(*b));
	memcpy(b->id, id, sizeof(id));
	b->image = xstrdup(bo->name);
	b->created = unik_now_rfc3339(3);
	b->state = BUILD_RUNNING;
	b->opts = *bo;
	memset(bo, 0, sizeof(*bo));
	b->manifest = m;
	b->compiler = comp;

	lock();
	if (D.stopping) {
		unlock();
		unik_error_set(err, UNIK_E_STATE, "the daemon is stopping");
		goto fail;
	}
	if (!b->opts.force && find_image_name(b->image)) {
		unlock();
		unik_error_set(err, UNIK_E_EXISTS,
		               "image \"%s\" exists: delete it first or build with force",
		               b->image);
		goto fail;
	}
	if (building_has(b->image)) {
		unlock();
		unik_error_set(err, UNIK_E_EXISTS, "a build of image \"%s\" is already under way",
		               b->image);
		goto fail;
	}
	b->seq = ++D.seq;
	if (save_build(b, err) < 0) {
		unlock();
		goto fail;
	}
	strv_push(&D.building, b->image);
	add_build(b);
	*out = build_json(b);
	queue = xrealloc(queue, (nqueue + 1) * sizeof(*queue));
	queue[nqueue++] = b;
	pthread_cond_signal(&queue_cond);
	pthread_cond_broadcast(&D.changed);
	unlock();
	return 0;
fail:
	unik_rmtree(dir, NULL);
fail_early:
	if (b) {
		b->manifest = NULL;
		build_free(b);
	}
	unik_manifest_free(m);
	free(m);
	build_opts_free(bo);
	return -1;
}

static void merge_env(json_t *into, const struct strv *words)
{
	for (size_t i = 0; i < words->n; i++) {
		const char *eq = strchr(words->v[i], '=');
		_cleanup_free_ char *k = NULL;

		if (!eq)
			continue;
		k = xstrndup(words->v[i], (size_t)(eq - words->v[i]));
		json_object_set_new(into, k, json_string(eq + 1));
	}
}

/* Packs the stored (not yet listed) image in each format asked for, logging each, and records
 * them in its image.json. */
static int pack_formats(struct image *im, const struct strv *formats, int fd,
                        struct unik_error *err)
{
	_cleanup_free_ char *cmdline = NULL, *meta_text = NULL;
	json_t *meta;

	if (!formats->n)
		return 0;
	if (image_cmdline(im, &cmdline, err) < 0)
		return -1;
	for (size_t i = 0; i < formats->n; i++) {
		const struct unik_image_format *f = unik_image_format_find(formats->v[i]);
		uint64_t size = 0;

		blog(fd, "unik: packing %s (%s)%s%s", f->name, f->file,
		     cmdline ? ", command line " : "", cmdline ? cmdline : "");
		if (unik_image_store_pack(D.images_dir, im->id, f, cmdline, im->name,
		                          im->memory_mb > 0 ? (uint64_t)im->memory_mb : 0, &size,
		                          err) < 0)
			return -1;
		blog(fd, "unik: packed %s: %llu bytes", f->name, (unsigned long long)size);
		image_set_format(im, f->name, size);
	}
	meta = image_json(im);
	meta_text = json_dumps(meta, JSON_INDENT(2));
	json_decref(meta);
	return unik_image_store_write_meta(D.images_dir, im->id, meta_text, err);
}

static int stage_built(struct build *b, int fd, struct unik_error *err);

/* The sandbox of a build, from daemon-config.yaml (build_sandbox, build.*): src/ and out/
 * writable, not the directory above them, which holds build.log. */
static void build_sandbox(const char *src, const char *outd, struct unik_sandbox *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->kind = D.cfg.build_sandbox_none ? UNIK_SANDBOX_NONE : UNIK_SANDBOX_BWRAP;
	sb->uid = (uid_t)D.cfg.build_uid;
	sb->gid = (gid_t)D.cfg.build_gid;
	strv_push(&sb->rw_dirs, src);
	strv_push(&sb->rw_dirs, outd);
	sb->limits = D.cfg.build_limits;
}

static int do_build(struct build *b, int fd, struct unik_error *err)
{
	const struct unik_compiler *comp = b->compiler;
	struct unik_manifest *m = b->manifest;
	_cleanup_free_ char *dir = unik_path_join(D.builds_dir, b->id);
	_cleanup_free_ char *src = unik_path_join(dir, "src");
	_cleanup_free_ char *outd = unik_path_join(dir, "out");
	_cleanup_artifacts_ struct unik_artifacts art = {0};
	_cleanup_free_ char *meta_text = NULL;
	struct unik_image_files files;
	struct image *im, *old = NULL;
	struct unik_sandbox sb;
	bool staging;
	json_t *meta;

	if (mkdir(outd, 0700) < 0 && errno != EEXIST) {
		unik_error_sys(err, errno, "create %s", outd);
		return -1;
	}
	build_sandbox(src, outd, &sb);
	if (sb.kind == UNIK_SANDBOX_NONE)
		blog(fd,
		     "unik: build_sandbox: none: the build runs unconfined as the daemon's user");
	if (unik_sandbox_prepare(&sb, err) < 0 ||
	    comp->build(src, m, outd, &sb, fd, &art, err) < 0) {
		unik_sandbox_free(&sb);
		return -1;
	}
	unik_sandbox_free(&sb);
	blog(fd, "unik: kernel %s", art.kernel + strlen(dir) + 1);

	staging =
	    unik_provider_find(b->opts.provider) && unik_provider_find(b->opts.provider)->stage;
	im = xcalloc(1, sizeof(*im));
	new_id(im->id);
	im->name = xstrdup(b->image);
	im->base = xstrdup(b->opts.base);
	im->language = xstrdup(b->opts.language);
	im->compiler = xstrdup(comp->name);
	im->provider = xstrdup(b->opts.provider);
	im->args = xstrdup(b->opts.args ? b->opts.args : m->args ? m->args : "");
	im->env = json_object();
	merge_env(im->env, &m->env);
	if (b->opts.env)
		json_object_update(im->env, b->opts.env);
	im->memory_mb = b->opts.memory_mb ? b->opts.memory_mb
	                : m->memory_mb    ? (int64_t)m->memory_mb
	                                  : 64;
	im->created = unik_now_rfc3339(3);
	im->build_id = xstrdup(b->id);
	meta = image_json(im);
	meta_text = json_dumps(meta, JSON_INDENT(2));
	json_decref(meta);
	if (unik_image_store_put(D.images_dir, im->id, &art, meta_text, &files, err) < 0) {
		image_free(im);
		return -1;
	}
	im->elf_size = files.elf_size;
	im->rootfs_size = files.rootfs_size;
	image_set_format(im, "elf", files.elf_size);
	if (pack_formats(im, &b->opts.formats, fd, err) < 0) {
		unik_image_store_remove(D.images_dir, im->id, NULL);
		image_free(im);
		return -1;
	}

	lock();
	old = find_image_name(im->name);
	if (old && !b->opts.force) {
		unlock();
		unik_image_store_remove(D.images_dir, im->id, NULL);
		image_free(im);
		unik_error_set(err, UNIK_E_EXISTS, "image \"%s\" was created meanwhile", b->image);
		return -1;
	}
	db_begin();
	if ((old && db_del_image(old->id, err) < 0) || (im->seq = ++D.seq, 0) ||
	    db_put_image(im, err) < 0) {
		db_rollback();
		unlock();
		unik_image_store_remove(D.images_dir, im->id, NULL);
		image_free(im);
		return -1;
	}
	/* A build that stages (aws) succeeds only once staged: it stays running meanwhile. */
	if (!staging) {
		b->state = BUILD_SUCCEEDED;
		b->finished = unik_now_rfc3339(3);
	}
	b->image_id = xstrdup(im->id);
	if (db_put_build(b, err) < 0 || db_commit(err) < 0) {
		db_rollback();
		b->state = BUILD_RUNNING;
		free(b->finished);
		b->finished = NULL;
		unlock();
		unik_image_store_remove(D.images_dir, im->id, NULL);
		image_free(im);
		return -1;
	}
	if (old)
		remove_image(old);
	add_image(im);
	blog(fd, "unik: image %s (%s), %llu bytes", im->name, im->id,
	     (unsigned long long)(im->elf_size + im->rootfs_size));
	if (!staging)
		building_remove(b->image);
	pthread_cond_broadcast(&D.changed);
	unlock();
	if (old) {
		image_files_remove(old->id, NULL);
		image_free(old);
	}
	if (!staging)
		return 0;
	if (stage_built(b, fd, err) < 0)
		return -1;
	lock();
	b->state = BUILD_SUCCEEDED;
	b->finished = unik_now_rfc3339(3);
	if (save_build(b, err) < 0)
		fprintf(stderr, "unik daemon: %s\n", err->msg);
	building_remove(b->image);
	pthread_cond_broadcast(&D.changed);
	unlock();
	return 0;
}

static void stage_note(void *ctx, const char *line)
{
	blog(*(int *)ctx, "unik: %s", line);
}

/* A build for a provider that runs images from elsewhere (aws) stages the image there.  The
 * image is already in the store: if staging fails, the build fails but the image stays, and
 * the first `unik run` on that provider resumes the staging. */
static int stage_built(struct build *b, int fd, struct unik_error *err)
{
	const struct unik_provider *p = unik_provider_find(b->opts.provider);
	char image_id[ID_LEN + 1];

	if (!p || !p->stage)
		return 0;
	lock();
	snprintf(image_id, sizeof(image_id), "%s", b->image_id ? b->image_id : "");
	unlock();
	blog(fd, "unik: staging image %s on %s", b->image, p->name);
	if (image_stage(image_id, p, b->opts.provider_opts, stage_note, &fd, err) < 0) {
		_cleanup_free_ char *msg = xstrdup(err->msg);

		unik_error_set(
		    err, err->code,
		    "%s (the image is kept: `unik run --provider %s %s` resumes staging)", msg,
		    p->name, b->image);
		return -1;
	}
	blog(fd, "unik: staged image %s on %s", b->image, p->name);
	return 0;
}

static void run_build(struct build *b)
{
	_cleanup_free_ char *logp = build_log_path(b->id);
	_cleanup_free_ char *dir = unik_path_join(D.builds_dir, b->id);
	_cleanup_free_ char *src = unik_path_join(dir, "src");
	_cleanup_free_ char *outd = unik_path_join(dir, "out");
	struct unik_error err = {0};
	int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (do_build(b, fd, &err) < 0) {
		blog(fd, "unik: build failed: %s", err.msg);
		lock();
		b->state = BUILD_FAILED;
		b->error = xstrdup(err.msg);
		b->finished = unik_now_rfc3339(3);
		if (save_build(b, &err) < 0)
			fprintf(stderr, "unik daemon: %s\n", err.msg);
		building_remove(b->image);
		pthread_cond_broadcast(&D.changed);
		unlock();
	}
	close(fd);
	unik_rmtree(src, NULL);
	unik_rmtree(outd, NULL);
	lock();
	if (b->manifest) {
		unik_manifest_free(b->manifest);
		free(b->manifest);
		b->manifest = NULL;
	}
	build_opts_free(&b->opts);
	unlock();
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct build *b;

		lock();
		while (!nqueue && !D.stopping)
			pthread_cond_wait(&queue_cond, &D.lock);
		if (D.stopping) {
			unlock();
			return NULL;
		}
		b = queue[0];
		memmove(&queue[0], &queue[1], (nqueue - 1) * sizeof(*queue));
		nqueue--;
		unlock();
		run_build(b);
	}
}

bool build_ended(const char *id)
{
	struct build *b;
	bool r;

	lock();
	b = find_build(id);
	r = !b || b->state != BUILD_RUNNING;
	unlock();
	return r;
}

enum build_state build_wait(const char *id)
{
	enum build_state s = BUILD_FAILED;

	lock();
	for (;;) {
		struct build *b = find_build(id);

		if (!b)
			break;
		s = b->state;
		if (s != BUILD_RUNNING || D.stopping)
			break;
		pthread_cond_wait(&D.changed, &D.lock);
	}
	unlock();
	return s;
}

/* Whether pid is a bwrap whose arguments name a directory under builds/: a sandbox that was
 * still being set up when the daemon died, which bwrap's --die-with-parent misses (it waits
 * for its dead parent forever). */
static bool is_orphan_bwrap(long pid, const char *prefix)
{
	char path[64], buf[8192];
	ssize_t n;
	int fd;
	bool bwrap, named = false;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	bwrap = !strcmp(buf, "bwrap") || unik_str_has_suffix(buf, "/bwrap");
	for (char *a = buf; bwrap && !named && a < buf + n; a += strlen(a) + 1)
		named = !strncmp(a, prefix, strlen(prefix));
	return bwrap && named;
}

/* Processes a killed daemon's builds left behind: bwrap's PID namespace and parent-death
 * signals take them along, but under build_sandbox: none what make started is on its own.
 * They are recognised by a working directory under builds/, or as a bwrap for a build. */
static void kill_orphan_builders(void)
{
	_cleanup_free_ char *prefix = xasprintf("%s/", D.builds_dir);
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char link[64], cwd[PATH_MAX];
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		ssize_t n;

		if (*end || pid <= 1 || pid == (long)getpid())
			continue;
		snprintf(link, sizeof(link), "/proc/%ld/cwd", pid);
		n = readlink(link, cwd, sizeof(cwd) - 1);
		if (n <= 0)
			continue;
		cwd[n] = '\0';
		if (is_orphan_bwrap(pid, prefix)) {
			fprintf(stderr, "unik daemon: killing bwrap %ld left by a build\n", pid);
			kill((pid_t)pid, SIGKILL);
		} else if (!strncmp(cwd, prefix, strlen(prefix))) {
			fprintf(stderr, "unik daemon: killing process %ld left by a build in %s\n",
			        pid, cwd);
			kill((pid_t)pid, SIGKILL);
		}
	}
	closedir(d);
}

/* What a daemon killed at any moment leaves in $UNIK_HOME besides its records: uploads it was
 * receiving (tmp/upload-*), build directories it made before recording the build, and the
 * source and output of builds that ended (a finished build keeps only build.log). */
static void sweep_home(void)
{
	DIR *d;
	struct dirent *de;

	if ((d = opendir(D.tmp_dir))) {
		while ((de = readdir(d)))
			if (!strncmp(de->d_name, "upload-", 7)) {
				_cleanup_free_ char *p = unik_path_join(D.tmp_dir, de->d_name);
				(void)unlink(p);
			}
		closedir(d);
	}
	if (!(d = opendir(D.builds_dir)))
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *src = NULL, *outd = NULL;

		if (de->d_name[0] == '.')
			continue;
		p = unik_path_join(D.builds_dir, de->d_name);
		if (!find_build(de->d_name)) {
			fprintf(stderr, "unik daemon: removing %s: no build has that id\n", p);
			(void)unik_rmtree(p, NULL);
			continue;
		}
		src = unik_path_join(p, "src");
		outd = unik_path_join(p, "out");
		(void)unik_rmtree(src, NULL);
		(void)unik_rmtree(outd, NULL);
	}
	closedir(d);
}

int builds_recover(struct unik_error *err)
{
	/* Builds a previous daemon did not finish cannot be resumed.  Called with the lock held,
	 * before any request can add a build. */
	kill_orphan_builders();
	sweep_home();
	for (size_t i = 0; i < D.nbuilds; i++) {
		struct build *b = D.builds[i];

		if (b->state != BUILD_RUNNING)
			continue;
		_cleanup_free_ char *dir = unik_path_join(D.builds_dir, b->id);
		_cleanup_free_ char *src = unik_path_join(dir, "src");
		_cleanup_free_ char *outd = unik_path_join(dir, "out");
		_cleanup_free_ char *logp = build_log_path(b->id);
		int fd;

		unik_rmtree(src, NULL);
		unik_rmtree(outd, NULL);
		b->state = BUILD_FAILED;
		b->error = xstrdup("the daemon stopped during the build");
		b->finished = unik_now_rfc3339(3);
		if ((fd = open(logp, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0) {
			blog(fd, "unik: build failed: %s", b->error);
			close(fd);
		}
		if (save_build(b, err) < 0)
			return -1;
	}
	return 0;
}

int builds_start(struct unik_error *err)
{
	git_libgit2_init();
	nworkers = (size_t)D.cfg.max_parallel;
	workers = xcalloc(nworkers, sizeof(*workers));
	for (size_t i = 0; i < nworkers; i++)
		if (pthread_create(&workers[i], NULL, worker, NULL) != 0) {
			unik_error_set(err, UNIK_E_IO, "cannot start build workers");
			nworkers = i;
			return -1;
		}
	return 0;
}

void builds_stop(void)
{
	/* Running builds finish; queued ones are failed when the next daemon starts. */
	lock();
	pthread_cond_broadcast(&queue_cond);
	pthread_cond_broadcast(&D.changed);
	unlock();
	for (size_t i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
	workers = NULL;
	nworkers = 0;
	free(queue);
	queue = NULL;
	nqueue = 0;
	git_libgit2_shutdown();
}
