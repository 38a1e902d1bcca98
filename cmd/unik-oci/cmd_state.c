/* state: the runtime-spec state document of one container. */
#include <stdio.h>
#include <string.h>

#include "cmd/unik-oci/oci.h"

static const char usage[] = "usage: unik-oci state ID\n\nPrints the container's state as JSON.\n";

int cmd_state(int argc, char **argv)
{
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int lockfd = -1;
	struct oci_state st;
	struct unik_error err;
	json_t *j;
	char *text;

	if (oci_parse_opts(argc, argv, NULL, usage, &pos) < 0)
		return 1;
	if (pos.n != 1) {
		unik_error_set(&err, UNIK_E_INVALID, "state: expected one container id");
		return oci_fail(&err);
	}
	if (!oci_is_unik_container(pos.v[0]) && oci_runc_path()) {
		oci_delegate(&err);
		return oci_fail(&err);
	}
	if (oci_container_open(pos.v[0], false, &dir, &lockfd, &st, &err) < 0)
		return oci_fail(&err);
	j = oci_state_public(&st, oci_container_status(dir, &st));
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(j);
	oci_state_free(&st);
	return 0;
}
