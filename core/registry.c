/* Images to and from registries: push writes an image's OCI blobs (images/oci/) and its OCI
 * image manifest; pull reads a manifest (or picks linux/amd64 from an index), checks every blob's
 * digest, takes the kernel and root fs out of the layers and stores the image with the defaults
 * its labels carry.  Nothing is stored unless everything checked out. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "images/oci/oci.h"
#include "images/store.h"
#include "lib/cmdline.h"
#include "lib/names.h"
#include "lib/oci_config.h"
#include "lib/registry.h"

#define MAX_CONFIG (4u << 20)
#define MAX_LAYER  (1ull << 30)
#define MAX_LAYERS 32

/* The spec of an image's OCI blobs, from a copy of its record. */
struct push_src {
	struct unik_image *im;
	char *kernel, *rootfs, *cmdline;
	struct unik_cmdline cl;
};

static void push_src_free(struct push_src *s)
{
	unik_image_free(s->im);
	free(s->kernel);
	free(s->rootfs);
	free(s->cmdline);
	unik_cmdline_free(&s->cl);
}

static int push_src_get(struct unik_core *c, const char *ref, struct push_src *s,
                        struct unik_error *err)
{
	const struct unik_image *im;
	int rc = -1;

	core_lock(c);
	if (!(im = resolve_image(c, ref, err)))
		goto out;
	if (image_cmdline(im, &s->cmdline, err) < 0)
		goto out;
	s->im = unik_image_dup(im);
	s->kernel = unik_image_kernel_path(c->images_dir, im->id);
	s->rootfs = unik_image_rootfs_path(c->images_dir, im->id);
	rc = 0;
out:
	core_unlock(c);
	if (rc == 0 && s->cmdline && unik_cmdline_split(s->cmdline, &s->cl, err) < 0)
		rc = -1;
	return rc;
}

int unik_core_image_push(struct unik_core *c, const char *ref, const char *dest,
                         const struct unik_registry_opts *opts, unik_registry_progress_fn progress,
                         void *ctx, char **pushed, char **digest, struct unik_error *err)
{
	struct push_src s = {0};
	struct unik_registry_ref rr = {0};
	struct unik_registry *reg = NULL;
	struct unik_oci_blobs b = {0};
	int rc = -1;

	if (unik_registry_ref_parse(dest, &rr, err) < 0)
		return -1;
	if (rr.digest) {
		unik_error_set(err, UNIK_E_INVALID,
		               "push to a tag, not a digest (%s): the digest is the manifest's",
		               dest);
		goto out;
	}
	if (push_src_get(c, ref, &s, err) < 0)
		goto out;
	const char *const *argv = (const char *const *)strv_argv(&s.cl.argv);
	struct unik_oci_image_spec spec = {
	    .kernel = s.kernel,
	    .rootfs = s.rootfs,
	    .name = s.im->name,
	    .args = s.cl.argv.n > 1 ? argv + 1 : NULL,
	    .env = s.cl.env.n ? (const char *const *)strv_argv(&s.cl.env) : NULL,
	    .cmdline = s.cmdline,
	    .memory_mb = (uint64_t)s.im->memory_mb,
	    .image_args = s.im->args,
	    .base = s.im->base,
	    .language = s.im->language,
	    .compiler = s.im->compiler,
	    .provider = s.im->provider,
	};
	if (unik_oci_blobs_make(&spec, &b, err) < 0 || unik_registry_open(&rr, opts, &reg, err) < 0)
		goto out;
	const struct {
		const char *digest;
		const char *data;
		size_t len;
	} blobs[] = {{b.layer_digest, b.layer, b.layer_len},
	             {b.config_digest, b.config, b.config_len}};
	for (size_t i = 0; i < 2; i++) {
		bool there = false;

		if (unik_registry_blob_exists(reg, blobs[i].digest, &there, err) < 0)
			goto out;
		if (there) {
			if (progress)
				progress(ctx, blobs[i].digest, blobs[i].len, blobs[i].len);
			continue;
		}
		if (unik_registry_blob_put(reg, blobs[i].digest, blobs[i].data, blobs[i].len,
		                           progress, ctx, err) < 0)
			goto out;
	}
	if (unik_registry_manifest_put(reg, rr.tag, UNIK_OCI_MT_MANIFEST, b.manifest,
	                               b.manifest_len, err) < 0)
		goto out;
	if (pushed)
		*pushed = unik_registry_ref_string(&rr);
	if (digest)
		*digest = xstrdup(b.manifest_digest);
	rc = 0;
out:
	if (rc < 0)
		unik_error_prefix(err, "push %s to %s", ref, dest);
	unik_registry_close(reg);
	unik_oci_blobs_free(&b);
	unik_registry_ref_free(&rr);
	push_src_free(&s);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* pull */

static bool is_index(const char *mt, json_t *m)
{
	const char *t = json_string_value(json_object_get(m, "mediaType"));

	if (!t)
		t = mt;
	return (t && (strcmp(t, UNIK_OCI_MT_INDEX) == 0 || strcmp(t, UNIK_DOCKER_MT_LIST) == 0)) ||
	       (!json_object_get(m, "config") && json_is_array(json_object_get(m, "manifests")));
}

/* The linux/amd64 manifest's digest of an index (one without a platform counts). */
static const char *index_pick(json_t *idx)
{
	json_t *ms = json_object_get(idx, "manifests"), *e;
	size_t i;

	json_array_foreach(ms, i, e)
	{
		json_t *p = json_object_get(e, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *arch = json_string_value(json_object_get(p, "architecture"));
		if (!p || ((!os || !strcmp(os, "linux")) && (!arch || !strcmp(arch, "amd64"))))
			return json_string_value(json_object_get(e, "digest"));
	}
	return NULL;
}

/* Writes the current entry of a to path. */
static int extract_to(struct archive *a, const char *path, struct unik_error *err)
{
	_cleanup_atomic_file_ struct unik_atomic_file f = {.fd = -1};

	if (unik_atomic_file_open(&f, path, err) < 0)
		return -1;
	if (archive_read_data_into_fd(a, f.fd) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_INVALID, "a layer: %s", archive_error_string(a));
		return -1;
	}
	return unik_atomic_file_commit(&f, path, 0644, err);
}

/* Takes /<kernel> and /<kernel>.rootfs.cpio out of a layer (plain or compressed tar); later
 * layers replace earlier ones' files, as they would in a container's root fs. */
static int layer_extract(const char *data, size_t len, const char *kernel, const char *kpath,
                         const char *rpath, bool *got_kernel, bool *got_rootfs,
                         struct unik_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	_cleanup_free_ char *rootfs = xasprintf("%s" OCI_ROOTFS_SUFFIX, kernel);
	int r, rc = -1;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_INVALID, "a layer is not a tar: %s",
		               archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		while (n[0] == '.' && n[1] == '/')
			n += 2;
		while (n[0] == '/')
			n++;
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (strcmp(n, kernel) == 0) {
			if (extract_to(a, kpath, err) < 0)
				goto out;
			*got_kernel = true;
		} else if (strcmp(n, rootfs) == 0) {
			if (extract_to(a, rpath, err) < 0)
				goto out;
			*got_rootfs = true;
		}
	}
	if (r != ARCHIVE_EOF) {
		unik_error_set(err, UNIK_E_INVALID, "a layer: %s", archive_error_string(a));
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

static const char *label(json_t *labels, const char *key)
{
	const char *v = json_string_value(json_object_get(labels, key));
	return v && *v ? v : NULL;
}

/* The image record a pulled config describes. */
static struct unik_image *pulled_image(struct unik_core *c, json_t *config, const char *name,
                                       const char *kernel_base)
{
	json_t *cc = json_object_get(config, "config");
	json_t *labels = json_object_get(cc, "Labels");
	struct unik_image *im = xcalloc(1, sizeof(*im));
	const char *mem = label(labels, "org.unik.memory");
	json_t *v;
	size_t i;

	unik_new_id(im->id);
	im->name = xstrdup(name);
	im->base = xstrdup(label(labels, "org.unik.base") ? label(labels, "org.unik.base") : "");
	im->language =
	    xstrdup(label(labels, "org.unik.language") ? label(labels, "org.unik.language") : "");
	im->compiler =
	    xstrdup(label(labels, "org.unik.compiler") ? label(labels, "org.unik.compiler") : "");
	im->provider = xstrdup(label(labels, "org.unik.provider") &&
	                               unik_core_provider(c, label(labels, "org.unik.provider"))
	                           ? label(labels, "org.unik.provider")
	                           : unik_core_default_provider(c));
	if (label(labels, "org.unik.args")) {
		im->args = xstrdup(label(labels, "org.unik.args"));
	} else {
		/* An image from elsewhere: argv[0] is the kernel's name, then its Cmd. */
		struct strv words = {0};
		strv_push(&words, kernel_base);
		json_array_foreach(json_object_get(cc, "Cmd"), i, v)
		{
			if (json_is_string(v))
				strv_push_take(&words,
				               unik_cmdline_quote_word(json_string_value(v)));
		}
		im->args = strv_join(&words, " ");
		strv_free(&words);
	}
	json_array_foreach(json_object_get(cc, "Env"), i, v)
	{
		const char *w = json_string_value(v);
		/* PATH is what docker adds to every image; a guest has no use for it. */
		if (w && unik_env_word_valid(w) && strncmp(w, "PATH=", 5) != 0)
			strv_push(&im->env, w);
	}
	im->memory_mb = mem && atoll(mem) > 0 ? atoll(mem) : 64;
	im->created = unik_now_rfc3339(3);
	return im;
}

/* Records im (its files in place) under its name, replacing an image of that name as a build
 * with --force does. */
static int pulled_commit(struct unik_core *c, struct unik_image *im, struct unik_image **out,
                         struct unik_error *err)
{
	struct unik_image *old;

	core_lock(c);
	old = find_image_name(c, im->name);
	db_begin(c);
	if ((old && db_del_image(c, old->id, err) < 0) || (im->seq = ++c->seq, 0) ||
	    db_put_image(c, im, err) < 0 || db_commit(c, err) < 0) {
		db_rollback(c);
		core_unlock(c);
		return -1;
	}
	if (old)
		remove_image(c, old);
	add_image(c, im);
	if (out)
		*out = unik_image_dup(im);
	pthread_cond_broadcast(&c->changed);
	core_unlock(c);
	if (old) {
		image_files_remove(c, old->id, NULL);
		unik_image_free(old);
	}
	return 0;
}

int unik_core_image_pull(struct unik_core *c, const char *src, const char *name,
                         const struct unik_registry_opts *opts, unik_registry_progress_fn progress,
                         void *ctx, struct unik_image **out, struct unik_error *err)
{
	struct unik_registry_ref rr = {0};
	struct unik_registry *reg = NULL;
	_cleanup_free_ char *mdata = NULL, *mtype = NULL, *mdigest = NULL, *cdata = NULL;
	_cleanup_free_ char *tmp = NULL, *kpath = NULL, *rpath = NULL, *meta_text = NULL;
	_cleanup_free_ char *kernel = NULL, *own_name = NULL;
	size_t mlen = 0, clen = 0;
	json_t *m = NULL, *config = NULL;
	struct unik_image *im = NULL;
	bool got_kernel = false, got_rootfs = false, stored = false;
	int rc = -1;

	if (unik_registry_ref_parse(src, &rr, err) < 0)
		return -1;
	if (name && unik_name_check("image name", name, err) < 0)
		goto out;
	if (unik_registry_open(&rr, opts, &reg, err) < 0 ||
	    unik_registry_manifest_get(reg, unik_registry_ref_reference(&rr), &mdata, &mlen, &mtype,
	                               &mdigest, err) < 0)
		goto out;
	if (!(m = json_loadb(mdata, mlen, 0, NULL))) {
		unik_error_set(err, UNIK_E_INVALID, "the manifest is not JSON");
		goto out;
	}
	if (is_index(mtype, m)) {
		const char *d = index_pick(m);
		if (!d) {
			unik_error_set(err, UNIK_E_NOTFOUND, "the index has no linux/amd64 image");
			goto out;
		}
		_cleanup_free_ char *pick = xstrdup(d);
		json_decref(m);
		m = NULL;
		free(mdata);
		free(mtype);
		free(mdigest);
		mdata = mtype = mdigest = NULL;
		if (unik_registry_manifest_get(reg, pick, &mdata, &mlen, &mtype, &mdigest, err) < 0)
			goto out;
		if (!(m = json_loadb(mdata, mlen, 0, NULL))) {
			unik_error_set(err, UNIK_E_INVALID, "the manifest is not JSON");
			goto out;
		}
	}
	const char *cdigest =
	    json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
	json_t *layers = json_object_get(m, "layers");
	if (!cdigest || !json_is_array(layers) || json_array_size(layers) == 0 ||
	    json_array_size(layers) > MAX_LAYERS) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "the manifest (%s) is not an image manifest with a config and 1 to %d "
		    "layers",
		    mtype && *mtype ? mtype : "no media type", MAX_LAYERS);
		goto out;
	}
	if (unik_registry_blob_get(reg, cdigest, MAX_CONFIG, NULL, NULL, &cdata, &clen, err) < 0)
		goto out;
	if (!(config = json_loadb(cdata, clen, 0, NULL))) {
		unik_error_set(err, UNIK_E_INVALID, "the image config %s is not JSON", cdigest);
		goto out;
	}
	json_t *labels = json_object_get(json_object_get(config, "config"), "Labels");
	const char *kl = label(labels, OCI_ANNOTATION_KERNEL);
	if (!kl || kl[0] != '/' || !kl[1] || strstr(kl, "..")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s is not a unikernel image: its config has no %s label naming the "
		               "kernel",
		               src, OCI_ANNOTATION_KERNEL);
		goto out;
	}
	kernel = xstrdup(kl + 1);
	if (!name) {
		const char *n = label(labels, "org.unik.name");
		const char *slash = strrchr(rr.repository, '/');
		own_name = xstrdup(n && unik_name_valid(n) ? n : slash ? slash + 1 : rr.repository);
		name = own_name;
	}
	if (unik_name_check("image name", name, err) < 0) {
		unik_error_prefix(err, "give --name NAME");
		goto out;
	}
	tmp = unik_path_join(c->tmp_dir, "pull-XXXXXX");
	if (!mkdtemp(tmp)) {
		unik_error_sys(err, errno, "create %s", tmp);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	kpath = unik_path_join(tmp, "kernel.elf");
	rpath = unik_path_join(tmp, "rootfs.cpio");
	json_t *l;
	size_t i;
	json_array_foreach(layers, i, l)
	{
		const char *d = json_string_value(json_object_get(l, "digest"));
		_cleanup_free_ char *data = NULL;
		size_t len = 0;

		if (!d) {
			unik_error_set(err, UNIK_E_INVALID, "layer %zu has no digest", i);
			goto out;
		}
		if (unik_registry_blob_get(reg, d, MAX_LAYER, progress, ctx, &data, &len, err) <
		        0 ||
		    layer_extract(data, len, kernel, kpath, rpath, &got_kernel, &got_rootfs, err) <
		        0)
			goto out;
	}
	if (!got_kernel) {
		unik_error_set(err, UNIK_E_INVALID, "no layer holds the kernel /%s", kernel);
		goto out;
	}
	const char *slash = strrchr(kernel, '/');
	im = pulled_image(c, config, name, slash ? slash + 1 : kernel);
	struct unik_artifacts art = {
	    .kernel = kpath,
	    .rootfs = got_rootfs ? rpath : NULL,
	    .name = im->name,
	    .base = im->base,
	    .language = im->language,
	    .compiler = im->compiler,
	};
	struct unik_image_files files;
	json_t *meta = unik_image_meta_json(im);
	meta_text = json_dumps(meta, JSON_INDENT(2));
	json_decref(meta);
	if (unik_image_store_put(c->images_dir, im->id, &art, meta_text, &files, err) < 0)
		goto out;
	stored = true;
	im->elf_size = files.elf_size;
	im->rootfs_size = files.rootfs_size;
	image_set_format(im, "elf", files.elf_size);
	if (pulled_commit(c, im, out, err) < 0)
		goto out;
	im = NULL;
	rc = 0;
out:
	if (rc < 0) {
		if (stored)
			unik_image_store_remove(c->images_dir, im->id, NULL);
		unik_error_prefix(err, "pull %s", src);
	}
	unik_image_free(im);
	if (tmp)
		unik_rmtree(tmp, NULL);
	json_decref(m);
	json_decref(config);
	unik_registry_close(reg);
	unik_registry_ref_free(&rr);
	return rc;
}
