/* daemon-config.yaml: read with libyaml and checked strictly, so a typo stops the daemon with
 * the line to fix instead of being ignored (docs/daemon.md lists the keys). */
#include "daemon/internal.h"

#include <stdlib.h>
#include <string.h>

#include "lib/guest_console.h"
#include "lib/yamlx.h"

#define FNAME "daemon-config.yaml"

void config_free(struct daemon_config *c)
{
	strv_free(&c->listen);
	free(c->token);
	free(c->default_provider);
	for (size_t i = 0; i < c->nprovider_opts; i++) {
		free((char *)c->provider_opts[i].provider);
		strv_free(&c->provider_opts[i].opts);
	}
	free(c->provider_opts);
	memset(c, 0, sizeof(*c));
}

/* The options list of provider pname, added when it has none yet. */
static struct strv *provider_list(struct daemon_config *c, const char *pname)
{
	for (size_t i = 0; i < c->nprovider_opts; i++)
		if (strcmp(c->provider_opts[i].provider, pname) == 0)
			return &c->provider_opts[i].opts;
	c->provider_opts =
	    xrealloc(c->provider_opts, (c->nprovider_opts + 1) * sizeof(*c->provider_opts));
	memset(&c->provider_opts[c->nprovider_opts], 0, sizeof(*c->provider_opts));
	c->provider_opts[c->nprovider_opts].provider = xstrdup(pname);
	return &c->provider_opts[c->nprovider_opts++].opts;
}

void config_core(const struct daemon_config *c, const char *home, struct unik_core_config *out)
{
	memset(out, 0, sizeof(*out));
	out->home = home;
	out->max_parallel = c->max_parallel;
	out->max_upload_mb = c->max_upload_mb;
	out->max_files = c->max_files;
	out->build_sandbox_none = c->build_sandbox_none;
	out->build_uid = c->build_uid;
	out->build_gid = c->build_gid;
	out->build_limits = c->build_limits;
	out->allow_local_git = c->allow_local_git;
	out->default_provider = c->default_provider;
	out->provider_opts = c->provider_opts;
	out->nprovider_opts = c->nprovider_opts;
}

/* One entry of a provider other than qemu: scalar options, checked against the provider's keys
 * ("name" is UniK's label for an entry and is ignored). */
static int provider_entry(const char *pname, const struct yamlx_node *item, struct daemon_config *c,
                          struct unik_error *err)
{
	const struct unik_provider *p = unik_core_registry_provider(pname);
	struct strv *list;

	if (!p) {
		unik_error_set(err, UNIK_E_INVALID,
		               FNAME " line %d: unknown provider \"%.60s\" (see unik providers)",
		               item->line, pname);
		return -1;
	}
	list = provider_list(c, pname);
	for (size_t k = 0; k < item->n; k++) {
		const char *key = item->keys[k]->value;
		const struct yamlx_node *v = item->vals[k];
		bool known = false;

		if (strcmp(key, "name") == 0)
			continue;
		for (size_t j = 0; p->opt_keys && p->opt_keys[j]; j++)
			known = known || strcmp(p->opt_keys[j], key) == 0;
		if (!known) {
			unik_error_set(err, UNIK_E_INVALID,
			               FNAME
			               " line %d: provider %s has no option \"%.60s\" (see unik "
			               "providers -o json)",
			               item->keys[k]->line, pname, key);
			return -1;
		}
		if (yamlx_expect(v, YAMLX_SCALAR, FNAME, "a provider option", err) < 0)
			return -1;
		for (const char *c = v->value ? v->value : ""; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				unik_error_set(err, UNIK_E_INVALID,
				               FNAME
				               " line %d: option %s of provider %s holds a control "
				               "character",
				               v->line, key, pname);
				return -1;
			}
		strv_pushf(list, "%s=%s", key, v->value ? v->value : "");
	}
	return 0;
}

/* The one qemu key that is a provider option: the cap on console.log (providers/qemu). */
static int qemu_console_max(const struct yamlx_node *item, struct daemon_config *c,
                            struct unik_error *err)
{
	const struct yamlx_node *v = yamlx_get(item, "console_max");
	char what[64];
	long long cap;

	if (!v || yamlx_is_null(v))
		return 0;
	snprintf(what, sizeof(what), FNAME " line %d: console_max", v->line);
	if (yamlx_expect(v, YAMLX_SCALAR, FNAME, "\"console_max\"", err) < 0 ||
	    unik_console_max_parse(what, v->value, &cap, err) < 0)
		return -1;
	strv_pushf(provider_list(c, "qemu"), "console_max=%s", v->value);
	return 0;
}

static int parse_providers(const struct yamlx_node *n, struct daemon_config *c,
                           struct unik_error *err)
{
	/* UniK's shape: providers: {qemu: [{name: ..., no_graphic: true}], ...}.  The qemu
	 * provider takes UniK's keys and needs none; the others take their own options
	 * (providers/<name>: opt_keys), e.g. kvm: [{uri: "qemu:///system"}]. */
	static const char *const qemu_keys[] = {"name", "no_graphic", "debugger_port",
	                                        "console_max", NULL};

	if (yamlx_is_null(n))
		return 0;
	if (yamlx_expect(n, YAMLX_MAP, FNAME, "\"providers\"", err) < 0)
		return -1;
	for (size_t i = 0; i < n->n; i++) {
		const struct yamlx_node *list = n->vals[i];
		const char *pname = n->keys[i]->value;

		if (yamlx_is_null(list))
			continue;
		if (yamlx_expect(list, YAMLX_SEQ, FNAME, "a provider's settings", err) < 0)
			return -1;
		for (size_t j = 0; j < list->n; j++) {
			const struct yamlx_node *item = list->vals[j];

			if (yamlx_expect(item, YAMLX_MAP, FNAME, "a provider entry", err) < 0)
				return -1;
			if (strcmp(pname, "qemu") == 0) {
				if (yamlx_check_keys(item, qemu_keys, FNAME, err) < 0 ||
				    qemu_console_max(item, c, err) < 0)
					return -1;
				continue;
			}
			if (provider_entry(pname, item, c, err) < 0)
				return -1;
		}
	}
	return 0;
}

static int check_listen(const char *s, int line, struct unik_error *err)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || colon == s) {
		unik_error_set(err, UNIK_E_INVALID,
		               FNAME " line %d: listen address \"%.60s\" must be ADDR:PORT", line,
		               s);
		return -1;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || !colon[1]) {
		unik_error_set(err, UNIK_E_INVALID, FNAME " line %d: bad port in \"%.60s\"", line,
		               s);
		return -1;
	}
	return 0;
}

/* The sandbox's keys under build: (docs/daemon.md, "Build sandbox"). */
static int build_sandbox_keys(const struct yamlx_node *n, struct daemon_config *c,
                              struct unik_error *err)
{
	static const struct {
		const char *key;
		int64_t min, max;
	} lims[] = {{"timeout_s", 1, 7 * 24 * 3600},
	            {"memory_mb", 64, 1 << 24},
	            {"max_log_mb", 1, 1 << 20},
	            {"max_output_mb", 1, 1 << 24}};
	uint64_t *dst[] = {&c->build_limits.timeout_s, &c->build_limits.memory_mb,
	                   &c->build_limits.log_mb, &c->build_limits.output_mb};
	const struct yamlx_node *v;

	if ((v = yamlx_get(n, "uid")) && yamlx_int(v, FNAME, "\"uid\" (the build user, not root)",
	                                           1, 4294967294LL, &c->build_uid, err) < 0)
		return -1;
	if ((v = yamlx_get(n, "gid")) && yamlx_int(v, FNAME, "\"gid\" (the build group, not root)",
	                                           1, 4294967294LL, &c->build_gid, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		_cleanup_free_ char *what = xasprintf("\"%s\"", lims[i].key);
		int64_t x;

		if (!(v = yamlx_get(n, lims[i].key)))
			continue;
		if (yamlx_int(v, FNAME, what, lims[i].min, lims[i].max, &x, err) < 0)
			return -1;
		*dst[i] = (uint64_t)x;
	}
	if ((v = yamlx_get(n, "allow_local_git")) &&
	    yamlx_bool(v, FNAME, "\"allow_local_git\"", &c->allow_local_git, err) < 0)
		return -1;
	return 0;
}

int config_load(const char *path, struct daemon_config *c, struct unik_error *err)
{
	static const char *const keys[] = {"listen",    "token",         "default_provider",
	                                   "build",     "providers",     "hub_url",
	                                   "log_level", "build_sandbox", NULL};
	static const char *const build_keys[] = {
	    "max_parallel",  "max_upload_mb",   "max_files", "uid",
	    "gid",           "timeout_s",       "memory_mb", "max_log_mb",
	    "max_output_mb", "allow_local_git", NULL};
	_cleanup_free_ char *buf = NULL;
	struct yamlx_node *root = NULL;
	const struct yamlx_node *n;
	size_t len;
	struct unik_error e2;
	int rc = -1;

	c->max_parallel = 4;
	c->max_upload_mb = 256;
	c->max_files = 20000;
	c->build_uid = UNIK_SANDBOX_UID_DEFAULT;
	c->build_gid = UNIK_SANDBOX_GID_DEFAULT;
	c->build_limits = (struct unik_sandbox_limits)UNIK_SANDBOX_LIMITS_DEFAULT;
	if (unik_read_file(path, &buf, &len, &e2) < 0) {
		if (e2.code == UNIK_E_NOTFOUND)
			return 0;
		unik_error_set(err, e2.code, "%s", e2.msg);
		return -1;
	}
	if (yamlx_parse(buf, len, FNAME, &root, err) < 0)
		return -1;
	if (yamlx_expect(root, YAMLX_MAP, FNAME, "the file", err) < 0 ||
	    yamlx_check_keys(root, keys, FNAME, err) < 0)
		goto out;
	if ((n = yamlx_get(root, "listen")) && !yamlx_is_null(n)) {
		if (n->kind == YAMLX_SCALAR) {
			if (check_listen(n->value, n->line, err) < 0)
				goto out;
			strv_push(&c->listen, n->value);
		} else {
			if (yamlx_expect(n, YAMLX_SEQ, FNAME, "\"listen\"", err) < 0)
				goto out;
			for (size_t i = 0; i < n->n; i++) {
				char *s;

				if (yamlx_str(n->vals[i], FNAME, "a listen address", &s, err) < 0)
					goto out;
				strv_push_take(&c->listen, s);
				if (check_listen(s, n->vals[i]->line, err) < 0)
					goto out;
			}
		}
	}
	if ((n = yamlx_get(root, "token")) && !yamlx_is_null(n)) {
		if (yamlx_str(n, FNAME, "\"token\"", &c->token, err) < 0)
			goto out;
		if (strlen(c->token) < 8) {
			unik_error_set(err, UNIK_E_INVALID,
			               FNAME
			               " line %d: \"token\" is too short (8 characters at least)",
			               n->line);
			goto out;
		}
	}
	if ((n = yamlx_get(root, "default_provider")) && !yamlx_is_null(n) &&
	    yamlx_str(n, FNAME, "\"default_provider\"", &c->default_provider, err) < 0)
		goto out;
	if ((n = yamlx_get(root, "build")) && !yamlx_is_null(n)) {
		const struct yamlx_node *v;

		if (yamlx_expect(n, YAMLX_MAP, FNAME, "\"build\"", err) < 0 ||
		    yamlx_check_keys(n, build_keys, FNAME, err) < 0)
			goto out;
		if ((v = yamlx_get(n, "max_parallel")) &&
		    yamlx_int(v, FNAME, "\"max_parallel\"", 1, 256, &c->max_parallel, err) < 0)
			goto out;
		if ((v = yamlx_get(n, "max_upload_mb")) &&
		    yamlx_int(v, FNAME, "\"max_upload_mb\"", 1, 65536, &c->max_upload_mb, err) < 0)
			goto out;
		if ((v = yamlx_get(n, "max_files")) &&
		    yamlx_int(v, FNAME, "\"max_files\"", 1, 10000000, &c->max_files, err) < 0)
			goto out;
		if (build_sandbox_keys(n, c, err) < 0)
			goto out;
	}
	if ((n = yamlx_get(root, "build_sandbox")) && !yamlx_is_null(n)) {
		if (yamlx_expect(n, YAMLX_SCALAR, FNAME, "\"build_sandbox\"", err) < 0)
			goto out;
		if (strcmp(n->value, "bwrap") != 0 && strcmp(n->value, "none") != 0) {
			unik_error_set(err, UNIK_E_INVALID,
			               FNAME
			               " line %d: \"build_sandbox\" is bwrap (the default) or "
			               "none (unsafe: builds run unconfined), not \"%.60s\"",
			               n->line, n->value);
			goto out;
		}
		c->build_sandbox_none = strcmp(n->value, "none") == 0;
	}
	if ((n = yamlx_get(root, "providers")) && parse_providers(n, c, err) < 0)
		goto out;
	if ((n = yamlx_get(root, "hub_url")) && !yamlx_is_null(n) &&
	    yamlx_expect(n, YAMLX_SCALAR, FNAME, "\"hub_url\"", err) < 0)
		goto out;
	if ((n = yamlx_get(root, "log_level")) && !yamlx_is_null(n) &&
	    yamlx_expect(n, YAMLX_SCALAR, FNAME, "\"log_level\"", err) < 0)
		goto out;
	rc = 0;
out:
	yamlx_free(root);
	return rc;
}
