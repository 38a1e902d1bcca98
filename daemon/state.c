/* The daemon's state: images, builds and instances in memory, written through to SQLite
 * ($UNIK_HOME/unik.db, WAL) before any request that changed them is answered. */
#include "daemon/internal.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct daemon D;

void lock(void)
{
	pthread_mutex_lock(&D.lock);
}

void unlock(void)
{
	pthread_mutex_unlock(&D.lock);
}

bool json_key_known(const char *key, const char *const *keys, const char *what,
                    struct unik_error *err)
{
	char known[256] = "";
	size_t n = 0;

	for (size_t i = 0; keys[i]; i++) {
		if (strcmp(keys[i], key) == 0)
			return true;
		n += (size_t)snprintf(known + n, n < sizeof(known) ? sizeof(known) - n : 0, "%s%s",
		                      i ? ", " : "", keys[i]);
		if (n >= sizeof(known))
			n = sizeof(known) - 1;
	}
	unik_error_set(err, UNIK_E_INVALID, "unknown %s \"%.*s\" (known: %s)", what,
	               UNIK_UTF8_CUT(key, 60), known);
	return false;
}

json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* {"NAME": "VALUE", ...} from NAME=VALUE words (env, provider options). */
json_t *pairs_json(const struct strv *words)
{
	json_t *o = json_object();

	for (size_t i = 0; i < words->n; i++) {
		const char *eq = strchr(words->v[i], '=');
		_cleanup_free_ char *k = NULL;

		if (!eq)
			continue;
		k = xstrndup(words->v[i], (size_t)(eq - words->v[i]));
		json_object_set_new(o, k, json_string(eq + 1));
	}
	return o;
}

/* NAME=VALUE words from an object of strings the caller checked. */
void pairs_from_json(json_t *o, struct strv *out)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) unik_env_set(out, k, json_string_value(v));
}

/* ------------------------------------------------------------------------------------------ */
/* JSON forms (the API's, plus a few private keys for the database) */

json_t *image_json(const struct unik_image *im)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(im->id));
	json_object_set_new(o, "name", json_string(im->name));
	json_object_set_new(o, "base", json_string(im->base));
	json_object_set_new(o, "language", json_string(im->language));
	json_object_set_new(o, "compiler", json_string(im->compiler));
	json_object_set_new(o, "provider", json_string(im->provider));
	json_object_set_new(o, "created", json_string(im->created));
	json_object_set_new(o, "size_bytes",
	                    json_integer((json_int_t)(im->elf_size + im->rootfs_size)));
	{
		json_t *f = json_object();

		for (size_t i = 0; i < im->formats.n; i++)
			json_object_set_new(
			    f, im->formats.v[i].name,
			    json_pack("{s:I}", "size_bytes", (json_int_t)im->formats.v[i].size));
		if (!json_object_get(f, "elf"))
			json_object_set_new(
			    f, "elf", json_pack("{s:I}", "size_bytes", (json_int_t)im->elf_size));
		json_object_set_new(o, "formats", f);
	}
	json_object_set_new(o, "rootfs_bytes", json_integer((json_int_t)im->rootfs_size));
	json_object_set_new(o, "args", json_string(im->args ? im->args : ""));
	json_object_set_new(o, "env", pairs_json(&im->env));
	json_object_set_new(o, "memory_mb", json_integer(im->memory_mb));
	json_object_set_new(o, "build", jstr_or_null(im->build_id));
	return o;
}

json_t *build_json(const struct unik_build *b)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(b->id));
	json_object_set_new(o, "image", json_string(b->image));
	json_object_set_new(o, "image_id", jstr_or_null(b->image_id));
	json_object_set_new(o, "state", json_string(unik_build_state_name(b->state)));
	json_object_set_new(o, "error", json_string(b->error ? b->error : ""));
	json_object_set_new(o, "created", json_string(b->created));
	json_object_set_new(o, "finished", jstr_or_null(b->finished));
	return o;
}

json_t *instance_json(const struct unik_instance *in)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(in->id));
	json_object_set_new(o, "name", json_string(in->name));
	json_object_set_new(o, "image", json_string(in->image));
	json_object_set_new(o, "image_id", json_string(in->image_id));
	json_object_set_new(o, "provider", json_string(in->provider));
	json_object_set_new(o, "state", json_string(unik_instance_state_name(in->state)));
	json_object_set_new(o, "exit_code",
	                    in->exit_code >= 0 ? json_integer(in->exit_code) : json_null());
	json_object_set_new(o, "pid", json_integer(in->pid));
	json_object_set_new(o, "ip", json_string(in->ip));
	json_object_set_new(o, "memory_mb", json_integer(in->memory_mb));
	json_object_set_new(o, "args", json_string(in->args ? in->args : ""));
	json_object_set_new(o, "env", pairs_json(&in->env));
	json_object_set_new(o, "created", json_string(in->created));
	json_object_set_new(o, "started", jstr_or_null(in->started));
	json_object_set_new(o, "finished", jstr_or_null(in->finished));
	json_object_set_new(o, "detail", json_string(in->detail));
	json_object_set_new(o, "provider_handle", json_string(in->handle));
	json_object_set_new(o, "provider_handle_id", json_string(in->handle_id));
	json_object_set_new(o, "provider_opts", pairs_json(&in->provider_opts));
	return o;
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

void add_image(struct unik_image *im)
{
	if (!im->seq)
		im->seq = ++D.seq;
	LIST_ADD(D.images, D.nimages, im);
}

void remove_image(struct unik_image *im)
{
	LIST_DEL(D.images, D.nimages, im);
}

void add_build(struct unik_build *b)
{
	if (!b->seq)
		b->seq = ++D.seq;
	LIST_ADD(D.builds, D.nbuilds, b);
}

void add_instance(struct unik_instance *in)
{
	if (!in->seq)
		in->seq = ++D.seq;
	D.inst_gen++;
	LIST_ADD(D.insts, D.ninsts, in);
}

void remove_instance(struct unik_instance *in)
{
	D.inst_gen++;
	LIST_DEL(D.insts, D.ninsts, in);
}

struct unik_build *find_build(const char *id)
{
	for (size_t i = 0; i < D.nbuilds; i++)
		if (strcmp(D.builds[i]->id, id) == 0)
			return D.builds[i];
	return NULL;
}

struct unik_image *find_image_name(const char *name)
{
	for (size_t i = 0; i < D.nimages; i++)
		if (strcmp(D.images[i]->name, name) == 0)
			return D.images[i];
	return NULL;
}

struct unik_instance *find_instance_name(const char *name)
{
	for (size_t i = 0; i < D.ninsts; i++)
		if (strcmp(D.insts[i]->name, name) == 0)
			return D.insts[i];
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

struct unik_image *resolve_image(const char *ref, struct unik_error *err)
{
	return resolve((void **)D.images, D.nimages, offsetof(struct unik_image, id),
	               offsetof(struct unik_image, name), "image", ref, err);
}

struct unik_instance *resolve_instance(const char *ref, struct unik_error *err)
{
	return resolve((void **)D.insts, D.ninsts, offsetof(struct unik_instance, id),
	               offsetof(struct unik_instance, name), "instance", ref, err);
}

/* ------------------------------------------------------------------------------------------ */
/* The store (core/store.c) */

int db_begin(void)
{
	return unik_store_begin(D.store, NULL);
}

int db_commit(struct unik_error *err)
{
	return unik_store_commit(D.store, err);
}

void db_rollback(void)
{
	unik_store_rollback(D.store);
}

int db_put_image(const struct unik_image *im, struct unik_error *err)
{
	return unik_store_put_image(D.store, im, err);
}

int db_del_image(const char *id, struct unik_error *err)
{
	return unik_store_del_image(D.store, id, err);
}

int db_put_build(const struct unik_build *b, struct unik_error *err)
{
	return unik_store_put_build(D.store, b, err);
}

int db_put_instance(const struct unik_instance *in, struct unik_error *err)
{
	D.inst_gen++;
	return unik_store_put_instance(D.store, in, err);
}

int db_del_instance(const char *id, struct unik_error *err)
{
	D.inst_gen++;
	return unik_store_del_instance(D.store, id, err);
}

int save_build(const struct unik_build *b, struct unik_error *err)
{
	if (db_begin() < 0 || db_put_build(b, err) < 0) {
		db_rollback();
		return -1;
	}
	return db_commit(err);
}

int save_instance(const struct unik_instance *in, struct unik_error *err)
{
	if (db_begin() < 0 || db_put_instance(in, err) < 0) {
		db_rollback();
		return -1;
	}
	return db_commit(err);
}

int state_open(struct unik_error *err)
{
	_cleanup_free_ char *path = unik_path_join(D.home, "unik.db");
	struct unik_store_contents c;
	int from;

	if (unik_store_open(path, &D.store, &from, err) < 0)
		return -1;
	if (from != UNIK_STORE_SCHEMA_VERSION)
		fprintf(stderr, "unik daemon: upgraded %s from schema version %d to %d\n", path,
		        from, UNIK_STORE_SCHEMA_VERSION);
	if (unik_store_load(D.store, &c, err) < 0)
		return -1;
	D.seq = c.max_seq;
	for (size_t i = 0; i < c.nimages; i++)
		add_image(c.images[i]);
	for (size_t i = 0; i < c.nbuilds; i++)
		add_build(c.builds[i]);
	for (size_t i = 0; i < c.ninstances; i++)
		add_instance(c.instances[i]);
	for (size_t i = 0; i < c.nvolumes; i++)
		unik_volume_free(c.volumes[i]);
	free(c.images);
	free(c.builds);
	free(c.instances);
	free(c.volumes);
	return 0;
}

void state_close(void)
{
	unik_store_close(D.store);
	D.store = NULL;
}
