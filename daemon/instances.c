/* Instances: run an image through its provider, watch it (a monitor thread polls the provider),
 * stop, start again, delete, and adopt what an earlier daemon left running. */
#include "daemon/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmdline.h"
#include "compilers/compiler.h"
#include "images/store.h"
#include "names.h"
#include "unik/abi.h"
#include "utf8.h"

int env_object_check(json_t *env, const char *what, struct unik_error *err);

static pthread_t monitor_thread;
static bool monitor_running;

static char *inst_dir(const char *id)
{
	return unik_path_join(D.instances_dir, id);
}

int run_req_parse(json_t *o, struct run_req *rr, struct unik_error *err)
{
	static const char *const keys[] = {"name",      "image",    "args",          "env",
	                                   "memory_mb", "provider", "provider_opts", NULL};
	const char *k;
	json_t *v;

	memset(rr, 0, sizeof(*rr));
	if (!json_is_object(o)) {
		unik_error_set(err, UNIK_E_INVALID, "the request body must be a JSON object");
		return -1;
	}
	json_object_foreach(o, k, v)
	{
		if (!json_key_known(k, keys, "key", err))
			return -1;
		if (json_is_null(v))
			continue;
		if (strcmp(k, "env") == 0) {
			if (env_object_check(v, "\"env\"", err) < 0)
				return -1;
			pairs_from_json(v, &rr->env);
		} else if (strcmp(k, "provider_opts") == 0) {
			if (provider_opts_check(v, err) < 0)
				return -1;
			pairs_from_json(v, &rr->provider_opts);
		} else if (strcmp(k, "memory_mb") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < UNIK_MIN_MEMORY_MB ||
			    json_integer_value(v) > 1024 * 1024) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "\"memory_mb\" must be a whole number of MiB (%d to "
				    "1048576: a unik guest needs at least %d MiB, the kernel "
				    "being loaded at 1 MiB)",
				    UNIK_MIN_MEMORY_MB, UNIK_MIN_MEMORY_MB);
				return -1;
			}
			rr->memory_mb = json_integer_value(v);
		} else {
			if (!json_is_string(v) || json_string_length(v) > 65536 ||
			    strlen(json_string_value(v)) != json_string_length(v)) {
				unik_error_set(err, UNIK_E_INVALID, "\"%s\" must be a string", k);
				return -1;
			}
			if (strcmp(k, "name") == 0)
				rr->name = json_string_value(v);
			else if (strcmp(k, "image") == 0)
				rr->image = json_string_value(v);
			else if (strcmp(k, "args") == 0)
				rr->args = json_string_value(v);
			else
				rr->provider = json_string_value(v);
		}
	}
	if (!rr->image) {
		unik_error_set(err, UNIK_E_INVALID, "\"image\" is required");
		return -1;
	}
	if (rr->name && unik_name_check("instance name", rr->name, err) < 0)
		return -1;
	return 0;
}

void run_req_free(struct run_req *rr)
{
	strv_free(&rr->env);
	strv_free(&rr->provider_opts);
	memset(rr, 0, sizeof(*rr));
}

/* Image defaults, then the request: env words first (request variables replace the image's),
 * then the arguments (the request's replace the image's). */
static int compose_cmdline(const struct unik_image *im, const struct run_req *rr, char **out,
                           struct unik_error *err)
{
	struct unik_cmdline c = {0};
	_cleanup_strv_ struct strv envw = {0};
	_cleanup_strv_ struct strv argv = {0};
	const char *args = rr->args ? rr->args : im->args;
	int rc = -1;

	if (unik_cmdline_split(args ? args : "", &c, err) < 0) {
		unik_error_prefix(err, "\"args\"");
		goto out;
	}
	strv_extend(&envw, &im->env);
	unik_env_update(&envw, &c.env);
	unik_env_update(&envw, &rr->env);
	strv_extend(&argv, &c.argv);
	rc = unik_cmdline_compose(&envw, &argv, out, err);
out:
	unik_cmdline_free(&c);
	return rc;
}

int image_cmdline(const struct unik_image *im, char **out, struct unik_error *err)
{
	struct run_req rr = {0};

	*out = NULL;
	if (compose_cmdline(im, &rr, out, err) < 0) {
		unik_error_prefix(err, "image %s", im->name);
		return -1;
	}
	if (!**out) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

static void apply_status(struct unik_instance *in, const struct unik_instance_status *st)
{
	bool was_final = unik_instance_state_final(in->state);

	in->state = st->state;
	in->exit_code = (st->state == UNIK_STATE_EXITED || st->state == UNIK_STATE_CRASHED)
	                    ? st->exit_code
	                    : -1;
	in->pid = st->pid;
	snprintf(in->ip, sizeof(in->ip), "%s", st->ip);
	snprintf(in->detail, sizeof(in->detail), "%s", st->detail);
	if (st->handle[0])
		snprintf(in->handle, sizeof(in->handle), "%s", st->handle);
	if (st->handle_id[0])
		snprintf(in->handle_id, sizeof(in->handle_id), "%s", st->handle_id);
	if (unik_instance_state_final(st->state) && !was_final) {
		free(in->finished);
		in->finished = unik_now_rfc3339(3);
	}
}

/* Records a run that has just begun (run() or an in-place start()): its status, and a new
 * start time with no finish time unless it has ended already. */
static void mark_started(struct unik_instance *in, const struct unik_instance_status *st)
{
	lock();
	apply_status(in, st);
	free(in->started);
	in->started = unik_now_rfc3339(3);
	if (!unik_instance_state_final(in->state)) {
		free(in->finished);
		in->finished = NULL;
	}
	unlock();
}

int provider_opts_check(json_t *v, struct unik_error *err)
{
	const char *k;
	json_t *s;

	if (!json_is_object(v)) {
		unik_error_set(err, UNIK_E_INVALID,
		               "\"provider_opts\" must be an object of strings, e.g. "
		               "{\"uri\": \"qemu:///system\"}");
		return -1;
	}
	json_object_foreach(v, k, s)
	{
		if (!*k || strlen(k) > 64 ||
		    strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(k)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "\"provider_opts\": bad key \"%.*s\" (lower case letters, "
			               "digits and _)",
			               UNIK_UTF8_CUT(k, 60));
			return -1;
		}
		if (!json_is_string(s) || json_string_length(s) > 4096 ||
		    strlen(json_string_value(s)) != json_string_length(s)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "\"provider_opts\": the value of %s must be a string", k);
			return -1;
		}
		/* Providers keep options in line-based records: a control character has no
		 * business in a URI, a region or a path. */
		for (const char *c = json_string_value(s); *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				unik_error_set(err, UNIK_E_INVALID,
				               "\"provider_opts\": the value of %s holds a control "
				               "character",
				               k);
				return -1;
			}
	}
	return 0;
}

int provider_opts_make(const struct unik_provider *p, const struct strv *req, struct strv *out,
                       struct unik_error *err)
{
	json_t *cfg = D.cfg.provider_opts ? json_object_get(D.cfg.provider_opts, p->name) : NULL;
	size_t i;
	json_t *v;

	json_array_foreach(cfg, i, v) strv_push(out, json_string_value(v));
	for (i = 0; req && i < req->n; i++) {
		const char *eq = strchr(req->v[i], '=');
		_cleanup_free_ char *k = xstrndup(req->v[i], eq ? (size_t)(eq - req->v[i]) : 0);
		char what[96];

		if (!p->opt_keys || !p->opt_keys[0]) {
			unik_error_set(err, UNIK_E_INVALID,
			               "provider %s takes no options (got \"%.*s\")", p->name,
			               UNIK_UTF8_CUT(k, 60));
			return -1;
		}
		snprintf(what, sizeof(what), "option of provider %s", p->name);
		if (!json_key_known(k, p->opt_keys, what, err))
			return -1;
		strv_push(out, req->v[i]);
	}
	return 0;
}

int image_stage(const char *image_id, const struct unik_provider *p, const struct strv *req_opts,
                void (*log)(void *ctx, const char *line), void *ctx, struct unik_error *err)
{
	_cleanup_strv_ struct strv opts = {0};
	_cleanup_free_ char *image = NULL, *name = NULL, *cmdline = NULL;
	_cleanup_free_ char *image_dir = unik_path_join(D.images_dir, image_id);
	_cleanup_free_ char *kernel = unik_image_kernel_path(D.images_dir, image_id);
	struct unik_stage_spec spec = {0};
	uint64_t mem = 64;
	int rc = 0;

	if (!p->stage)
		return 0;
	if (provider_opts_make(p, req_opts, &opts, err) < 0)
		return -1;
	if (image_format_get(image_id, p->image_format, false, true, NULL, &image, NULL, NULL,
	                     &name, err) < 0)
		return -1;
	lock();
	for (size_t i = 0; i < D.nimages; i++)
		if (strcmp(D.images[i]->id, image_id) == 0) {
			mem = D.images[i]->memory_mb > 0 ? (uint64_t)D.images[i]->memory_mb : 64;
			rc = image_cmdline(D.images[i], &cmdline, err);
		}
	unlock();
	if (rc < 0)
		return -1;
	spec.image_id = image_id;
	spec.image_name = name;
	spec.image_dir = image_dir;
	spec.image = image;
	spec.kernel = kernel;
	spec.cmdline = cmdline ? cmdline : "";
	spec.memory_mb = mem;
	spec.opts = (const char *const *)opts.v;
	spec.progress = log;
	spec.ctx = ctx;
	if (p->stage(NULL, &spec, err) < 0) {
		unik_error_prefix(err, "staging image %s on %s", name, p->name);
		return -1;
	}
	return 0;
}

static void console_note(void *ctx, const char *line)
{
	const char *dir = ctx;
	_cleanup_free_ char *path = unik_path_join(dir, "console.log");
	_cleanup_free_ char *text = xasprintf("unik: %s\n", line);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0) {
		/* a progress note is not worth failing the run */
	}
	close(fd);
}

static int launch(struct unik_instance *in, const struct unik_provider *p, struct unik_error *err)
{
	_cleanup_free_ char *dir = inst_dir(in->id);
	_cleanup_free_ char *image_dir = unik_path_join(D.images_dir, in->image_id);
	_cleanup_strv_ struct strv opts = {0};
	_cleanup_free_ char *kernel = unik_image_kernel_path(D.images_dir, in->image_id);
	_cleanup_free_ char *initrd = unik_image_rootfs_path(D.images_dir, in->image_id);
	_cleanup_free_ char *image = NULL;
	struct unik_run_spec spec = {
	    .instance_id = in->id,
	    .instance_name = in->name,
	    .instance_dir = dir,
	    .kernel = kernel,
	    .initrd = initrd,
	    .cmdline = in->cmdline,
	    .memory_mb = (uint64_t)in->memory_mb,
	    .image_id = in->image_id,
	    .image_dir = image_dir,
	};
	struct unik_instance_status st = {0};
	_cleanup_free_ char *disk = NULL, *disk_cmdline = NULL;
	char reason[512] = "";

	if (provider_opts_make(p, &in->provider_opts, &opts, err) < 0)
		return -1;
	/* A disk the image was packed in, for providers that can boot one (kvm's boot=disk). */
	lock();
	for (size_t i = 0; i < D.nimages; i++) {
		const struct unik_image *im = D.images[i];
		static const char *const disks[] = {"qcow2", "raw"};

		if (strcmp(im->id, in->image_id) != 0)
			continue;
		for (size_t k = 0; k < 2 && !disk; k++)
			if (unik_formats_get(&im->formats, disks[k])) {
				disk = unik_path_join(image_dir,
				                      unik_image_format_find(disks[k])->file);
				spec.disk_format = disks[k];
			}
		if (disk && image_cmdline(im, &disk_cmdline, NULL) < 0)
			disk_cmdline = NULL;
	}
	unlock();
	spec.disk = disk;
	spec.disk_cmdline = disk_cmdline ? disk_cmdline : "";
	spec.opts = (const char *const *)opts.v;
	if (!p->available(spec.opts, reason, sizeof(reason))) {
		unik_error_set(err, UNIK_E_UNSUPPORTED, "provider %s is unavailable: %s", p->name,
		               reason);
		return -1;
	}
	/* A provider that runs images from elsewhere (an AMI) gets the image there first; this
	 * returns at once when it already is. */
	if (p->stage &&
	    image_stage(in->image_id, p, &in->provider_opts, console_note, dir, err) < 0)
		return -1;

	/* The provider's format, made now if the image lacks it, and checked: a damaged file is
	 * an error here, not a hang or a garbage boot. */
	if (image_format_get(in->image_id, p->image_format, false, true, NULL, &image, NULL, NULL,
	                     NULL, err) < 0)
		return -1;
	spec.image = image;
	if (p->run(NULL, &spec, &st, err) < 0)
		return -1;
	mark_started(in, &st);
	return 0;
}

int inst_run(const struct run_req *rr, json_t **out, struct unik_error *err)
{
	struct unik_instance *in = xcalloc(1, sizeof(*in));
	const struct unik_provider *p;
	_cleanup_free_ char *dir = NULL;
	struct unik_image *im;

	lock();
	im = resolve_image(rr->image, err);
	if (!im) {
		unlock();
		goto fail_free;
	}
	unik_new_id(in->id);
	in->image = xstrdup(im->name);
	in->image_id = xstrdup(im->id);
	in->provider = xstrdup(rr->provider ? rr->provider : im->provider);
	in->memory_mb = rr->memory_mb ? rr->memory_mb : im->memory_mb ? im->memory_mb : 64;
	/* Less hangs the guest before it can print: its kernel is loaded at 1 MiB. */
	if (in->memory_mb < UNIK_MIN_MEMORY_MB) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "memory %lld MiB is too little for a unik guest: it needs at least %d "
		    "MiB (the kernel is loaded at 1 MiB); ask for more, e.g. 64",
		    (long long)in->memory_mb, UNIK_MIN_MEMORY_MB);
		unlock();
		goto fail_free;
	}
	in->exit_code = -1;
	in->state = UNIK_STATE_PENDING;
	in->created = unik_now_rfc3339(3);
	in->busy = true;
	in->args = xstrdup(rr->args ? rr->args : im->args ? im->args : "");
	strv_extend(&in->env, &im->env);
	unik_env_update(&in->env, &rr->env);
	strv_extend(&in->provider_opts, &rr->provider_opts);
	if (compose_cmdline(im, rr, &in->cmdline, err) < 0) {
		unlock();
		goto fail_free;
	}
	if (rr->name) {
		in->name = xstrdup(rr->name);
	} else {
		for (int tries = 0; tries < 100 && !in->name; tries++) {
			char suffix[UNIK_ID_LEN + 1];
			char *cand;

			unik_new_id(suffix);
			suffix[4] = '\0';
			cand = strlen(im->name) > 58 ? xasprintf("%.58s-%s", im->name, suffix)
			                             : xasprintf("%s-%s", im->name, suffix);
			if (find_instance_name(cand))
				free(cand);
			else
				in->name = cand;
		}
	}
	if (!in->name || find_instance_name(in->name)) {
		unlock();
		unik_error_set(err, UNIK_E_EXISTS, "instance \"%s\" exists: pick another name",
		               in->name ? in->name : "");
		goto fail_free;
	}
	p = unik_provider_find(in->provider);
	if (!p) {
		unlock();
		unik_error_set(err, UNIK_E_INVALID,
		               "unknown provider \"%.*s\" (see unik providers)",
		               UNIK_UTF8_CUT(in->provider, 60));
		goto fail_free;
	}
	{
		_cleanup_strv_ struct strv check = {0};

		if (provider_opts_make(p, &in->provider_opts, &check, err) < 0) {
			unlock();
			goto fail_free;
		}
	}
	if (D.stopping) {
		unlock();
		unik_error_set(err, UNIK_E_STATE, "the daemon is stopping");
		goto fail_free;
	}
	in->seq = ++D.seq;
	if (save_instance(in, err) < 0) {
		unlock();
		goto fail_free;
	}
	add_instance(in);
	unlock();

	dir = inst_dir(in->id);
	if (mkdir(dir, 0700) < 0) {
		unik_error_sys(err, errno, "create %s", dir);
		goto fail_remove;
	}
	if (launch(in, p, err) < 0)
		goto fail_remove;
	lock();
	in->busy = false;
	if (save_instance(in, err) < 0) {
		/* It runs, but could not be recorded: stop it rather than lose track of it. */
		unlock();
		p->stop(NULL, dir, true, 0, NULL);
		goto fail_remove;
	}
	*out = instance_json(in);
	pthread_cond_broadcast(&D.changed);
	unlock();
	return 0;
fail_remove:
	if (dir) {
		p->remove(NULL, dir, NULL);
		unik_rmtree(dir, NULL);
	}
	lock();
	db_begin();
	db_del_instance(in->id, NULL);
	db_commit(NULL);
	remove_instance(in);
	unlock();
fail_free:
	unik_instance_free(in);
	return -1;
}

/* Looks up ref and marks it busy, so concurrent stop/start/delete calls wait their turn. */
static struct unik_instance *claim(const char *ref, struct unik_error *err)
{
	struct unik_instance *in;

	lock();
	for (;;) {
		in = resolve_instance(ref, err);
		if (!in || !in->busy)
			break;
		pthread_cond_wait(&D.changed, &D.lock);
	}
	if (in)
		in->busy = true;
	unlock();
	return in;
}

static void release(struct unik_instance *in)
{
	lock();
	in->busy = false;
	pthread_cond_broadcast(&D.changed);
	unlock();
}

static const struct unik_provider *provider_of(const struct unik_instance *in,
                                               struct unik_error *err)
{
	const struct unik_provider *p = unik_provider_find(in->provider);

	if (!p)
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "instance %s runs on provider \"%s\", which this unik does not have",
		               in->name, in->provider);
	return p;
}

static int refresh(struct unik_instance *in, const struct unik_provider *p, struct unik_error *err)
{
	_cleanup_free_ char *dir = inst_dir(in->id);
	struct unik_instance_status st = {0};

	if (p->status(NULL, dir, &st, err) < 0)
		return -1;
	lock();
	apply_status(in, &st);
	unlock();
	return 0;
}

int inst_stop(const char *ref, json_t **out, struct unik_error *err)
{
	struct unik_instance *in = claim(ref, err);
	const struct unik_provider *p;
	_cleanup_free_ char *dir = NULL;
	int rc = -1;

	if (!in)
		return -1;
	if (!(p = provider_of(in, err)))
		goto out;
	dir = inst_dir(in->id);
	if (!unik_instance_state_final(in->state)) {
		if (p->stop(NULL, dir, false, 10000, err) < 0)
			goto out;
		if (refresh(in, p, err) < 0)
			goto out;
	}
	lock();
	rc = save_instance(in, err);
	if (rc == 0)
		*out = instance_json(in);
	unlock();
out:
	release(in);
	return rc;
}

int inst_start(const char *ref, json_t **out, struct unik_error *err)
{
	struct unik_instance *in = claim(ref, err);
	const struct unik_provider *p;
	_cleanup_free_ char *dir = NULL;
	int rc = -1;

	if (!in)
		return -1;
	if (!(p = provider_of(in, err)))
		goto out;
	if (!unik_instance_state_final(in->state)) {
		unik_error_set(err, UNIK_E_STATE, "instance %s is %s: stop it first", in->name,
		               unik_instance_state_name(in->state));
		goto out;
	}
	dir = inst_dir(in->id);
	if (p->start) {
		/* The same VM again, in place (the same domain, the same EC2 instance). */
		struct unik_instance_status st = {0};

		if (p->start(NULL, dir, &st, err) < 0)
			goto out;
		mark_started(in, &st);
	} else {
		/* The provider frees what the last run left (console.log stays, and is appended
		 * to). */
		p->remove(NULL, dir, NULL);
		mkdir(dir, 0700);
		if (launch(in, p, err) < 0)
			goto out;
	}
	lock();
	rc = save_instance(in, err);
	if (rc == 0)
		*out = instance_json(in);
	unlock();
out:
	release(in);
	return rc;
}

static int delete_claimed(struct unik_instance *in, bool force, struct unik_error *err)
{
	const struct unik_provider *p = unik_provider_find(in->provider);
	_cleanup_free_ char *dir = inst_dir(in->id);

	if (!unik_instance_state_final(in->state)) {
		if (!force) {
			unik_error_set(err, UNIK_E_STATE,
			               "instance %s is %s: stop it first or delete with force",
			               in->name, unik_instance_state_name(in->state));
			return -1;
		}
		if (p && p->stop(NULL, dir, true, 0, err) < 0)
			return -1;
	}
	if (p)
		p->remove(NULL, dir, NULL);
	if (unik_rmtree(dir, err) < 0)
		return -1;
	lock();
	db_begin();
	if (db_del_instance(in->id, err) < 0 || db_commit(err) < 0) {
		db_rollback();
		unlock();
		return -1;
	}
	remove_instance(in);
	pthread_cond_broadcast(&D.changed);
	unlock();
	unik_instance_free(in);
	return 0;
}

int inst_delete(const char *ref, bool force, struct unik_error *err)
{
	struct unik_instance *in = claim(ref, err);

	if (!in)
		return -1;
	if (delete_claimed(in, force, err) < 0) {
		release(in);
		return -1;
	}
	return 0;
}

int inst_wait(const char *ref, bool (*gone)(void *), void *ctx, json_t **out,
              struct unik_error *err)
{
	struct unik_instance *in;
	char id[UNIK_ID_LEN + 1];

	lock();
	in = resolve_instance(ref, err);
	if (!in) {
		unlock();
		return -1;
	}
	memcpy(id, in->id, sizeof(id));
	for (;;) {
		struct timespec ts;

		in = NULL;
		for (size_t i = 0; i < D.ninsts; i++)
			if (strcmp(D.insts[i]->id, id) == 0)
				in = D.insts[i];
		if (!in) {
			unlock();
			unik_error_set(err, UNIK_E_NOTFOUND, "instance %s was deleted", ref);
			return -1;
		}
		if (unik_instance_state_final(in->state) && !in->busy) {
			*out = instance_json(in);
			unlock();
			return 0;
		}
		if (D.stopping || (gone && gone(ctx))) {
			unlock();
			unik_error_set(err, UNIK_E_STATE, "the daemon is stopping");
			return -1;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&D.changed, &D.lock, &ts);
	}
}

int inst_log(const char *ref, char **path, char id[UNIK_ID_LEN + 1], struct unik_error *err)
{
	struct unik_instance *in;

	lock();
	in = resolve_instance(ref, err);
	if (in) {
		memcpy(id, in->id, UNIK_ID_LEN + 1);
		*path = xasprintf("%s/%s/console.log", D.instances_dir, in->id);
	}
	unlock();
	return in ? 0 : -1;
}

bool inst_ended(const char *id)
{
	bool r = true;

	lock();
	for (size_t i = 0; i < D.ninsts; i++)
		if (strcmp(D.insts[i]->id, id) == 0)
			r = unik_instance_state_final(D.insts[i]->state) && !D.insts[i]->busy;
	unlock();
	return r;
}

int image_delete(const char *ref, bool force, struct unik_error *err)
{
	struct unik_image *im;
	_cleanup_strv_ struct strv users = {0};

	lock();
	im = resolve_image(ref, err);
	if (!im) {
		unlock();
		return -1;
	}
	for (size_t i = 0; i < D.ninsts; i++)
		if (strcmp(D.insts[i]->image_id, im->id) == 0)
			strv_push(&users, D.insts[i]->id);
	if (users.n && !force) {
		unlock();
		unik_error_set(err, UNIK_E_STATE,
		               "image %s is used by %zu instance(s): delete them first or delete "
		               "the image with force",
		               im->name, users.n);
		return -1;
	}
	char id[UNIK_ID_LEN + 1];
	memcpy(id, im->id, sizeof(id));
	unlock();
	for (size_t i = 0; i < users.n; i++) {
		struct unik_error e2;
		struct unik_instance *in = claim(users.v[i], &e2);

		if (in && delete_claimed(in, true, err) < 0) {
			release(in);
			return -1;
		}
	}
	/* What providers staged elsewhere (an AMI and its snapshot) goes first: if that fails,
	 * the image stays, so nothing is left behind unaccounted for. */
	for (size_t i = 0; unik_providers[i]; i++) {
		const struct unik_provider *p = unik_providers[i];
		_cleanup_free_ char *image_dir = unik_path_join(D.images_dir, id);
		_cleanup_strv_ struct strv opts = {0};

		if (!p->unstage)
			continue;
		provider_opts_make(p, NULL, &opts, NULL);
		if (p->unstage(NULL, image_dir, (const char *const *)opts.v, err) < 0) {
			unik_error_prefix(err, "removing what provider %s staged", p->name);
			return -1;
		}
	}
	lock();
	im = NULL;
	for (size_t i = 0; i < D.nimages; i++)
		if (strcmp(D.images[i]->id, id) == 0)
			im = D.images[i];
	if (!im) {
		unlock();
		return 0;
	}
	db_begin();
	if (db_del_image(im->id, err) < 0 || db_commit(err) < 0) {
		db_rollback();
		unlock();
		return -1;
	}
	remove_image(im);
	unlock();
	image_files_remove(im->id, NULL);
	unik_image_free(im);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Monitor */

static void poll_once(void)
{
	_cleanup_strv_ struct strv ids = {0};
	_cleanup_strv_ struct strv provs = {0};

	lock();
	for (size_t i = 0; i < D.ninsts; i++) {
		struct unik_instance *in = D.insts[i];

		if (!unik_instance_state_final(in->state) && !in->busy) {
			strv_push(&ids, in->id);
			strv_push(&provs, in->provider);
		}
	}
	unlock();
	for (size_t i = 0; i < ids.n; i++) {
		const struct unik_provider *p = unik_provider_find(provs.v[i]);
		_cleanup_free_ char *dir = inst_dir(ids.v[i]);
		struct unik_instance_status st = {0};
		struct unik_error err = {0};

		if (!p) {
			st.state = UNIK_STATE_CRASHED;
			st.exit_code = -1;
			snprintf(st.detail, sizeof(st.detail), "provider %s is not available",
			         provs.v[i]);
		} else if (p->status(NULL, dir, &st, &err) < 0) {
			if (err.code != UNIK_E_NOTFOUND)
				continue;
			st.state = UNIK_STATE_CRASHED;
			st.exit_code = -1;
			snprintf(st.detail, sizeof(st.detail), "lost: %.*s",
			         UNIK_UTF8_CUT(err.msg, 200));
		}
		lock();
		for (size_t j = 0; j < D.ninsts; j++) {
			struct unik_instance *in = D.insts[j];

			if (strcmp(in->id, ids.v[i]) != 0 || in->busy ||
			    unik_instance_state_final(in->state))
				continue;
			if (in->state != st.state || in->pid != st.pid ||
			    strcmp(in->ip, st.ip) != 0) {
				apply_status(in, &st);
				if (save_instance(in, &err) < 0)
					fprintf(stderr, "unik daemon: %s\n", err.msg);
				pthread_cond_broadcast(&D.changed);
			}
		}
		unlock();
	}
}

static void *monitor(void *arg)
{
	(void)arg;
	while (!D.stopping) {
		struct timespec ts = {0, 100 * 1000000L};

		poll_once();
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int instances_start(struct unik_error *err)
{
	/* Adopt: whatever an earlier daemon left pending or running is asked about now. */
	poll_once();
	if (pthread_create(&monitor_thread, NULL, monitor, NULL) != 0) {
		unik_error_set(err, UNIK_E_IO, "cannot start the instance monitor");
		return -1;
	}
	monitor_running = true;
	return 0;
}

void instances_stop(void)
{
	if (monitor_running)
		pthread_join(monitor_thread, NULL);
	monitor_running = false;
}

/* ------------------------------------------------------------------------------------------ */
/* Discovery */

json_t *providers_json(void)
{
	json_t *a = json_array();
	const char *def = D.cfg.default_provider ? D.cfg.default_provider : unik_provider_default();

	for (size_t i = 0; unik_providers[i]; i++) {
		const struct unik_provider *p = unik_providers[i];
		char reason[512] = "";
		_cleanup_strv_ struct strv opts = {0};
		json_t *keys = json_object();
		bool ok;

		provider_opts_make(p, NULL, &opts, NULL);
		ok = p->available((const char *const *)opts.v, reason, sizeof(reason));
		for (size_t k = 0; p->opt_keys && p->opt_keys[k]; k++)
			json_object_set_new(
			    keys, p->opt_keys[k],
			    json_string(p->opt_help && p->opt_help[k] ? p->opt_help[k] : ""));
		json_array_append_new(a,
		                      json_pack("{s:s, s:s, s:b, s:b, s:s, s:s, s:o}", "name",
		                                p->name, "description", p->description, "default",
		                                strcmp(p->name, def) == 0, "available", ok,
		                                "reason", ok ? "" : reason, "image_format",
		                                p->image_format, "options", keys));
	}
	return a;
}

json_t *compilers_json(void)
{
	json_t *a = json_array();

	for (size_t i = 0; unik_compilers[i]; i++) {
		const struct unik_compiler *c = unik_compilers[i];
		json_t *langs = json_array(), *provs = json_array();

		for (size_t j = 0; c->languages[j]; j++)
			json_array_append_new(langs, json_string(c->languages[j]));
		for (size_t j = 0; unik_providers[j]; j++)
			if (strcmp(unik_providers[j]->image_format, "elf") == 0)
				json_array_append_new(provs, json_string(unik_providers[j]->name));
		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:o, s:s}", "name", c->name,
		                                   "base", c->base, "languages", langs, "providers",
		                                   provs, "description", c->description));
	}
	return a;
}
