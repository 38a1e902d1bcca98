/* Instances: run an image through its provider (core/vm.c), watch it (provider events where
 * there are, else polling), stop, start again, delete, and adopt what an earlier daemon left
 * running. */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/cmdline.h"
#include "lib/guest_elf.h"
#include "compilers/compiler.h"
#include "core/vm.h"
#include "images/store.h"
#include "lib/names.h"
#include "unik/abi.h"
#include "unik/devices.h"
#include "lib/utf8.h"

static char *inst_dir(struct unik_core *c, const char *id)
{
	return unik_path_join(c->instances_dir, id);
}

/* Opens in's provider for one call, with the options in was run with (checked then). */
static int vm_open(struct unik_core *c, struct unik_vm *vm, const struct unik_provider *p,
                   const struct strv *req_opts, struct unik_error *err)
{
	_cleanup_strv_ struct strv opts = {0};

	if (unik_core_provider_opts(c, p, req_opts, &opts, NULL) < 0) {
		strv_free(&opts);
		unik_core_provider_opts(c, p, NULL, &opts, NULL);
	}
	return unik_vm_open(vm, p, (const char *const *)opts.v, err);
}

static int vm_stop(struct unik_core *c, const struct unik_provider *p, const struct strv *req_opts,
                   const char *dir, bool force, int timeout_ms, struct unik_error *err)
{
	struct unik_vm vm;
	int rc;

	if (vm_open(c, &vm, p, req_opts, err) < 0)
		return -1;
	rc = unik_vm_stop(&vm, dir, force, timeout_ms, err);
	unik_vm_close(&vm);
	return rc;
}

static int vm_remove(struct unik_core *c, const struct unik_provider *p,
                     const struct strv *req_opts, const char *dir, struct unik_error *err)
{
	struct unik_vm vm;
	int rc;

	if (vm_open(c, &vm, p, req_opts, err) < 0)
		return -1;
	rc = unik_vm_remove(&vm, dir, err);
	unik_vm_close(&vm);
	return rc;
}

static int vm_status(struct unik_core *c, const struct unik_provider *p,
                     const struct strv *req_opts, const char *dir, struct unik_instance_status *st,
                     struct unik_error *err)
{
	struct unik_vm vm;
	int rc;

	if (vm_open(c, &vm, p, req_opts, err) < 0)
		return -1;
	rc = unik_vm_status(&vm, dir, st, err);
	unik_vm_close(&vm);
	return rc;
}

static void apply_status(struct unik_instance *in, const struct unik_instance_status *st)
{
	bool was_final = unik_instance_state_final(in->state);

	in->state = st->state;
	in->exit_code = (st->state == UNIK_STATE_EXITED || st->state == UNIK_STATE_CRASHED)
	                    ? st->exit_code
	                    : -1;
	in->pid = st->pid;
	/* The provider's word for the address wins (an AWS instance's); the core's own, handed out
	 * with the NICs, stays when the provider has none. */
	if (st->ip[0])
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
static void mark_started(struct unik_core *c, struct unik_instance *in,
                         const struct unik_instance_status *st)
{
	core_lock(c);
	apply_status(in, st);
	free(in->started);
	in->started = unik_now_rfc3339(3);
	if (!unik_instance_state_final(in->state)) {
		free(in->finished);
		in->finished = NULL;
	}
	core_unlock(c);
	instances_kick(c);
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

static int launch(struct unik_core *c, struct unik_instance *in, const struct unik_provider *p,
                  struct unik_error *err)
{
	_cleanup_free_ char *dir = inst_dir(c, in->id);
	_cleanup_free_ char *image_dir = unik_path_join(c->images_dir, in->image_id);
	_cleanup_strv_ struct strv opts = {0};
	_cleanup_free_ char *kernel = unik_image_kernel_path(c->images_dir, in->image_id);
	_cleanup_free_ char *initrd = unik_image_rootfs_path(c->images_dir, in->image_id);
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
	struct unik_device devs[UNIK_DEV_MAX];
	_cleanup_strv_ struct strv dev_strings = {0};

	struct unik_vm vm;
	int rc;

	if (unik_core_provider_opts(c, p, &in->provider_opts, &opts, err) < 0)
		return -1;
	/* A disk the image was packed in, for providers that can boot one (kvm's boot=disk). */
	core_lock(c);
	for (size_t i = 0; i < c->nimages; i++) {
		const struct unik_image *im = c->images[i];
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
	/* The NICs, their strings pointing into in and the core's networks: in is busy (claimed),
	 * and a network in use is never removed, so both outlive the run.  Then the volumes and
	 * shares. */
	spec.ndevices = nics_devices(c, in, devs, UNIK_DEV_MAX);
	spec.ndevices +=
	    mounts_devices(c, in, devs + spec.ndevices, UNIK_DEV_MAX - spec.ndevices, &dev_strings);
	binds_name_devices(c, in->image_id, devs, spec.ndevices, &dev_strings);
	spec.devices = spec.ndevices ? devs : NULL;
	core_unlock(c);
	if (mounts_attach(c, in, console_note, dir, err) < 0)
		return -1;
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
	    image_stage(c, in->image_id, p, &in->provider_opts, console_note, dir, err) < 0)
		return -1;

	/* The provider's format, made now if the image lacks it, and checked: a damaged file is
	 * an error here, not a hang or a garbage boot. */
	if (unik_core_image_format(c, in->image_id, p->image_format, false, true, NULL, &image,
	                           NULL, NULL, err) < 0)
		return -1;
	spec.image = image;
	if (unik_vm_open(&vm, p, spec.opts, err) < 0)
		return -1;
	rc = unik_vm_run(&vm, &spec, &st, err);
	unik_vm_close(&vm);
	if (rc < 0)
		return -1;
	/* The MACs the run derived stay the instance's: a start again keeps them. */
	core_lock(c);
	for (size_t i = 0; i < spec.ndevices && i < in->nnics; i++)
		snprintf(in->nics[i].mac, sizeof(in->nics[i].mac), "%s", devs[i].mac);
	core_unlock(c);
	mark_started(c, in, &st);
	return 0;
}

/* launch() and a stop as jobs of the core's queue, run inline: the caller answers when they end,
 * and listeners see them begin and end like any other job. */
struct launch_args {
	struct unik_core *c;
	struct unik_instance *in;
	const struct unik_provider *p;
	const char *dir;
};

static int launch_job(void *arg, struct unik_job *job, struct unik_error *err)
{
	struct launch_args *a = arg;

	(void)job;
	return launch(a->c, a->in, a->p, err);
}

static int run_launch(struct unik_core *c, struct unik_instance *in, const struct unik_provider *p,
                      struct unik_error *err)
{
	struct launch_args a = {c, in, p, NULL};

	return unik_jobs_run(c->jobs, UNIK_JOB_RUN, in->id, in->name, launch_job, &a, err);
}

static int stop_job(void *arg, struct unik_job *job, struct unik_error *err)
{
	struct launch_args *a = arg;

	(void)job;
	return vm_stop(a->c, a->p, &a->in->provider_opts, a->dir, false, 10000, err);
}

/* The kinds of device the image's kernel says it uses (its UNIK_NOTE_DEVICES notes); 0 when it
 * cannot be read (the run then fails later, saying why). */
static unsigned image_devices(struct unik_core *c, const struct unik_image *im)
{
	_cleanup_free_ char *kernel = unik_image_kernel_path(c->images_dir, im->id);
	struct unik_guest_elf g;

	return unik_guest_elf_check(kernel, &g, NULL) < 0 ? 0 : g.devices;
}

int unik_core_run(struct unik_core *c, const struct unik_run_request *rr,
                  struct unik_instance **out, struct unik_error *err)
{
	struct unik_instance *in = xcalloc(1, sizeof(*in));
	const struct unik_provider *p;
	_cleanup_free_ char *dir = NULL;
	struct unik_image *im;

	core_lock(c);
	im = resolve_image(c, rr->image, err);
	if (!im) {
		core_unlock(c);
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
		core_unlock(c);
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
		core_unlock(c);
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
			if (find_instance_name(c, cand))
				free(cand);
			else
				in->name = cand;
		}
	}
	if (!in->name || find_instance_name(c, in->name)) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_EXISTS, "instance \"%s\" exists: pick another name",
		               in->name ? in->name : "");
		goto fail_free;
	}
	p = unik_core_provider(c, in->provider);
	if (!p) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_INVALID,
		               "unknown provider \"%.*s\" (see unik providers)",
		               UNIK_UTF8_CUT(in->provider, 60));
		goto fail_free;
	}
	{
		_cleanup_strv_ struct strv check = {0};

		if (unik_core_provider_opts(c, p, &in->provider_opts, &check, err) < 0 ||
		    binds_check_provider(c, im, p->name, err) < 0) {
			core_unlock(c);
			goto fail_free;
		}
	}
	/* A NIC by default only where the provider has a user-mode network to put it on (xen has
	 * none); asked for (-p, --network), a provider without is refused with the reason when the
	 * run starts.  A mirage application's bindings stand for its NICs and volumes. */
	{
		struct unik_run_request eff = *rr;
		_cleanup_strv_ struct strv bind_nets = {0}, bind_vols = {0};
		int r = binds_apply(c, im, rr, &bind_nets, &bind_vols, err);

		if (r == 0 && (bind_nets.n || bind_vols.n)) {
			eff.networks = bind_nets;
			eff.volumes = bind_vols;
		}
		if (r < 0 ||
		    nics_assign(c, in, &eff, p->user_net ? image_devices(c, im) & p->caps : 0,
		                err) < 0 ||
		    mounts_assign(c, in, &eff, err) < 0) {
			core_unlock(c);
			goto fail_free;
		}
	}
	if (c->stopping) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_STATE, "the daemon is stopping");
		goto fail_free;
	}
	in->seq = ++c->seq;
	if (save_instance(c, in, err) < 0) {
		core_unlock(c);
		goto fail_free;
	}
	add_instance(c, in);
	core_unlock(c);

	dir = inst_dir(c, in->id);
	if (mkdir(dir, 0700) < 0) {
		unik_error_sys(err, errno, "create %s", dir);
		goto fail_remove;
	}
	if (run_launch(c, in, p, err) < 0)
		goto fail_remove;
	core_lock(c);
	in->busy = false;
	if (save_instance(c, in, err) < 0) {
		/* It runs, but could not be recorded: stop it rather than lose track of it. */
		core_unlock(c);
		vm_stop(c, p, &in->provider_opts, dir, true, 0, NULL);
		goto fail_remove;
	}
	*out = unik_instance_dup(in);
	pthread_cond_broadcast(&c->changed);
	core_unlock(c);
	return 0;
fail_remove:
	if (dir) {
		vm_remove(c, p, &in->provider_opts, dir, NULL);
		unik_rmtree(dir, NULL);
	}
	core_lock(c);
	db_begin(c);
	db_del_instance(c, in->id, NULL);
	db_commit(c, NULL);
	remove_instance(c, in);
	core_unlock(c);
fail_free:
	unik_instance_free(in);
	return -1;
}

/* Looks up ref and marks it busy, so concurrent stop/start/delete calls wait their turn. */
static struct unik_instance *claim(struct unik_core *c, const char *ref, struct unik_error *err)
{
	struct unik_instance *in;

	core_lock(c);
	for (;;) {
		in = resolve_instance(c, ref, err);
		if (!in || !in->busy)
			break;
		pthread_cond_wait(&c->changed, &c->lock);
	}
	if (in)
		in->busy = true;
	core_unlock(c);
	return in;
}

static void release(struct unik_core *c, struct unik_instance *in)
{
	core_lock(c);
	in->busy = false;
	pthread_cond_broadcast(&c->changed);
	core_unlock(c);
}

static const struct unik_provider *provider_of(struct unik_core *c, const struct unik_instance *in,
                                               struct unik_error *err)
{
	const struct unik_provider *p = unik_core_provider(c, in->provider);

	if (!p)
		unik_error_set(err, UNIK_E_UNSUPPORTED,
		               "instance %s runs on provider \"%s\", which this unik does not have",
		               in->name, in->provider);
	return p;
}

static int refresh(struct unik_core *c, struct unik_instance *in, const struct unik_provider *p,
                   struct unik_error *err)
{
	_cleanup_free_ char *dir = inst_dir(c, in->id);
	struct unik_instance_status st = {0};

	if (vm_status(c, p, &in->provider_opts, dir, &st, err) < 0)
		return -1;
	core_lock(c);
	apply_status(in, &st);
	core_unlock(c);
	return 0;
}

int unik_core_stop_instance(struct unik_core *c, const char *ref, struct unik_instance **out,
                            struct unik_error *err)
{
	struct unik_instance *in = claim(c, ref, err);
	const struct unik_provider *p;
	_cleanup_free_ char *dir = NULL;
	int rc = -1;

	if (!in)
		return -1;
	if (!(p = provider_of(c, in, err)))
		goto out;
	dir = inst_dir(c, in->id);
	if (!unik_instance_state_final(in->state)) {
		struct launch_args a = {c, in, p, dir};

		if (unik_jobs_run(c->jobs, UNIK_JOB_STOP, in->id, in->name, stop_job, &a, err) < 0)
			goto out;
		if (refresh(c, in, p, err) < 0)
			goto out;
	}
	core_lock(c);
	rc = save_instance(c, in, err);
	if (rc == 0)
		*out = unik_instance_dup(in);
	core_unlock(c);
out:
	release(c, in);
	return rc;
}

int unik_core_start_instance(struct unik_core *c, const char *ref, struct unik_instance **out,
                             struct unik_error *err)
{
	struct unik_instance *in = claim(c, ref, err);
	const struct unik_provider *p;
	_cleanup_free_ char *dir = NULL;
	int rc = -1;

	if (!in)
		return -1;
	if (!(p = provider_of(c, in, err)))
		goto out;
	if (!unik_instance_state_final(in->state)) {
		unik_error_set(err, UNIK_E_STATE, "instance %s is %s: stop it first", in->name,
		               unik_instance_state_name(in->state));
		goto out;
	}
	dir = inst_dir(c, in->id);
	core_lock(c);
	rc = mounts_check_free(c, in, err);
	core_unlock(c);
	if (rc < 0)
		goto out;
	rc = -1;
	/* Volumes may have been attached or detached since the last run (UniK's attach-volume):
	 * an instance with mounts boots from its spec again, not in place. */
	if (p->start && in->nmounts == 0) {
		/* The same VM again, in place (the same domain, the same EC2 instance). */
		struct unik_instance_status st = {0};

		struct unik_vm vm;

		if (vm_open(c, &vm, p, &in->provider_opts, err) < 0)
			goto out;
		rc = unik_vm_start(&vm, dir, &st, err);
		unik_vm_close(&vm);
		if (rc < 0)
			goto out;
		mark_started(c, in, &st);
	} else {
		/* The provider frees what the last run left (console.log stays, and is appended
		 * to). */
		vm_remove(c, p, &in->provider_opts, dir, NULL);
		mkdir(dir, 0700);
		if (run_launch(c, in, p, err) < 0)
			goto out;
	}
	core_lock(c);
	rc = save_instance(c, in, err);
	if (rc == 0)
		*out = unik_instance_dup(in);
	core_unlock(c);
out:
	release(c, in);
	return rc;
}

static int delete_claimed(struct unik_core *c, struct unik_instance *in, bool force,
                          struct unik_error *err)
{
	const struct unik_provider *p = unik_core_provider(c, in->provider);
	_cleanup_free_ char *dir = inst_dir(c, in->id);

	if (!unik_instance_state_final(in->state)) {
		if (!force) {
			unik_error_set(
			    err, UNIK_E_STATE,
			    "instance %s is %s: stop it first, or stop and delete it with "
			    "`unik rm -f` (REST: ?force=true)",
			    in->name, unik_instance_state_name(in->state));
			return -1;
		}
		if (p && vm_stop(c, p, &in->provider_opts, dir, true, 0, err) < 0)
			return -1;
	}
	if (p)
		vm_remove(c, p, &in->provider_opts, dir, NULL);
	if (unik_rmtree(dir, err) < 0)
		return -1;
	core_lock(c);
	db_begin(c);
	if (db_del_instance(c, in->id, err) < 0 || db_commit(c, err) < 0) {
		db_rollback(c);
		core_unlock(c);
		return -1;
	}
	remove_instance(c, in);
	pthread_cond_broadcast(&c->changed);
	core_unlock(c);
	unik_instance_free(in);
	return 0;
}

int unik_core_delete_instance(struct unik_core *c, const char *ref, bool force,
                              struct unik_error *err)
{
	struct unik_instance *in = claim(c, ref, err);

	if (!in)
		return -1;
	if (delete_claimed(c, in, force, err) < 0) {
		release(c, in);
		return -1;
	}
	return 0;
}

int unik_core_wait_instance(struct unik_core *c, const char *ref, bool (*gone)(void *), void *ctx,
                            struct unik_instance **out, struct unik_error *err)
{
	struct unik_instance *in;
	char id[UNIK_ID_LEN + 1];

	core_lock(c);
	in = resolve_instance(c, ref, err);
	if (!in) {
		core_unlock(c);
		return -1;
	}
	memcpy(id, in->id, sizeof(id));
	for (;;) {
		struct timespec ts;

		in = NULL;
		for (size_t i = 0; i < c->ninsts; i++)
			if (strcmp(c->insts[i]->id, id) == 0)
				in = c->insts[i];
		if (!in) {
			core_unlock(c);
			unik_error_set(err, UNIK_E_NOTFOUND, "instance %s was deleted", ref);
			return -1;
		}
		if (unik_instance_state_final(in->state) && !in->busy) {
			*out = unik_instance_dup(in);
			core_unlock(c);
			return 0;
		}
		if (c->stopping || (gone && gone(ctx))) {
			core_unlock(c);
			unik_error_set(err, UNIK_E_STATE, "the daemon is stopping");
			return -1;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->changed, &c->lock, &ts);
	}
}

int unik_core_instance_log(struct unik_core *c, const char *ref, char **path,
                           char id[UNIK_ID_LEN + 1], struct unik_error *err)
{
	struct unik_instance *in;

	core_lock(c);
	in = resolve_instance(c, ref, err);
	if (in) {
		memcpy(id, in->id, UNIK_ID_LEN + 1);
		*path = xasprintf("%s/%s/console.log", c->instances_dir, in->id);
	}
	core_unlock(c);
	return in ? 0 : -1;
}

int unik_core_instance_input(struct unik_core *c, const char *ref, const char *data, size_t len,
                             struct unik_error *err)
{
	struct unik_instance *in;
	_cleanup_free_ char *fifo = NULL, *name = NULL;
	_cleanup_close_ int fd = -1;
	bool running = false;

	core_lock(c);
	in = resolve_instance(c, ref, err);
	if (in) {
		fifo = xasprintf("%s/%s/stdin.fifo", c->instances_dir, in->id);
		name = xstrdup(in->name);
		running = in->state == UNIK_STATE_RUNNING;
	}
	core_unlock(c);
	if (!in)
		return -1;
	if (!running) {
		unik_error_set(err, UNIK_E_STATE, "instance %s is not running: it takes no input",
		               name);
		return -1;
	}
	/* Non-blocking: with no reader (QEMU gone) open fails with ENXIO rather than waiting. */
	fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		unik_error_set(
		    err, UNIK_E_STATE,
		    "instance %s takes no input (%s: its provider gives the guest none, or "
		    "it has just ended)",
		    name, strerror(errno));
		return -1;
	}
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			unik_error_set(err, UNIK_E_STATE,
			               "instance %s does not read its input fast enough (%s)", name,
			               strerror(errno));
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

bool unik_core_instance_ended(struct unik_core *c, const char *id)
{
	bool r = true;

	core_lock(c);
	for (size_t i = 0; i < c->ninsts; i++)
		if (strcmp(c->insts[i]->id, id) == 0)
			r = unik_instance_state_final(c->insts[i]->state) && !c->insts[i]->busy;
	core_unlock(c);
	return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Monitor */

/* Asks the provider of every instance that has not ended for its state, and records changes.
 * With adopt (after a restart), through the provider's reconcile. */
static void poll_once(struct unik_core *c, bool adopt)
{
	_cleanup_strv_ struct strv ids = {0};
	_cleanup_strv_ struct strv provs = {0};

	core_lock(c);
	for (size_t i = 0; i < c->ninsts; i++) {
		struct unik_instance *in = c->insts[i];

		if (!unik_instance_state_final(in->state) && !in->busy) {
			strv_push(&ids, in->id);
			strv_push(&provs, in->provider);
		}
	}
	core_unlock(c);
	for (size_t i = 0; i < ids.n; i++) {
		const struct unik_provider *p = unik_core_provider(c, provs.v[i]);
		_cleanup_free_ char *dir = inst_dir(c, ids.v[i]);
		struct unik_instance_status st = {0};
		struct unik_error err = {0};
		struct unik_vm vm;
		int rc = -1;

		if (p && vm_open(c, &vm, p, NULL, &err) == 0) {
			rc = adopt ? unik_vm_reconcile(&vm, dir, &st, &err)
			           : unik_vm_status(&vm, dir, &st, &err);
			unik_vm_close(&vm);
		}

		if (!p) {
			st.state = UNIK_STATE_CRASHED;
			st.exit_code = -1;
			snprintf(st.detail, sizeof(st.detail), "provider %s is not available",
			         provs.v[i]);
		} else if (rc < 0) {
			if (err.code != UNIK_E_NOTFOUND)
				continue;
			st.state = UNIK_STATE_CRASHED;
			st.exit_code = -1;
			snprintf(st.detail, sizeof(st.detail), "lost: %.*s",
			         UNIK_UTF8_CUT(err.msg, 200));
		}
		core_lock(c);
		for (size_t j = 0; j < c->ninsts; j++) {
			struct unik_instance *in = c->insts[j];

			if (strcmp(in->id, ids.v[i]) != 0 || in->busy ||
			    unik_instance_state_final(in->state))
				continue;
			/* A provider with no word for the address (a NIC on DHCP) leaves the
			 * core's alone: no change to record. */
			if (in->state != st.state || in->pid != st.pid ||
			    (st.ip[0] && strcmp(in->ip, st.ip) != 0)) {
				apply_status(in, &st);
				nics_leases_refresh(c, in);
				if (save_instance(c, in, &err) < 0)
					fprintf(stderr, "unik daemon: %s\n", err.msg);
				pthread_cond_broadcast(&c->changed);
			} else if (nics_leases_refresh(c, in)) {
				if (save_instance(c, in, &err) < 0)
					fprintf(stderr, "unik daemon: %s\n", err.msg);
				pthread_cond_broadcast(&c->changed);
			}
		}
		core_unlock(c);
	}
}

/* The watcher waits on the event descriptors of the instances whose provider has them (a pidfd
 * of qemu's shim) and on a kick (a run or start began, the core stops), and polls every
 * instance's status when one fires.  Instances without events are polled every 100 ms as
 * before; when every live instance has events, a slow poll every second is the safety net. */
struct watch {
	char id[UNIK_ID_LEN + 1];
	int fd;
};

#define KICK_TAG UINT64_MAX

static void watch_drop(int ep, struct watch *w)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
}

/* Makes the watches match the live instances; *unwatched says whether one has no events. */
static void watch_sync(struct unik_core *c, int ep, struct watch **ws, size_t *nws, bool *unwatched)
{
	_cleanup_strv_ struct strv ids = {0};
	_cleanup_strv_ struct strv provs = {0};
	size_t keep = 0;

	*unwatched = false;
	core_lock(c);
	for (size_t i = 0; i < c->ninsts; i++)
		if (!unik_instance_state_final(c->insts[i]->state)) {
			strv_push(&ids, c->insts[i]->id);
			strv_push(&provs, c->insts[i]->provider);
		}
	core_unlock(c);
	for (size_t i = 0; i < *nws; i++) {
		bool live = false;

		for (size_t j = 0; j < ids.n && !live; j++)
			live = strcmp((*ws)[i].id, ids.v[j]) == 0;
		if (live && (*ws)[i].fd >= 0)
			(*ws)[keep++] = (*ws)[i];
		else if ((*ws)[i].fd >= 0)
			watch_drop(ep, &(*ws)[i]);
	}
	*nws = keep;
	for (size_t j = 0; j < ids.n; j++) {
		const struct unik_provider *p = unik_core_provider(c, provs.v[j]);
		_cleanup_free_ char *dir = NULL;
		struct epoll_event ev = {.events = EPOLLIN};
		struct unik_vm vm;
		bool have = false;
		int fd = -1;

		for (size_t i = 0; i < *nws && !have; i++)
			have = strcmp((*ws)[i].id, ids.v[j]) == 0;
		if (have)
			continue;
		if (p && p->event_fd && vm_open(c, &vm, p, NULL, NULL) == 0) {
			dir = inst_dir(c, ids.v[j]);
			fd = unik_vm_event_fd(&vm, dir);
			unik_vm_close(&vm);
		}
		if (fd < 0) {
			*unwatched = true;
			continue;
		}
		*ws = xrealloc(*ws, (*nws + 1) * sizeof(**ws));
		snprintf((*ws)[*nws].id, sizeof((*ws)[*nws].id), "%s", ids.v[j]);
		(*ws)[*nws].fd = fd;
		ev.data.u64 = *nws;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			*unwatched = true;
			continue;
		}
		(*nws)++;
	}
}

static void *monitor(void *arg)
{
	struct unik_core *c = arg;
	struct watch *ws = NULL;
	size_t nws = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event kick = {.events = EPOLLIN, .data.u64 = KICK_TAG};

	if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, c->kick_fd, &kick) < 0) {
		close(ep);
		ep = -1;
	}
	while (!c->stopping) {
		struct epoll_event evs[16];
		bool unwatched = true;
		int n;

		if (ep >= 0) {
			watch_sync(c, ep, &ws, &nws, &unwatched);
			n = epoll_wait(ep, evs, 16, unwatched ? 100 : 1000);
		} else {
			struct timespec ts = {0, 100 * 1000000L};

			nanosleep(&ts, NULL);
			n = 0;
		}
		for (int i = 0; i < n; i++) {
			uint64_t v;

			if (evs[i].data.u64 == KICK_TAG)
				(void)!read(c->kick_fd, &v, sizeof(v));
			else if (evs[i].data.u64 < nws && ws[evs[i].data.u64].fd >= 0)
				/* Fired once: status() says what happened; a descriptor that stays
				 * readable must not spin, so the next sync opens a fresh one (or
				 * falls back to polling). */
				watch_drop(ep, &ws[evs[i].data.u64]);
		}
		if (c->stopping)
			break;
		poll_once(c, false);
	}
	for (size_t i = 0; i < nws; i++)
		if (ws[i].fd >= 0)
			watch_drop(ep, &ws[i]);
	free(ws);
	if (ep >= 0)
		close(ep);
	return NULL;
}

/* Wakes the watcher: an instance began running (it gets a watch now), or the core stops. */
void instances_kick(struct unik_core *c)
{
	uint64_t one = 1;

	if (c->kick_fd >= 0)
		(void)!write(c->kick_fd, &one, sizeof(one));
}

int instances_start(struct unik_core *c, struct unik_error *err)
{
	/* Adopt: whatever an earlier daemon left pending or running is asked about now. */
	poll_once(c, true);
	c->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pthread_create(&c->monitor_thread, NULL, monitor, c) != 0) {
		unik_error_set(err, UNIK_E_IO, "cannot start the instance monitor");
		return -1;
	}
	c->monitor_running = true;
	return 0;
}

void instances_stop(struct unik_core *c)
{
	instances_kick(c);
	if (c->monitor_running)
		pthread_join(c->monitor_thread, NULL);
	c->monitor_running = false;
	if (c->kick_fd >= 0)
		close(c->kick_fd);
	c->kick_fd = -1;
}

int instance_delete_for_image(struct unik_core *c, const char *id, struct unik_error *err)
{
	struct unik_error gone;
	struct unik_instance *in = claim(c, id, &gone);

	if (in && delete_claimed(c, in, true, err) < 0) {
		release(c, in);
		return -1;
	}
	return 0;
}
