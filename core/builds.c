/* Builds: a request is checked and its source unpacked (or cloned) before it is acknowledged;
 * then a worker runs the compiler, logging to builds/<id>/build.log, and stores the image. */
#include "core/internal.h"

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

#include "lib/cmdline.h"
#include "compilers/compiler.h"
#include "lib/guest_abi.h"
#include "lib/proc.h"
#include "images/format.h"
#include "images/store.h"
#include "lib/names.h"
#include "lib/untar.h"
#include "lib/utf8.h"

char *unik_core_build_log_path(const struct unik_core *c, const char *id)
{
	return xasprintf("%s/%s/build.log", c->builds_dir, id);
}

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

static int git_fetch_source(struct unik_core *c, const char *spec, const char *dest,
                            struct unik_error *err)
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
	if (!c->cfg.allow_local_git && !git_url_is_remote(url)) {
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

/* Where a build's own lines go: its build.log, and the listeners of its job (NULL while it is
 * only being submitted or recovered). */
struct build_log {
	int fd;
	struct unik_job *job;
};

static void blog(const struct build_log *lg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void blog(const struct build_log *lg, const char *fmt, ...)
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
	if (lg->job)
		unik_job_progress(lg->job, "%.*s", n, buf);
	buf[n++] = '\n';
	(void)unik_write_all(lg->fd, buf, (size_t)n);
}

static void building_remove(struct unik_core *c, const char *name)
{
	for (size_t i = 0; i < c->building.n; i++)
		if (strcmp(c->building.v[i], name) == 0) {
			free(c->building.v[i]);
			memmove(&c->building.v[i], &c->building.v[i + 1],
			        (c->building.n - i) * sizeof(char *));
			c->building.n--;
			return;
		}
}

static bool building_has(struct unik_core *c, const char *name)
{
	for (size_t i = 0; i < c->building.n; i++)
		if (strcmp(c->building.v[i], name) == 0)
			return true;
	return false;
}

static int build_job(void *arg, struct unik_job *job, struct unik_error *err);

int unik_core_build_submit(struct unik_core *c, struct unik_build_opts *bo, const char *upload_path,
                           struct unik_build **out, struct unik_error *err)
{
	struct unik_manifest *m = xcalloc(1, sizeof(*m));
	struct unik_build *b = NULL;
	char id[UNIK_ID_LEN + 1];
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ char *src = NULL;
	_cleanup_free_ char *logp = NULL;
	const struct unik_compiler *comp;
	const char *name;
	int fd;

	unik_new_id(id);
	dir = unik_path_join(c->builds_dir, id);
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

		lim.max_bytes = (uint64_t)c->cfg.max_upload_mb << 20;
		lim.max_files = (uint64_t)c->cfg.max_files;
		if (unik_untar(upload_path, src, &lim, NULL, err) < 0)
			goto fail;
	} else {
		unik_rmtree(src, NULL);
		if (git_fetch_source(c, bo->git, src, err) < 0)
			goto fail;
	}
	if (unik_manifest_load(src, m, err) < 0)
		goto fail;
	name = bo->name ? bo->name : m->name ? m->name : bo->default_name;
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
	if (bo->target) {
		free(m->target);
		m->target = xstrdup(bo->target);
	}
	if (m->target) {
		/* The backend's targets, and the provider that runs each by default. */
		size_t t = 0;
		_cleanup_free_ char *list = xstrdup("");

		while (comp->targets && comp->targets[t] && strcmp(comp->targets[t], m->target))
			t++;
		if (!comp->targets || !comp->targets[t]) {
			for (size_t i = 0; comp->targets && comp->targets[i]; i++) {
				char *next =
				    xasprintf("%s%s%s", list, i ? ", " : "", comp->targets[i]);
				free(list);
				list = next;
			}
			if (comp->targets)
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "the %s backend has no target \"%.*s\" (targets: %s)",
				    comp->name, UNIK_UTF8_CUT(m->target, 20), list);
			else
				unik_error_set(err, UNIK_E_INVALID,
				               "the %s backend has no targets (target \"%.*s\"): "
				               "only --base mirage builds for several",
				               comp->name, UNIK_UTF8_CUT(m->target, 20));
			goto fail;
		}
		if (!bo->provider && comp->target_providers && comp->target_providers[t])
			bo->provider = xstrdup(comp->target_providers[t]);
	}
	if (!bo->provider)
		bo->provider = xstrdup(unik_core_default_provider(c));
	if (!unik_core_provider(c, bo->provider)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "unknown provider \"%.*s\" (see unik providers)",
		               UNIK_UTF8_CUT(bo->provider, 60));
		goto fail;
	} else {
		_cleanup_strv_ struct strv check = {0};

		if (unik_core_provider_opts(c, unik_core_provider(c, bo->provider),
		                            &bo->provider_opts, &check, err) < 0)
			goto fail;
	}
	if (!bo->name)
		bo->name = xstrdup(name);
	if (!bo->base)
		bo->base = xstrdup(comp->base);
	if (!bo->language)
		bo->language = xstrdup(m->language ? m->language : comp->languages[0]);

	logp = unik_core_build_log_path(c, id);
	fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		unik_error_sys(err, errno, "create %s", logp);
		goto fail;
	}
	struct build_log lg = {fd, NULL};

	blog(&lg, "unik: build %s of image %s (compiler %s, language %s, provider %s)", id,
	     bo->name, comp->name, bo->language, bo->provider);
	if (m->file)
		blog(&lg, "unik: read %s", m->file);
	close(fd);

	b = xcalloc(1, sizeof(*b));
	memcpy(b->id, id, sizeof(id));
	b->image = xstrdup(bo->name);
	b->created = unik_now_rfc3339(3);
	b->state = UNIK_BUILD_RUNNING;
	b->opts = *bo;
	memset(bo, 0, sizeof(*bo));
	b->manifest = m;
	b->compiler = comp;

	core_lock(c);
	if (c->stopping) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_STATE, "the daemon is stopping");
		goto fail;
	}
	if (!b->opts.force && find_image_name(c, b->image)) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_EXISTS,
		               "image \"%s\" exists: delete it first, or build without "
		               "--no-replace (REST: option \"force\")",
		               b->image);
		goto fail;
	}
	if (building_has(c, b->image)) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_EXISTS, "a build of image \"%s\" is already under way",
		               b->image);
		goto fail;
	}
	b->seq = ++c->seq;
	if (save_build(c, b, err) < 0) {
		core_unlock(c);
		goto fail;
	}
	strv_push(&c->building, b->image);
	add_build(c, b);
	*out = unik_build_dup(b);
	b->core = c;
	if (unik_jobs_submit(c->jobs, UNIK_JOB_BUILD, b->id, b->image, build_job, b, NULL, err) <
	    0) {
		/* Recorded as running: the next start fails it as interrupted. */
		core_unlock(c);
		return -1;
	}
	pthread_cond_broadcast(&c->changed);
	core_unlock(c);
	return 0;
fail:
	unik_rmtree(dir, NULL);
fail_early:
	if (b) {
		b->manifest = NULL;
		unik_build_free(b);
	}
	unik_manifest_free(m);
	free(m);
	unik_build_opts_free(bo);
	return -1;
}

/* Packs the stored (not yet listed) image in each format asked for, logging each, and records
 * them in its image.json. */
/* "[k/n] what": the build's steps, which unik build shows with a progress bar on a terminal. */
static void bstep(const struct build_log *lg, int *k, int n, const char *what, const char *arg)
{
	++*k;
	blog(lg, "[%d/%d] %s%s%s", *k, n, what, arg ? " " : "", arg ? arg : "");
}

static int pack_formats(struct unik_core *c, struct unik_image *im, const struct strv *formats,
                        const struct build_log *lg, int *step, int steps, struct unik_error *err)
{
	_cleanup_free_ char *cmdline = NULL;

	if (!formats->n)
		return 0;
	if (image_cmdline(im, &cmdline, err) < 0)
		return -1;
	for (size_t i = 0; i < formats->n; i++) {
		const struct unik_image_format *f = unik_image_format_find(formats->v[i]);
		uint64_t size = 0;

		bstep(lg, step, steps, "packing", f->name);
		blog(lg, "unik: packing %s (%s)%s%s", f->name, f->file,
		     cmdline ? ", command line " : "", cmdline ? cmdline : "");
		if (unik_image_store_pack(c->images_dir, im->id, f, cmdline, im->name, im->base,
		                          im->memory_mb > 0 ? (uint64_t)im->memory_mb : 0, &size,
		                          err) < 0)
			return -1;
		blog(lg, "unik: packed %s: %llu bytes", f->name, (unsigned long long)size);
		image_set_format(im, f->name, size);
	}
	return image_write_meta(c, im, err);
}

static int stage_built(struct unik_core *c, struct unik_build *b, const struct build_log *lg,
                       struct unik_error *err);

/* The sandbox of a build, from daemon-config.yaml (build_sandbox, build.*): src/ and out/
 * writable, not the directory above them, which holds build.log. */
static void build_sandbox(struct unik_core *c, const char *src, const char *outd,
                          struct unik_sandbox *sb)
{
	memset(sb, 0, sizeof(*sb));
	sb->kind = c->cfg.build_sandbox_none ? UNIK_SANDBOX_NONE : UNIK_SANDBOX_BWRAP;
	sb->uid = (uid_t)c->cfg.build_uid;
	sb->gid = (gid_t)c->cfg.build_gid;
	strv_push(&sb->rw_dirs, src);
	strv_push(&sb->rw_dirs, outd);
	sb->limits = c->cfg.build_limits;
}

static int do_build(struct unik_core *c, struct unik_build *b, const struct build_log *lg,
                    struct unik_error *err)
{
	const struct unik_compiler *comp = b->compiler;
	struct unik_manifest *m = b->manifest;
	_cleanup_free_ char *dir = unik_path_join(c->builds_dir, b->id);
	_cleanup_free_ char *src = unik_path_join(dir, "src");
	_cleanup_free_ char *outd = unik_path_join(dir, "out");
	_cleanup_artifacts_ struct unik_artifacts art = {0};
	_cleanup_free_ char *meta_text = NULL;
	struct unik_image_files files;
	struct unik_image *im, *old = NULL;
	struct unik_sandbox sb;
	bool staging = unik_core_provider(c, b->opts.provider) &&
	               unik_core_provider(c, b->opts.provider)->stage;
	/* Compiling, storing, packing each format, staging. */
	int step = 0, steps = 2 + (int)b->opts.formats.n + (staging ? 1 : 0);
	json_t *meta;

	if (mkdir(outd, 0700) < 0 && errno != EEXIST) {
		unik_error_sys(err, errno, "create %s", outd);
		return -1;
	}
	build_sandbox(c, src, outd, &sb);
	if (sb.kind == UNIK_SANDBOX_NONE)
		blog(lg,
		     "unik: build_sandbox: none: the build runs unconfined as the daemon's user");
	bstep(lg, &step, steps, "compiling with", comp->name);
	if (unik_sandbox_prepare(&sb, err) < 0 ||
	    comp->build(src, m, outd, &sb, lg->fd, &art, err) < 0) {
		unik_sandbox_free(&sb);
		return -1;
	}
	unik_sandbox_free(&sb);
	blog(lg, "unik: kernel %s", art.kernel + strlen(dir) + 1);
	bstep(lg, &step, steps, "storing the image", NULL);
	im = xcalloc(1, sizeof(*im));
	unik_new_id(im->id);
	im->name = xstrdup(b->image);
	im->base = xstrdup(b->opts.base);
	im->language = xstrdup(b->opts.language);
	im->compiler = xstrdup(comp->name);
	if (m->target || comp->targets)
		im->target = xstrdup(m->target ? m->target : comp->targets[0]);
	im->provider = xstrdup(b->opts.provider);
	im->args = xstrdup(b->opts.args ? b->opts.args : m->args ? m->args : "");
	unik_env_update(&im->env, &m->env);
	unik_env_update(&im->env, &b->opts.env);
	im->memory_mb = b->opts.memory_mb ? b->opts.memory_mb
	                : m->memory_mb    ? (int64_t)m->memory_mb
	                                  : 64;
	im->created = unik_now_rfc3339(3);
	im->build_id = xstrdup(b->id);
	meta = unik_image_meta_json(im);
	meta_text = json_dumps(meta, JSON_INDENT(2));
	json_decref(meta);
	if (unik_image_store_put(c->images_dir, im->id, &art, meta_text, &files, err) < 0) {
		unik_image_free(im);
		return -1;
	}
	im->elf_size = files.elf_size;
	im->rootfs_size = files.rootfs_size;
	image_set_format(im, "elf", files.elf_size);
	if (pack_formats(c, im, &b->opts.formats, lg, &step, steps, err) < 0) {
		unik_image_store_remove(c->images_dir, im->id, NULL);
		unik_image_free(im);
		return -1;
	}

	core_lock(c);
	old = find_image_name(c, im->name);
	if (old && !b->opts.force) {
		core_unlock(c);
		unik_image_store_remove(c->images_dir, im->id, NULL);
		unik_image_free(im);
		unik_error_set(err, UNIK_E_EXISTS, "image \"%s\" was created meanwhile", b->image);
		return -1;
	}
	db_begin(c);
	if ((old && db_del_image(c, old->id, err) < 0) || (im->seq = ++c->seq, 0) ||
	    db_put_image(c, im, err) < 0) {
		db_rollback(c);
		core_unlock(c);
		unik_image_store_remove(c->images_dir, im->id, NULL);
		unik_image_free(im);
		return -1;
	}
	/* A build that stages (aws) succeeds only once staged: it stays running meanwhile. */
	if (!staging) {
		b->state = UNIK_BUILD_SUCCEEDED;
		b->finished = unik_now_rfc3339(3);
	}
	b->image_id = xstrdup(im->id);
	if (db_put_build(c, b, err) < 0 || db_commit(c, err) < 0) {
		db_rollback(c);
		b->state = UNIK_BUILD_RUNNING;
		free(b->finished);
		b->finished = NULL;
		core_unlock(c);
		unik_image_store_remove(c->images_dir, im->id, NULL);
		unik_image_free(im);
		return -1;
	}
	if (old)
		remove_image(c, old);
	add_image(c, im);
	blog(lg, "unik: image %s (%s), %llu bytes", im->name, im->id,
	     (unsigned long long)(im->elf_size + im->rootfs_size));
	if (!staging)
		building_remove(c, b->image);
	pthread_cond_broadcast(&c->changed);
	core_unlock(c);
	if (old) {
		image_files_remove(c, old->id, NULL);
		unik_image_free(old);
	}
	if (!staging)
		return 0;
	bstep(lg, &step, steps, "staging on", b->opts.provider);
	if (stage_built(c, b, lg, err) < 0)
		return -1;
	core_lock(c);
	b->state = UNIK_BUILD_SUCCEEDED;
	b->finished = unik_now_rfc3339(3);
	if (save_build(c, b, err) < 0)
		fprintf(stderr, "unik daemon: %s\n", err->msg);
	building_remove(c, b->image);
	pthread_cond_broadcast(&c->changed);
	core_unlock(c);
	return 0;
}

static void stage_note(void *ctx, const char *line)
{
	blog(ctx, "unik: %s", line);
}

/* A build for a provider that runs images from elsewhere (aws) stages the image there.  The
 * image is already in the store: if staging fails, the build fails but the image stays, and
 * the first `unik run` on that provider resumes the staging. */
static int stage_built(struct unik_core *c, struct unik_build *b, const struct build_log *lg,
                       struct unik_error *err)
{
	const struct unik_provider *p = unik_core_provider(c, b->opts.provider);
	char image_id[UNIK_ID_LEN + 1];

	if (!p || !p->stage)
		return 0;
	core_lock(c);
	snprintf(image_id, sizeof(image_id), "%s", b->image_id ? b->image_id : "");
	core_unlock(c);
	blog(lg, "unik: staging image %s on %s", b->image, p->name);
	if (image_stage(c, image_id, p, &b->opts.provider_opts, stage_note, (void *)lg, err) < 0) {
		_cleanup_free_ char *msg = xstrdup(err->msg);

		unik_error_set(
		    err, err->code,
		    "%s (the image is kept: `unik run --provider %s %s` resumes staging)", msg,
		    p->name, b->image);
		return -1;
	}
	blog(lg, "unik: staged image %s on %s", b->image, p->name);
	return 0;
}

static void run_build(struct unik_core *c, struct unik_build *b, struct unik_job *job)
{
	_cleanup_free_ char *logp = unik_core_build_log_path(c, b->id);
	_cleanup_free_ char *dir = unik_path_join(c->builds_dir, b->id);
	_cleanup_free_ char *src = unik_path_join(dir, "src");
	_cleanup_free_ char *outd = unik_path_join(dir, "out");
	struct unik_error err = {0};
	int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	struct build_log lg;

	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	lg.fd = fd;
	lg.job = job;
	if (do_build(c, b, &lg, &err) < 0) {
		blog(&lg, "unik: build failed: %s", err.msg);
		core_lock(c);
		b->state = UNIK_BUILD_FAILED;
		b->error = xstrdup(err.msg);
		b->finished = unik_now_rfc3339(3);
		if (save_build(c, b, &err) < 0)
			fprintf(stderr, "unik daemon: %s\n", err.msg);
		building_remove(c, b->image);
		pthread_cond_broadcast(&c->changed);
		core_unlock(c);
	}
	close(fd);
	unik_rmtree(src, NULL);
	unik_rmtree(outd, NULL);
	core_lock(c);
	if (b->manifest) {
		unik_manifest_free(b->manifest);
		free(b->manifest);
		b->manifest = NULL;
	}
	unik_build_opts_free(&b->opts);
	core_unlock(c);
}

/* The job of a queued build (core/jobs.c runs it on one of max_parallel workers). */
static int build_job(void *arg, struct unik_job *job, struct unik_error *err)
{
	struct unik_build *b = arg;
	struct unik_core *c = b->core;

	/* A stopping core starts no queued build: the next start fails it as interrupted. */
	if (c->stopping) {
		unik_error_set(err, UNIK_E_STATE, "the daemon is stopping");
		return -1;
	}
	run_build(c, b, job);
	core_lock(c);
	if (b->state == UNIK_BUILD_FAILED)
		unik_error_set(err, UNIK_E_STATE, "%s", b->error ? b->error : "failed");
	core_unlock(c);
	return b->state == UNIK_BUILD_FAILED ? -1 : 0;
}

bool unik_core_build_ended(struct unik_core *c, const char *id)
{
	struct unik_build *b;
	bool r;

	core_lock(c);
	b = find_build(c, id);
	r = !b || b->state != UNIK_BUILD_RUNNING;
	core_unlock(c);
	return r;
}

enum unik_build_state unik_core_build_wait(struct unik_core *c, const char *id)
{
	enum unik_build_state s = UNIK_BUILD_FAILED;

	core_lock(c);
	for (;;) {
		struct unik_build *b = find_build(c, id);

		if (!b)
			break;
		s = b->state;
		if (s != UNIK_BUILD_RUNNING || c->stopping)
			break;
		pthread_cond_wait(&c->changed, &c->lock);
	}
	core_unlock(c);
	return s;
}

/* Whether pid is a bwrap whose arguments name a directory under builds/: a sandbox that was
 * still being set up when the daemon died, which bwrap's --die-with-parent misses (it waits
 * for its dead parent forever). */
static bool is_orphan_bwrap(long pid, const char *prefix)
{
	char buf[8192];
	ssize_t n = unik_proc_cmdline((pid_t)pid, buf, sizeof(buf));
	bool bwrap, named = false;

	if (n < 0)
		return false;
	bwrap = !strcmp(buf, "bwrap") || unik_str_has_suffix(buf, "/bwrap");
	for (char *a = buf; bwrap && !named && a < buf + n; a += strlen(a) + 1)
		named = !strncmp(a, prefix, strlen(prefix));
	return bwrap && named;
}

/* Processes a killed daemon's builds left behind: bwrap's PID namespace and parent-death
 * signals take them along, but under build_sandbox: none what make started is on its own.
 * They are recognised by a working directory under builds/, or as a bwrap for a build. */
static void kill_orphan_builders(struct unik_core *c)
{
	_cleanup_free_ char *prefix = xasprintf("%s/", c->builds_dir);
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
static void sweep_home(struct unik_core *c)
{
	DIR *d;
	struct dirent *de;

	if ((d = opendir(c->tmp_dir))) {
		while ((de = readdir(d)))
			if (!strncmp(de->d_name, "upload-", 7)) {
				_cleanup_free_ char *p = unik_path_join(c->tmp_dir, de->d_name);
				(void)unlink(p);
			}
		closedir(d);
	}
	if (!(d = opendir(c->builds_dir)))
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *src = NULL, *outd = NULL;

		if (de->d_name[0] == '.')
			continue;
		p = unik_path_join(c->builds_dir, de->d_name);
		if (!find_build(c, de->d_name)) {
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

int builds_recover(struct unik_core *c, struct unik_error *err)
{
	/* Builds a previous daemon did not finish cannot be resumed.  Called with the lock held,
	 * before any request can add a build. */
	kill_orphan_builders(c);
	sweep_home(c);
	for (size_t i = 0; i < c->nbuilds; i++) {
		struct unik_build *b = c->builds[i];

		if (b->state != UNIK_BUILD_RUNNING)
			continue;
		_cleanup_free_ char *dir = unik_path_join(c->builds_dir, b->id);
		_cleanup_free_ char *src = unik_path_join(dir, "src");
		_cleanup_free_ char *outd = unik_path_join(dir, "out");
		_cleanup_free_ char *logp = unik_core_build_log_path(c, b->id);
		int fd;

		unik_rmtree(src, NULL);
		unik_rmtree(outd, NULL);
		b->state = UNIK_BUILD_FAILED;
		b->error = xstrdup("the daemon stopped during the build");
		b->finished = unik_now_rfc3339(3);
		if ((fd = open(logp, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0) {
			struct build_log lg = {fd, NULL};

			blog(&lg, "unik: build failed: %s", b->error);
			close(fd);
		}
		if (save_build(c, b, err) < 0)
			return -1;
	}
	return 0;
}

int builds_start(struct unik_core *c, struct unik_error *err)
{
	git_libgit2_init();
	/* Queued jobs are builds: max_parallel of them run at once. */
	return unik_jobs_new((size_t)c->cfg.max_parallel, &c->jobs, err);
}

void builds_stop(struct unik_core *c)
{
	/* Running builds finish; queued ones are failed when the next daemon starts. */
	core_lock(c);
	pthread_cond_broadcast(&c->changed);
	core_unlock(c);
	unik_jobs_free(c->jobs);
	c->jobs = NULL;
	git_libgit2_shutdown();
}
