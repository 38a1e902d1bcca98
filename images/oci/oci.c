/* Writes a docker-archive tarball: manifest.json, the image config and one layer holding
 * /<name> (the kernel, the entrypoint) and /<name>.rootfs.cpio.  Reproducible: fixed times and
 * owners, so the same kernel always gives the same image id. */
#include "images/oci/oci.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/oci_config.h"
#include "lib/util.h"

#define EPOCH_TEXT "1970-01-01T00:00:00Z"

char *unik_oci_tag(const char *name, struct unik_error *err)
{
	size_t n = name ? strlen(name) : 0;
	bool ok = n > 0 && n <= 128 && isalnum((unsigned char)name[0]) &&
	          isalnum((unsigned char)name[n - 1]);
	char *tag = xmalloc(n + sizeof(":latest"));

	for (size_t i = 0; ok && i < n; i++) {
		char c = (char)tolower((unsigned char)name[i]);
		bool sep = c == '.' || c == '_' || c == '-';
		/* Docker allows one '.', one or two '_', or any run of '-' between alphanumerics.
		 */
		if (!isalnum((unsigned char)c) && !sep)
			ok = false;
		if (c == '.' && i + 1 < n && !isalnum((unsigned char)name[i + 1]))
			ok = false;
		tag[i] = c;
	}
	if (!ok) {
		free(tag);
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "image name \"%s\" cannot be a Docker repository name (use lower-case "
		    "letters, digits and single '.', '_' or '-' between them)",
		    name ? name : "");
		return NULL;
	}
	memcpy(tag + n, ":latest", sizeof(":latest"));
	return tag;
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void unik_oci_digest(const void *data, size_t len, char out[72])
{
	char hex[65];

	sha256_hex(data, len, hex);
	snprintf(out, 72, "sha256:%s", hex);
}

/* One regular file entry with fixed metadata. */
static int add_file(struct archive *a, const char *path, const void *data, size_t len, int mode,
                    struct unik_error *err)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK || (len && archive_write_data(a, data, len) != (la_ssize_t)len)) {
		unik_error_set(err, UNIK_E_IO, "write %s into the image: %s", path,
		               archive_error_string(a));
		return -1;
	}
	return 0;
}

struct membuf {
	char *p;
	size_t len, cap;
};

static la_ssize_t mem_write(struct archive *a, void *cls, const void *buf, size_t n)
{
	struct membuf *m = cls;

	(void)a;
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->p = xrealloc(m->p, m->cap);
	}
	memcpy(m->p + m->len, buf, n);
	m->len += n;
	return (la_ssize_t)n;
}

/* The layer: a plain tar built in memory (it is small: a kernel and maybe a root fs). */
static int build_layer(const struct unik_oci_image_spec *s, const char *base, struct membuf *m,
                       struct unik_error *err)
{
	_cleanup_free_ char *kernel = NULL, *rootfs = NULL;
	_cleanup_free_ char *rootfs_name = xasprintf("%s" OCI_ROOTFS_SUFFIX, base);
	size_t klen = 0, rlen = 0;
	struct archive *a = archive_write_new();
	int r = -1;

	if (unik_read_file(s->kernel, &kernel, &klen, err) < 0 ||
	    (s->rootfs && unik_read_file(s->rootfs, &rootfs, &rlen, err) < 0))
		goto out;
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_open(a, m, NULL, mem_write, NULL) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_INTERNAL, "start the layer: %s",
		               archive_error_string(a));
		goto out;
	}
	if (add_file(a, base, kernel, klen, 0755, err) < 0 ||
	    (rootfs && add_file(a, rootfs_name, rootfs, rlen, 0644, err) < 0))
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_IO, "finish the layer: %s", archive_error_string(a));
		goto out;
	}
	r = 0;
out:
	archive_write_free(a);
	return r;
}

static json_t *strings(const char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Sets key to v in o when v is a non-empty string. */
static void set_label(json_t *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_set_new(o, key, json_string(v));
}

void unik_oci_blobs_free(struct unik_oci_blobs *b)
{
	free(b->tag);
	free(b->layer);
	free(b->config);
	free(b->manifest);
	memset(b, 0, sizeof(*b));
}

int unik_oci_blobs_make(const struct unik_oci_image_spec *s, struct unik_oci_blobs *out,
                        struct unik_error *err)
{
	_cleanup_free_ char *tag = unik_oci_tag(s->name, err);
	_cleanup_free_ char *base = NULL, *entry = NULL;
	struct membuf layer = {0};
	char layer_hex[65];

	memset(out, 0, sizeof(*out));
	if (!tag)
		return -1;
	/* The kernel's file name is the image name, so the guest's argv[0] is the name. */
	base = xstrndup(tag, strlen(tag) - strlen(":latest"));
	if (build_layer(s, base, &layer, err) < 0) {
		free(layer.p);
		return -1;
	}
	sha256_hex(layer.p, layer.len, layer_hex);

	entry = xasprintf("/%s", base);
	char mem[32] = "";
	if (s->memory_mb)
		snprintf(mem, sizeof(mem), "%llu", (unsigned long long)s->memory_mb);
	json_t *labels =
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", OCI_ANNOTATION_KERNEL, entry, "org.unik.cmdline",
	              s->cmdline ? s->cmdline : "", "org.unik.memory", mem, "org.unik.monitor",
	              "qemu", "org.unik.abi", "1");
	set_label(labels, "org.unik.name", s->name);
	set_label(labels, "org.unik.args", s->image_args);
	set_label(labels, OCI_LABEL_BASE, s->base);
	set_label(labels, "org.unik.language", s->language);
	set_label(labels, "org.unik.compiler", s->compiler);
	set_label(labels, "org.unik.provider", s->provider);
	/* The manifest's annotations: the same labels, and the OCI ones for the title. */
	json_t *annotations = json_deep_copy(labels);
	json_object_set_new(annotations, "org.opencontainers.image.title", json_string(base));
	json_object_set_new(annotations, "org.opencontainers.image.created",
	                    json_string(EPOCH_TEXT));
	json_t *config = json_pack(
	    "{s:s, s:s, s:s, s:{s:[s], s:o, s:o, s:o}, s:{s:s, s:[s+]}, s:[{s:s, s:s}]}",
	    "architecture", "amd64", "os", "linux", "created", EPOCH_TEXT, "config", "Entrypoint",
	    entry, "Cmd", strings(s->args), "Env", strings(s->env), "Labels", labels, "rootfs",
	    "type", "layers", "diff_ids", "sha256:", layer_hex, "history", "created", EPOCH_TEXT,
	    "created_by", "unik build (image written by unik)");
	out->config = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(config);
	out->config_len = strlen(out->config);
	unik_oci_digest(out->config, out->config_len, out->config_digest);
	out->layer = layer.p;
	out->layer_len = layer.len;
	snprintf(out->layer_digest, sizeof(out->layer_digest), "sha256:%s", layer_hex);

	json_t *manifest =
	    json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}], s:o}", "schemaVersion", 2,
	              "mediaType", UNIK_OCI_MT_MANIFEST, "config", "mediaType", UNIK_OCI_MT_CONFIG,
	              "digest", out->config_digest, "size", (json_int_t)out->config_len, "layers",
	              "mediaType", UNIK_OCI_MT_LAYER, "digest", out->layer_digest, "size",
	              (json_int_t)out->layer_len, "annotations", annotations);
	out->manifest = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(manifest);
	out->manifest_len = strlen(out->manifest);
	unik_oci_digest(out->manifest, out->manifest_len, out->manifest_digest);
	out->tag = tag;
	tag = NULL;
	return 0;
}

/* Writes entries (name, data, len) into a tar at path, atomically. */
struct tar_entry {
	const char *name;
	const void *data;
	size_t len;
};

static int write_tar(const char *path, const struct tar_entry *ents, size_t n,
                     struct unik_error *err)
{
	_cleanup_atomic_file_ struct unik_atomic_file f = {.fd = -1};
	struct archive *a;

	if (unik_atomic_file_open(&f, path, err) < 0)
		return -1;
	a = archive_write_new();
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, f.fd) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_IO, "create `%s`: %s", f.tmp, archive_error_string(a));
		archive_write_free(a);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (add_file(a, ents[i].name, ents[i].data, ents[i].len, 0644, err) < 0) {
			archive_write_free(a);
			return -1;
		}
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		unik_error_set(err, UNIK_E_IO, "write `%s`: %s", f.tmp, archive_error_string(a));
		archive_write_free(a);
		return -1;
	}
	archive_write_free(a);
	return unik_atomic_file_commit(&f, path, 0644, err);
}

int unik_oci_write_docker_archive(const struct unik_oci_blobs *b, const char *out,
                                  struct unik_error *err)
{
	_cleanup_free_ char *config_name = xasprintf("%s.json", b->config_digest + 7);
	_cleanup_free_ char *layer_name = xasprintf("%s/layer.tar", b->layer_digest + 7);
	json_t *manifest = json_pack("[{s:s, s:[s], s:[s]}]", "Config", config_name, "RepoTags",
	                             b->tag, "Layers", layer_name);
	_cleanup_free_ char *manifest_text = json_dumps(manifest, JSON_COMPACT);
	const struct tar_entry ents[] = {
	    {layer_name, b->layer, b->layer_len},
	    {config_name, b->config, b->config_len},
	    {"manifest.json", manifest_text, strlen(manifest_text)},
	};

	json_decref(manifest);
	return write_tar(out, ents, sizeof(ents) / sizeof(ents[0]), err);
}

int unik_oci_write_layout(const struct unik_oci_blobs *b, const char *out, struct unik_error *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	_cleanup_free_ char *layer_name = xasprintf("blobs/sha256/%s", b->layer_digest + 7);
	_cleanup_free_ char *config_name = xasprintf("blobs/sha256/%s", b->config_digest + 7);
	_cleanup_free_ char *manifest_name = xasprintf("blobs/sha256/%s", b->manifest_digest + 7);
	const char *colon = strrchr(b->tag, ':');
	json_t *index = json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s}, s:{s:s, s:s}}]}",
	                          "schemaVersion", 2, "mediaType", UNIK_OCI_MT_INDEX, "manifests",
	                          "mediaType", UNIK_OCI_MT_MANIFEST, "digest", b->manifest_digest,
	                          "size", (json_int_t)b->manifest_len, "annotations",
	                          "org.opencontainers.image.ref.name", colon ? colon + 1 : "latest",
	                          "platform", "architecture", "amd64", "os", "linux");
	_cleanup_free_ char *index_text = json_dumps(index, JSON_COMPACT);
	const struct tar_entry ents[] = {
	    {"oci-layout", layout, strlen(layout)},
	    {layer_name, b->layer, b->layer_len},
	    {config_name, b->config, b->config_len},
	    {manifest_name, b->manifest, b->manifest_len},
	    {"index.json", index_text, strlen(index_text)},
	};

	json_decref(index);
	return write_tar(out, ents, sizeof(ents) / sizeof(ents[0]), err);
}

int unik_oci_pack(const struct unik_oci_image_spec *s, struct unik_error *err)
{
	struct unik_oci_blobs b;
	int r;

	if (unik_oci_blobs_make(s, &b, err) < 0)
		return -1;
	r = unik_oci_write_docker_archive(&b, s->out, err);
	unik_oci_blobs_free(&b);
	return r;
}
