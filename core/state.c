/* The core's state: images, builds and instances in memory (the read path), written through to
 * the store (core/store.c) before any change is acknowledged. */
#include "core/internal.h"
#include "images/store.h"
#include "lib/guest_elf.h"
#include "lib/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void core_lock(struct unik_core *c)
{
	pthread_mutex_lock(&c->lock);
}

void core_unlock(struct unik_core *c)
{
	pthread_mutex_unlock(&c->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Lists */

#define LIST_ADD(arr, n, item)                                                                     \
	do {                                                                                       \
		(arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr)));                               \
		(arr)[(n)++] = (item);                                                             \
	} while (0)

#define LIST_DEL(arr, n, item)                                                                     \
	do {                                                                                       \
		for (size_t i_ = 0; i_ < (n); i_++)                                                \
			if ((arr)[i_] == (item)) {                                                 \
				memmove(&(arr)[i_], &(arr)[i_ + 1],                                \
				        ((n)-i_ - 1) * sizeof(*(arr)));                            \
				(n)--;                                                             \
				break;                                                             \
			}                                                                          \
	} while (0)

void add_image(struct unik_core *c, struct unik_image *im)
{
	if (!im->seq)
		im->seq = ++c->seq;
	LIST_ADD(c->images, c->nimages, im);
}

void remove_image(struct unik_core *c, struct unik_image *im)
{
	LIST_DEL(c->images, c->nimages, im);
}

void add_build(struct unik_core *c, struct unik_build *b)
{
	if (!b->seq)
		b->seq = ++c->seq;
	LIST_ADD(c->builds, c->nbuilds, b);
}

void add_instance(struct unik_core *c, struct unik_instance *in)
{
	if (!in->seq)
		in->seq = ++c->seq;
	c->inst_gen++;
	LIST_ADD(c->insts, c->ninsts, in);
}

void remove_instance(struct unik_core *c, struct unik_instance *in)
{
	c->inst_gen++;
	LIST_DEL(c->insts, c->ninsts, in);
}

struct unik_build *find_build(struct unik_core *c, const char *id)
{
	for (size_t i = 0; i < c->nbuilds; i++)
		if (strcmp(c->builds[i]->id, id) == 0)
			return c->builds[i];
	return NULL;
}

struct unik_image *find_image_id(struct unik_core *c, const char *id)
{
	for (size_t i = 0; i < c->nimages; i++)
		if (strcmp(c->images[i]->id, id) == 0)
			return c->images[i];
	return NULL;
}

struct unik_image *find_image_name(struct unik_core *c, const char *name)
{
	for (size_t i = 0; i < c->nimages; i++)
		if (strcmp(c->images[i]->name, name) == 0)
			return c->images[i];
	return NULL;
}

struct unik_instance *find_instance_name(struct unik_core *c, const char *name)
{
	for (size_t i = 0; i < c->ninsts; i++)
		if (strcmp(c->insts[i]->name, name) == 0)
			return c->insts[i];
	return NULL;
}

/* Resolution shared by images and instances: id, name, then a unique prefix of either. */
static void *resolve(void **items, size_t n, size_t id_off, size_t name_off, const char *what,
                     const char *ref, struct unik_error *err)
{
	void *hit = NULL;
	size_t nhits = 0, rl;
	_cleanup_strv_ struct strv cands = {0};

	if (!ref || !*ref || strlen(ref) > 200) {
		unik_error_set(err, UNIK_E_NOTFOUND, "no %s \"%.*s\"", what,
		               UNIK_UTF8_CUT(ref ? ref : "", 60));
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *id = (const char *)items[i] + id_off;
		const char *name = *(char **)((char *)items[i] + name_off);

		if (strcmp(id, ref) == 0 || strcmp(name, ref) == 0)
			return items[i];
	}
	rl = strlen(ref);
	for (size_t i = 0; i < n; i++) {
		const char *id = (const char *)items[i] + id_off;
		const char *name = *(char **)((char *)items[i] + name_off);

		if (strncmp(id, ref, rl) == 0 || strncmp(name, ref, rl) == 0) {
			hit = items[i];
			nhits++;
			strv_pushf(&cands, "%s (%s)", name, id);
		}
	}
	if (nhits == 1)
		return hit;
	if (nhits == 0) {
		unik_error_set(err, UNIK_E_NOTFOUND, "no %s \"%s\"", what, ref);
		return NULL;
	}
	char list[600] = "";
	size_t used = 0;
	for (size_t i = 0; i < cands.n && used < 500; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
		                         cands.v[i]);
	unik_error_set(err, UNIK_E_STATE, "\"%s\" matches %zu %ss: %s; give more of the name or id",
	               ref, nhits, what, list);
	return NULL;
}

struct unik_image *resolve_image(struct unik_core *c, const char *ref, struct unik_error *err)
{
	return resolve((void **)c->images, c->nimages, offsetof(struct unik_image, id),
	               offsetof(struct unik_image, name), "image", ref, err);
}

struct unik_instance *resolve_instance(struct unik_core *c, const char *ref, struct unik_error *err)
{
	return resolve((void **)c->insts, c->ninsts, offsetof(struct unik_instance, id),
	               offsetof(struct unik_instance, name), "instance", ref, err);
}

struct unik_volume *resolve_volume(struct unik_core *c, const char *ref, struct unik_error *err)
{
	return resolve((void **)c->volumes, c->nvolumes, offsetof(struct unik_volume, id),
	               offsetof(struct unik_volume, name), "volume", ref, err);
}

struct unik_network *resolve_network(struct unik_core *c, const char *ref, struct unik_error *err)
{
	return resolve((void **)c->networks, c->nnetworks, offsetof(struct unik_network, id),
	               offsetof(struct unik_network, name), "network", ref, err);
}

/* ------------------------------------------------------------------------------------------ */
/* The store (core/store.c) */

int db_begin(struct unik_core *c)
{
	return unik_store_begin(c->store, NULL);
}

int db_commit(struct unik_core *c, struct unik_error *err)
{
	return unik_store_commit(c->store, err);
}

void db_rollback(struct unik_core *c)
{
	unik_store_rollback(c->store);
}

int db_put_image(struct unik_core *c, const struct unik_image *im, struct unik_error *err)
{
	return unik_store_put_image(c->store, im, err);
}

int db_del_image(struct unik_core *c, const char *id, struct unik_error *err)
{
	return unik_store_del_image(c->store, id, err);
}

int db_put_build(struct unik_core *c, const struct unik_build *b, struct unik_error *err)
{
	return unik_store_put_build(c->store, b, err);
}

int db_put_instance(struct unik_core *c, const struct unik_instance *in, struct unik_error *err)
{
	c->inst_gen++;
	return unik_store_put_instance(c->store, in, err);
}

int db_del_instance(struct unik_core *c, const char *id, struct unik_error *err)
{
	c->inst_gen++;
	return unik_store_del_instance(c->store, id, err);
}

int save_build(struct unik_core *c, const struct unik_build *b, struct unik_error *err)
{
	if (db_begin(c) < 0 || db_put_build(c, b, err) < 0) {
		db_rollback(c);
		return -1;
	}
	return db_commit(c, err);
}

int save_instance(struct unik_core *c, const struct unik_instance *in, struct unik_error *err)
{
	if (db_begin(c) < 0 || db_put_instance(c, in, err) < 0) {
		db_rollback(c);
		return -1;
	}
	return db_commit(c, err);
}

int state_open(struct unik_core *c, struct unik_error *err)
{
	_cleanup_free_ char *path = unik_path_join(c->home, "unik.db");
	struct unik_store_contents st;
	int from;

	if (unik_store_open(path, &c->store, &from, err) < 0)
		return -1;
	if (from != UNIK_STORE_SCHEMA_VERSION)
		fprintf(stderr, "unik: upgraded %s from schema version %d to %d\n", path, from,
		        UNIK_STORE_SCHEMA_VERSION);
	if (unik_store_load(c->store, &st, err) < 0)
		return -1;
	c->seq = st.max_seq;
	for (size_t i = 0; i < st.nimages; i++) {
		/* A mirage image's target is what its kernel is (lib/guest_elf.h). */
		_cleanup_free_ char *kernel =
		    unik_image_kernel_path(c->images_dir, st.images[i]->id);
		struct unik_guest_elf g;
		const char *t;

		if (unik_guest_elf_read(kernel, &g, NULL) == 0 &&
		    (t = unik_guest_elf_app_target(&g)))
			st.images[i]->target = xstrdup(t);
		add_image(c, st.images[i]);
	}
	for (size_t i = 0; i < st.nbuilds; i++)
		add_build(c, st.builds[i]);
	for (size_t i = 0; i < st.ninstances; i++)
		add_instance(c, st.instances[i]);
	c->volumes = st.volumes;
	c->nvolumes = st.nvolumes;
	c->networks = st.networks;
	c->nnetworks = st.nnetworks;
	free(st.images);
	free(st.builds);
	free(st.instances);
	return 0;
}

void state_close(struct unik_core *c)
{
	unik_store_close(c->store);
	c->store = NULL;
}
