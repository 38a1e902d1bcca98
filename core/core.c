/* The core's entry: open and close a core on a home, the read path of the doors, and the
 * operations that span images and instances (deleting an image deletes its instances). */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/vm.h"

static void config_copy(struct unik_core_config *to, const struct unik_core_config *from)
{
	struct unik_core_provider_opts *po = xcalloc(from->nprovider_opts + 1, sizeof(*po));

	*to = *from;
	to->home = xstrdup(from->home);
	to->default_provider = from->default_provider ? xstrdup(from->default_provider) : NULL;
	for (size_t i = 0; i < from->nprovider_opts; i++) {
		po[i].provider = xstrdup(from->provider_opts[i].provider);
		strv_extend(&po[i].opts, &from->provider_opts[i].opts);
	}
	to->provider_opts = po;
	if (!to->providers)
		to->providers = unik_providers;
	if (to->max_parallel < 1)
		to->max_parallel = 1;
}

static void config_free(struct unik_core_config *cfg)
{
	struct unik_core_provider_opts *po = (struct unik_core_provider_opts *)cfg->provider_opts;

	for (size_t i = 0; i < cfg->nprovider_opts; i++) {
		free((char *)po[i].provider);
		strv_free(&po[i].opts);
	}
	free(po);
	free((char *)cfg->home);
	free((char *)cfg->default_provider);
	memset(cfg, 0, sizeof(*cfg));
}

static void core_free(struct unik_core *c)
{
	for (size_t i = 0; i < c->nimages; i++)
		unik_image_free(c->images[i]);
	for (size_t i = 0; i < c->nbuilds; i++)
		unik_build_free(c->builds[i]);
	for (size_t i = 0; i < c->ninsts; i++)
		unik_instance_free(c->insts[i]);
	for (size_t i = 0; i < c->nnetworks; i++)
		unik_network_free(c->networks[i]);
	free(c->networks);
	for (size_t i = 0; i < c->nvolumes; i++)
		unik_volume_free(c->volumes[i]);
	free(c->volumes);
	free(c->volumes_dir);
	free(c->images);
	free(c->builds);
	free(c->insts);
	strv_free(&c->building);
	free(c->home);
	free(c->images_dir);
	free(c->instances_dir);
	free(c->builds_dir);
	free(c->tmp_dir);
	config_free(&c->cfg);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->pack_lock);
	pthread_cond_destroy(&c->changed);
	free(c);
}

int unik_core_open(const struct unik_core_config *cfg, struct unik_core **out,
                   struct unik_error *err)
{
	struct unik_core *c = xcalloc(1, sizeof(*c));
	int rc;

	c->kick_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->pack_lock, NULL);
	pthread_cond_init(&c->changed, NULL);
	config_copy(&c->cfg, cfg);
	c->home = xstrdup(cfg->home);
	c->images_dir = unik_path_join(c->home, "images");
	c->instances_dir = unik_path_join(c->home, "instances");
	c->builds_dir = unik_path_join(c->home, "builds");
	c->tmp_dir = unik_path_join(c->home, "tmp");
	c->volumes_dir = unik_path_join(c->home, "volumes");
	core_lock(c);
	rc = state_open(c, err) < 0 || builds_recover(c, err) < 0 ? -1 : 0;
	core_unlock(c);
	if (rc == 0)
		networks_start(c);
	if (rc < 0 || builds_start(c, err) < 0 || instances_start(c, err) < 0) {
		unik_core_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

bool unik_core_stopping(const struct unik_core *c)
{
	return c->stopping;
}

void unik_core_stop(struct unik_core *c)
{
	c->stopping = true;
	core_lock(c);
	pthread_cond_broadcast(&c->changed);
	core_unlock(c);
	instances_kick(c);
}

void unik_core_close(struct unik_core *c)
{
	if (!c)
		return;
	unik_core_stop(c);
	builds_stop(c);
	instances_stop(c);
	core_lock(c);
	state_close(c);
	core_unlock(c);
	core_free(c);
}

void unik_core_read_begin(struct unik_core *c, struct unik_core_view *v)
{
	core_lock(c);
	v->images = c->images;
	v->nimages = c->nimages;
	v->builds = c->builds;
	v->nbuilds = c->nbuilds;
	v->instances = c->insts;
	v->ninstances = c->ninsts;
	v->networks = c->networks;
	v->nnetworks = c->nnetworks;
	v->volumes = c->volumes;
	v->nvolumes = c->nvolumes;
	v->instances_gen = c->inst_gen;
}

void unik_core_read_end(struct unik_core *c)
{
	core_unlock(c);
}

const struct unik_image *unik_core_image(struct unik_core *c, const char *ref,
                                         struct unik_error *err)
{
	return resolve_image(c, ref, err);
}

const struct unik_instance *unik_core_instance(struct unik_core *c, const char *ref,
                                               struct unik_error *err)
{
	return resolve_instance(c, ref, err);
}

int unik_core_image_delete(struct unik_core *c, const char *ref, bool force, struct unik_error *err)
{
	struct unik_image *im;
	_cleanup_strv_ struct strv users = {0};

	core_lock(c);
	im = resolve_image(c, ref, err);
	if (!im) {
		core_unlock(c);
		return -1;
	}
	for (size_t i = 0; i < c->ninsts; i++)
		if (strcmp(c->insts[i]->image_id, im->id) == 0)
			strv_push(&users, c->insts[i]->id);
	if (users.n && !force) {
		core_unlock(c);
		unik_error_set(err, UNIK_E_STATE,
		               "image %s is used by %zu instance(s): delete them first, or delete "
		               "the image and them with `unik rmi -f` (REST: ?force=true)",
		               im->name, users.n);
		return -1;
	}
	char id[UNIK_ID_LEN + 1];
	memcpy(id, im->id, sizeof(id));
	core_unlock(c);
	for (size_t i = 0; i < users.n; i++)
		if (instance_delete_for_image(c, users.v[i], err) < 0)
			return -1;
	/* What providers staged elsewhere (an AMI and its snapshot) goes first: if that fails,
	 * the image stays, so nothing is left behind unaccounted for. */
	for (size_t i = 0; c->cfg.providers[i]; i++) {
		const struct unik_provider *p = c->cfg.providers[i];
		_cleanup_free_ char *image_dir = unik_path_join(c->images_dir, id);
		_cleanup_strv_ struct strv opts = {0};
		struct unik_vm vm;
		int rc;

		if (!p->unstage)
			continue;
		unik_core_provider_opts(c, p, NULL, &opts, NULL);
		rc = unik_vm_open(&vm, p, (const char *const *)opts.v, err);
		if (rc == 0) {
			rc = unik_vm_unstage(&vm, image_dir, (const char *const *)opts.v, err);
			unik_vm_close(&vm);
		}
		if (rc < 0) {
			unik_error_prefix(err, "removing what provider %s staged", p->name);
			return -1;
		}
	}
	core_lock(c);
	im = NULL;
	for (size_t i = 0; i < c->nimages; i++)
		if (strcmp(c->images[i]->id, id) == 0)
			im = c->images[i];
	if (!im) {
		core_unlock(c);
		return 0;
	}
	db_begin(c);
	if (db_del_image(c, im->id, err) < 0 || db_commit(c, err) < 0) {
		db_rollback(c);
		core_unlock(c);
		return -1;
	}
	remove_image(c, im);
	core_unlock(c);
	image_files_remove(c, im->id, NULL);
	unik_image_free(im);
	return 0;
}
