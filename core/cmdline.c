/* Guest command lines: an image's defaults (args and env from its build) with a run's over
 * them, composed into the words the guest reads (lib/cmdline.c). */
#include "core/internal.h"

#include <string.h>

#include "lib/cmdline.h"

void unik_run_request_free(struct unik_run_request *rr)
{
	strv_free(&rr->env);
	strv_free(&rr->provider_opts);
	strv_free(&rr->networks);
	strv_free(&rr->ports);
	strv_free(&rr->volumes);
	strv_free(&rr->binds);
	memset(rr, 0, sizeof(*rr));
}

/* Image defaults, then the request: env words first (request variables replace the image's),
 * then the arguments (the request's replace the image's). */
int compose_cmdline(const struct unik_image *im, const struct unik_run_request *rr, char **out,
                    struct unik_error *err)
{
	struct unik_cmdline c = {0};
	_cleanup_strv_ struct strv envw = {0};
	_cleanup_strv_ struct strv argv = {0};
	const char *args = rr->args ? rr->args : im->args;
	int rc = -1;

	if (unik_cmdline_split(args ? args : "", &c, err) < 0) {
		unik_error_prefix(err, "\"args\"");
		goto out;
	}
	strv_extend(&envw, &im->env);
	unik_env_update(&envw, &c.env);
	unik_env_update(&envw, &rr->env);
	strv_extend(&argv, &c.argv);
	rc = unik_cmdline_compose(&envw, &argv, out, err);
out:
	unik_cmdline_free(&c);
	return rc;
}

int image_cmdline(const struct unik_image *im, char **out, struct unik_error *err)
{
	struct unik_run_request rr = {0};

	*out = NULL;
	if (compose_cmdline(im, &rr, out, err) < 0) {
		unik_error_prefix(err, "image %s", im->name);
		return -1;
	}
	if (!**out) {
		free(*out);
		*out = NULL;
	}
	return 0;
}
