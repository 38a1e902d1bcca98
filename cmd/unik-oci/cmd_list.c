/* list: unik-oci's containers under --root, and runc's there too (asked from runc). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/unik-oci/oci.h"
#include "lib/unik_spawn.h"

static const char usage[] =
    "usage: unik-oci list [--format table|json] [--quiet]\n\n"
    "Lists the containers under --root: unikernels and the containers handed to runc.\n";

static int by_id(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
	              json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

/* runc's containers under the same root, as runc lists them. */
static void add_runc(json_t *all)
{
	const char *runc = oci_runc_path();
	const char *argv[] = {runc, "--root", oci_g.root, "list", "--format", "json", NULL};
	struct unik_spawn_opts so = UNIK_SPAWN_OPTS_INIT;
	_cleanup_free_ char *out = NULL;
	json_t *j, *v;
	size_t i;
	int status;

	if (!runc)
		return;
	so.stderr_fd = UNIK_SPAWN_DEVNULL;
	so.stdin_fd = UNIK_SPAWN_DEVNULL;
	if (unik_spawn_capture(argv, &so, &out, NULL, &status, NULL) < 0 || status != 0)
		return;
	j = json_loads(out, 0, NULL);
	json_array_foreach(j, i,
	                   v) if (json_is_object(v) && json_is_string(json_object_get(v, "id")))
	    json_array_append(all, v);
	json_decref(j);
}

int cmd_list(int argc, char **argv)
{
	const char *format = NULL, *quiet = NULL;
	const struct oci_opt opts[] = {
	    {"format", 'f', true, &format}, {"quiet", 'q', false, &quiet}, {NULL, 0, false, NULL}};
	_cleanup_strv_ struct strv pos = {0};
	struct unik_error err;
	json_t *all = json_array();
	bool others = false;
	DIR *d;
	struct dirent *de;
	size_t i, n;
	json_t **sorted;

	if (oci_parse_opts(argc, argv, opts, usage, &pos) < 0)
		return 1;
	if (format && strcmp(format, "table") && strcmp(format, "json")) {
		unik_error_set(&err, UNIK_E_INVALID, "list: --format must be table or json");
		json_decref(all);
		return oci_fail(&err);
	}
	d = opendir(oci_g.root);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *dir = NULL;
		struct oci_state st;
		int lockfd;

		if (de->d_name[0] == '.')
			continue;
		if (!oci_is_unik_container(de->d_name)) {
			others = true;
			continue;
		}
		if (oci_container_open(de->d_name, false, &dir, &lockfd, &st, NULL) < 0)
			continue;
		json_array_append_new(all, oci_state_public(&st, oci_container_status(dir, &st)));
		close(lockfd);
		oci_state_free(&st);
	}
	if (d)
		closedir(d);
	if (others)
		add_runc(all);

	n = json_array_size(all);
	sorted = xcalloc(n + 1, sizeof(*sorted));
	for (i = 0; i < n; i++)
		sorted[i] = json_array_get(all, i);
	qsort(sorted, n, sizeof(*sorted), by_id);
	if (format && !strcmp(format, "json")) {
		json_t *arr = json_array();
		char *t;

		for (i = 0; i < n; i++)
			json_array_append(arr, sorted[i]);
		t = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
		printf("%s\n", t ? t : "[]");
		free(t);
		json_decref(arr);
	} else if (quiet) {
		for (i = 0; i < n; i++)
			printf("%s\n", json_string_value(json_object_get(sorted[i], "id")));
	} else {
		printf("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE",
		       "CREATED", "OWNER");
		for (i = 0; i < n; i++) {
			json_t *s = sorted[i];

			printf("%-20s %-8lld %-10s %-40s %-32s %s\n",
			       json_string_value(json_object_get(s, "id")),
			       (long long)json_integer_value(json_object_get(s, "pid")),
			       json_string_value(json_object_get(s, "status")) ?: "",
			       json_string_value(json_object_get(s, "bundle")) ?: "",
			       json_string_value(json_object_get(s, "created")) ?: "",
			       json_string_value(json_object_get(s, "owner")) ?: "");
		}
	}
	free(sorted);
	json_decref(all);
	return 0;
}
