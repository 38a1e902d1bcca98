/* Unikfile and manifest.yaml parsing: see manifest.h. */
#include "compilers/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cmdline.h"
#include "lib/names.h"
#include "lib/yamlx.h"

void unik_manifest_free(struct unik_manifest *m)
{
	free(m->file);
	free(m->name);
	free(m->base);
	free(m->language);
	free(m->args);
	strv_free(&m->env);
	free(m->files);
	free(m->binary);
	free(m->target);
	strv_free(&m->devices);
	memset(m, 0, sizeof(*m));
}

int unik_parse_memory(const char *s, uint64_t *mb)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v == 0)
		return -1;
	if (!*end || strcmp(end, "M") == 0 || strcmp(end, "MiB") == 0 || strcmp(end, "MB") == 0 ||
	    strcmp(end, "m") == 0)
		;
	else if (strcmp(end, "G") == 0 || strcmp(end, "GiB") == 0 || strcmp(end, "GB") == 0 ||
	         strcmp(end, "g") == 0)
		v *= 1024;
	else
		return -1;
	if (v > 1024 * 1024)
		return -1;
	*mb = v;
	return 0;
}

static int rel_path_ok(const char *p)
{
	const char *q = p;

	if (!*p || *p == '/')
		return 0;
	while (*q) {
		size_t n = strcspn(q, "/");

		if (n == 2 && q[0] == '.' && q[1] == '.')
			return 0;
		q += n;
		while (*q == '/')
			q++;
	}
	return 1;
}

static int word(const struct yamlx_node *n, const char *fname, const char *key, char **out,
                struct unik_error *err)
{
	char what[64];

	snprintf(what, sizeof(what), "\"%s\"", key);
	if (yamlx_str(n, fname, what, out, err) < 0)
		return -1;
	if (strlen(*out) > 4096) {
		unik_error_set(err, UNIK_E_INVALID, "%s line %d: \"%s\" is too long", fname,
		               n->line, key);
		return -1;
	}
	return 0;
}

/* `devices: [{net: NAME}, {block: NAME}]`: each item a map of one kind to one name, names valid
 * device names (include/unik/devices.h) and unique. */
static int manifest_devices(const struct yamlx_node *n, const char *fname, struct unik_manifest *m,
                            struct unik_error *err)
{
	if (yamlx_expect(n, YAMLX_SEQ, fname, "\"devices\"", err) < 0)
		return -1;
	for (size_t i = 0; i < n->n; i++) {
		const struct yamlx_node *d = n->vals[i];
		const char *kind, *name, *k;
		size_t len;

		if (d->kind != YAMLX_MAP || d->n != 1 || d->vals[0]->kind != YAMLX_SCALAR) {
			unik_error_set(err, UNIK_E_INVALID,
			               "%s line %d: a device is {net: NAME} or {block: NAME}",
			               fname, d->line);
			return -1;
		}
		k = d->keys[0]->value;
		name = d->vals[0]->value;
		kind = !strcmp(k, "net")                          ? "net"
		       : !strcmp(k, "block") || !strcmp(k, "blk") ? "blk"
		                                                  : NULL;
		if (!kind) {
			unik_error_set(err, UNIK_E_INVALID,
			               "%s line %d: unknown device kind \"%.20s\" (net or block)",
			               fname, d->line, k);
			return -1;
		}
		len = strlen(name);
		if (len < 1 || len > 15 || name[0] < 'a' || name[0] > 'z' ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != len) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "%s line %d: device name \"%.40s\": at most 15 of a-z, 0-9, _ "
			    "and -, starting with a letter",
			    fname, d->line, name);
			return -1;
		}
		for (size_t j = 0; j < m->devices.n; j++)
			if (!strcmp(strchr(m->devices.v[j], ':') + 1, name)) {
				unik_error_set(err, UNIK_E_INVALID,
				               "%s line %d: device \"%s\" is declared twice", fname,
				               d->line, name);
				return -1;
			}
		strv_pushf(&m->devices, "%s:%s", kind, name);
	}
	return 0;
}

int unik_manifest_parse(const char *buf, size_t len, const char *fname, struct unik_manifest *m,
                        struct unik_error *err)
{
	static const char *const keys[] = {"name",  "base",   "language", "args",   "env", "memory",
	                                   "files", "binary", "devices",  "target", NULL};
	struct yamlx_node *root = NULL;
	const struct yamlx_node *n;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	m->file = xstrdup(fname);
	if (yamlx_parse(buf, len, fname, &root, err) < 0)
		return -1;
	if (yamlx_expect(root, YAMLX_MAP, fname, "the file", err) < 0 ||
	    yamlx_check_keys(root, keys, fname, err) < 0)
		goto out;
	if ((n = yamlx_get(root, "name"))) {
		if (word(n, fname, "name", &m->name, err) < 0)
			goto out;
		if (unik_name_check("image name", m->name, err) < 0) {
			unik_error_prefix(err, "%s line %d", fname, n->line);
			goto out;
		}
	}
	if ((n = yamlx_get(root, "base")) && word(n, fname, "base", &m->base, err) < 0)
		goto out;
	if ((n = yamlx_get(root, "language")) && word(n, fname, "language", &m->language, err) < 0)
		goto out;
	if ((n = yamlx_get(root, "args"))) {
		struct unik_cmdline c = {0};

		if (word(n, fname, "args", &m->args, err) < 0)
			goto out;
		if (unik_cmdline_split(m->args, &c, err) < 0) {
			unik_cmdline_free(&c);
			unik_error_prefix(err, "%s line %d: \"args\"", fname, n->line);
			goto out;
		}
		unik_cmdline_free(&c);
	}
	if ((n = yamlx_get(root, "env"))) {
		if (yamlx_expect(n, YAMLX_MAP, fname, "\"env\"", err) < 0)
			goto out;
		for (size_t i = 0; i < n->n; i++) {
			const char *k = n->keys[i]->value;
			const struct yamlx_node *v = n->vals[i];

			if (!unik_env_name_valid(k, strlen(k))) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "%s line %d: \"%.60s\" is not a valid environment variable "
				    "name",
				    fname, n->keys[i]->line, k);
				goto out;
			}
			if (yamlx_expect(v, YAMLX_SCALAR, fname, "an env value", err) < 0)
				goto out;
			strv_pushf(&m->env, "%s=%s", k, v->value);
		}
	}
	if ((n = yamlx_get(root, "memory"))) {
		if (yamlx_expect(n, YAMLX_SCALAR, fname, "\"memory\"", err) < 0)
			goto out;
		if (unik_parse_memory(n->value, &m->memory_mb) < 0) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "%s line %d: \"memory\" must be MiB (64) or a size like 64M or "
			    "1G, not \"%.40s\"",
			    fname, n->line, n->value);
			goto out;
		}
	}
	if ((n = yamlx_get(root, "files"))) {
		if (word(n, fname, "files", &m->files, err) < 0)
			goto out;
		if (!rel_path_ok(m->files)) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "%s line %d: \"files\" must be a directory inside the source "
			    "(relative, without \"..\")",
			    fname, n->line);
			goto out;
		}
	}
	if ((n = yamlx_get(root, "binary"))) {
		if (word(n, fname, "binary", &m->binary, err) < 0)
			goto out;
		if (!rel_path_ok(m->binary)) {
			unik_error_set(err, UNIK_E_INVALID,
			               "%s line %d: \"binary\" must be a path inside the source "
			               "(relative, without \"..\")",
			               fname, n->line);
			goto out;
		}
	}
	if ((n = yamlx_get(root, "target")) && word(n, fname, "target", &m->target, err) < 0)
		goto out;
	if ((n = yamlx_get(root, "devices")) && manifest_devices(n, fname, m, err) < 0)
		goto out;
	rc = 0;
out:
	yamlx_free(root);
	return rc;
}

int unik_manifest_parse_unik(const char *buf, size_t len, struct unik_manifest *m,
                             struct unik_error *err)
{
	struct yamlx_node *root = NULL;
	const struct yamlx_node *n;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	m->file = xstrdup("manifest.yaml");
	if (yamlx_parse(buf, len, "manifest.yaml", &root, err) < 0)
		return -1;
	if (yamlx_expect(root, YAMLX_MAP, "manifest.yaml", "the file", err) < 0)
		goto out;
	if ((n = yamlx_get(root, "binary_name"))) {
		if (word(n, "manifest.yaml", "binary_name", &m->binary, err) < 0)
			goto out;
		if (!rel_path_ok(m->binary)) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "manifest.yaml line %d: \"binary_name\" must be a path inside "
			    "the source",
			    n->line);
			goto out;
		}
	}
	rc = 0;
out:
	yamlx_free(root);
	return rc;
}

int unik_manifest_load(const char *src_dir, struct unik_manifest *m, struct unik_error *err)
{
	_cleanup_free_ char *uf = unik_path_join(src_dir, "Unikfile");
	_cleanup_free_ char *mf = unik_path_join(src_dir, "manifest.yaml");
	_cleanup_free_ char *buf = NULL;
	size_t len;
	struct unik_error e2;

	memset(m, 0, sizeof(*m));
	if (unik_read_file(uf, &buf, &len, &e2) == 0)
		return unik_manifest_parse(buf, len, "Unikfile", m, err);
	if (e2.code != UNIK_E_NOTFOUND) {
		unik_error_set(err, e2.code, "%s", e2.msg);
		return -1;
	}
	if (unik_read_file(mf, &buf, &len, &e2) == 0)
		return unik_manifest_parse_unik(buf, len, m, err);
	if (e2.code != UNIK_E_NOTFOUND) {
		unik_error_set(err, e2.code, "%s", e2.msg);
		return -1;
	}
	return 0;
}
