/* The providers a core drives: its table (the registry, or a test's), and the options each
 * gets from the configuration and the request; and the registries as the doors see them. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>

#include "images/format.h"
#include "lib/utf8.h"

const struct unik_provider *unik_core_registry_provider(const char *name)
{
	return unik_provider_find(name);
}

const struct unik_compiler *const *unik_core_compilers(void)
{
	return unik_compilers;
}

const struct unik_compiler *unik_core_compiler_find(const char *base, const char *language,
                                                    struct unik_error *err)
{
	return unik_compiler_find(base, language, err);
}

bool unik_core_format_known(const char *name)
{
	return unik_image_format_find(name) != NULL;
}

const char *unik_core_format_names(void)
{
	return unik_image_format_names();
}

const char *unik_core_state_name(enum unik_instance_state s)
{
	return unik_instance_state_name(s);
}

const struct unik_provider *const *unik_core_providers(const struct unik_core *c)
{
	return c->cfg.providers;
}

const struct unik_provider *unik_core_provider(const struct unik_core *c, const char *name)
{
	for (size_t i = 0; name && c->cfg.providers[i]; i++)
		if (strcmp(c->cfg.providers[i]->name, name) == 0)
			return c->cfg.providers[i];
	return NULL;
}

const char *unik_core_default_provider(const struct unik_core *c)
{
	return c->cfg.default_provider ? c->cfg.default_provider : unik_provider_default();
}

int unik_core_provider_opts(const struct unik_core *c, const struct unik_provider *p,
                            const struct strv *req, struct strv *out, struct unik_error *err)
{
	size_t i;

	for (i = 0; i < c->cfg.nprovider_opts; i++)
		if (strcmp(c->cfg.provider_opts[i].provider, p->name) == 0)
			strv_extend(out, &c->cfg.provider_opts[i].opts);
	for (i = 0; req && i < req->n; i++) {
		const char *eq = strchr(req->v[i], '=');
		_cleanup_free_ char *k = xstrndup(req->v[i], eq ? (size_t)(eq - req->v[i]) : 0);
		char what[96];

		if (!p->opt_keys || !p->opt_keys[0]) {
			unik_error_set(err, UNIK_E_INVALID,
			               "provider %s takes no options (got \"%.*s\")", p->name,
			               UNIK_UTF8_CUT(k, 60));
			return -1;
		}
		snprintf(what, sizeof(what), "option of provider %s", p->name);
		if (!unik_key_known(k, p->opt_keys, what, err))
			return -1;
		strv_push(out, req->v[i]);
	}
	return 0;
}
