/* The model's small operations: environment and format lists, state names, freeing. */
#include "core/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "images/format.h"
#include "lib/utf8.h"

static size_t env_find(const struct strv *env, const char *name, size_t len)
{
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], name, len) == 0 && env->v[i][len] == '=')
			return i;
	return env->n;
}

void unik_env_set(struct strv *env, const char *name, const char *value)
{
	size_t i = env_find(env, name, strlen(name));

	if (i < env->n) {
		free(env->v[i]);
		env->v[i] = xasprintf("%s=%s", name, value);
	} else {
		strv_pushf(env, "%s=%s", name, value);
	}
}

void unik_env_update(struct strv *env, const struct strv *words)
{
	for (size_t i = 0; i < words->n; i++) {
		const char *eq = strchr(words->v[i], '=');
		_cleanup_free_ char *name = NULL;

		if (!eq)
			continue;
		name = xstrndup(words->v[i], (size_t)(eq - words->v[i]));
		unik_env_set(env, name, eq + 1);
	}
}

const char *unik_env_get(const struct strv *env, const char *name)
{
	size_t len = strlen(name), i = env_find(env, name, len);

	return i < env->n ? env->v[i] + len + 1 : NULL;
}

static size_t format_rank(const char *name)
{
	size_t i;

	for (i = 0; unik_image_formats[i]; i++)
		if (strcmp(unik_image_formats[i]->name, name) == 0)
			return i;
	return i; /* unknown names after the known ones, in the order recorded */
}

void unik_formats_set(struct unik_formats *f, const char *name, uint64_t size)
{
	size_t rank = format_rank(name), at;

	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0) {
			f->v[i].size = size;
			return;
		}
	for (at = 0; at < f->n && format_rank(f->v[at].name) <= rank; at++)
		;
	f->v = xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
	memmove(&f->v[at + 1], &f->v[at], (f->n - at) * sizeof(*f->v));
	f->v[at].name = xstrdup(name);
	f->v[at].size = size;
	f->n++;
}

const struct unik_format_file *unik_formats_get(const struct unik_formats *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0)
			return &f->v[i];
	return NULL;
}

void unik_formats_free(struct unik_formats *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].name);
	free(f->v);
	f->v = NULL;
	f->n = 0;
}

const char *unik_build_state_name(enum unik_build_state s)
{
	return s == UNIK_BUILD_RUNNING     ? "running"
	       : s == UNIK_BUILD_SUCCEEDED ? "succeeded"
	                                   : "failed";
}

enum unik_build_state unik_build_state_from_name(const char *s)
{
	if (!s || strcmp(s, "running") == 0)
		return UNIK_BUILD_RUNNING;
	return strcmp(s, "succeeded") == 0 ? UNIK_BUILD_SUCCEEDED : UNIK_BUILD_FAILED;
}

enum unik_instance_state unik_instance_state_from_name(const char *s)
{
	for (int i = UNIK_STATE_PENDING; i <= UNIK_STATE_STOPPED; i++)
		if (s && strcmp(s, unik_instance_state_name(i)) == 0)
			return i;
	return UNIK_STATE_CRASHED;
}

bool unik_instance_state_final(enum unik_instance_state s)
{
	return s == UNIK_STATE_EXITED || s == UNIK_STATE_CRASHED || s == UNIK_STATE_STOPPED;
}

void unik_build_opts_free(struct unik_build_opts *bo)
{
	free(bo->name);
	free(bo->base);
	free(bo->language);
	free(bo->provider);
	free(bo->args);
	free(bo->git);
	free(bo->target);
	strv_free(&bo->env);
	strv_free(&bo->formats);
	strv_free(&bo->provider_opts);
	memset(bo, 0, sizeof(*bo));
}

void unik_image_free(struct unik_image *im)
{
	if (!im)
		return;
	free(im->name);
	free(im->base);
	free(im->language);
	free(im->compiler);
	free(im->provider);
	free(im->args);
	free(im->created);
	free(im->build_id);
	free(im->target);
	strv_free(&im->env);
	unik_formats_free(&im->formats);
	free(im);
}

void unik_build_free(struct unik_build *b)
{
	if (!b)
		return;
	free(b->image);
	free(b->error);
	free(b->created);
	free(b->finished);
	free(b->image_id);
	unik_build_opts_free(&b->opts);
	free(b);
}

void unik_instance_free(struct unik_instance *in)
{
	if (!in)
		return;
	free(in->name);
	free(in->image);
	free(in->image_id);
	free(in->provider);
	free(in->args);
	free(in->cmdline);
	free(in->created);
	free(in->started);
	free(in->finished);
	strv_free(&in->env);
	strv_free(&in->provider_opts);
	for (size_t i = 0; i < in->nnics; i++) {
		free(in->nics[i].network);
		free(in->nics[i].ip);
	}
	free(in->nics);
	free(in->ports);
	for (size_t i = 0; i < in->nmounts; i++) {
		free(in->mounts[i].volume);
		free(in->mounts[i].host_path);
		free(in->mounts[i].at);
	}
	free(in->mounts);
	free(in);
}

void unik_network_free(struct unik_network *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->created);
	free(n->subnet);
	free(n->gateway);
	free(n->bridge);
	free(n);
}

void unik_volume_free(struct unik_volume *v)
{
	if (!v)
		return;
	free(v->name);
	free(v->created);
	free(v->format);
	free(v->instance_id);
	free(v->mount);
	free(v);
}

void unik_new_id(char out[UNIK_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[UNIK_ID_LEN];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^ rand());
	}
	for (size_t i = 0; i < UNIK_ID_LEN; i++)
		out[i] = hex[r[i] & 15];
	out[UNIK_ID_LEN] = '\0';
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct unik_image *unik_image_dup(const struct unik_image *im)
{
	struct unik_image *d = xcalloc(1, sizeof(*d));

	memcpy(d->id, im->id, sizeof(d->id));
	d->name = dup_or_null(im->name);
	d->base = dup_or_null(im->base);
	d->language = dup_or_null(im->language);
	d->compiler = dup_or_null(im->compiler);
	d->provider = dup_or_null(im->provider);
	d->args = dup_or_null(im->args);
	d->created = dup_or_null(im->created);
	d->build_id = dup_or_null(im->build_id);
	d->target = dup_or_null(im->target);
	strv_extend(&d->env, &im->env);
	d->memory_mb = im->memory_mb;
	d->elf_size = im->elf_size;
	d->rootfs_size = im->rootfs_size;
	for (size_t i = 0; i < im->formats.n; i++)
		unik_formats_set(&d->formats, im->formats.v[i].name, im->formats.v[i].size);
	d->seq = im->seq;
	return d;
}

struct unik_build *unik_build_dup(const struct unik_build *b)
{
	struct unik_build *d = xcalloc(1, sizeof(*d));

	memcpy(d->id, b->id, sizeof(d->id));
	d->image = dup_or_null(b->image);
	d->error = dup_or_null(b->error);
	d->created = dup_or_null(b->created);
	d->finished = dup_or_null(b->finished);
	d->image_id = dup_or_null(b->image_id);
	d->state = b->state;
	d->seq = b->seq;
	return d;
}

struct unik_instance *unik_instance_dup(const struct unik_instance *in)
{
	struct unik_instance *d = xcalloc(1, sizeof(*d));

	*d = *in;
	d->name = dup_or_null(in->name);
	d->image = dup_or_null(in->image);
	d->image_id = dup_or_null(in->image_id);
	d->provider = dup_or_null(in->provider);
	d->args = dup_or_null(in->args);
	d->cmdline = dup_or_null(in->cmdline);
	d->created = dup_or_null(in->created);
	d->started = dup_or_null(in->started);
	d->finished = dup_or_null(in->finished);
	memset(&d->env, 0, sizeof(d->env));
	memset(&d->provider_opts, 0, sizeof(d->provider_opts));
	strv_extend(&d->env, &in->env);
	strv_extend(&d->provider_opts, &in->provider_opts);
	d->nics = in->nnics ? xcalloc(in->nnics, sizeof(*d->nics)) : NULL;
	for (size_t i = 0; i < in->nnics; i++) {
		d->nics[i] = in->nics[i];
		d->nics[i].network = dup_or_null(in->nics[i].network);
		d->nics[i].ip = dup_or_null(in->nics[i].ip);
	}
	d->ports = in->nports ? xmemdup(in->ports, in->nports * sizeof(*d->ports)) : NULL;
	d->mounts = in->nmounts ? xcalloc(in->nmounts, sizeof(*d->mounts)) : NULL;
	for (size_t i = 0; i < in->nmounts; i++) {
		d->mounts[i].volume = dup_or_null(in->mounts[i].volume);
		d->mounts[i].host_path = dup_or_null(in->mounts[i].host_path);
		d->mounts[i].at = dup_or_null(in->mounts[i].at);
		d->mounts[i].readonly = in->mounts[i].readonly;
	}
	return d;
}

struct unik_volume *unik_volume_dup(const struct unik_volume *v)
{
	struct unik_volume *d = xcalloc(1, sizeof(*d));

	*d = *v;
	d->name = dup_or_null(v->name);
	d->created = dup_or_null(v->created);
	d->format = dup_or_null(v->format);
	d->instance_id = dup_or_null(v->instance_id);
	d->mount = dup_or_null(v->mount);
	return d;
}

struct unik_network *unik_network_dup(const struct unik_network *n)
{
	struct unik_network *d = xcalloc(1, sizeof(*d));

	*d = *n;
	d->name = dup_or_null(n->name);
	d->created = dup_or_null(n->created);
	d->subnet = dup_or_null(n->subnet);
	d->gateway = dup_or_null(n->gateway);
	d->bridge = dup_or_null(n->bridge);
	return d;
}

bool unik_key_known(const char *key, const char *const *keys, const char *what,
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
