/* Images on providers that run them from elsewhere: staging (an AMI for aws) before a run or
 * right after a build. */
#include "core/internal.h"

#include <string.h>

#include "core/vm.h"
#include "images/store.h"

struct stage_args {
	struct unik_vm *vm;
	const struct unik_stage_spec *spec;
};

static int stage_job(void *arg, struct unik_job *job, struct unik_error *err)
{
	struct stage_args *a = arg;

	(void)job;
	return unik_vm_stage(a->vm, a->spec, err);
}

int image_stage(struct unik_core *c, const char *image_id, const struct unik_provider *p,
                const struct strv *req_opts, void (*log)(void *ctx, const char *line), void *ctx,
                struct unik_error *err)
{
	_cleanup_strv_ struct strv opts = {0};
	_cleanup_free_ char *image = NULL, *cmdline = NULL;
	struct unik_image *copy = NULL;
	struct unik_vm vm;
	_cleanup_free_ char *image_dir = unik_path_join(c->images_dir, image_id);
	_cleanup_free_ char *kernel = unik_image_kernel_path(c->images_dir, image_id);
	struct unik_stage_spec spec = {0};
	uint64_t mem = 64;
	int rc = 0;

	if (!p->stage)
		return 0;
	if (unik_core_provider_opts(c, p, req_opts, &opts, err) < 0)
		return -1;
	if (unik_core_image_format(c, image_id, p->image_format, false, true, NULL, &image, NULL,
	                           &copy, err) < 0)
		return -1;
	core_lock(c);
	for (size_t i = 0; i < c->nimages; i++)
		if (strcmp(c->images[i]->id, image_id) == 0) {
			mem = c->images[i]->memory_mb > 0 ? (uint64_t)c->images[i]->memory_mb : 64;
			rc = image_cmdline(c->images[i], &cmdline, err);
		}
	core_unlock(c);
	if (rc < 0)
		goto out;
	spec.image_id = image_id;
	spec.image_name = copy->name;
	spec.image_dir = image_dir;
	spec.image = image;
	spec.kernel = kernel;
	spec.cmdline = cmdline ? cmdline : "";
	spec.memory_mb = mem;
	spec.opts = (const char *const *)opts.v;
	spec.progress = log;
	spec.ctx = ctx;
	rc = unik_vm_open(&vm, p, spec.opts, err);
	if (rc == 0) {
		struct stage_args a = {&vm, &spec};

		rc = unik_jobs_run(c->jobs, UNIK_JOB_STAGE, image_id, copy->name, stage_job, &a,
		                   err);
		unik_vm_close(&vm);
	}
	if (rc < 0)
		unik_error_prefix(err, "staging image %s on %s", copy->name, p->name);
out:
	unik_image_free(copy);
	return rc < 0 ? -1 : 0;
}
